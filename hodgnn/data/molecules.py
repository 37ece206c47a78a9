"""Molecules as graphs: SMILES strings featurised with OGB's :func:`ogb.utils.smiles2graph`.

9 categorical atom features and 3 categorical bond features, every bond in both directions; shared
by the OGB molecule datasets (:mod:`hodgnn.data.ogb_mol`, MoleculeNet CSVs) and Peptides
(:mod:`hodgnn.data.peptides`, LRGB CSVs).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch_geometric.data import Data
from tqdm.auto import tqdm


def atom_bond_feature_dims() -> tuple[list[int], list[int]]:
    """Category counts of OGB's atom (9) and bond (3) features, from :mod:`ogb.utils.features`."""
    from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims

    return list(get_atom_feature_dims()), list(get_bond_feature_dims())


@contextlib.contextmanager
def _quiet_rdkit() -> Iterator[None]:
    """Silence RDKit's parse errors; failures are counted and reported by the caller instead."""
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")


def smiles_to_data(smiles: str) -> Data | None:
    """Featurise one SMILES string with :func:`ogb.utils.smiles2graph`.

    Returns:
        :class:`~torch_geometric.data.Data` with ``x [n, 9]``, ``edge_index [2, 2m]``,
        ``edge_attr [2m, 3]`` (all long) and ``num_nodes``, or :obj:`None` when RDKit cannot
        parse the string.
    """
    from ogb.utils import smiles2graph
    from rdkit import Chem

    if Chem.MolFromSmiles(smiles) is None:
        return None
    graph = smiles2graph(smiles)
    return Data(
        x=torch.from_numpy(graph["node_feat"]).long(),
        edge_index=torch.from_numpy(graph["edge_index"]).long(),
        edge_attr=torch.from_numpy(graph["edge_feat"]).long(),
        num_nodes=int(graph["num_nodes"]),
    )


def featurise_smiles(
    smiles: Sequence[str], labels: np.ndarray, desc: str = "featurising"
) -> tuple[list[Data], list[int], list[int]]:
    """Featurise SMILES strings with OGB's :func:`~ogb.utils.smiles2graph` (tqdm progress bar).

    Args:
        smiles (Sequence[str]): one SMILES per row.
        labels (np.ndarray): ``[rows, num_tasks]`` float targets (NaN = missing).
        desc (str): progress bar label. (default: ``"featurising"``)

    Returns:
        ``(graphs, kept_rows, dropped_rows)``: graphs carry ``y [1, num_tasks]`` float; rows are
        positions in ``smiles``; dropped rows are those RDKit could not parse.
    """
    labels = np.asarray(labels, dtype=np.float64).reshape(len(smiles), -1)
    graphs, kept, dropped = [], [], []
    with _quiet_rdkit():
        for row, text in enumerate(tqdm(smiles, desc=desc, mininterval=1.0, leave=False)):
            data = smiles_to_data(str(text))
            if data is None:
                dropped.append(row)
                continue
            data.y = torch.tensor(labels[row], dtype=torch.float32).view(1, -1)
            graphs.append(data)
            kept.append(row)
    return graphs, kept, dropped


def installed_rdkit_version() -> str:
    """The installed RDKit version (needed by :func:`ogb.utils.smiles2graph`), with an install hint."""
    try:
        import rdkit
    except ImportError as error:
        raise ImportError(
            "Featurising SMILES with ogb's smiles2graph needs RDKit: pip install rdkit"
        ) from error
    return rdkit.__version__
