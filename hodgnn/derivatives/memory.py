r"""Upper-bound estimates of the peak memory of a derivative computation, forward and backward.

The memory guard (:func:`check_memory`, :class:`MemoryBudgetError`) compares these estimates with
the budget before the engine allocates any jet. They count, from the supports alone, every tensor
of the size of a layer's jets that the engine (:mod:`hodgnn.derivatives.engine`) creates and what
autograd keeps of it until the backward pass, and the backward pass's gradients of the same sizes.
They are meant to be at least the true peak of the tensors allocated by one forward plus backward
pass of the derivative computation (``tests/derivatives/test_memory.py`` measures it with
:func:`hodgnn.testing.memory.tensor_peak_bytes`) and within a small factor of it.

Notation (all counts in elements; bytes = elements x ``itemsize``): :math:`T` layers, order
:math:`m`, base input width :math:`F`, base width :math:`d`, :math:`L` linear maps per base MLP,
:math:`P_t` pairs, :math:`M_t` pair messages (support entries moved along an edge) and
:math:`Q_t` triples at layer :math:`t`, :math:`d_0 = F`, :math:`d_t = d`.

**Single-node derivatives** (:func:`node_derivative_bytes`). Per layer, the aggregated jets
:math:`A_t = P_t\, m F d_{t-1}` (kept for the backward pass: the MLP runs checkpointed on chunks of
them), the gathered activation coefficients :math:`G_t = P_t\, L\, m\, d` (kept likewise), and the
layer output :math:`B_t = P_t\, m F d`; ``gine`` adds its per-message jets and coefficients
:math:`N_t = M_t\, m (F + 1) d_{t-1}` (kept). The forward pass keeps
:math:`\sum_t (A_t + G_t + N_t + [\epsilon_t]\, B_{t-1})` (:math:`B_{t-1}`: the product's input,
kept when the aggregation weights are learnable, :math:`[\epsilon_t]`: a trained :math:`\epsilon`),
the output :math:`B_T` and, with ``all_layers``, every
:math:`B_t`. The backward pass adds the gradients of the returned jets (:math:`\sum B_t` or
:math:`B_T`) and, at the layer where it peaks, the chunk gradients and their concatenation
(:math:`2 (A_t + G_t + N_t)`), the gradient of the output and of the input
(:math:`2 B_t + B_{t-1}`), plus the recomputed chunk intermediates (:math:`(m + 4) L` chunks of
:data:`~hodgnn.derivatives.engine.CHUNK_BYTES`, at most the layer's size):

.. math::
    \text{bytes} = s \Big[\sum_t (A_t + G_t + N_t + [\epsilon_t]\, B_{t-1}) + 2 B_T
        + [\text{all\_layers}]\, 2 \sum_{t<T} B_t
        + \max_t \big(2 (A_t + G_t + N_t) + 2 B_t + B_{t-1}
        + \min(A_t + B_t, (m + 4) L\, c)\big)\Big] + \text{support} + \text{nodes}

with :math:`c` the chunk size in elements.

**Mixed derivatives** (:func:`mixed_derivative_bytes`). The node-wise compositions of the triples
run on checkpointed chunks of rows, so autograd keeps per layer the aggregation's output
:math:`Q_t m^2 F^2 d_{t-1}` and per linear map the composition's output :math:`Q_t m^2 F^2 d` plus
three int64 indices per triple (the chunks gather their pure parts and coefficients again when
recomputed); the pair jets are not chunked: per linear map the weight product and at most
:math:`(m + 1)^2` tensors of the univariate composition. ``gine`` keeps the gathered mixed parts of
its triple messages :math:`M'_t m^2 F^2 d_{t-1}` and three indices per message. One chunk's
composition creates :math:`K_m` tensors of :math:`c_t F^2 w_t` elements
(:math:`w_t = \max(d_{t-1}, d)`; :math:`c_t \le Q_t` rows, so that one such tensor holds
about :data:`~hodgnn.derivatives.engine.CHUNK_BYTES`), where :math:`K_m` =
:func:`bivariate_intermediates` (every product and partial sum of the powers :math:`\delta^k`,
:math:`k = 2..2m`, every :math:`g_k` product and accumulated output of
:func:`~hodgnn.derivatives.taylor.compose_bivariate`) :math:`+ 2m` (the two gathered pure parts)
:math:`+ m^2` (the stacked output), twice (forward, then recomputed with its gradients); the
backward pass adds four gradients of the largest layer:

.. math::
    \text{bytes} = s \Big[\sum_t \Big(Q_t m^2 F^2 (d_{t-1} + L d)
        + P_t F \big(m\, d_{t-1} + L (m\, d + (m + 1)^2 w_t)\big)
        + [\text{gine}]\, M'_t m^2 F^2 d_{t-1}\Big)
        + 4 \max_t Q_t m^2 F^2 w_t + 2 K_m F^2 \max_t c_t w_t\Big]
        + 8 \cdot 3 \sum_t (L Q_t + [\text{gine}]\, M'_t) + \text{supports} + \text{nodes}

**Support and nodes**: the index tensors of the supports (int64, counted from the tensors
themselves), the row maps and transposes the aggregation builds on first use (7 int64 per
support entry, self entries and messages), and per layer :math:`4 (k + 2) L\, n\, d` elements for
the node-level primal values, activation coefficients of orders :math:`0..k` (:math:`k = m`, or
:math:`2m` for mixed derivatives) and their gradients.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Protocol

from torch import Tensor

from hodgnn.derivatives.plan import BasePlan
from hodgnn.derivatives.rules import lower

DEFAULT_MEMORY_BUDGET = 8 * 2**30
"""The memory budget in bytes when neither ``memory_budget=`` nor ``$HODGNN_MEMORY_BUDGET`` sets one."""

MEMORY_BUDGET_VARIABLE = "HODGNN_MEMORY_BUDGET"
"""The environment variable that sets the default memory budget (:func:`default_memory_budget`)."""


# The names of the memory checks (a check's ``what``, the ``stop_at`` of :func:`recorded_estimates`).
PAIR_SUPPORT = "the pair support"
TRIPLE_SUPPORT = "the triple support"
DERIVATIVE_TENSORS = "the derivative tensors"
MIXED_DERIVATIVE_TENSORS = "the mixed derivative tensors"
SUBGRAPH_BAG = "the DS-GNN subgraph bag"
CHECK_NAMES = (PAIR_SUPPORT, TRIPLE_SUPPORT, DERIVATIVE_TENSORS, MIXED_DERIVATIVE_TENSORS, SUBGRAPH_BAG)
"""Every check the engine (supports, then derivative tensors) and DS-GNN make."""


def default_memory_budget() -> int:
    """``$HODGNN_MEMORY_BUDGET`` (bytes, ``1e9`` notation allowed; read at every call), else
    :data:`DEFAULT_MEMORY_BUDGET`."""
    return int(float(os.environ.get(MEMORY_BUDGET_VARIABLE, DEFAULT_MEMORY_BUDGET)))


class MemoryBudgetError(RuntimeError):
    """Raised before allocating tensors whose estimated size exceeds the memory budget.

    Attributes:
        estimate_bytes: the estimated peak in bytes.
        budget_bytes: the budget it exceeds, in bytes.
        what: what was estimated, one of :data:`CHECK_NAMES` (e.g. :data:`DERIVATIVE_TENSORS`).
    """

    def __init__(self, estimate_bytes: int, budget_bytes: int, what: str):
        self.estimate_bytes = int(estimate_bytes)
        self.budget_bytes = int(budget_bytes)
        self.what = str(what)
        super().__init__(
            f"{what} would need about {estimate_bytes / 2**30:.2f} GiB "
            f"({estimate_bytes:,} bytes), above the memory budget of {budget_bytes / 2**30:.2f} GiB; "
            "use a smaller batch, fewer layers, diagonal_only=True, or raise memory_budget "
            "(or the HODGNN_MEMORY_BUDGET environment variable)"
        )

    def __reduce__(self):
        # The constructor takes the attributes, not the message: pickle (DDP, subprocesses) by them.
        return (type(self), (self.estimate_bytes, self.budget_bytes, self.what))


@dataclass(frozen=True)
class MemoryCheck:
    """One memory check: what was estimated, the estimate and the budget, in bytes."""

    what: str
    estimate_bytes: int
    budget_bytes: int

    @property
    def exceeds_budget(self) -> bool:
        return self.estimate_bytes > self.budget_bytes


class DryRunStop(Exception):
    """Raised by the check that a :func:`recorded_estimates` block stops at, and caught by that block."""


@dataclass(eq=False)  # compared by identity: nested blocks may hold equal records
class _Recorder:
    stop_at: str | None
    checks: list[MemoryCheck] = field(default_factory=list)


_RECORDERS: list[_Recorder] = []


@contextmanager
def recorded_estimates(stop_at: str | None = None) -> Iterator[list[MemoryCheck]]:
    """Record every memory check made inside the block, in order, as :class:`MemoryCheck` records.

    With ``stop_at`` (one of :data:`CHECK_NAMES`, e.g. :data:`MIXED_DERIVATIVE_TENSORS`), that check
    stops the block right after it is recorded, before the allocation it guards: a dry run that states
    what a model would need on a batch without computing it (another name raises ``ValueError``: it
    would never stop, and the block would compute in full). A check above the budget before it raises
    :class:`MemoryBudgetError` as usual (after being recorded). Example::

        with recorded_estimates(MIXED_DERIVATIVE_TENSORS) as checks:
            model(batch)
        print([(c.what, c.estimate_bytes, c.exceeds_budget) for c in checks])
    """
    if stop_at is not None and stop_at not in CHECK_NAMES:
        raise ValueError(f"recorded_estimates: unknown check {stop_at!r}; the checks are {list(CHECK_NAMES)}")
    recorder = _Recorder(stop_at)
    _RECORDERS.append(recorder)
    try:
        yield recorder.checks
    except DryRunStop:
        pass
    finally:
        _RECORDERS.remove(recorder)


def check_memory(estimate: int, budget: int | None, what: str) -> None:
    """Raise :class:`MemoryBudgetError` stating the estimate when it exceeds ``budget`` (bytes;
    ``None``: ``$HODGNN_MEMORY_BUDGET``, else 8 GiB). Inside :func:`recorded_estimates` the check is
    recorded first, and the block's ``stop_at`` check raises :class:`DryRunStop`."""
    budget = default_memory_budget() if budget is None else budget
    check = MemoryCheck(what, int(estimate), int(budget))
    for recorder in _RECORDERS:
        recorder.checks.append(check)
    if any(recorder.stop_at == what for recorder in _RECORDERS):
        raise DryRunStop(what)
    if check.exceeds_budget:
        raise MemoryBudgetError(check.estimate_bytes, check.budget_bytes, what)


INDEX_BYTES = 8
"""Bytes per support index (int64)."""

# Node-wise work runs on chunks of rows of about this many bytes, which stay in the CPU caches
# through the chain of element-wise operations of the Taylor composition.
CHUNK_BYTES = 2**21


def rows_per_chunk(row_elements: int, itemsize: int) -> int:
    """Rows of ``row_elements`` elements per chunk of about :data:`CHUNK_BYTES`."""
    return max(1, CHUNK_BYTES // max(1, row_elements * itemsize))


def _tensor_bytes(obj) -> int:
    """Bytes of the tensors held by a support (dataclasses, lists of tensors)."""
    if isinstance(obj, Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(item) for item in obj)
    if is_dataclass(obj):
        return sum(_tensor_bytes(getattr(obj, f.name)) for f in fields(obj) if not f.name.startswith("_"))
    return 0


class _Support(Protocol):
    """What the estimates read of a :class:`~hodgnn.derivatives.support.PairSupport` or
    :class:`~hodgnn.derivatives.support.TripleSupport` (a structural type: the supports call the guard
    in this module, so this module does not import them)."""

    transitions: list


def support_bytes(support: _Support) -> int:
    """Index bytes of a support: its own tensors, plus the row maps (``cols``, ``order``, the
    transposed ``cols``, ``order`` and ``perm``, the transient ``rows``: 7 indices per transition
    entry) that the aggregation builds on first use."""
    entries = sum(int(step.self_src.numel() + step.msg_src.numel()) for step in support.transitions)
    offsets = sum(int(step.num_src + step.num_dst) for step in support.transitions)
    return _tensor_bytes(support) + INDEX_BYTES * (7 * entries + offsets)


def _layer_shapes(plan: BasePlan) -> list[tuple[int, int, int]]:
    """``(d_agg, d_t, L_t)`` of every layer: the width of the aggregated jets (``d_{t-1}``, twice
    that for a split aggregation), of the jets leaving it, and its number of node-wise steps."""
    return [(layer.aggregated_channels, layer.out_channels, layer.num_steps) for layer in plan.layers]


def _node_bytes(plan: BasePlan, num_nodes: int, taylor_order: int, itemsize: int) -> int:
    """Node-level primal values, activation coefficients (orders ``0..taylor_order``) and their
    gradients, every layer."""
    per_node = sum(steps * d_out for _, d_out, steps in _layer_shapes(plan))
    return 4 * (taylor_order + 2) * per_node * num_nodes * itemsize


def _as_plan(base) -> BasePlan:
    """A base model (lowered here) or its :class:`~hodgnn.derivatives.plan.BasePlan`."""
    return base if isinstance(base, BasePlan) else lower(base)


def node_derivative_bytes(
    base, pairs: _Support, order: int, in_channels: int, itemsize: int, all_layers: bool = False
) -> int:
    """Estimated peak bytes of :func:`~hodgnn.derivatives.node_derivatives` (forward and backward
    pass, support included); the formula is in the module docstring."""
    plan = _as_plan(base)
    m, F = order, in_channels
    kept = peak_layer = 0
    outputs = []
    previous = pairs.num_pairs(0) * m * F * F  # the identity jets of layer 0
    for t, (d_in, d_out, linears) in enumerate(_layer_shapes(plan), start=1):
        layer = plan.layers[t - 1]
        chunk = (m + 4) * linears * CHUNK_BYTES // itemsize
        num_pairs = pairs.num_pairs(t)
        step = pairs.transitions[t - 1]
        aggregated = num_pairs * m * F * d_in
        coefficients = num_pairs * linears * m * d_out
        messages = step.num_messages * m * (F + 1) * d_in if layer.edge_messages else 0
        output = num_pairs * m * F * d_out
        # the product saves its input only when the aggregation weights are learnable
        saved_input = previous if layer.learnable_aggregation else 0
        kept += aggregated + coefficients + messages + saved_input
        working = 2 * (aggregated + coefficients + messages) + 2 * output + previous
        peak_layer = max(peak_layer, working + min(aggregated + output, chunk))
        outputs.append(output)
        previous = output
    returned = sum(outputs) if all_layers else outputs[-1]
    elements = kept + 2 * returned + peak_layer
    return elements * itemsize + support_bytes(pairs) + _node_bytes(plan, pairs.num_nodes, order, itemsize)


def bivariate_intermediates(order: int) -> int:
    """Tensors :func:`~hodgnn.derivatives.taylor.compose_bivariate` creates at truncation ``order``
    (every product ``x * y``, every partial sum, every ``g_k`` product and accumulated output),
    counted by running its loops on the keys alone."""
    keys = [(a, b) for a in range(order + 1) for b in range(order + 1) if a + b > 0]
    mixed = [(a, b) for a, b in keys if a > 0 and b > 0]
    created = len(mixed)  # g_1 * delta
    power = set(keys)
    for _ in range(2, 2 * order + 1):
        products: dict[tuple[int, int], int] = {}
        for a1, b1 in power:
            for a2, b2 in keys:
                key = (a1 + a2, b1 + b2)
                if key[0] <= order and key[1] <= order:
                    products[key] = products.get(key, 0) + 1
        created += sum(2 * count - 1 for count in products.values())  # products and partial sums
        power = set(products)
        created += 2 * len(power & set(mixed))  # g_k * power and the accumulated output
    return created


def mixed_derivative_bytes(
    base, pairs: _Support, triples: _Support, order: int, in_channels: int, itemsize: int
) -> int:
    """Estimated peak bytes of :func:`~hodgnn.derivatives.mixed_derivatives` (forward and backward
    pass, supports included); the formula is in the module docstring."""
    plan = _as_plan(base)
    m, F = order, in_channels
    # [rows, F, F, w]-sized tensors per composition of a chunk: its intermediates, the two gathered
    # pure parts (at most m each) and the stacked output (m^2)
    per_compose = bivariate_intermediates(m) + 2 * m + m * m
    kept = largest = transient = index_bytes = 0
    for t, (d_in, d_out, linears) in enumerate(_layer_shapes(plan), start=1):
        num_triples = int(triples.keys[t].numel())
        num_pairs = pairs.num_pairs(t)
        width = max(d_in, d_out)
        # kept: the aggregation's output, then per linear map the concatenated output (the chunks
        # keep their mixed inputs and three index rows, which gather the rest when recomputed)
        layer = num_triples * (F * F * m * m * d_in + linears * F * F * m * m * d_out)
        index_bytes += num_triples * linears * 3 * INDEX_BYTES
        # the pair jets: the aggregation, weight product and univariate composition ((m + 1)^2
        # tensors at most) per linear map, unchunked
        layer += num_pairs * F * (m * d_in + linears * (m * d_out + (m + 1) ** 2 * width))
        kept += layer
        largest = max(largest, num_triples * m * m * F * F * width)
        # one chunk's composition, forward or recomputed in the backward pass
        chunk = min(num_triples, rows_per_chunk(m * m * F * F * width, itemsize))
        transient = max(transient, chunk * F * F * width * per_compose)
    for t, (d_in, _, _) in enumerate(_layer_shapes(plan)):
        if plan.layers[t].edge_messages:
            step = triples.transitions[t]
            kept += step.num_messages * F * F * m * m * d_in  # the gathered mixed parts
            index_bytes += step.num_messages * 3 * INDEX_BYTES
            chunk = min(step.num_messages, rows_per_chunk(m * m * F * F * d_in, itemsize))
            transient = max(transient, chunk * F * F * d_in * per_compose)
    elements = kept + 4 * largest + 2 * transient
    return (
        elements * itemsize
        + index_bytes
        + support_bytes(pairs)
        + support_bytes(triples)
        + _node_bytes(plan, pairs.num_nodes, 2 * order, itemsize)
    )
