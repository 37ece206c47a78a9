r"""Exact, sparse, differentiable high-order derivatives of a :class:`~hodgnn.nn.BaseMPNN`.

The engine propagates truncated Taylor series (see :mod:`hodgnn.derivatives.taylor`) through
the base MPNN, layer by layer:

* **aggregation** is linear in the node states, so the jets of every pair :math:`(v, u)`
  aggregate with the same weights as the features, over the sparse pair support
  (:mod:`hodgnn.derivatives.support`): one sparse matrix product per layer;
* **node-wise MLPs**: a linear map acts on every coefficient; an activation composes by
  Faa di Bruno's formula in Taylor form, with the activation's Taylor coefficients
  :math:`g_k = s^{(k)}(z_0)/k!` at the node's own pre-activation :math:`z_0`.

:math:`D^{(0)}[v, u, i, j, a] = \delta_{vu}\delta_{ij}[a = 1]`. Every step is an ordinary
torch operation, so autograd differentiates the result with respect to every weight.
"""

from __future__ import annotations

import functools
import warnings

import torch
from torch import Tensor

from hodgnn.derivatives.kernels import (
    FirstOrderMLP,
    aggregate,
    aggregate_chunks,
    chunk_rows,
    gather_chunks,
    map_chunks,
)
from hodgnn.derivatives.memory import (
    DERIVATIVE_TENSORS,
    MIXED_DERIVATIVE_TENSORS,
    check_memory,
    mixed_derivative_bytes,
    node_derivative_bytes,
    rows_per_chunk,
)
from hodgnn.derivatives.plan import BasePlan, GraphInputs
from hodgnn.derivatives.rules import lower
from hodgnn.derivatives.support import (
    PairSupport,
    TripleSupport,
    build_pair_support,
    build_triple_support,
)
from hodgnn.derivatives.support import take_rows as _take
from hodgnn.derivatives.taylor import compose_bivariate, compose_univariate, factorials
from hodgnn.derivatives.tensors import MixedDerivatives, NodeDerivatives
from hodgnn.derivatives.validation import check_graph, check_order

SCALES = ("derivative", "taylor")


def _stack_coefficients(g: list[Tensor], order: int) -> Tensor:
    """``[g_1, ..., g_order]`` of one activation, each ``[n, d]``, as ``[n, order, d]``."""
    return torch.stack(g[1 : order + 1], 1)


def _as_series(coefficients: Tensor) -> list[Tensor | None]:
    """``[rows, order, d]`` stacked coefficients as the list ``g_0..g_order`` that
    :func:`~hodgnn.derivatives.taylor.compose_univariate` takes (``g_0`` unused), each
    ``[rows, 1, d]`` to broadcast over the source channels."""
    return [None] + list(coefficients.unsqueeze(-2).unbind(1))


def _gather(g: list[Tensor], rows: Tensor, extra_dims: int) -> list[Tensor]:
    """Activation coefficients of the rows' nodes, shaped to broadcast over source channels."""
    shape = (rows.numel(),) + (1,) * extra_dims
    return [gk[rows].reshape(shape + (gk.size(-1),)) for gk in g]


def _compose_mixed(
    g: list[Tensor],
    g_rows: Tensor,
    pure: Tensor,
    first: Tensor,
    second: Tensor,
    mixed: Tensor,
    order: int,
    weight: Tensor | None = None,
) -> Tensor:
    r"""Mixed jets of an activation applied to triple rows: row ``r`` composes the activation with
    coefficients ``g[.][g_rows[r]]`` with the bivariate series whose pure parts are the pair jets
    ``pure[first[r]]``, ``pure[second[r]]`` and whose mixed part is ``mixed[r]`` (times
    ``weight.T`` first, when given).

    Runs on checkpointed chunks of rows (:func:`map_chunks`) that gather their pure parts and
    coefficients themselves: the composition creates
    :func:`~hodgnn.derivatives.memory.bivariate_intermediates` tensors of the rows' size (70 at
    :math:`m = 2`), and autograd keeps, instead of them, only the chunks' mixed parts and indices.

    Shapes: ``pure`` ``[P, order, F, d]``, ``mixed`` ``[Q, order, order, F, F, d_in]`` ->
    ``[Q, order, order, F, F, d]``.
    """
    table = torch.stack(g, 1)  # [n, 2 order + 1, d]
    width = max(mixed.size(-1), table.size(-1))
    chunk = rows_per_chunk(mixed.shape[1:-1].numel() * width, mixed.element_size())

    def compose(mixed_rows: Tensor, first_rows: Tensor, second_rows: Tensor, g_index: Tensor) -> Tensor:
        if weight is not None:
            mixed_rows = mixed_rows @ weight.T
        series = [gk[:, None, None] for gk in table[g_index].unbind(1)]  # each [rows, 1, 1, d]
        delta = _bivariate_delta(pure[first_rows], pure[second_rows], mixed_rows, order)
        return _stack_mixed(compose_bivariate(series, delta, order), order)

    return map_chunks(
        compose,
        first.numel(),
        mixed.split(chunk),
        first.split(chunk),
        second.split(chunk),
        g_rows.split(chunk),
    )


def _bivariate_delta(pure1: Tensor, pure2: Tensor, mixed: Tensor, order: int):
    """The series without constant term: pure parts ``[Q, m, F, d]`` and mixed ``[Q, m, m, F, F, d]``."""
    delta = {}
    for a in range(1, order + 1):
        delta[(a, 0)] = pure1[:, a - 1].unsqueeze(2)  # [Q, F, 1, d]
        delta[(0, a)] = pure2[:, a - 1].unsqueeze(1)  # [Q, 1, F, d]
        for b in range(1, order + 1):
            delta[(a, b)] = mixed[:, a - 1, b - 1]
    return delta


def _stack_mixed(series: dict, order: int) -> Tensor:
    rows = [torch.stack([series[(a, b)] for b in range(1, order + 1)], 1) for a in range(1, order + 1)]
    return torch.stack(rows, 1)


def _taylor_mlp(chunk: Tensor, chunk_g: Tensor, weights: tuple[Tensor, ...], scale: Tensor | None) -> Tensor:
    """A layer's node-wise steps on a chunk of pair jets ``[rows, m, F, d_in]``: per step, the
    product with the weight and the Taylor composition with the activation coefficients of every
    row's node (``chunk_g`` ``[rows, m, d_1 + d_2 + ...]``, the steps' coefficients side by side);
    the result times ``scale`` if given."""
    offset = 0
    for weight in weights:
        width = weight.size(0)
        chunk = compose_univariate(_as_series(chunk_g[..., offset : offset + width]), chunk @ weight.T)
        offset += width
    return chunk if scale is None else chunk * scale


def _compiler_errors() -> tuple[type[BaseException], ...]:
    """The exceptions by which ``torch.compile`` reports that it could not compile (not the
    control-flow exceptions of checkpointing, which must pass through)."""
    from torch._dynamo.exc import TorchDynamoException

    errors: list[type[BaseException]] = [TorchDynamoException]
    try:
        from torch._inductor.exc import InductorError

        errors.append(InductorError)
    except ImportError:  # older torch
        pass
    return tuple(errors)


@functools.cache
def _compiled_taylor_mlp():
    r""":func:`_taylor_mlp` compiled by ``torch.compile(dynamic=True)`` (built once per process):
    the element-wise products of the composition fuse into a few loops over each chunk, forward,
    recomputed and backward. The first call compiles (tens of seconds on a CPU); a machine without
    a working compiler falls back to the eager function with a warning."""
    compiled = torch.compile(_taylor_mlp, dynamic=True)
    failed = False

    def run(*args):
        nonlocal failed
        if not failed:
            try:
                return compiled(*args)
            except _compiler_errors() as error:
                warnings.warn(
                    f"torch.compile of the Taylor compositions failed ({error}); running eagerly",
                    stacklevel=2,
                )
                failed = True
        return _taylor_mlp(*args)

    return run


def _propagate(
    plan: BasePlan,
    x: Tensor,
    edge_index: Tensor,
    edge_attr: Tensor | None,
    edge_weight: Tensor | None,
    order: int,
    pairs: PairSupport,
    triples: TripleSupport | None,
    last_scale: Tensor | None = None,
    compile_taylor: bool = False,
):
    """Run the base model (lowered to ``plan``) on primal values and jets; yield
    ``(h, pair_jets, mixed_jets)`` per layer in Taylor-coefficient scaling with layout ``[P, order, F, d]`` /
    ``[Q, order, order, F, F, d]``. Without triples, the pair jets of the last layer are
    multiplied by ``last_scale`` (``[1, order, 1, 1]``, e.g. the factorials), chunk by chunk."""
    n, num_in = x.shape
    taylor_order = 2 * order if triples is not None else order
    h = x
    jets = x.new_zeros(n, order, num_in, num_in)
    jets[:, 0] = torch.eye(num_in, dtype=x.dtype, device=x.device)
    mixed = x.new_zeros(0, order, order, num_in, num_in, num_in) if triples is not None else None
    src, dst = edge_index
    graph = GraphInputs(edge_index, n, x.dtype, edge_attr, edge_weight)
    # order 1 with autograd: aggregate whole layers, then the fused first-order MLP
    first_order = triples is None and order == 1 and torch.is_grad_enabled()
    for t, layer in enumerate(plan.layers, start=1):
        step = pairs.transitions[t - 1]
        prev_rows = pairs.rows(t - 1)
        aggregation = layer.aggregation(graph)
        self_w, edge_w = aggregation.self_weight, aggregation.edge_weight
        if aggregation.edge_messages:
            g = aggregation.message_act.taylor(h[src] + aggregation.edge_shift, taylor_order)
            h_agg = (self_w.unsqueeze(-1) * h).index_add(0, dst, g[0])
            chunk = chunk_rows(jets)
            messages = map_chunks(
                lambda rows, g_rows: compose_univariate(_as_series(g_rows), rows),
                step.num_messages,
                gather_chunks(jets, step.msg_src, chunk),
                gather_chunks(_stack_coefficients(g, order), step.msg_edge, chunk),
            )
            jets_agg = aggregate(step, _take(self_w, _take(prev_rows, step.self_src)), None, jets)
            jets_agg.index_add_(0, step.msg_dst, messages)  # a fresh tensor that autograd did not save
            if triples is not None:
                tstep = triples.transitions[t - 1]
                trows = triples.keys[t - 1] // (n * n)
                p1 = triples.first[t - 1][tstep.msg_src]
                p2 = triples.second[t - 1][tstep.msg_src]
                msg = _compose_mixed(g, tstep.msg_edge, jets, p1, p2, mixed[tstep.msg_src], order)
                mixed = aggregate(tstep, _take(self_w, _take(trows, tstep.self_src)), None, mixed)
                mixed.index_add_(0, tstep.msg_dst, msg)
            chunk = chunk_rows(jets_agg)
            jets_agg_chunks = jets_agg.split(chunk)
        elif aggregation.split:
            # [neighbour sum || self term]: convs with separate root and neighbour weights
            zeros = self_w.new_zeros(())
            h_agg = torch.cat(
                [
                    torch.zeros_like(h).index_add(0, dst, h[src] * edge_w.unsqueeze(-1)),
                    self_w.unsqueeze(-1) * h,
                ],
                -1,
            )
            pair_self_w = _take(self_w, _take(prev_rows, step.self_src))
            pair_edge_w = _take(edge_w, step.msg_edge)
            jets_agg = torch.cat(
                [
                    aggregate(step, zeros.expand_as(pair_self_w), pair_edge_w, jets),
                    aggregate(step, pair_self_w, None, jets),
                ],
                -1,
            )
            if triples is not None:
                tstep = triples.transitions[t - 1]
                trows = triples.keys[t - 1] // (n * n)
                triple_self_w = _take(self_w, _take(trows, tstep.self_src))
                mixed = torch.cat(
                    [
                        aggregate(
                            tstep, zeros.expand_as(triple_self_w), _take(edge_w, tstep.msg_edge), mixed
                        ),
                        aggregate(tstep, triple_self_w, None, mixed),
                    ],
                    -1,
                )
            chunk = chunk_rows(jets_agg)
            jets_agg_chunks = jets_agg.split(chunk)
        else:
            h_agg = (self_w.unsqueeze(-1) * h).index_add(0, dst, h[src] * edge_w.unsqueeze(-1))
            pair_self_w, pair_edge_w = (
                _take(self_w, _take(prev_rows, step.self_src)),
                _take(edge_w, step.msg_edge),
            )
            if triples is not None:
                jets_agg = aggregate(step, pair_self_w, pair_edge_w, jets)
                tstep = triples.transitions[t - 1]
                trows = triples.keys[t - 1] // (n * n)
                mixed = aggregate(
                    tstep, _take(self_w, _take(trows, tstep.self_src)), _take(edge_w, tstep.msg_edge), mixed
                )
            elif first_order:
                jets_agg = aggregate(step, pair_self_w, pair_edge_w, jets)
            else:
                chunk = chunk_rows(jets)
                jets_agg_chunks = aggregate_chunks(step, pair_self_w, pair_edge_w, jets, chunk)
                jets = None  # free with autograd; the lazy chunks hold it without
        # The node-wise steps: primal values first, then the jets of every pair (v, u) with the
        # activation coefficients of v.
        steps = layer.node_steps()
        h, coefficients = h_agg, []
        for node_step in steps:
            coefficients.append(node_step.act.taylor(node_step(h), taylor_order))
            h = coefficients[-1][0]
        weights = tuple(node_step.weight for node_step in steps)
        rows = pairs.rows(t)
        if first_order:
            # first order (order-1 scaling is 1): one multiply per activation, one recomputation
            jets = FirstOrderMLP.apply(jets_agg, rows, len(weights), *weights, *[g[1] for g in coefficients])
        elif triples is None:
            # [n, order, d_1 + d_2 + ...]: every node's coefficients of every activation.
            node_g = torch.cat([_stack_coefficients(g, order) for g in coefficients], -1)
            scale = last_scale if t == plan.num_layers else None
            mlp = _compiled_taylor_mlp() if compile_taylor else _taylor_mlp

            def layer_mlp(chunk: Tensor, chunk_g: Tensor, weights=weights, scale=scale, mlp=mlp) -> Tensor:
                return mlp(chunk, chunk_g, weights, scale)

            jets = map_chunks(layer_mlp, rows.numel(), jets_agg_chunks, gather_chunks(node_g, rows, chunk))
        else:
            jets = jets_agg
            trows = triples.keys[t] // (n * n)
            first, second = triples.first[t], triples.second[t]
            for weight, g in zip(weights, coefficients, strict=True):
                jets = jets @ weight.T
                mixed = _compose_mixed(g, trows, jets, first, second, mixed, order, weight)
                jets = compose_univariate(_gather(g, rows, 1), jets)
        yield h, jets, mixed


def _prepare(base, x, edge_index, edge_attr, edge_weight, order, scale) -> BasePlan:
    """Check the inputs and lower ``base`` (:func:`~hodgnn.derivatives.rules.lower`), before any work."""
    check_graph(x, edge_index, edge_attr)
    check_order(order)
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {list(SCALES)}")
    if edge_weight is not None and edge_weight.shape != (edge_index.size(1),):
        raise ValueError(f"edge_weight must have shape [{edge_index.size(1)}], got {list(edge_weight.shape)}")
    plan = lower(base)
    if x.size(1) != plan.in_channels:
        raise ValueError(f"x has {x.size(1)} channels but the base MPNN expects {plan.in_channels}")
    if plan.needs("edge_attr") and edge_attr is None:
        needing = next(layer.name for layer in plan.layers if "edge_attr" in layer.needs)
        raise ValueError(f"{needing} has edge messages (GINE): the base MPNN needs edge_attr")
    return plan


def _check_support(support: PairSupport, plan: BasePlan, x: Tensor, diagonal_only: bool) -> None:
    """A precomputed support must match the graph size, the depth and the pruning asked for."""
    if support.num_layers != plan.num_layers or support.num_nodes != x.size(0):
        raise ValueError(
            f"the given support was built for {support.num_nodes} nodes and {support.num_layers} layers, "
            f"not {x.size(0)} nodes and {plan.num_layers} layers"
        )
    if support.diagonal_only != diagonal_only:
        raise ValueError(
            f"the given support has diagonal_only={support.diagonal_only}, the call asks for {diagonal_only}"
        )


def node_derivatives(
    base,
    x: Tensor,
    edge_index: Tensor,
    order: int,
    edge_attr: Tensor | None = None,
    all_layers: bool = False,
    diagonal_only: bool = False,
    scale: str = "derivative",
    support: PairSupport | None = None,
    memory_budget: int | None = None,
    compile_taylor: bool = False,
    edge_weight: Tensor | None = None,
) -> NodeDerivatives | list[NodeDerivatives]:
    r"""Derivatives :math:`\partial^a h^{(T)}_{v,i} / \partial x_{u,j}^a`, :math:`a = 1..m`.

    Args:
        base: the base model: a :class:`~hodgnn.nn.BaseMPNN`, PyG's ``GIN`` / ``GCN`` /
            ``GraphSAGE``, a ``torch_geometric.nn.Sequential`` of supported convs and node-wise
            modules, or anything with a rule (:mod:`hodgnn.derivatives.rules`). Its own forward,
            ``base(x, edge_index, ...)``, is what is differentiated.
        x: ``[n, F]`` node features (a PyG batch of many graphs works as one graph).
        edge_index: ``[2, E]`` edges ``source -> target``.
        order: the highest order ``m >= 1``.
        edge_attr: ``[E, D]`` edge features (required by ``gine``).
        all_layers: return a list with the derivatives of every layer's output
            :math:`h^{(1)}, \dots, h^{(T)}`.
        diagonal_only: keep only pairs that return to the diagonal :math:`v = u` by layer
            :math:`T`; the returned support of layer :math:`t` is the pairs at distance
            :math:`\le \min(t, T - t)`, and every diagonal entry is exact.
        scale: ``"derivative"`` (true derivatives) or ``"taylor"`` (divided by ``a!``).
        support: a precomputed :func:`~hodgnn.derivatives.build_pair_support` for this graph.
        memory_budget: bytes allowed for the pair tensors; an estimate above it raises
            :class:`~hodgnn.derivatives.MemoryBudgetError` before allocation.
        compile_taylor: run the Taylor compositions of orders ``m >= 2`` through
            ``torch.compile`` (same values; about 3x faster forward + backward on a CPU after a
            first compilation of tens of seconds; order 1 has its own fused path).
        edge_weight: ``[E]`` edge weights, passed to every conv that takes them (``GCNConv``,
            ``GraphConv``).

    Returns:
        :class:`NodeDerivatives` (or a list of them, one per layer).
    """
    plan = _prepare(base, x, edge_index, edge_attr, edge_weight, order, scale)
    if support is None:
        support = build_pair_support(edge_index, x.size(0), plan.num_layers, diagonal_only, memory_budget)
    else:
        _check_support(support, plan, x, diagonal_only)
    estimate = node_derivative_bytes(plan, support, order, x.size(1), x.element_size(), all_layers)
    check_memory(estimate, memory_budget, DERIVATIVE_TENSORS)
    fact = factorials(order, x.dtype, x.device).view(1, order, 1, 1) if scale == "derivative" else None
    layers = _propagate(
        plan,
        x,
        edge_index,
        edge_attr,
        edge_weight,
        order,
        support,
        None,
        last_scale=fact,
        compile_taylor=compile_taylor,
    )
    results, t = [], 0
    # A plain loop, not enumerate (whose cached result tuple would keep the previous layer's
    # jets alive while the next layer is computed).
    for h, jets, _ in layers:
        t += 1
        if all_layers or t == plan.num_layers:
            # The last layer comes scaled already; earlier ones still feed the next layer.
            values = jets * fact if fact is not None and t < plan.num_layers else jets
            results.append(NodeDerivatives(support.index(t), values.transpose(-1, -2), h, x.size(0)))
        del jets
    return results if all_layers else results[0]


def graph_derivatives(
    base,
    x: Tensor,
    edge_index: Tensor,
    order: int,
    edge_attr: Tensor | None = None,
    scale: str = "derivative",
    memory_budget: int | None = None,
    edge_weight: Tensor | None = None,
) -> Tensor:
    r"""``D_out``: :math:`\partial^a (\sum_{v \in G(u)} h^{(T)}_{v,i}) / \partial x_{u,j}^a`,
    the derivatives of every graph's sum readout w.r.t. its nodes' features,
    ``[n, order, d, F]``."""
    derivatives = node_derivatives(
        base,
        x,
        edge_index,
        order,
        edge_attr,
        scale=scale,
        memory_budget=memory_budget,
        edge_weight=edge_weight,
    )
    return derivatives.graph_level()


def mixed_derivatives(
    base,
    x: Tensor,
    edge_index: Tensor,
    order: int,
    edge_attr: Tensor | None = None,
    scale: str = "derivative",
    memory_budget: int | None = None,
    support: PairSupport | None = None,
    triple_support: TripleSupport | None = None,
    edge_weight: Tensor | None = None,
) -> MixedDerivatives:
    r"""Mixed derivatives over two distinct nodes (the ``k = 2`` case of HOD-GNN):
    :math:`\partial^{a+b} h^{(T)}_{v,i} / \partial x_{u_1,j_1}^a \partial x_{u_2,j_2}^b`,
    :math:`a, b = 1..m`, for every triple with :math:`u_1 \ne u_2` both within
    :math:`T` hops of :math:`v`.

    The tensor grows with :math:`F^2`: feed the base MPNN a low-dimensional input. ``support``
    and ``triple_support`` (precomputed, e.g. by a :class:`~hodgnn.derivatives.SupportCache`)
    must be the full pair support of this graph and the triples over it.
    """
    plan = _prepare(base, x, edge_index, edge_attr, edge_weight, order, scale)
    pairs = support
    if pairs is None:
        pairs = build_pair_support(edge_index, x.size(0), plan.num_layers, False, memory_budget)
    else:
        _check_support(pairs, plan, x, False)
    triples = build_triple_support(pairs, memory_budget) if triple_support is None else triple_support
    if triples.num_nodes != x.size(0) or len(triples.transitions) != plan.num_layers:
        raise ValueError("the given triple support was built for another graph or depth")
    estimate = mixed_derivative_bytes(plan, pairs, triples, order, x.size(1), x.element_size())
    check_memory(estimate, memory_budget, MIXED_DERIVATIVE_TENSORS)
    *_, (h, _, mixed) = _propagate(plan, x, edge_index, edge_attr, edge_weight, order, pairs, triples)
    if scale == "derivative":
        fact = factorials(order, x.dtype, x.device)
        mixed = mixed * (fact.view(-1, 1) * fact.view(1, -1)).view(1, order, order, 1, 1, 1)
    T = plan.num_layers
    return MixedDerivatives(triples.index(T), mixed.permute(0, 1, 2, 5, 3, 4), h, x.size(0))
