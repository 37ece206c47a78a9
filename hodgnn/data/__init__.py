"""Datasets with their official splits, dataset descriptions and data-root resolution.

The loaders are imported on first use (PEP 562), so that ``hodgnn.nn`` (which reads
:class:`DatasetInfo`) imports without the ``chem`` extra (OGB, RDKit, pandas).
"""

from __future__ import annotations

import importlib

from hodgnn.data.info import DatasetInfo
from hodgnn.data.root import resolve_data_root

_LAZY = {
    "DATASET_NAMES": "hodgnn.data.loading",
    "load_dataset": "hodgnn.data.loading",
    "read_ogb_raw": "hodgnn.data.ogb_mol",
    "DatasetSplits": "hodgnn.data.storage",
    "GraphDataset": "hodgnn.data.storage",
}

__all__ = ["DATASET_NAMES", "DatasetInfo", "DatasetSplits", "GraphDataset", "load_dataset", "read_ogb_raw"]
__all__ += ["resolve_data_root"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
