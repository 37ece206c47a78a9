"""LRGB Peptides-func (10-task multilabel, AP) and Peptides-struct (11-target regression, MAE).

Dwivedi et al., "Long Range Graph Benchmark" (NeurIPS 2022 Datasets and Benchmarks). The original
LRGB format: a CSV of 15 535 peptide SMILES with their labels, featurised with
:func:`ogb.utils.smiles2graph` (9 categorical atom, 3 categorical bond features), and a pickle with
the stratified random split (10 873 / 2331 / 2331 rows), shared by both tasks.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hodgnn.checks import check_positive_int_or_none
from hodgnn.data.info import DatasetInfo
from hodgnn.data.molecules import atom_bond_feature_dims, featurise_smiles, installed_rdkit_version
from hodgnn.data.root import (
    MissingDataError,
    cache_key,
    download_allowed,
    file_sha256,
    processed_cache_dir,
    resolve_data_root,
    writable_download_root,
)
from hodgnn.data.storage import DatasetSplits, GraphDataset, load_cache, save_cache

log = logging.getLogger(__name__)

CACHE_FORMAT = 2
STRUCT_TARGETS = (
    "Inertia_mass_a",
    "Inertia_mass_b",
    "Inertia_mass_c",
    "Inertia_valence_a",
    "Inertia_valence_b",
    "Inertia_valence_c",
    "length_a",
    "length_b",
    "length_c",
    "Spherocity",
    "Plane_best_fit",
)
NUM_FUNC_TASKS = 10
SPLIT_MD5 = "5a0114bdadc80b94fc7ae974f13ef061"  # the same file for both tasks
PEPTIDES = {
    "peptides-func": {
        "folder": "peptides-functional",
        "csv": "peptide_multi_class_dataset.csv.gz",
        "csv_url": "https://www.dropbox.com/s/ol2v01usvaxbsr8/peptide_multi_class_dataset.csv.gz?dl=1",
        "csv_md5": "701eb743e899f4d793f0e13c8fa5a1b4",
        "splits": ("splits_random_stratified_peptide.pickle",),
        "split_url": "https://www.dropbox.com/s/j4zcnx2eipuo0xz/splits_random_stratified_peptide.pickle?dl=1",
    },
    "peptides-struct": {
        "folder": "peptides-structural",
        "csv": "peptide_structure_normalized_dataset.csv.gz",
        "csv_url": (
            "https://www.dropbox.com/s/0d4aalmq4b4e2nh/peptide_structure_normalized_dataset.csv.gz?dl=1"
        ),
        "csv_md5": "c240c1c15466b5c907c63e180fa8aa89",
        # LRGB publishes the split twice under two names; both files have MD5 SPLIT_MD5.
        "splits": (
            "splits_random_stratified_peptide_structure.pickle",
            "splits_random_stratified_peptide.pickle",
        ),
        "split_url": (
            "https://www.dropbox.com/s/9dfifzft1hqgow6/splits_random_stratified_peptide_structure.pickle?dl=1"
        ),
    },
}


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _folders(root: Path, name: str) -> list[Path]:
    """This project's shared layout ``<root>/peptides`` first, then LRGB's own folder name."""
    return [root / "peptides", root / PEPTIDES[name]["folder"]]


def _download(url: str, target: Path, md5: str) -> Path:
    from torch_geometric.data import download_url

    path = Path(download_url(url, str(target.parent), filename=target.name))
    if _md5(path) != md5:
        raise ValueError(f"{path}: MD5 {_md5(path)} differs from the official {md5} of {url}")
    return path


def _locate(
    name: str, root: Path, target_file: str | os.PathLike | None, allow_download: bool
) -> tuple[Path, Path]:
    spec = PEPTIDES[name]
    folders = _folders(root, name)
    if target_file is not None:
        csv_path = Path(target_file).expanduser()
        if not csv_path.is_file():
            raise FileNotFoundError(f"target_file={str(target_file)!r} does not exist")
    else:
        csv_path = next(
            (f / "raw" / spec["csv"] for f in folders if (f / "raw" / spec["csv"]).is_file()), None
        )
    split_path = None
    for folder in folders:
        for split_name in spec["splits"]:
            if (folder / split_name).is_file():
                split_path = folder / split_name
                break
        if split_path is not None:
            break

    missing = []
    if csv_path is None:
        missing.append((folders[0] / "raw" / spec["csv"], spec["csv_url"], spec["csv_md5"]))
    if split_path is None:
        missing.append((folders[0] / spec["splits"][0], spec["split_url"], SPLIT_MD5))
    if missing and not allow_download:
        hint = ""
        if name == "peptides-struct" and csv_path is None:
            hint = (
                "Peptides-struct targets are not in this data root; pass target_file=<csv with columns "
                f"smiles,{','.join(STRUCT_TARGETS)}> to use a target file of that format."
            )
        raise MissingDataError([m[0] for m in missing], " and ".join(m[1] for m in missing), hint=hint)
    for path, url, md5 in missing:
        target = writable_download_root(root) / PEPTIDES[name]["folder"] / path.relative_to(folders[0])
        try:
            found = target if target.is_file() else _download(url, target, md5)
        except Exception as error:  # network or checksum failure: name the file, keep the cause
            raise MissingDataError(path, url) from error
        if path.name.endswith(".pickle"):
            split_path = found
        else:
            csv_path = found
    return csv_path, split_path


def read_peptide_split(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read LRGB's split pickle: ``{"train", "val", "test"}`` -> row indices (LongTensor)."""
    with open(path, "rb") as handle:
        split = pickle.load(handle)
    missing = [k for k in ("train", "val", "test") if k not in split]
    if missing:
        raise ValueError(f"{path}: split keys {missing} are missing; found {list(split)}")
    return {k: torch.as_tensor(np.asarray(split[k]), dtype=torch.long) for k in ("train", "val", "test")}


def _read_labels(name: str, path: Path, normalize_targets: bool) -> tuple[list[str], np.ndarray]:
    frame = pd.read_csv(path)
    if "smiles" not in frame.columns:
        raise ValueError(f"{path}: no 'smiles' column; found {list(frame.columns)}")
    if name == "peptides-func":
        if "labels" not in frame.columns:
            raise ValueError(f"{path}: no 'labels' column; found {list(frame.columns)}")
        labels = np.array([ast.literal_eval(text) for text in frame["labels"]], dtype=np.float64)
        if labels.ndim != 2 or labels.shape[1] != NUM_FUNC_TASKS:
            raise ValueError(f"{path}: labels have shape {labels.shape}, expected [rows, {NUM_FUNC_TASKS}]")
    else:
        missing = [c for c in STRUCT_TARGETS if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: target columns {missing} are missing; found {list(frame.columns)}")
        labels = frame[list(STRUCT_TARGETS)].to_numpy(dtype=np.float64)
        if normalize_targets:  # LRGB's loader standardises every target over the whole file
            labels = (labels - labels.mean(0)) / labels.std(0, ddof=1)
    return frame["smiles"].astype(str).tolist(), labels


def load_peptides(
    name: str,
    root: str | os.PathLike | None = None,
    target_file: str | os.PathLike | None = None,
    max_graphs: int | None = None,
    normalize_targets: bool = True,
    download: bool | None = None,
    cache: bool = True,
) -> DatasetSplits:
    """Load Peptides-func or Peptides-struct in the original LRGB format with the official split.

    Files: ``<root>/peptides/raw/<csv>`` (or LRGB's ``<root>/peptides-functional/raw/<csv>``,
    ``<root>/peptides-structural/raw/<csv>``) and the split pickle next to ``raw/``. The SMILES are
    featurised with :func:`ogb.utils.smiles2graph` (tqdm progress bar) and cached under
    ``~/.cache/hodgnn/processed/<name>/`` keyed by the CSV's SHA-256.

    Args:
        name (str): ``"peptides-func"`` or ``"peptides-struct"``.
        root (str or Path, optional): data root (see :func:`hodgnn.data.root.resolve_data_root`).
            (default: :obj:`None`)
        target_file (str or Path, optional): a CSV to read instead of the official one, in its
            format (Peptides-struct: ``smiles`` and the 11 target columns; Peptides-func: ``smiles``
            and ``labels``). (default: :obj:`None`)
        max_graphs (int, optional): featurise only the first ``max_graphs`` rows; split indices
            beyond are left out. For quick tests. (default: :obj:`None`, all)
        normalize_targets (bool): Peptides-struct: standardise every target over the whole file,
            as LRGB's loader does. (default: :obj:`True`)
        download (bool, optional): fetch missing files from LRGB's URLs; default from
            ``$HODGNN_DOWNLOAD`` (off). (default: :obj:`None`)
        cache (bool): read and write the processed cache. (default: :obj:`True`)
    """
    if name not in PEPTIDES:
        raise ValueError(f"Unknown peptides dataset {name!r}; allowed: {list(PEPTIDES)}")
    check_positive_int_or_none("max_graphs", max_graphs)
    data_root = resolve_data_root(root)
    csv_path, split_path = _locate(name, data_root, target_file, download_allowed(download))
    split_md5 = _md5(split_path)
    if split_md5 != SPLIT_MD5:
        raise ValueError(f"{split_path}: MD5 {split_md5} is not the official LRGB split's {SPLIT_MD5}")
    split_rows = read_peptide_split(split_path)

    rdkit_version = installed_rdkit_version()
    key = cache_key(CACHE_FORMAT, name, max_graphs, normalize_targets, rdkit_version, file_sha256(csv_path))
    cache_path = processed_cache_dir(name) / f"{key}.pt"
    if cache and cache_path.is_file():
        dataset, meta = load_cache(cache_path)
    else:
        smiles, labels = _read_labels(name, csv_path, normalize_targets)
        if max_graphs is not None:
            smiles, labels = smiles[:max_graphs], labels[:max_graphs]
        graphs, kept, dropped = featurise_smiles(smiles, labels, desc=f"{name}: smiles2graph")
        dataset = GraphDataset(graphs)
        meta = {"num_rows": len(smiles), "kept_rows": kept, "dropped_rows": dropped}
        if cache:
            save_cache(cache_path, dataset, meta)

    if meta["dropped_rows"]:
        log.warning(
            "%s: RDKit %s could not parse %d of %d SMILES in %s; dropped rows (0-based): %s",
            name, rdkit_version, len(meta["dropped_rows"]), meta["num_rows"], csv_path, meta["dropped_rows"],
        )  # fmt: skip
    row_to_index = torch.full((meta["num_rows"],), -1, dtype=torch.long)
    row_to_index[torch.as_tensor(meta["kept_rows"], dtype=torch.long)] = torch.arange(len(dataset))
    parts = {}
    for split, rows in split_rows.items():
        index = row_to_index[rows[rows < meta["num_rows"]]]
        parts[split] = dataset[index[index >= 0]]

    atom_dims, bond_dims = atom_bond_feature_dims()
    is_func = name == "peptides-func"
    info = DatasetInfo(
        name=name,
        task="multilabel" if is_func else "regression",
        metric="ap" if is_func else "mae",
        num_tasks=NUM_FUNC_TASKS if is_func else len(STRUCT_TARGETS),
        node_input="atom",
        node_dim=len(atom_dims),
        edge_input="bond",
        edge_dim=len(bond_dims),
        higher_is_better=is_func,
        extra={
            "source": str(csv_path),
            "split_file": str(split_path),
            "targets": None if is_func else list(STRUCT_TARGETS),
            "targets_standardised": (not is_func) and normalize_targets,
            "atom_feature_dims": atom_dims,
            "bond_feature_dims": bond_dims,
            "split_sizes": {split: len(part) for split, part in parts.items()},
            "official_split_sizes": {split: len(rows) for split, rows in split_rows.items()},
            "rdkit_version": rdkit_version,
            "num_dropped": len(meta["dropped_rows"]),
            "dropped_rows": list(meta["dropped_rows"]),
            "max_graphs": max_graphs,
        },
    )
    return DatasetSplits(train=parts["train"], val=parts["val"], test=parts["test"], info=info)
