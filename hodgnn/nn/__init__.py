"""Models: the base MPNN, derivative encoders, HOD-GNN and its baselines."""

from hodgnn.nn.base_mpnn import BaseMPNN, MPNNLayer
from hodgnn.nn.baselines import DSGNN, MPNNBaseline
from hodgnn.nn.derivative_encoders import DerivativeEncoders
from hodgnn.nn.downstream import DownstreamGNN, GNNStack
from hodgnn.nn.encoders import (
    DerivativeNorm,
    DiagonalDerivativeEncoder,
    MixedDerivativeEncoder,
    NodeDerivativeEncoder,
    OutputDerivativeEncoder,
    SparseIGN,
)
from hodgnn.nn.graph_model import GraphModel
from hodgnn.nn.hod_gnn import HODGNN
from hodgnn.nn.inputs import InputEncoder
from hodgnn.nn.registry import MODELS, build_model, model_options

__all__ = [
    "DSGNN",
    "HODGNN",
    "MODELS",
    "BaseMPNN",
    "DerivativeEncoders",
    "DerivativeNorm",
    "DiagonalDerivativeEncoder",
    "DownstreamGNN",
    "GNNStack",
    "GraphModel",
    "InputEncoder",
    "MPNNBaseline",
    "MPNNLayer",
    "MixedDerivativeEncoder",
    "NodeDerivativeEncoder",
    "OutputDerivativeEncoder",
    "SparseIGN",
    "build_model",
    "model_options",
]
