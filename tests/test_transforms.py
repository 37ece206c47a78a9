"""AddDerivativeEncoding against PyG's AddRandomWalkPE, the engine itself, and a real BREC pair."""

from __future__ import annotations

import gzip

import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GATConv, Sequential
from torch_geometric.nn.models import GIN
from torch_geometric.transforms import AddRandomWalkPE

from hodgnn.data.root import resolve_data_root
from hodgnn.derivatives import UnsupportedModuleError, node_derivatives
from hodgnn.transforms import AddDerivativeEncoding

DATA = resolve_data_root(None)
BACE_SMILES = DATA / "ogbg-molbace" / "mapping" / "mol.csv.gz"
BREC_FILE = DATA / "brec" / "brec_v3.npy.xz"
NUM_MOLECULES = 40
TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


def bace_molecules(count: int) -> list[Data]:
    from hodgnn.data.molecules import smiles_to_data

    with gzip.open(BACE_SMILES, "rt") as handle:
        rows = [line.split(",")[1] for line in handle.read().splitlines()[1 : count + 1]]
    return [graph for graph in map(smiles_to_data, rows) if graph is not None]


@pytest.fixture
def default_dtype(request):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(request.param)
    yield request.param
    torch.set_default_dtype(previous)


@pytest.mark.skipif(not BACE_SMILES.is_file(), reason=f"molbace SMILES not at {BACE_SMILES}")
@pytest.mark.parametrize("default_dtype", [torch.float32, torch.float64], indirect=True)
@pytest.mark.parametrize("walk_length", [1, 8, 20])
def test_rwse_settings_equal_add_random_walk_pe_on_molecules(default_dtype, walk_length):
    pytest.importorskip("rdkit")
    molecules = bace_molecules(NUM_MOLECULES)
    assert len(molecules) == NUM_MOLECULES
    reference = AddRandomWalkPE(walk_length, attr_name="rwse")
    encoding = AddDerivativeEncoding.rwse(walk_length, attr_name="rwse")
    for graph in molecules:
        expected = reference(graph.clone()).rwse
        got = encoding(graph.clone()).rwse
        assert got.shape == expected.shape == (graph.num_nodes, walk_length)
        assert got.dtype == default_dtype
        torch.testing.assert_close(got, expected.to(got.dtype), rtol=0, atol=TOLERANCE[default_dtype])


def _sorted_rows(t: torch.Tensor) -> torch.Tensor:
    """A permutation-invariant summary of a node encoding: every column sorted."""
    return torch.sort(t, dim=0).values


@pytest.mark.skipif(not BREC_FILE.is_file(), reason=f"BREC not at {BREC_FILE}")
def test_analytic_encoding_separates_a_brec_pair_that_rwse_does_not(default_dtype_64):
    """BREC regular pair 74 (two 10-node regular graphs): RWSE is the same multiset on both, the
    second-order D_out encoding of a SiLU base differs, and relabelled copies of one graph agree."""
    from hodgnn.data.brec import BRECDataset

    pair = BRECDataset().pair(74)
    first, second, first_relabelled = pair.graphs[0], pair.graphs[1], pair.graphs[2]
    rwse = AddRandomWalkPE(4, attr_name="pe")
    torch.testing.assert_close(
        _sorted_rows(rwse(first.clone()).pe), _sorted_rows(rwse(second.clone()).pe), rtol=0, atol=1e-12
    )
    encoding = AddDerivativeEncoding(order=2, tensors=("out",), act="silu", num_layers=4)
    a, b, a_relabelled = (
        _sorted_rows(encoding(g.clone()).derivative_pe) for g in (first, second, first_relabelled)
    )
    torch.testing.assert_close(a, a_relabelled, rtol=0, atol=1e-12)
    assert (a - b).abs().max() > 1e-5 > 1e6 * (a - a_relabelled).abs().max()


@pytest.fixture
def default_dtype_64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _graph(num_nodes: int = 7, seed: int = 0) -> Data:
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_nodes, (12,), generator=generator)
    dst = (src + torch.randint(1, num_nodes, (12,), generator=generator)) % num_nodes
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], 1)
    x = torch.randn(num_nodes, 3, generator=generator, dtype=torch.float64)
    return Data(x=x, edge_index=edge_index, num_nodes=num_nodes)


def test_pyg_base_with_features_equals_the_engine(default_dtype_64):
    torch.manual_seed(0)
    base = GIN(3, 5, num_layers=2, act="tanh").double()
    encoding = AddDerivativeEncoding(base, order=3, tensors=("diagonal", "out"), input="x")
    graph = _graph()
    got = encoding(graph.clone()).derivative_pe
    # D_out needs the full support, so one pass over every layer gives both tensors
    layers = node_derivatives(base, graph.x, graph.edge_index, 3, all_layers=True)
    expected = torch.cat(
        [layer.diagonal().reshape(7, -1) for layer in layers] + [layers[-1].graph_level().reshape(7, -1)], 1
    )
    assert got.shape == (7, 2 * 3 * 5 * 3 + 3 * 5 * 3)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    # the base is frozen: eval mode, no gradients
    assert not base.training and not any(p.requires_grad for p in base.parameters())


def test_encoding_is_per_graph_so_it_commutes_with_batching(default_dtype_64):
    encoding = AddDerivativeEncoding(order=2, act="silu", num_layers=3)
    graphs = [_graph(5, 1), _graph(7, 2), _graph(6, 3)]
    batch = Batch.from_data_list([encoding(g.clone()) for g in graphs])
    whole = encoding(Data(edge_index=batch.edge_index, num_nodes=batch.num_nodes)).derivative_pe
    torch.testing.assert_close(batch.derivative_pe, whole, rtol=0, atol=1e-12)


def test_built_base_depends_on_the_seed_only_and_keeps_the_global_rng():
    state = torch.random.get_rng_state()
    first = AddDerivativeEncoding(order=2, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    again, other = AddDerivativeEncoding(order=2, seed=3), AddDerivativeEncoding(order=2, seed=4)
    graph = _graph()
    assert torch.equal(first(graph.clone()).derivative_pe, again(graph.clone()).derivative_pe)
    assert not torch.allclose(first(graph.clone()).derivative_pe, other(graph.clone()).derivative_pe)


def test_repr_prints_every_hyperparameter():
    text = repr(
        AddDerivativeEncoding(order=2, tensors=("out",), input="x", in_channels=3, act="silu", seed=5)
    )
    for part in (
        "order=2",
        "tensors=('out',)",
        "attr_name='derivative_pe'",
        "input='x'",
        "scale='derivative'",
        "in_channels=3",
        "num_layers=4",
        "channels=4",
        "conv='gin'",
        "act='silu'",
        "seed=5",
    ):
        assert part in text, (part, text)
    assert repr(AddDerivativeEncoding(GIN(2, 4, 2))).startswith("AddDerivativeEncoding(base=GIN, order=1")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(tensors=()), "tensors must be"),
        (dict(tensors=("full",)), "tensors must be"),
        (dict(input="features"), "input must be"),
        (dict(order=0), "order must be"),
        (dict(scale="exp"), "scale must be"),
        (dict(input="x"), "needs in_channels"),
        (dict(act="relu6"), "relu6"),
    ],
)
def test_bad_options_are_refused_before_any_work(options, message):
    with pytest.raises(ValueError, match=message):
        AddDerivativeEncoding(**options)


def test_unsupported_base_is_refused_at_construction():
    base = Sequential("x, edge_index", [(GATConv(1, 4), "x, edge_index -> x")])
    with pytest.raises(UnsupportedModuleError, match="GATConv"):
        AddDerivativeEncoding(base)


def test_wrong_feature_width_is_named():
    encoding = AddDerivativeEncoding(input="x", in_channels=2)
    with pytest.raises(ValueError, match="data.x has 3 channels, the base expects 2"):
        encoding(_graph())
    with pytest.raises(ValueError, match="needs data.x"):
        encoding(Data(edge_index=_graph().edge_index, num_nodes=7))
