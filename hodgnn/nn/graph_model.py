"""The base class of every model of :mod:`hodgnn.nn`: input encoders and the transform hook."""

from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.data import Data

from hodgnn.nn.inputs import InputEncoder


class GraphModel(nn.Module):
    """Base class of the models: optional input encoders and the transform hook.

    ``node_encoder`` / ``edge_encoder`` (:class:`~hodgnn.nn.inputs.InputEncoder`) map raw
    dataset features to the widths the model was built for; without them ``data.x`` and
    ``data.edge_attr`` must already be float tensors of those widths.
    """

    def __init__(self, node_encoder: InputEncoder | None = None, edge_encoder: InputEncoder | None = None):
        super().__init__()
        self.node_encoder = node_encoder
        self.edge_encoder = edge_encoder

    def required_transforms(self) -> list:
        """PyG transforms the trainer must apply to every split (none by default)."""
        return []

    def reset_parameters(self) -> None:
        for encoder in (self.node_encoder, self.edge_encoder):
            if encoder is not None:
                encoder.reset_parameters()

    def encode_inputs(self, data: Data) -> tuple[Tensor, Tensor | None]:
        """``(x [n, in_channels], edge_attr [E, edge_dim] or None)`` after the input encoders."""
        x = getattr(data, "x", None)
        if self.node_encoder is not None:
            x = self.node_encoder(x, data.num_nodes)
        elif x is None:
            raise ValueError("data.x is missing and the model has no node encoder")
        edge_attr = getattr(data, "edge_attr", None)
        if self.edge_encoder is not None:
            edge_attr = self.edge_encoder(edge_attr, data.edge_index.size(1))
        elif edge_attr is not None and edge_attr.dim() == 1:
            edge_attr = edge_attr.unsqueeze(-1)
        if edge_attr is not None and edge_attr.is_floating_point():
            edge_attr = edge_attr.to(x.dtype)
        return x, edge_attr
