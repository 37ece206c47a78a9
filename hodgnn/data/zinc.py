"""ZINC-12K (PyG's ``ZINC(subset=True)``): penalised logP regression, MAE.

Irwin et al. (2012) / Gomez-Bombarelli et al. (2018); the 12k subset and split of Dwivedi et al.,
"Benchmarking Graph Neural Networks" (JMLR 2023). Graphs hold one categorical atom type per node
(28 types) and one categorical bond type per edge (4 types), as in PyG's
:class:`~torch_geometric.datasets.ZINC`, with two shape conventions of this package: ``y`` is
``[1, 1]`` and ``edge_attr`` is one column ``[E, 1]``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hodgnn.data.info import DatasetInfo
from hodgnn.data.root import MissingDataError, download_allowed, resolve_data_root, writable_download_root
from hodgnn.data.storage import DatasetSplits, GraphDataset

ZINC_SPLITS = ("train", "val", "test")
ZINC_URL = "https://www.dropbox.com/s/feo9qle74kg48gy/molecules.zip?dl=1"
ZINC_NUM_ATOM_TYPES = 28
ZINC_NUM_BOND_TYPES = 4
ZINC_SUBSET_SIZES = {"train": 10000, "val": 1000, "test": 1000}


def _processed_candidates(root: Path, split: str) -> list[Path]:
    """Processed PyG files: this project's shared layout first, then PyG's own ``ZINC`` layout."""
    out = []
    for folder in ("zinc", "ZINC"):
        out.append(root / folder / "subset_processed_pyg" / f"{split}.pt")
        out.append(root / folder / "subset" / "processed" / f"{split}.pt")
    return out


def _with_package_shapes(dataset: GraphDataset) -> GraphDataset:
    """``y [G] -> [G, 1]`` and ``edge_attr [E] -> [E, 1]`` on the collated storage (slices unchanged)."""
    storage = dataset._data
    storage.y = storage.y.view(-1, 1).float()
    if storage.edge_attr is not None and storage.edge_attr.dim() == 1:
        storage.edge_attr = storage.edge_attr.view(-1, 1)
    dataset._data_list = None
    return dataset


def _load_processed(path: Path) -> GraphDataset:
    dataset = GraphDataset()
    dataset.load(str(path))  # PyG's own reader of its processed files
    return _with_package_shapes(dataset)


def _download_split(root: Path, split: str) -> GraphDataset:
    from torch_geometric.datasets import ZINC

    official = ZINC(str(writable_download_root(root) / "zinc"), subset=True, split=split)
    return _load_processed(Path(official.processed_paths[ZINC_SPLITS.index(split)]))


def load_zinc(
    root: str | os.PathLike | None = None,
    splits: Sequence[str] = ZINC_SPLITS,
    download: bool | None = None,
) -> DatasetSplits:
    """Load ZINC-12K with its official train/val/test split (10 000 / 1000 / 1000 graphs).

    Reads PyG's processed files ``<root>/zinc/subset_processed_pyg/<split>.pt`` (or PyG's own
    layout ``<root>/zinc/subset/processed/<split>.pt``); when a requested split is absent and
    ``download`` is allowed, PyG's :class:`~torch_geometric.datasets.ZINC` fetches and processes
    the official archive. ``splits`` loads only some splits (e.g. ``("val", "test")`` where the
    training graphs are not available); the others come back empty.

    Args:
        root (str or Path, optional): data root (see :func:`hodgnn.data.root.resolve_data_root`).
            (default: :obj:`None`)
        splits (Sequence[str]): which of ``"train"``, ``"val"``, ``"test"`` to load.
            (default: all three)
        download (bool, optional): let PyG fetch missing splits; default from
            ``$HODGNN_DOWNLOAD`` (off). (default: :obj:`None`)
    """
    if isinstance(splits, str):
        splits = (splits,)
    unknown = [s for s in splits if s not in ZINC_SPLITS]
    if unknown or not splits:
        raise ValueError(f"splits={tuple(splits)!r}; allowed: a non-empty subset of {ZINC_SPLITS}")
    data_root = resolve_data_root(root)
    allow_download = download_allowed(download)

    found = {
        s: next((p for p in _processed_candidates(data_root, s) if p.is_file()), None) for s in ZINC_SPLITS
    }
    missing = [s for s in splits if found[s] is None]
    if missing and not allow_download:
        available = tuple(s for s in ZINC_SPLITS if found[s] is not None)
        hint = f"The ZINC split(s) {missing} are not in {data_root}; " + (
            f"load only {available} with splits={available!r}." if available else "no split is there."
        )
        raise MissingDataError(
            [_processed_candidates(data_root, s)[0] for s in missing],
            f"PyG's ZINC(subset=True) archive {ZINC_URL}",
            hint=hint,
        )

    parts, sources = {}, {}
    for split in ZINC_SPLITS:
        if split not in splits:
            parts[split] = GraphDataset()
        elif found[split] is not None:
            parts[split], sources[split] = _load_processed(found[split]), str(found[split])
        else:
            try:
                parts[split] = _download_split(data_root, split)
            except Exception as error:  # network or archive failure: name the file and keep the cause
                raise MissingDataError(
                    _processed_candidates(data_root, split)[0], f"PyG's ZINC(subset=True) archive {ZINC_URL}"
                ) from error
            sources[split] = f"downloaded by PyG ZINC(subset=True) from {ZINC_URL}"

    info = DatasetInfo(
        name="zinc",
        task="regression",
        metric="mae",
        num_tasks=1,
        node_input="embedding",
        node_dim=ZINC_NUM_ATOM_TYPES,
        edge_input="embedding",
        edge_dim=ZINC_NUM_BOND_TYPES,
        higher_is_better=False,
        extra={
            "loaded_splits": tuple(s for s in ZINC_SPLITS if s in splits),
            "split_sizes": {s: len(parts[s]) for s in ZINC_SPLITS},
            "official_split_sizes": dict(ZINC_SUBSET_SIZES),
            "sources": sources,
        },
    )
    return DatasetSplits(train=parts["train"], val=parts["val"], test=parts["test"], info=info)
