"""OGB graph-property molecule datasets (ogbg-molbace, ogbg-moltox21, ogbg-molhiv).

Wu et al., "MoleculeNet" (2018) and Hu et al., "Open Graph Benchmark" (NeurIPS 2020).
Graphs use OGB's featurisation (:func:`ogb.utils.smiles2graph`): 9 categorical atom features
and 3 categorical bond features, every bond in both directions. Splits are OGB's scaffold splits,
and the metric is OGB's :class:`~ogb.graphproppred.Evaluator` (ROC-AUC).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from hodgnn.checks import check_positive_int_or_none
from hodgnn.data.info import DatasetInfo
from hodgnn.data.molecules import atom_bond_feature_dims, featurise_smiles, installed_rdkit_version
from hodgnn.data.root import (
    MissingDataError,
    cache_key,
    download_allowed,
    file_sha256,
    processed_cache_dir,
    require_file,
    resolve_data_root,
    writable_download_root,
)
from hodgnn.data.storage import DatasetSplits, GraphDataset, load_cache, save_cache

log = logging.getLogger(__name__)

OGB_URL = "http://snap.stanford.edu/ogb/data/graphproppred/csv_mol_download/{download_name}.zip"
CACHE_FORMAT = 2

# name -> (MoleculeNet CSV in the dataset folder, its label columns or None for all but "smiles",
#          OGB download name)
OGB_MOLECULES = {
    "ogbg-molbace": ("bace.csv", ["Class"], "bace"),
    "ogbg-molhiv": ("HIV.csv", ["HIV_active"], "hiv"),
    "ogbg-moltox21": ("tox21.csv", None, "tox21"),
}
SPLIT_NAMES = ("train", "valid", "test")

OGB_RAW_FILES = (
    "edge.csv.gz",
    "node-feat.csv.gz",
    "edge-feat.csv.gz",
    "num-node-list.csv.gz",
    "num-edge-list.csv.gz",
    "graph-label.csv.gz",
)


def _read_int_table(path: Path) -> np.ndarray:
    """Header-less integer CSV as an ``int64`` array of shape ``[rows, cols]``."""
    table = pd.read_csv(path, header=None).to_numpy()
    return table.astype(np.int64).reshape(len(table), -1)


def read_ogb_raw(folder: str | os.PathLike) -> list[Data]:
    """Read an official OGB graph-property ``raw`` folder into PyG graphs.

    ``folder`` is the dataset folder (holding ``raw/``) or the ``raw/`` folder itself. OGB stores
    every undirected edge once, with indices local to its graph; both directions are added here,
    interleaved as ``(u, v), (v, u)`` with the edge feature row repeated, like ogb's own loader.

    Args:
        folder (str or Path): ``<root>/ogbg-molbace`` or ``<root>/ogbg-molbace/raw``.

    Returns:
        One :class:`~torch_geometric.data.Data` per graph with ``x [n, 9]`` (long),
        ``edge_index [2, 2m]`` (long), ``edge_attr [2m, 3]`` (long), ``y [1, num_tasks]`` (float,
        NaN = missing label) and ``num_nodes``.
    """
    folder = Path(folder)
    raw = folder if (folder / "edge.csv.gz").is_file() or folder.name == "raw" else folder / "raw"
    source = "the official OGB archive http://snap.stanford.edu/ogb/data/graphproppred/csv_mol_download/"
    paths = {name: require_file(raw / name, source) for name in OGB_RAW_FILES}

    num_nodes = _read_int_table(paths["num-node-list.csv.gz"])[:, 0]
    num_edges = _read_int_table(paths["num-edge-list.csv.gz"])[:, 0]
    edges = _read_int_table(paths["edge.csv.gz"]) if num_edges.sum() > 0 else np.zeros((0, 2), np.int64)
    node_feat = _read_int_table(paths["node-feat.csv.gz"])
    edge_feat = _read_int_table(paths["edge-feat.csv.gz"]) if num_edges.sum() > 0 else None
    labels = pd.read_csv(paths["graph-label.csv.gz"], header=None).to_numpy(dtype=np.float64)

    if len(num_nodes) != len(num_edges) or len(labels) != len(num_nodes):
        raise ValueError(
            f"{raw}: {len(num_nodes)} graphs in num-node-list, {len(num_edges)} in num-edge-list, "
            f"{len(labels)} rows in graph-label; they must agree"
        )
    if node_feat.shape[0] != num_nodes.sum() or edges.shape[0] != num_edges.sum():
        raise ValueError(
            f"{raw}: node-feat has {node_feat.shape[0]} rows for {num_nodes.sum()} nodes, edge has "
            f"{edges.shape[0]} rows for {num_edges.sum()} edges"
        )

    node_offsets = np.concatenate([[0], np.cumsum(num_nodes)])
    edge_offsets = np.concatenate([[0], np.cumsum(num_edges)])
    edges_t, node_feat_t = torch.as_tensor(edges), torch.as_tensor(node_feat)
    labels_t = torch.tensor(labels, dtype=torch.float32)
    edge_feat_t = None if edge_feat is None else torch.as_tensor(edge_feat)
    graphs = []
    for g in range(len(num_nodes)):
        e0, e1 = edge_offsets[g], edge_offsets[g + 1]
        local = edges_t[e0:e1]
        edge_index = torch.stack([local, local.flip(1)], dim=1).reshape(-1, 2).t().contiguous()
        data = Data(
            x=node_feat_t[node_offsets[g] : node_offsets[g + 1]].clone(),
            edge_index=edge_index,
            y=labels_t[g].view(1, -1).clone(),
            num_nodes=int(num_nodes[g]),
        )
        if edge_feat_t is not None:
            data.edge_attr = edge_feat_t[e0:e1].repeat_interleave(2, dim=0)
        graphs.append(data)
    return graphs


def read_split(folder: str | os.PathLike, split_type: str = "scaffold") -> dict[str, torch.Tensor]:
    """Read OGB's ``split/<split_type>/{train,valid,test}.csv.gz`` row indices.

    Returns:
        ``{"train": LongTensor, "valid": LongTensor, "test": LongTensor}``.
    """
    split_dir = Path(folder) / "split" / split_type
    source = "the official OGB archive " + OGB_URL.format(download_name="<name>")
    out = {}
    for split in SPLIT_NAMES:
        path = require_file(split_dir / f"{split}.csv.gz", source)
        out[split] = torch.tensor(pd.read_csv(path, header=None)[0].to_numpy(), dtype=torch.long)
    return out


def evaluate_ogb(name: str, y_true: torch.Tensor | np.ndarray, y_pred: torch.Tensor | np.ndarray) -> float:
    """The official metric of an OGB graph-property dataset via :class:`ogb.graphproppred.Evaluator`.

    Args:
        name (str): e.g. ``"ogbg-molhiv"``.
        y_true (Tensor or ndarray): ``[N, num_tasks]`` labels (NaN = missing).
        y_pred (Tensor or ndarray): ``[N, num_tasks]`` scores (logits are fine for ROC-AUC).
    """
    from ogb.graphproppred import Evaluator

    evaluator = Evaluator(name)
    y_true = torch.as_tensor(y_true).detach().cpu().double().view(len(y_true), -1).numpy()
    y_pred = torch.as_tensor(y_pred).detach().cpu().double().view(len(y_pred), -1).numpy()
    return float(evaluator.eval({"y_true": y_true, "y_pred": y_pred})[evaluator.eval_metric])


@contextlib.contextmanager
def _torch_load_full_pickles() -> Iterator[None]:
    """ogb's PyG loader calls ``torch.load`` on its own processed file without ``weights_only=False``."""
    key = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
    previous = os.environ.get(key)
    os.environ[key] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous


def download_ogb(name: str, root: Path) -> Path:
    """Fetch the official OGB archive with ogb's :class:`PygGraphPropPredDataset`.

    Returns:
        The dataset folder (``<root>/ogbg_<name>``, ogb's layout) holding ``raw/`` and ``split/``.
    """
    from ogb.graphproppred import PygGraphPropPredDataset

    with _torch_load_full_pickles():
        dataset = PygGraphPropPredDataset(name=name, root=str(root))
    return Path(dataset.root)


def _official_folder_candidates(name: str, root: Path) -> list[Path]:
    return [root / name, root / name.replace("-", "_")]


def _locate_source(name: str, root: Path, download: bool) -> tuple[str, Path, list[Path]]:
    """Where the molecules of ``name`` come from: ``("raw", folder, files)`` or ``("csv", ...)``."""
    csv_name = OGB_MOLECULES[name][0]
    candidates = _official_folder_candidates(name, root)
    for folder in candidates:
        if (folder / "raw" / "edge.csv.gz").is_file():
            return "raw", folder, [folder / "raw" / f for f in OGB_RAW_FILES]
    for folder in candidates:
        if (folder / csv_name).is_file():
            return "csv", folder, [folder / csv_name]
    url = OGB_URL.format(download_name=OGB_MOLECULES[name][2])
    if download:
        target = writable_download_root(root)
        try:
            folder = download_ogb(name, target)
        except Exception as error:  # network or archive failure: say what was missing, keep the cause
            raise MissingDataError(
                [candidates[0] / "raw" / "edge.csv.gz", candidates[0] / csv_name], url
            ) from error
        return "raw", folder, [folder / "raw" / f for f in OGB_RAW_FILES]
    raise MissingDataError(
        [candidates[0] / "raw" / "edge.csv.gz", candidates[0] / csv_name],
        f"{url} (ogb's PygGraphPropPredDataset('{name}'))",
        hint="Either the official OGB raw folder or the MoleculeNet CSV is enough.",
    )


def _read_csv_molecules(name: str, path: Path, max_graphs: int | None) -> tuple[list[str], np.ndarray, list]:
    frame = pd.read_csv(path)
    columns = OGB_MOLECULES[name][1] or [c for c in frame.columns if c != "smiles"]
    missing = [c for c in ["smiles", *columns] if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} are missing; found {list(frame.columns)}")
    if max_graphs is not None:
        frame = frame.iloc[:max_graphs]
    return frame["smiles"].astype(str).tolist(), frame[columns].to_numpy(dtype=np.float64), columns


def load_ogb_mol(
    name: str,
    root: str | os.PathLike | None = None,
    download: bool | None = None,
    max_graphs: int | None = None,
    cache: bool = True,
) -> DatasetSplits:
    """Load an OGB molecule dataset with OGB's scaffold split.

    Sources, first found wins: the official OGB folder ``<root>/<name>/raw`` (or ogb's
    ``<root>/ogbg_<name>/raw``); the MoleculeNet CSV ``<root>/<name>/<HIV.csv|tox21.csv>``
    featurised with :func:`ogb.utils.smiles2graph` (molecules RDKit cannot parse are dropped, logged
    and listed in ``info.extra["dropped"]``); the official archive when ``download`` is allowed.
    The split is ``<folder>/split/scaffold/{train,valid,test}.csv.gz`` (row indices).
    Processed graphs are cached under ``~/.cache/hodgnn/processed/<name>/`` keyed by the source
    files' SHA-256.

    Args:
        name (str): ``"ogbg-molbace"``, ``"ogbg-molhiv"`` or ``"ogbg-moltox21"``.
        root (str or Path, optional): data root (see :func:`hodgnn.data.root.resolve_data_root`).
            (default: :obj:`None`)
        download (bool, optional): fetch the official archive when files are missing; default
            from ``$HODGNN_DOWNLOAD`` (off). (default: :obj:`None`)
        max_graphs (int, optional): keep only the first ``max_graphs`` rows (split indices beyond
            are left out); for quick tests. (default: :obj:`None`, all)
        cache (bool): read and write the processed cache. (default: :obj:`True`)
    """
    if name not in OGB_MOLECULES:
        raise ValueError(f"Unknown OGB molecule dataset {name!r}; allowed: {list(OGB_MOLECULES)}")
    check_positive_int_or_none("max_graphs", max_graphs)
    data_root = resolve_data_root(root)
    kind, folder, files = _locate_source(name, data_root, download_allowed(download))
    split_rows = read_split(folder)

    rdkit_version = installed_rdkit_version() if kind == "csv" else None
    key = cache_key(CACHE_FORMAT, name, kind, max_graphs, rdkit_version, *(file_sha256(f) for f in files))
    cache_path = processed_cache_dir(name) / f"{key}.pt"
    if cache and cache_path.is_file():
        dataset, meta = load_cache(cache_path)
    else:
        dataset, meta = _process(name, kind, folder, files, max_graphs, rdkit_version)
        if cache:
            save_cache(cache_path, dataset, meta)

    num_rows = meta["num_rows"]
    row_to_index = torch.full((num_rows,), -1, dtype=torch.long)
    row_to_index[torch.as_tensor(meta["kept_rows"], dtype=torch.long)] = torch.arange(len(dataset))
    parts, dropped_by_split = {}, {}
    for split, rows in split_rows.items():
        rows = rows[rows < num_rows]
        index = row_to_index[rows]
        dropped_by_split[split] = rows[index < 0].tolist()
        parts[split] = dataset[index[index >= 0]]

    atom_dims, bond_dims = atom_bond_feature_dims()
    num_tasks = int(dataset[0].y.size(-1)) if len(dataset) else len(meta["tasks"])
    dropped = [
        {"row": row, "split": split, "smiles": meta["dropped_smiles"][meta["dropped_rows"].index(row)]}
        for split, rows in dropped_by_split.items()
        for row in rows
    ]
    if dropped:
        log.warning(
            "%s: RDKit %s could not parse %d of %d SMILES; dropped (row, split): %s",
            name, meta["rdkit_version"], len(dropped), num_rows, [(d["row"], d["split"]) for d in dropped],
        )  # fmt: skip
    info = DatasetInfo(
        name=name,
        task="binary" if num_tasks == 1 else "multilabel",
        metric="rocauc",
        num_tasks=num_tasks,
        node_input="atom",
        node_dim=len(atom_dims),
        edge_input="bond",
        edge_dim=len(bond_dims),
        higher_is_better=True,
        extra={
            "source": meta["source"],
            "folder": str(folder),
            "tasks": meta["tasks"],
            "atom_feature_dims": atom_dims,
            "bond_feature_dims": bond_dims,
            "split_sizes": {split: len(part) for split, part in parts.items()},
            "official_split_sizes": {split: len(rows) for split, rows in split_rows.items()},
            "rdkit_version": meta["rdkit_version"],
            "num_dropped": len(meta["dropped_rows"]),
            "dropped": dropped,
            "max_graphs": max_graphs,
        },
    )
    return DatasetSplits(train=parts["train"], val=parts["valid"], test=parts["test"], info=info)


def _process(
    name: str, kind: str, folder: Path, files: list[Path], max_graphs: int | None, rdkit_version: str | None
) -> tuple[GraphDataset, dict]:
    if kind == "raw":
        graphs = read_ogb_raw(folder)
        num_rows = len(graphs) if max_graphs is None else min(max_graphs, len(graphs))
        graphs = graphs[:num_rows]
        mapping = folder / "mapping" / "mol.csv.gz"
        tasks = (
            [c for c in pd.read_csv(mapping, nrows=0).columns if c not in ("smiles", "mol_id")]
            if (mapping.is_file())
            else [f"task_{i}" for i in range(graphs[0].y.size(-1))]
        )
        meta = {
            "source": "official OGB raw folder",
            "num_rows": num_rows,
            "kept_rows": list(range(num_rows)),
            "dropped_rows": [],
            "dropped_smiles": [],
            "tasks": tasks,
            "rdkit_version": None,
        }
        return GraphDataset(graphs), meta

    smiles, labels, tasks = _read_csv_molecules(name, files[0], max_graphs)
    graphs, kept, dropped = featurise_smiles(smiles, labels, desc=f"{name}: smiles2graph")
    meta = {
        "source": f"MoleculeNet CSV {files[0].name} featurised with ogb.utils.smiles2graph",
        "num_rows": len(smiles),
        "kept_rows": kept,
        "dropped_rows": dropped,
        "dropped_smiles": [smiles[row] for row in dropped],
        "tasks": list(tasks),
        "rdkit_version": rdkit_version,
    }
    return GraphDataset(graphs), meta
