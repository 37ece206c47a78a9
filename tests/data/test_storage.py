"""Dataset storage (hodgnn/data/storage.py): GraphDataset, its cache files, DatasetSplits."""

import torch
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from hodgnn.data import DatasetInfo, DatasetSplits, GraphDataset
from hodgnn.data.storage import load_cache, save_cache


def _graph(n: int, seed: int) -> Data:
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, 2 * n), generator=gen)
    return Data(
        x=torch.randint(0, 5, (n, 9), generator=gen),
        edge_index=edge_index,
        edge_attr=torch.randint(0, 3, (2 * n, 3), generator=gen),
        y=torch.randn(1, 4, generator=gen, dtype=torch.float64).float(),
        num_nodes=n,
    )


def _equal(a: Data, b: Data) -> bool:
    return set(a.keys()) == set(b.keys()) and all(
        torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a.keys()
    )


def test_graph_dataset_cache_round_trip(tmp_path):
    graphs = [_graph(n, seed) for seed, n in enumerate((3, 7, 1, 5))]
    dataset = GraphDataset(graphs)
    assert len(dataset) == 4 and all(_equal(dataset[i], g) for i, g in enumerate(graphs))
    view = dataset[torch.tensor([3, 1])]
    assert len(view) == 2 and _equal(view[0], graphs[3]) and _equal(view[1], graphs[1])
    save_cache(tmp_path / "c.pt", dataset, {"rows": [0, 1, 2, 3]})
    restored, meta = load_cache(tmp_path / "c.pt")
    assert meta == {"rows": [0, 1, 2, 3]}
    assert all(_equal(restored[i], g) for i, g in enumerate(graphs))
    assert all(
        restored[i][k].dtype == g[k].dtype for i, g in enumerate(graphs) for k in g.keys() if k != "num_nodes"
    )
    batch = next(iter(DataLoader(restored, batch_size=4)))
    assert batch.num_graphs == 4 and batch.y.shape == (4, 4)


def test_cache_narrows_integers_losslessly(tmp_path):
    graph = _graph(6, 3)
    graph.x[0, 0], graph.x[1, 1] = -7, 300  # needs int16
    graph.edge_attr[0, 0] = 2**40  # needs int64
    graphs = [graph, _graph(5, 4)]
    save_cache(tmp_path / "n.pt", GraphDataset(graphs), {})
    stored = torch.load(tmp_path / "n.pt", weights_only=True)["graphs"]["data"]
    assert stored["x"].dtype == torch.int16 and stored["edge_attr"].dtype == torch.long
    restored, _ = load_cache(tmp_path / "n.pt")
    for ours, original in zip(restored, graphs, strict=True):
        assert _equal(ours, original) and ours.x.dtype == ours.edge_attr.dtype == torch.long


def test_graph_dataset_single_and_empty(tmp_path):
    single = GraphDataset([_graph(4, 0)])
    assert len(single) == 1 and _equal(single[0], _graph(4, 0))
    save_cache(tmp_path / "s.pt", single, {})
    assert _equal(load_cache(tmp_path / "s.pt")[0][0], _graph(4, 0))
    empty = GraphDataset()
    assert len(empty) == 0
    save_cache(tmp_path / "e.pt", empty, {})
    assert len(load_cache(tmp_path / "e.pt")[0]) == 0


def test_dataset_splits_unpacks():
    info = DatasetInfo("x", "regression", "mae", 1, "float", 1)
    train, val, test, got = DatasetSplits([1], [2], [3], info)
    assert (train, val, test, got) == ([1], [2], [3], info)
