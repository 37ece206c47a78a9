"""One entry point for every dataset: :func:`load_dataset` maps a name to its loader, which returns
:class:`~hodgnn.data.storage.DatasetSplits`.

The loaders import only :mod:`hodgnn.data.storage`; this module imports them when a name asks for one.
"""

from __future__ import annotations

import os
from typing import Any

from hodgnn.data.storage import DatasetSplits

DATASET_NAMES = (
    "zinc",
    "ogbg-molbace",
    "ogbg-moltox21",
    "ogbg-molhiv",
    "peptides-func",
    "peptides-struct",
    "counting-<target>",
    "counting-node-<target>",
    "synthetic-counts",
)


def load_dataset(name: str, root: str | os.PathLike | None = None, **options: Any) -> DatasetSplits:
    """Load a dataset with its official splits.

    Args:
        name (str): one of ``zinc``, ``ogbg-molbace``, ``ogbg-moltox21``, ``ogbg-molhiv``,
            ``peptides-func``, ``peptides-struct``, ``counting-<target>`` (graph-level counts),
            ``counting-node-<target>`` (node-level counts), ``synthetic-counts``.
        root (str or Path, optional): data root; else ``$HODGNN_DATA_ROOT``, else
            ``<repo>/../shared/data`` when it exists, else ``~/.cache/hodgnn/data``.
            (default: :obj:`None`)
        **options: passed to the dataset's loader (see :func:`hodgnn.data.zinc.load_zinc`,
            :func:`hodgnn.data.ogb_mol.load_ogb_mol`, :func:`hodgnn.data.peptides.load_peptides`).
    """
    if not isinstance(name, str):
        raise ValueError(f"dataset name must be a string, got {name!r}; allowed: {list(DATASET_NAMES)}")
    if name == "zinc":
        from hodgnn.data.zinc import load_zinc

        return load_zinc(root=root, **options)
    if name in ("ogbg-molbace", "ogbg-moltox21", "ogbg-molhiv"):
        from hodgnn.data.ogb_mol import load_ogb_mol

        return load_ogb_mol(name, root=root, **options)
    if name in ("peptides-func", "peptides-struct"):
        from hodgnn.data.peptides import load_peptides

        return load_peptides(name, root=root, **options)
    if name.startswith("counting-node-") and len(name) > len("counting-node-"):
        from hodgnn.data.counting import load_counting

        return load_counting(name[len("counting-node-") :], root=root, level="node", **options)
    if name.startswith("counting-") and len(name) > len("counting-"):
        from hodgnn.data.counting import load_counting

        return load_counting(name[len("counting-") :], root=root, **options)
    if name == "synthetic-counts":
        from hodgnn.data.synthetic import load_synthetic_counts

        return load_synthetic_counts(**options)
    raise ValueError(f"Unknown dataset {name!r}; allowed: {list(DATASET_NAMES)}")
