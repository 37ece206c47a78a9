"""Peak memory held by torch tensors during a call, from ``torch.profiler``'s memory events.

Used by the tests of the memory estimates (:mod:`hodgnn.derivatives.memory`) and by the benchmark
scripts (``benchmarks/common.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def tensor_peak_bytes(fn: Callable[[], Any]) -> int:
    """The largest total of bytes held by tensors allocated during one call of ``fn`` (its result
    included, dropped afterwards). Tensors that exist before the call do not count; every CPU
    allocation and free of torch during the call does (autograd's saved tensors, gradients,
    temporaries)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
        del out
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for event in events:
        live += event.nbytes()
        peak = max(peak, live)
    return peak
