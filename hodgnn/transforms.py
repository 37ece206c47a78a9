"""PyG transforms that prepare graphs for HOD-GNN once, when the dataset is loaded."""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from hodgnn.derivatives.blocks import MAX_BLOCK_ENTRIES, UNREACHED, hop_distances


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
