import csv
import gzip
import shutil

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from hodgnn.data import load_dataset, read_ogb_raw
from hodgnn.data.molecules import featurise_smiles
from hodgnn.data.ogb_mol import evaluate_ogb, read_split
from hodgnn.data.root import MissingDataError, package_repo_dir

DATA = package_repo_dir().parent / "shared" / "data"
BACE = DATA / "ogbg-molbace"
pytestmark = pytest.mark.skipif(not BACE.is_dir(), reason=f"shared benchmark data not at {DATA}")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HODGNN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HODGNN_DOWNLOAD", raising=False)


def _rows(path):
    with gzip.open(path, "rt") as handle:
        return [row for row in csv.reader(handle)]


@pytest.fixture(scope="module")
def bace_raw():
    return {name: _rows(BACE / "raw" / f"{name}.csv.gz") for name in ("num-node-list", "num-edge-list")}


@pytest.fixture(scope="module")
def bace_graphs():
    return read_ogb_raw(BACE)


def test_read_ogb_raw_matches_csv_rows_and_adds_both_directions(bace_raw, bace_graphs):
    graphs = bace_graphs
    num_nodes = [int(r[0]) for r in bace_raw["num-node-list"]]
    num_edges = [int(r[0]) for r in bace_raw["num-edge-list"]]
    assert len(graphs) == 1513 == len(num_nodes)
    node_rows = _rows(BACE / "raw" / "node-feat.csv.gz")
    edge_rows = _rows(BACE / "raw" / "edge.csv.gz")
    edge_feat_rows = _rows(BACE / "raw" / "edge-feat.csv.gz")
    labels = _rows(BACE / "raw" / "graph-label.csv.gz")
    for g in (0, 1, 700, 1512):
        n0, e0 = sum(num_nodes[:g]), sum(num_edges[:g])
        data = graphs[g]
        expected_x = [[int(v) for v in r] for r in node_rows[n0 : n0 + num_nodes[g]]]
        assert data.x.dtype == torch.long and data.x.tolist() == expected_x
        assert data.num_nodes == num_nodes[g]
        assert data.y.shape == (1, 1) and data.y.dtype == torch.float32
        assert data.y.item() == float(labels[g][0])
        pairs = {}
        for (u, v), feat in zip(data.edge_index.t().tolist(), data.edge_attr.tolist(), strict=True):
            pairs[(u, v)] = feat
        assert data.edge_index.size(1) == 2 * num_edges[g] == len(pairs)
        for r, f in zip(
            edge_rows[e0 : e0 + num_edges[g]], edge_feat_rows[e0 : e0 + num_edges[g]], strict=True
        ):
            u, v, feat = int(r[0]), int(r[1]), [int(x) for x in f]
            assert pairs[(u, v)] == feat and pairs[(v, u)] == feat


def test_read_ogb_raw_names_missing_file(tmp_path):
    raw = tmp_path / "ogbg-molbace" / "raw"
    raw.mkdir(parents=True)
    for path in (BACE / "raw").iterdir():
        if path.name != "edge-feat.csv.gz":
            shutil.copy(path, raw / path.name)
    with pytest.raises(MissingDataError, match="edge-feat.csv.gz"):
        read_ogb_raw(tmp_path / "ogbg-molbace")


def test_molbace_official_split(bace_graphs):
    splits = load_dataset("ogbg-molbace")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1210, 151, 152)
    info = splits.info
    assert (info.task, info.metric, info.num_tasks, info.node_input, info.edge_input) == (
        "binary",
        "rocauc",
        1,
        "atom",
        "bond",
    )
    assert info.extra["atom_feature_dims"] == [119, 5, 12, 12, 10, 6, 6, 2, 2]
    rows = {name: [int(r[0]) for r in _rows(BACE / "split" / "scaffold" / f"{name}.csv.gz")] for name in
            ("train", "valid", "test")}  # fmt: skip
    assert sum(len(v) for v in rows.values()) == len(set().union(*map(set, rows.values()))) == 1513
    raw = bace_graphs
    for part, name in ((splits.train, "train"), (splits.val, "valid"), (splits.test, "test")):
        for i in (0, len(part) - 1):
            assert torch.equal(part[i].x, raw[rows[name][i]].x)
            assert torch.equal(part[i].edge_index, raw[rows[name][i]].edge_index)


def test_smiles2graph_featurisation_reproduces_official_bace_graphs(bace_graphs):
    with gzip.open(BACE / "mapping" / "mol.csv.gz", "rt") as handle:
        mapping = list(csv.DictReader(handle))[:40]
    graphs, kept, dropped = featurise_smiles(
        [r["smiles"] for r in mapping], np.array([[float(r["Class"])] for r in mapping])
    )
    raw = bace_graphs
    assert dropped == [] and kept == list(range(40))
    for ours, official in zip(graphs, raw[:40], strict=True):
        for key in ("x", "edge_index", "edge_attr", "y"):
            assert torch.equal(ours[key], official[key]), key


def test_evaluator_equals_sklearn_roc_auc():
    gen = np.random.default_rng(0)
    y_true = gen.integers(0, 2, size=(50, 1)).astype(np.float64)
    y_pred = gen.normal(size=(50, 1)) + y_true
    assert evaluate_ogb("ogbg-molhiv", torch.from_numpy(y_true), torch.from_numpy(y_pred)) == pytest.approx(
        roc_auc_score(y_true[:, 0], y_pred[:, 0]), abs=1e-12
    )
    # multi-task with missing labels: mean over tasks of ROC-AUC on the labelled rows
    y_true = gen.integers(0, 2, size=(60, 12)).astype(np.float64)
    y_true[gen.random(size=y_true.shape) < 0.2] = np.nan
    y_pred = gen.normal(size=(60, 12))
    expected = np.mean([roc_auc_score(y_true[~np.isnan(y_true[:, t]), t], y_pred[~np.isnan(y_true[:, t]), t])
                        for t in range(12)])  # fmt: skip
    assert evaluate_ogb("ogbg-moltox21", y_true, y_pred) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "name, csv_name, rows, sizes",
    [
        ("ogbg-molhiv", "HIV.csv", 41127, (32901, 4113, 4113)),
        ("ogbg-moltox21", "tox21.csv", 7831, (6264, 783, 784)),
    ],
)
def test_moleculenet_csv_rows_splits_and_subset_featurisation(name, csv_name, rows, sizes, caplog):
    from rdkit import Chem

    with open(DATA / name / csv_name) as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == rows
    split = read_split(DATA / name)
    assert tuple(len(split[s]) for s in ("train", "valid", "test")) == sizes
    joined = torch.cat(list(split.values()))
    assert torch.equal(joined.sort().values, torch.arange(rows))  # disjoint and covering

    max_graphs = 200
    splits = load_dataset(name, max_graphs=max_graphs)
    tasks = splits.info.extra["tasks"]
    assert splits.info.num_tasks == len(tasks) == (1 if name == "ogbg-molhiv" else 12)
    assert splits.info.extra["official_split_sizes"] == dict(
        zip(("train", "valid", "test"), sizes, strict=True)
    )
    unparsable = {r for r in range(max_graphs) if Chem.MolFromSmiles(table[r]["smiles"]) is None}
    assert {d["row"] for d in splits.info.extra["dropped"]} == unparsable
    assert splits.info.extra["num_dropped"] == len(unparsable)
    if unparsable:  # the log names how many and which rows
        assert f"could not parse {len(unparsable)} of {max_graphs} SMILES" in caplog.text
        assert all(f"({row}, " in caplog.text for row in unparsable)
    for part, key in ((splits.train, "train"), (splits.val, "valid"), (splits.test, "test")):
        kept_rows = [r for r in split[key].tolist() if r < max_graphs and r not in unparsable]
        assert len(part) == len(kept_rows)
        for i in range(0, len(part), 17):
            expected = [float(table[kept_rows[i]][t]) if table[kept_rows[i]][t] != "" else float("nan")
                        for t in tasks]  # fmt: skip
            got = part[i].y
            assert got.shape == (1, len(tasks)) and got.dtype == torch.float32
            assert torch.allclose(got[0], torch.tensor(expected), equal_nan=True)
            atoms = Chem.MolFromSmiles(table[kept_rows[i]]["smiles"]).GetNumAtoms()
            assert part[i].x.shape == (atoms, 9) and part[i].edge_attr.size(1) == 3


def test_processed_cache_is_reused(monkeypatch, tmp_path):
    first = load_dataset("ogbg-moltox21", max_graphs=30)
    cached = list((tmp_path / "cache" / "processed" / "ogbg-moltox21").glob("*.pt"))
    assert len(cached) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("featurised again despite the cache")

    monkeypatch.setattr("hodgnn.data.ogb_mol.featurise_smiles", refuse)
    second = load_dataset("ogbg-moltox21", max_graphs=30)
    assert len(second.train) == len(first.train)
    for a, b in zip(first.train, second.train, strict=True):
        assert torch.equal(a.x, b.x) and torch.allclose(a.y, b.y, equal_nan=True)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(MissingDataError) as caught:
        load_dataset("ogbg-molhiv", root=tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "ogbg-molhiv" / "raw" / "edge.csv.gz") in message
    assert "HIV.csv" in message and "snap.stanford.edu/ogb" in message
    # the molecules are there but not the split
    (tmp_path / "ogbg-moltox21").mkdir()
    shutil.copy(DATA / "ogbg-moltox21" / "tox21.csv", tmp_path / "ogbg-moltox21" / "tox21.csv")
    with pytest.raises(MissingDataError, match="split/scaffold/train.csv.gz"):
        load_dataset("ogbg-moltox21", root=tmp_path)


def test_download_route_reads_the_fetched_official_folder(tmp_path, monkeypatch):
    calls = []

    def fake_download(name, target):  # stands in for ogb's PygGraphPropPredDataset download
        calls.append((name, target))
        folder = target / name.replace("-", "_")
        shutil.copytree(BACE, folder)
        return folder

    monkeypatch.setattr("hodgnn.data.ogb_mol.download_ogb", fake_download)
    splits = load_dataset("ogbg-molbace", root=tmp_path / "data", download=True)
    assert calls == [("ogbg-molbace", tmp_path / "data")]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1210, 151, 152)
    assert splits.info.extra["folder"] == str(tmp_path / "data" / "ogbg_molbace")

    def failing_download(name, target):
        raise OSError("no network")

    monkeypatch.setattr("hodgnn.data.ogb_mol.download_ogb", failing_download)
    with pytest.raises(MissingDataError, match="hiv.zip") as caught:
        load_dataset("ogbg-molhiv", root=tmp_path / "data", download=True)
    assert isinstance(caught.value.__cause__, OSError)


def test_read_ogb_raw_equals_ogbs_own_pyg_loader(tmp_path, bace_graphs):
    from ogb.graphproppred import PygGraphPropPredDataset

    from hodgnn.data.ogb_mol import _torch_load_full_pickles, download_ogb

    folder = tmp_path / "ogbg_molbace"
    shutil.copytree(BACE, folder)
    (folder / "RELEASE_v1.txt").touch()  # ogb's version marker: files present, nothing to fetch
    assert download_ogb("ogbg-molbace", tmp_path) == folder
    with _torch_load_full_pickles():
        official = PygGraphPropPredDataset("ogbg-molbace", root=str(tmp_path))
    assert len(official) == len(bace_graphs) == 1513
    for i in range(0, 1513, 7):
        for key in ("x", "edge_index", "edge_attr"):
            assert torch.equal(official[i][key], bace_graphs[i][key]), (i, key)
        assert torch.equal(official[i].y.float(), bace_graphs[i].y)
    ours = read_split(folder)
    for key, index in official.get_idx_split().items():
        assert torch.equal(index, ours[key])
