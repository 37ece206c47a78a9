"""Dataset storage: :class:`GraphDataset` (graphs in PyG's collated storage), its cache files, and
:class:`DatasetSplits` (train/validation/test and the :class:`~hodgnn.data.info.DatasetInfo`).

Every loader builds its splits from these; :mod:`hodgnn.data.loading` maps dataset names to loaders.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch_geometric.data import Data, InMemoryDataset

from hodgnn.data.info import DatasetInfo
from hodgnn.io import atomic_torch_save


class GraphDataset(InMemoryDataset):
    r"""An in-memory list of graphs in PyG's collated storage (no files, no download).

    Indexing with an int returns a :class:`~torch_geometric.data.Data`; indexing with a
    slice, a list or an index tensor returns a cheap view, as for any PyG dataset.

    Args:
        data_list (Sequence[Data], optional): the graphs. (default: :obj:`None`, empty)
        transform (callable, optional): applied to every graph on access. (default: :obj:`None`)
    """

    def __init__(self, data_list: Sequence[Data] | None = None, transform: Any = None) -> None:
        super().__init__(root=None, transform=transform)
        if data_list is not None and len(data_list) > 0:
            self.data, self.slices = self.collate(list(data_list))
            if self.slices is None:  # PyG collates a single graph without slices.
                self.slices = _single_graph_slices(data_list[0])

    def to_state(self) -> dict[str, Any]:
        """Plain tensors (``weights_only`` loadable) that :meth:`from_state` restores.

        Integer tensors are stored in the narrowest integer type that holds their values (categorical
        features fit in ``uint8``), which keeps caches of large datasets small.
        """
        if self._data is None:
            return {"data": {}, "slices": None, "dtypes": {}}
        data, dtypes = {}, {}
        for key, value in self._data.to_dict().items():
            if torch.is_tensor(value) and value.dtype == torch.long and value.numel() > 0:
                dtypes[key] = str(value.dtype)
                value = value.to(_narrowest_int(int(value.min()), int(value.max())))
            data[key] = value
        return {"data": data, "slices": self.slices, "dtypes": dtypes}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> GraphDataset:
        dataset = cls()
        if state["data"]:
            data = dict(state["data"])
            for key, dtype in state.get("dtypes", {}).items():
                data[key] = data[key].to(getattr(torch, dtype.removeprefix("torch.")))
            dataset.data = Data.from_dict(data)
            dataset.slices = state["slices"]
        return dataset

    def len(self) -> int:
        return 0 if self._data is None else super().len()


def _narrowest_int(low: int, high: int) -> torch.dtype:
    for dtype in (torch.uint8, torch.int8, torch.int16, torch.int32):
        info = torch.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return dtype
    return torch.long


def _single_graph_slices(data: Data) -> dict[str, torch.Tensor]:
    slices = {}
    for key, value in data.items():
        if torch.is_tensor(value):
            size = value.size(data.__cat_dim__(key, value)) if value.dim() > 0 else 1
            slices[key] = torch.tensor([0, size])
    return slices


def save_cache(path: str | os.PathLike, dataset: GraphDataset, meta: dict[str, Any]) -> None:
    """Atomically write ``dataset`` and JSON-like ``meta`` to ``path`` (``torch.save``)."""
    atomic_torch_save({"graphs": dataset.to_state(), "meta": meta}, path)


def load_cache(path: str | os.PathLike) -> tuple[GraphDataset, dict[str, Any]]:
    """Read what :func:`save_cache` wrote (``weights_only=True``)."""
    state = torch.load(path, weights_only=True)
    return GraphDataset.from_state(state["graphs"]), state["meta"]


@dataclass
class DatasetSplits:
    """The official train/validation/test splits of a dataset and its :class:`DatasetInfo`.

    ``train``, ``val`` and ``test`` are PyG datasets (``len``, integer indexing, iteration,
    accepted by :class:`torch_geometric.loader.DataLoader`). A split that was not loaded (for
    example ZINC's train split with ``splits=("val", "test")``) is an empty dataset.
    """

    train: Any
    val: Any
    test: Any
    info: DatasetInfo

    def __iter__(self):
        return iter((self.train, self.val, self.test, self.info))
