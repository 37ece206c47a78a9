"""The nested-autograd references of the derivative engine, for the tests: the library's
:mod:`hodgnn.reference` (``hodgnn demo`` uses it too), re-exported here."""

from hodgnn.reference import (
    GraphForward,
    reference_mixed_derivatives,
    reference_mixed_derivatives_batched,
    reference_node_derivatives,
    reference_node_derivatives_batched,
)

__all__ = [
    "GraphForward",
    "reference_mixed_derivatives",
    "reference_mixed_derivatives_batched",
    "reference_node_derivatives",
    "reference_node_derivatives_batched",
]
