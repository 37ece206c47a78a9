"""SMILES featurisation (:mod:`hodgnn.data.molecules`) on molecules small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit")
pytest.importorskip("ogb")

from hodgnn.data.molecules import atom_bond_feature_dims, featurise_smiles, smiles_to_data  # noqa: E402


def test_ethanol_has_three_atoms_and_two_bonds_in_both_directions():
    data = smiles_to_data("CCO")
    assert data.num_nodes == 3 and data.x.shape == (3, 9) and data.x.dtype == torch.long
    # OGB's first atom feature is the atomic number minus one: C, C, O
    assert data.x[:, 0].tolist() == [5, 5, 7]
    assert sorted(map(tuple, data.edge_index.t().tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert data.edge_attr.shape == (4, 3)
    assert data.edge_attr[:, 0].tolist() == [0, 0, 0, 0]  # single bonds


def test_unparsable_rows_are_dropped_and_labels_follow_their_rows():
    labels = np.array([[1.0, np.nan], [0.0, 1.0], [1.0, 0.0]])
    graphs, kept, dropped = featurise_smiles(["C=O", "not a molecule", "c1ccccc1"], labels)
    assert (kept, dropped) == ([0, 2], [1])
    assert [g.num_nodes for g in graphs] == [2, 6]
    torch.testing.assert_close(graphs[0].y, torch.tensor([[1.0, float("nan")]]), equal_nan=True)
    torch.testing.assert_close(graphs[1].y, torch.tensor([[1.0, 0.0]]))
    assert graphs[0].edge_attr[0, 0].item() == 1  # a double bond
    atom_dims, bond_dims = atom_bond_feature_dims()
    assert len(atom_dims) == 9 and len(bond_dims) == 3
    for g in graphs:
        assert bool((g.x < torch.tensor(atom_dims)).all())
        assert bool((g.edge_attr < torch.tensor(bond_dims)).all())
