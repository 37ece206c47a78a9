"""PyG transforms that prepare graphs for HOD-GNN once, when the dataset is loaded."""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from hodgnn.checks import check_int
from hodgnn.derivatives import lower, node_derivatives
from hodgnn.derivatives.blocks import MAX_BLOCK_ENTRIES, UNREACHED, hop_distances
from hodgnn.derivatives.engine import SCALES


class AddHopDistances(BaseTransform):
    r"""Adds the graph's hop distances up to ``max_hops`` as ``data[attr_name]``: a flat
    ``uint8`` tensor of :math:`n^2` entries, entry :math:`v n + u` the length of the shortest
    path :math:`u \to v` (``255`` beyond ``max_hops``).

    PyG's collate concatenates them graph after graph, which is what
    :func:`~hodgnn.derivatives.blocks.build_block_pair_support` reads to assemble a batch's pair
    support without sorting or searching (:class:`~hodgnn.nn.HODGNN` lists this transform in
    ``required_transforms()``). Graphs with more than ``max_nodes`` nodes are left without it
    (their supports are built sparsely).

    Args:
        max_hops (int): the deepest distance kept (the base MPNN's depth :math:`T`), at most 254.
        attr_name (str, optional): the attribute to add. (default: ``"hop_distances"``)
        max_nodes (int, optional): largest graph that gets the dense table.
            (default: ``4096``)
    """

    def __init__(self, max_hops: int, attr_name: str = "hop_distances", max_nodes: int = 4096):
        if not isinstance(max_hops, int) or not 0 <= max_hops < UNREACHED:
            raise ValueError(f"max_hops must be an int in [0, {UNREACHED - 1}], got {max_hops!r}")
        if "index" in attr_name or "batch" in attr_name or "face" in attr_name:
            raise ValueError(f"attr_name {attr_name!r} would be offset by PyG's collate; choose another name")
        if max_nodes * max_nodes > MAX_BLOCK_ENTRIES:
            raise ValueError(f"max_nodes must be at most {int(MAX_BLOCK_ENTRIES**0.5)}, got {max_nodes}")
        self.max_hops = max_hops
        self.attr_name = attr_name
        self.max_nodes = max_nodes

    def forward(self, data: Data) -> Data:
        n = data.num_nodes
        if n > self.max_nodes:
            return data
        ptr = torch.tensor([0, n], dtype=torch.long, device=data.edge_index.device)
        data[self.attr_name] = hop_distances(data.edge_index, ptr, self.max_hops)
        return data

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(max_hops={self.max_hops}, attr_name={self.attr_name!r}, "
            f"max_nodes={self.max_nodes})"
        )


ENCODING_TENSORS = ("diagonal", "out")


class AddDerivativeEncoding(BaseTransform):
    r"""Adds derivative encodings of a frozen base MPNN as a node-level positional/structural
    encoding ``data[attr_name]`` (``[n, K]``), like :class:`~torch_geometric.transforms.AddRandomWalkPE`
    (HOD-GNN, "On The Expressive Power of GNN Derivatives", ICLR 2026).

    For every node :math:`v` it concatenates, for the tensors asked for,

    * ``"diagonal"``: every layer's :math:`\partial^a h^{(t)}_{v,i} / \partial x_{v,j}^a`,
      :math:`t = 1..T`, :math:`a = 1..m` (``T m d F`` numbers), and
    * ``"out"``: :math:`\partial^a (\sum_w h^{(T)}_{w,i}) / \partial x_{v,j}^a`
      (``m d F`` numbers),

    computed exactly by :func:`~hodgnn.derivatives.node_derivatives`. The base is any model the
    engine supports (a :class:`~hodgnn.nn.BaseMPNN`, PyG's ``GIN`` / ``GCN`` / ``GraphSAGE``, a
    ``torch_geometric.nn.Sequential``); without one, a :class:`~hodgnn.nn.BaseMPNN` is built
    from ``seed`` and the options. The input is ``data.x`` (``input="x"``) or a constant one per
    node (``input="ones"``). :meth:`rwse` gives the settings under which the encoding is exactly
    RWSE: a linear mean-aggregation base with identity weights and :math:`\epsilon = -1`, so that
    :math:`\partial h^{(t)}_v / \partial x_v = (D^{-1} A)^t_{vv}`.

    Args:
        base (torch.nn.Module, optional): the frozen base (put in eval mode, no gradients).
            (default: ``None``: built from the options below)
        order (int, optional): the highest derivative order :math:`m`. (default: ``1``)
        tensors (tuple of str, optional): ``"diagonal"`` and/or ``"out"``.
            (default: ``("diagonal",)``)
        attr_name (str, optional): the attribute to add. (default: ``"derivative_pe"``)
        input (str, optional): ``"ones"`` or ``"x"``. (default: ``"ones"``)
        in_channels (int, optional): width of ``data.x`` for a built base with ``input="x"``
            (required then; ``input="ones"`` feeds one channel). (default: ``None``)
        num_layers (int, optional): depth :math:`T` of a built base. (default: ``4``)
        channels (int, optional): width :math:`d` of a built base. (default: ``4``)
        conv (str, optional): aggregation of a built base. (default: ``"gin"``)
        act (str, optional): activation of a built base. (default: ``"tanh"``)
        seed (int, optional): seed of a built base's weights. (default: ``0``)
        scale (str, optional): ``"derivative"`` or ``"taylor"`` (divided by :math:`a!`).
            (default: ``"derivative"``)
    """

    def __init__(
        self,
        base: torch.nn.Module | None = None,
        *,
        order: int = 1,
        tensors: tuple[str, ...] = ("diagonal",),
        attr_name: str = "derivative_pe",
        input: str = "ones",
        in_channels: int | None = None,
        num_layers: int = 4,
        channels: int = 4,
        conv: str = "gin",
        act: str = "tanh",
        seed: int = 0,
        scale: str = "derivative",
    ):
        from hodgnn.nn.base_mpnn import BaseMPNN  # hodgnn.nn imports this module (AddHopDistances)

        tensors = tuple(tensors)
        if not tensors or any(t not in ENCODING_TENSORS for t in tensors):
            raise ValueError(f"tensors must be a non-empty subset of {ENCODING_TENSORS}, got {tensors!r}")
        if input not in ("ones", "x"):
            raise ValueError(f"input must be 'ones' or 'x', got {input!r}")
        check_int("order", order, 1)
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {list(SCALES)}, got {scale!r}")
        self.built = base is None
        if base is None:
            if input == "x" and in_channels is None:
                raise ValueError("a built base with input='x' needs in_channels (the width of data.x)")
            width = 1 if input == "ones" else in_channels
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                base = BaseMPNN(width, channels, num_layers, conv=conv, act=act)
        self.plan = lower(base)  # refuses unsupported modules now, not on the first graph
        self.base = base.eval().requires_grad_(False)
        self.order = order
        self.tensors = tensors
        self.attr_name = attr_name
        self.input = input
        self.scale = scale
        self.options = dict(num_layers=num_layers, channels=channels, conv=conv, act=act, seed=seed)
        if input == "x":
            self.options = dict(in_channels=in_channels, **self.options)

    @property
    def num_channels(self) -> int:
        r"""Width :math:`K` of the encoding: :math:`m F \sum_t d_t` for the diagonals (``d_t`` the
        width of layer :math:`t`, ``F`` the input width) plus :math:`m F d_T` for ``D_out``."""
        per_layer = [layer.out_channels * self.order * self.plan.in_channels for layer in self.plan.layers]
        return sum(per_layer) * ("diagonal" in self.tensors) + per_layer[-1] * ("out" in self.tensors)

    @classmethod
    def rwse(cls, walk_length: int, attr_name: str = "derivative_pe") -> AddDerivativeEncoding:
        """The settings under which the encoding equals ``AddRandomWalkPE(walk_length)``."""
        from hodgnn.nn.base_mpnn import BaseMPNN

        base = BaseMPNN(
            1, 1, walk_length, conv="mean", act="identity", eps=-1.0, num_mlp_layers=1, bias=False
        )
        with torch.no_grad():
            for layer in base.layers:
                layer.linears[0].weight.fill_(1.0)
        return cls(base, order=1, tensors=("diagonal",), attr_name=attr_name, input="ones")

    def forward(self, data: Data) -> Data:
        n = data.num_nodes
        dtype = next(self.base.parameters(), torch.empty(0)).dtype  # the base's (default for no weights)
        if self.input == "x":
            if getattr(data, "x", None) is None:
                raise ValueError("input='x' needs data.x")
            x = data.x.to(dtype)
            if x.dim() == 1:
                x = x.unsqueeze(-1)
            expected = self.plan.in_channels
            if x.size(-1) != expected:
                raise ValueError(f"data.x has {x.size(-1)} channels, the base expects {expected}")
        else:
            x = torch.ones(n, self.plan.in_channels, dtype=dtype, device=data.edge_index.device)
        edge_attr = getattr(data, "edge_attr", None) if self.plan.needs("edge_attr") else None
        diagonal, out = "diagonal" in self.tensors, "out" in self.tensors
        with torch.no_grad():
            # one pass: every layer for the diagonals; the full support only when D_out needs it
            layers = node_derivatives(
                self.base,
                x,
                data.edge_index,
                self.order,
                edge_attr,
                all_layers=True,
                diagonal_only=not out,
                scale=self.scale,
            )
        parts = [layer.diagonal().reshape(n, -1) for layer in layers] if diagonal else []
        if out:
            parts.append(layers[-1].graph_level().reshape(n, -1))
        data[self.attr_name] = torch.cat(parts, 1)
        return data

    def __repr__(self) -> str:
        base = "built" if self.built else type(self.base).__name__
        options = "".join(f", {k}={v!r}" for k, v in self.options.items()) if self.built else ""
        return (
            f"{self.__class__.__name__}(base={base}, order={self.order}, tensors={self.tensors!r}, "
            f"attr_name={self.attr_name!r}, input={self.input!r}, scale={self.scale!r}{options})"
        )
