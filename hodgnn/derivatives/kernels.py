r"""The engine's chunked sparse kernels: the CSR row-map product (the aggregation of a layer's
jets over the pair support), the fused first-order MLP, and the chunked gather / aggregate / map
helpers that keep the working set of one chunk in the CPU caches.

Each is an ordinary differentiable operation (custom :class:`torch.autograd.Function` where a
hand-written backward pass saves memory), used by :mod:`hodgnn.derivatives.engine`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from hodgnn.derivatives.memory import rows_per_chunk
from hodgnn.derivatives.support import RowMap, Transition


def chunk_rows(x: Tensor) -> int:
    """Rows of ``x`` per chunk of about :data:`~hodgnn.derivatives.memory.CHUNK_BYTES`."""
    return rows_per_chunk(x.shape[1:].numel(), x.element_size())


def flat_rows(x: Tensor) -> Tensor:
    return x.reshape(x.size(0), x.shape[1:].numel())


class RowMapProduct(torch.autograd.Function):
    r"""``out[r] = sum_k weight[k] * x[cols[k]]`` over the entries ``k`` of row ``r`` of a
    :class:`~hodgnn.derivatives.support.RowMap` (a CSR sparse-dense product, computed with
    ``embedding_bag``); ``x`` and ``out`` are 2-D.

    Backward: :math:`\partial x` is the product with the transposed map, and
    :math:`\partial w_k = \langle \partial\text{out}[\text{rows}[k]], x[\text{cols}[k]] \rangle`
    (only when the weights need it). Both are differentiable again.
    """

    @staticmethod
    def forward(ctx, weight: Tensor, x: Tensor, row_map: RowMap) -> Tensor:
        ctx.row_map = row_map
        ctx.save_for_backward(weight, x if ctx.needs_input_grad[0] else None)
        return torch.nn.functional.embedding_bag(
            row_map.cols, x, row_map.offsets, mode="sum", per_sample_weights=weight
        )

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        weight, x = ctx.saved_tensors
        row_map = ctx.row_map
        grad_weight = grad_x = None
        if ctx.needs_input_grad[1]:
            transposed, perm = row_map.transpose()
            grad_x = RowMapProduct.apply(weight[perm], grad_out, transposed)
        if ctx.needs_input_grad[0]:
            chunk = chunk_rows(x)
            parts = [
                (grad_out[rows] * x[cols]).sum(1)
                for rows, cols in zip(row_map.rows.split(chunk), row_map.cols.split(chunk), strict=True)
            ]
            grad_weight = torch.cat(parts)
        return grad_weight, grad_x, None


class FirstOrderMLP(torch.autograd.Function):
    r"""The node-wise MLP of a layer on first-order jets: for every linear map :math:`W_l` and
    its activation, :math:`J \leftarrow (J W_l^\top) \odot s'(z_l)[\text{rows}]` (order 1 of
    Faa di Bruno's formula: one multiply per activation, no series).

    Runs on row chunks of about :data:`~hodgnn.derivatives.memory.CHUNK_BYTES`, which stay in the CPU
    caches through the chain of products. Autograd keeps only the input jets, the row index and the node-level
    coefficients :math:`s'(z_l)` ``[n, d]``; the backward pass recomputes each chunk's
    intermediate jets once (as a checkpoint would) and accumulates the gradients of the jets,
    of every :math:`W_l` and of every coefficient (when it needs one: analytic activations).

    Shapes: ``jets`` ``[P, 1, F, d_in]``, ``rows`` ``[P]`` -> ``[P, 1, F, d]``.
    """

    @staticmethod
    def forward(ctx, jets: Tensor, rows: Tensor, num_linears: int, *weights_and_coefficients: Tensor):
        weights = weights_and_coefficients[:num_linears]
        coefficients = weights_and_coefficients[num_linears:]
        ctx.num_linears = num_linears
        ctx.save_for_backward(jets, rows, *weights, *coefficients)
        out = jets.new_empty(jets.shape[:-1] + (weights[-1].size(0),))
        chunk = chunk_rows(out)
        buffers = [None] * (num_linears - 1)  # reused by every chunk: no allocation per chunk
        for start in range(0, jets.size(0), chunk):
            part, part_rows = jets[start : start + chunk], rows[start : start + chunk]
            for i, (weight, g) in enumerate(zip(weights, coefficients, strict=True)):
                if i == num_linears - 1:
                    target = out[start : start + chunk]
                else:
                    if buffers[i] is None or buffers[i].size(0) != part.size(0):
                        buffers[i] = part.new_empty(part.shape[:-1] + (weight.size(0),))
                    target = buffers[i]
                part = torch.matmul(part, weight.T, out=target)
                part.mul_(g.index_select(0, part_rows)[:, None, None, :])
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        jets, rows, *rest = ctx.saved_tensors
        L = ctx.num_linears
        weights, coefficients = rest[:L], rest[L:]
        needs_coefficient = [ctx.needs_input_grad[3 + L + i] for i in range(L)]
        grad_weights = [torch.zeros_like(w) for w in weights]
        grad_coefficients = [
            torch.zeros_like(g) if need else None
            for g, need in zip(coefficients, needs_coefficient, strict=True)
        ]
        grad_jets = torch.empty_like(jets) if ctx.needs_input_grad[0] else None
        chunk = chunk_rows(grad_out)
        for start in range(0, jets.size(0), chunk):
            part_rows = rows[start : start + chunk]
            # recompute the input of every linear map, and a product z_l = y_l W_l^T only where
            # its coefficient needs a gradient (never with ReLU)
            inputs, products = [jets[start : start + chunk]], [None] * L
            for i in range(L):
                if i == L - 1 and not needs_coefficient[i]:
                    break
                product = inputs[-1] @ weights[i].T
                products[i] = product if needs_coefficient[i] else None
                if i < L - 1:
                    inputs.append(times_rows(product, coefficients[i], part_rows))
            grad = grad_out[start : start + chunk]
            for i in reversed(range(L)):
                if needs_coefficient[i]:
                    grad_coefficients[i].index_add_(0, part_rows, (grad * products[i]).sum((1, 2)))
                grad = times_rows(grad, coefficients[i], part_rows)
                grad_weights[i].addmm_(flat_channels(grad).T, flat_channels(inputs[i]))
                if i > 0:
                    grad = grad @ weights[i]
                elif grad_jets is not None:
                    torch.matmul(grad, weights[i], out=grad_jets[start : start + chunk])
        return (grad_jets, None, None, *grad_weights, *grad_coefficients)


def times_rows(jets: Tensor, coefficients: Tensor, rows: Tensor) -> Tensor:
    """``jets [P, m, F, d] * coefficients[rows]`` (node-level ``[n, d]``, broadcast)."""
    return jets * coefficients.index_select(0, rows)[:, None, None, :]


def flat_channels(x: Tensor) -> Tensor:
    """``[..., d]`` as ``[rows, d]``."""
    return x.reshape(-1, x.size(-1))


def aggregate(
    transition: Transition, self_weight: Tensor, edge_weight: Tensor | None, jets: Tensor
) -> Tensor:
    """``out[dst] += w * jets[src]`` over the self entries and (if weighted) the messages,
    as one sparse product on the flattened jets."""
    row_map = transition.row_map(with_messages=edge_weight is not None)
    weights = self_weight if edge_weight is None else torch.cat([self_weight, edge_weight])
    out = RowMapProduct.apply(weights.index_select(0, row_map.order), flat_rows(jets), row_map)
    return out.view((row_map.num_rows,) + tuple(jets.shape[1:]))


def aggregate_chunks(
    transition: Transition, self_weight: Tensor, edge_weight: Tensor, jets: Tensor, chunk: int
) -> Iterable[Tensor]:
    """:func:`aggregate` in chunks of ``chunk`` output rows. With autograd: one product split
    into views, so that the backward pass stays one sparse product. Without: a generator
    computing every chunk as its own product when asked for it (it stays in cache, and no
    full-size result is ever allocated)."""
    if torch.is_grad_enabled():
        return aggregate(transition, self_weight, edge_weight, jets).split(chunk)
    row_map = transition.row_map(with_messages=True)
    weights = torch.cat([self_weight, edge_weight]).index_select(0, row_map.order)
    bounds = row_map.offsets.tolist() + [row_map.cols.numel()]
    flat, shape = flat_rows(jets), tuple(jets.shape[1:])

    def product(start: int) -> Tensor:
        stop = min(start + chunk, row_map.num_rows)
        first, last = bounds[start], bounds[stop]
        out = torch.nn.functional.embedding_bag(
            row_map.cols[first:last],
            flat,
            row_map.offsets[start:stop] - first,
            mode="sum",
            per_sample_weights=weights[first:last],
        )
        return out.view((stop - start,) + shape)

    return (product(start) for start in range(0, max(row_map.num_rows, 1), chunk))


def gather_chunks(table: Tensor, index: Tensor, chunk: int) -> Iterable[Tensor]:
    """``table[index]`` in chunks of ``chunk`` rows. With autograd: one gather split into views
    (one scatter in the backward pass). Without: each chunk gathered when asked for it."""
    if torch.is_grad_enabled():
        return table[index].split(chunk)
    return (table[part] for part in index.split(chunk))


def map_chunks(fn, num_rows: int, *inputs: Iterable[Tensor]) -> Tensor:
    """``fn(*chunks)`` over matching row chunks of the inputs, concatenated (``num_rows`` rows in
    all); ``fn`` must act on every row alone.

    With autograd every chunk is checkpointed: the backward pass recomputes it, so only the
    chunks' inputs are kept. Without autograd the results go into one preallocated tensor.
    """
    parts = zip(*inputs, strict=True)
    if torch.is_grad_enabled():
        return torch.cat([checkpoint(fn, *chunks, use_reentrant=False) for chunks in parts])
    out, start = None, 0
    for chunks in parts:
        result = fn(*chunks)
        if out is None:
            out = result.new_empty((num_rows,) + tuple(result.shape[1:]))
        out[start : start + result.size(0)] = result
        start += result.size(0)
    return out
