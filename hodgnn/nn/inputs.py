"""Input feature encoders: turn a dataset's raw node / edge features into dense vectors.

The kind of encoding is read from :class:`~hodgnn.data.DatasetInfo` (``node_input`` /
``edge_input``), so every model (HOD-GNN and every baseline) encodes its inputs the same way.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hodgnn.checks import check_choice, check_int
from hodgnn.data.info import INPUT_KINDS, DatasetInfo


def _ogb_encoder(kind: str, out_channels: int) -> nn.Module:
    """OGB's ``AtomEncoder`` / ``BondEncoder`` (imported here: ``ogb`` is the ``chem`` extra)."""
    try:
        from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder
    except ImportError as error:
        raise ImportError(
            f"input kind {kind!r} uses ogb's {kind.title()}Encoder: pip install 'hodgnn[chem]'"
        ) from error
    return AtomEncoder(out_channels) if kind == "atom" else BondEncoder(out_channels)


class InputEncoder(nn.Module):
    r"""Encode raw features of one kind into ``out_channels`` floats per row.

    * ``"float"``: :math:`\mathbf{W} x + \mathbf{b}` (``nn.Linear(in_dim, out_channels)``);
    * ``"atom"`` / ``"bond"``: ogb's :class:`AtomEncoder` / :class:`BondEncoder` (a sum of
      one embedding per categorical column of OGB's molecule featurisation; ``in_dim`` is
      ignored);
    * ``"embedding"``: ``nn.Embedding(in_dim, out_channels)`` on column 0 of an integer input
      (``[N]`` or ``[N, C]``, e.g. ZINC's atom and bond types);
    * ``"none"``: no input; every row gets the same learned vector (``forward`` needs
      ``num_rows``).

    Args:
        kind (str): one of ``"float"``, ``"atom"``, ``"bond"``, ``"embedding"``, ``"none"``.
        in_dim (int): float width, or number of categories for ``"embedding"``.
        out_channels (int): output width.

    Shapes:
        - **input:** ``[N, in_dim]`` floats, ``[N, 9]`` / ``[N, 3]`` OGB integer codes,
          ``[N]`` or ``[N, C]`` integer categories, or ``None``
        - **output:** ``[N, out_channels]``
    """

    def __init__(self, kind: str, in_dim: int, out_channels: int):
        super().__init__()
        check_choice("input kind", kind, INPUT_KINDS)
        if kind in ("float", "embedding") and in_dim < 1:
            raise ValueError(f"input kind {kind!r} needs in_dim >= 1, got {in_dim}")
        check_int("out_channels", out_channels, 1)
        self.kind = kind
        self.in_dim = in_dim
        self.out_channels = out_channels
        if kind == "float":
            self.encoder = nn.Linear(in_dim, out_channels)
        elif kind in ("atom", "bond"):
            self.encoder = _ogb_encoder(kind, out_channels)
        elif kind == "embedding":
            self.encoder = nn.Embedding(in_dim, out_channels)
        else:
            self.constant = nn.Parameter(torch.empty(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.kind == "float":
            self.encoder.reset_parameters()
        elif self.kind in ("atom", "bond"):
            for embedding in self.encoder.modules():
                if isinstance(embedding, nn.Embedding):
                    nn.init.xavier_uniform_(embedding.weight)
        elif self.kind == "embedding":
            self.encoder.reset_parameters()
        else:
            nn.init.normal_(self.constant)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def forward(self, x: Tensor | None, num_rows: int | None = None) -> Tensor:
        if self.kind == "none":
            if num_rows is None:
                if x is None:
                    raise ValueError("input kind 'none' needs num_rows when x is None")
                num_rows = x.size(0)
            return self.constant.unsqueeze(0).expand(num_rows, -1)
        if x is None:
            raise ValueError(f"input kind {self.kind!r} needs features, got None")
        if self.kind == "float":
            if x.dim() == 1:
                x = x.unsqueeze(-1)
            return self.encoder(x.to(self.dtype))
        if x.is_floating_point():
            x = x.long()
        if self.kind == "embedding":
            return self.encoder(x if x.dim() == 1 else x[:, 0])
        if x.dim() == 1:
            x = x.unsqueeze(-1)
        return self.encoder(x)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.kind!r}, {self.in_dim}, {self.out_channels})"


def node_encoder(info: DatasetInfo, out_channels: int) -> InputEncoder:
    """The node feature encoder a dataset asks for (``info.node_input``, ``info.node_dim``)."""
    return InputEncoder(info.node_input, info.node_dim, out_channels)


def edge_encoder(info: DatasetInfo, out_channels: int) -> InputEncoder | None:
    """The edge feature encoder, or ``None`` when the dataset has no edge features."""
    if not info.has_edge_features:
        return None
    return InputEncoder(info.edge_input, info.edge_dim, out_channels)
