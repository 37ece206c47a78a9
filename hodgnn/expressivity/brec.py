r"""BREC with its official protocol, RPC (Reliable Paired Comparisons; Wang & Zhang 2023).

For every pair :math:`(G_1, G_2)` a freshly initialised model is trained as a siamese network on the
32 relabelled copies of the pair to push the outputs apart: the loss is the cosine-embedding loss with
target :math:`-1` and margin 0, :math:`\frac{1}{32}\sum_i \max(0, \cos(f(G_1^{(i)}), f(G_2^{(i)})))`
(Adam, learning rate 1e-4, weight decay 1e-5, batches of 16 graphs = 8 pairs, at most 20 epochs,
stopped early when the epoch loss is below 0.3, ReduceLROnPlateau on the epoch loss). Then, in eval
mode, with :math:`d_i = f(G_1^{(i)}) - f(G_2^{(i)}) \in \mathbb{R}^q` (:math:`q` = 16 outputs),

.. math::
    T^2 = \bar d^\top S^{+} \bar d, \qquad \bar d = \frac{1}{32}\sum_i d_i, \quad
    S = \mathrm{cov}(d_1, \dots, d_{32})

(:math:`S^+` the pseudo-inverse; this is the statistic of the official code, which omits the factor
:math:`N = 32` of the textbook Hotelling statistic, so the test is stricter than its nominal level).
The same statistic on the 32 reliability pairs (two relabellings of one graph) must stay below the
threshold (72.34, the official default: the :math:`\alpha = 0.05` Hotelling critical value
:math:`q (N-1)/(N-q)\, F_{q, N-q}(0.95)` for :math:`q = 16`, :math:`N = 32`).

A pair is *separated* when :math:`T^2 >` threshold and :math:`T^2` is not within ``1e-6`` of the
reliability statistic; it is *counted* only when it is separated **and** the reliability statistic is
below the threshold (the reliability check passes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.loader import DataLoader

from hodgnn.data.brec import (
    BREC_CATEGORIES,
    BREC_GROUPS,
    NUM_RELABEL,
    BRECDataset,
    BRECPair,
    brec_info,
    category_of,
)
from hodgnn.derivatives import MemoryBudgetError
from hodgnn.expressivity.models import (
    ModelVariant,
    build_variant,
    cast_graphs,
    prepare_graphs,
)

BEYOND_3WL = ("strongly_regular", "4_vertex_condition", "distance_regular")
"""The 90 Regular pairs that 3-WL does not separate (the paper's bar: 2-HOD separates >= 34)."""


@dataclass
class RPCConfig:
    """Hyper-parameters of the RPC protocol (defaults: the official BREC evaluation).

    Args:
        output_dim (int): model outputs per graph, :math:`q`. (default: :obj:`16`)
        epochs (int): maximum training epochs per pair. (default: :obj:`20`)
        lr (float): Adam learning rate. (default: :obj:`1e-4`)
        weight_decay (float): Adam weight decay. (default: :obj:`1e-5`)
        batch_size (int): graphs per batch (even: pairs stay together). (default: :obj:`16`)
        loss_threshold (float): stop training when the epoch loss is below it. (default: :obj:`0.3`)
        margin (float): cosine-embedding margin. (default: :obj:`0.0`)
        threshold (float): :math:`T^2` threshold. (default: :obj:`72.34`)
        eps_compare (float): :math:`T^2` of the pair and of the reliability set closer than this count
            as equal (not separated). (default: :obj:`1e-6`)
        seed (int): seed of the model initialisation (the same for every pair). (default: :obj:`2022`)
        dtype (str): ``"float32"`` or ``"float64"`` model arithmetic; the statistic is always computed
            in float64. (default: :obj:`"float32"`)
        bn_recalibration (bool): not in the official protocol. After training, replace the batch-norm
            running statistics by exact averages over the pair's 64 graphs (one pass, no parameter
            update; :func:`recalibrate_batchnorm`), then evaluate both statistics with that one fixed
            model. With the early stop the running averages have seen only a few batches, and eval-mode
            outputs can then lose what the batch statistics of training separated. (default: :obj:`False`)
    """

    output_dim: int = 16
    epochs: int = 20
    lr: float = 1e-4
    weight_decay: float = 1e-5
    batch_size: int = 16
    loss_threshold: float = 0.3
    margin: float = 0.0
    threshold: float = 72.34
    eps_compare: float = 1e-6
    seed: int = 2022
    dtype: str = "float32"
    bn_recalibration: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 2 or self.batch_size % 2:
            raise ValueError(
                f"batch_size must be a positive even number (pairs stay together), got {self.batch_size}"
            )
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")


@dataclass
class PairResult:
    """Outcome of RPC on one pair (``error`` names a :class:`~hodgnn.derivatives.MemoryBudgetError` that
    stopped it; such a pair is reported as not run, not as a failure of the model)."""

    pair_id: int
    category: str
    t2: float
    t2_reliability: float
    separated: bool
    reliable: bool
    counted: bool
    epochs_run: int
    final_loss: float
    seconds: float
    error: str | None = None

    @classmethod
    def not_run(cls, pair_id: int, category: str, seconds: float, error: str) -> PairResult:
        """The record of a pair that ``error`` stopped (no statistic: NaN, nothing separated)."""
        nan = float("nan")
        return cls(pair_id, category, nan, nan, False, False, False, 0, nan, seconds, error)


def hotelling_t2(first: Tensor, second: Tensor) -> float:
    r"""The RPC statistic :math:`\bar d^\top S^+ \bar d` of paired outputs (see the module docstring).

    Args:
        first (Tensor): ``[N, q]`` outputs of the first graph's copies.
        second (Tensor): ``[N, q]`` outputs of the second graph's copies.
    """
    if first.shape != second.shape or first.dim() != 2 or first.size(0) < 2:
        raise ValueError(
            f"expected two [N, q] tensors with N >= 2, got {tuple(first.shape)} and {tuple(second.shape)}"
        )
    diff = (first - second).double()
    mean = diff.mean(dim=0)
    cov = torch.cov(diff.t()).reshape(diff.size(1), diff.size(1))
    return float(mean @ torch.linalg.pinv(cov) @ mean)


def hotelling_threshold(output_dim: int, num_samples: int = NUM_RELABEL, alpha: float = 0.05) -> float:
    r"""Critical value :math:`q (N-1)/(N-q)\, F_{q, N-q}(1-\alpha)` of Hotelling's one-sample test."""
    from scipy.stats import f as fisher

    if not 0 < output_dim < num_samples:
        raise ValueError(f"need 0 < output_dim < num_samples, got {output_dim} and {num_samples}")
    q, n = output_dim, num_samples
    return q * (n - 1) / (n - q) * float(fisher.ppf(1 - alpha, q, n - q))


def paired_outputs(model: nn.Module, graphs: Sequence, batch_size: int) -> tuple[Tensor, Tensor]:
    """Outputs of interleaved graphs ``[G1, G2, G1, G2, ...]`` as ``([N, q], [N, q])``, no gradients."""
    outputs = []
    with torch.no_grad():
        for batch in DataLoader(list(graphs), batch_size=batch_size, shuffle=False):
            outputs.append(model(batch))
    out = torch.cat(outputs, dim=0)
    return out[0::2], out[1::2]


def recalibrate_batchnorm(model: nn.Module, graphs: Sequence, batch_size: int) -> None:
    """Replace the running statistics of every batch-norm layer by their averages over ``graphs``.

    Batch-norm layers alone are put in training mode with a cumulative average (``momentum=None``: the
    running mean and variance become the plain average of the per-batch statistics over all batches of
    ``graphs``) for one pass without gradients; everything else stays in eval mode and no parameter
    changes. The model is left in eval mode, a fixed function of one graph at a time.
    """
    norms = [
        m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    model.eval()
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    with torch.no_grad():
        for batch in DataLoader(list(graphs), batch_size=batch_size, shuffle=False):
            model(batch)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
        norm.eval()


def separation_loss(output: Tensor, margin: float = 0.0) -> Tensor:
    """Mean over the pairs of an interleaved batch of ``max(0, cos(f(G1), f(G2)) - margin)``."""
    first, second = output[0::2], output[1::2]
    target = -torch.ones(first.size(0), dtype=output.dtype, device=output.device)
    return F.cosine_embedding_loss(first, second, target, margin=margin)


def evaluate_pair(
    variant: ModelVariant, pair: BRECPair, config: RPCConfig, overrides: dict | None = None
) -> PairResult:
    """Run RPC for one model variant on one pair (a fresh model, seeded with ``config.seed``)."""
    start = time.perf_counter()
    dtype = getattr(torch, config.dtype)
    model = build_variant(variant, brec_info(config.output_dim), config.seed, overrides).to(dtype)
    graphs = cast_graphs(prepare_graphs(model, pair.graphs), dtype)
    reliability = cast_graphs(prepare_graphs(model, pair.reliability), dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    num_pairs = len(graphs) // 2
    epochs_run, epoch_loss = 0, float("nan")
    model.train()
    for _ in range(config.epochs):
        epoch_loss = 0.0
        for batch in DataLoader(graphs, batch_size=config.batch_size, shuffle=False):
            optimizer.zero_grad()
            loss = separation_loss(model(batch), config.margin)
            loss.backward()
            optimizer.step()
            epoch_loss += loss.item() * batch.num_graphs / 2
        epoch_loss /= num_pairs
        epochs_run += 1
        if epoch_loss < config.loss_threshold:
            break
        scheduler.step(epoch_loss)
    model.eval()
    if config.bn_recalibration:
        recalibrate_batchnorm(model, graphs, config.batch_size)
    t2 = hotelling_t2(*paired_outputs(model, graphs, config.batch_size))
    t2_reliability = hotelling_t2(*paired_outputs(model, reliability, config.batch_size))
    separated = t2 > config.threshold and abs(t2 - t2_reliability) > config.eps_compare
    reliable = t2_reliability < config.threshold
    return PairResult(
        pair_id=pair.pair_id,
        category=pair.category,
        t2=t2,
        t2_reliability=t2_reliability,
        separated=bool(separated),
        reliable=bool(reliable),
        counted=bool(separated and reliable),
        epochs_run=epochs_run,
        final_loss=float(epoch_loss),
        seconds=time.perf_counter() - start,
    )


def summarize(results: Sequence[PairResult]) -> dict:
    """Per-category and per-group counts of counted pairs, evaluated pairs and reliability failures."""
    summary: dict = {"categories": {}, "groups": {}}
    for name in BREC_CATEGORIES:
        rows = [r for r in results if r.category == name and r.error is None]
        summary["categories"][name] = {
            "counted": sum(r.counted for r in rows),
            "separated": sum(r.separated for r in rows),
            "reliability_failures": sum(not r.reliable for r in rows),
            "evaluated": len(rows),
            "not_run": sum(r.category == name and r.error is not None for r in results),
            "size": len(BREC_CATEGORIES[name]),
        }
    groups = {**BREC_GROUPS, "Beyond 3-WL": BEYOND_3WL, "Total": tuple(BREC_CATEGORIES)}
    for group, members in groups.items():
        cats = [summary["categories"][m] for m in members]
        summary["groups"][group] = {
            key: sum(c[key] for c in cats)
            for key in ("counted", "separated", "reliability_failures", "evaluated", "not_run", "size")
        }
    return summary


def run_brec(
    variants: Sequence[ModelVariant],
    dataset: BRECDataset,
    pair_ids: Sequence[int],
    config: RPCConfig,
    overrides: dict | None = None,
    previous: dict | None = None,
    on_update: Callable[[dict], None] | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """RPC for every variant on every pair id.

    Args:
        variants (list of ModelVariant): the models.
        dataset (BRECDataset): the BREC file.
        pair_ids (list of int): the pairs.
        config (RPCConfig): protocol settings.
        overrides (dict, optional): model options applied to every variant. (default: :obj:`None`)
        previous (dict, optional): ``models`` of an earlier report made with the same config; pairs it
            holds for a variant with the same options are reused, not recomputed, except pairs that were not
            run (memory budget), which are tried again. (default: :obj:`None`)
        on_update (callable, optional): called with the report after every pair (to save progress).
            (default: :obj:`None`)
        log (callable, optional): receives one line per pair. (default: :obj:`print`)

    Returns:
        ``{variant: {"model", "options", "description", "pairs", "summary", "wall_s"}}`` where
        ``wall_s`` is the sum of the per-pair wall times (model construction, training, both tests).
    """
    report: dict = {}
    for variant in variants:
        options = {**variant.options, **(overrides or {})}
        earlier = (previous or {}).get(variant.name, {})
        done = {
            p["pair_id"]: PairResult(**p)
            for p in earlier.get("pairs", [])
            if earlier.get("options") == options and p.get("error") is None
        }
        results: list[PairResult] = []
        position = {pair_id: i for i, pair_id in enumerate(pair_ids)}
        # Reused pairs first, so that every saved partial report keeps them even if the run stops.
        for pair_id in sorted(pair_ids, key=lambda p: p not in done):
            if pair_id in done:
                result = done[pair_id]
            else:
                start = time.perf_counter()
                try:
                    result = evaluate_pair(variant, dataset.pair(pair_id), config, overrides)
                    log(
                        f"[{variant.name}] pair {pair_id:3d} ({result.category}): T2={result.t2:.4g} "
                        f"rel={result.t2_reliability:.4g} counted={result.counted} ({result.seconds:.1f}s)"
                    )
                except MemoryBudgetError as error:
                    seconds = time.perf_counter() - start
                    result = PairResult.not_run(pair_id, category_of(pair_id), seconds, str(error))
                    log(f"[{variant.name}] pair {pair_id:3d}: not run ({error})")
            results.append(result)
            results.sort(key=lambda r: position[r.pair_id])
            report[variant.name] = {
                "model": variant.model,
                "options": options,
                "description": variant.description,
                "pairs": [asdict(r) for r in results],
                "summary": summarize(results),
                "wall_s": sum(r.seconds for r in results),
            }
            if on_update is not None and pair_id not in done:
                on_update(report)
    return report
