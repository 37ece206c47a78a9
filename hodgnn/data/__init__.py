"""Datasets with their official splits, dataset descriptions and data-root resolution."""

from hodgnn.data.info import DatasetInfo
from hodgnn.data.loading import DATASET_NAMES, load_dataset
from hodgnn.data.ogb_mol import read_ogb_raw
from hodgnn.data.root import resolve_data_root
from hodgnn.data.storage import DatasetSplits, GraphDataset

__all__ = [
    "DATASET_NAMES",
    "DatasetInfo",
    "DatasetSplits",
    "GraphDataset",
    "load_dataset",
    "read_ogb_raw",
    "resolve_data_root",
]
