"""The derivative engine: sparse pair supports, Taylor arithmetic, node/mixed/graph derivatives."""

from hodgnn.derivatives import pyg_rules  # noqa: F401  (registers the rules of PyG's layers)
from hodgnn.derivatives.activations import ACTIVATIONS, Activation, resolve_activation
from hodgnn.derivatives.engine import graph_derivatives, mixed_derivatives, node_derivatives
from hodgnn.derivatives.memory import MemoryBudgetError, MemoryCheck, recorded_estimates
from hodgnn.derivatives.plan import BasePlan, LayerPlan, NodeStep, UnsupportedModuleError
from hodgnn.derivatives.rules import lower
from hodgnn.derivatives.support import (
    PairSupport,
    SupportCache,
    TripleSupport,
    build_pair_support,
    build_triple_support,
)
from hodgnn.derivatives.tensors import MixedDerivatives, NodeDerivatives

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "BasePlan",
    "LayerPlan",
    "NodeStep",
    "UnsupportedModuleError",
    "lower",
    "MemoryBudgetError",
    "MemoryCheck",
    "recorded_estimates",
    "MixedDerivatives",
    "NodeDerivatives",
    "PairSupport",
    "SupportCache",
    "TripleSupport",
    "build_pair_support",
    "build_triple_support",
    "graph_derivatives",
    "mixed_derivatives",
    "node_derivatives",
    "resolve_activation",
]
