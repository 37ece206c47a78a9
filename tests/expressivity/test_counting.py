"""The counting benchmark runner: a reduced real run through the training system, whose reported test MAE
is recomputed independently from the saved best checkpoint and the exact counts."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from torch_geometric.loader import DataLoader

from hodgnn.data.counting import count_substructures, count_substructures_per_node, load_counting
from hodgnn.data.root import package_repo_dir, resolve_data_root
from hodgnn.expressivity.counting import epoch_seconds, main, markdown_table, merge_reports
from hodgnn.expressivity.models import build_variant, prepare_graphs, resolve_variant

COUNTING_FILE = resolve_data_root() / "counting" / "random_graphs.npy"
needs_data = pytest.mark.skipif(not COUNTING_FILE.is_file(), reason=f"{COUNTING_FILE} not available")
CONFIGS = package_repo_dir() / "configs" / "counting"


@pytest.mark.parametrize("name", ["mpnn", "mpnn_rwse", "hod_relu", "hod_silu", "ds_gnn"])
def test_yaml_configs_match_the_variants(name):
    """``hodgnn train --config configs/counting/<name>.yaml`` trains what ``hodgnn counting`` calls <name>."""
    raw = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    variant = resolve_variant(name)
    assert raw["defaults"] == ["base.yaml"]
    assert raw["model"]["name"] == variant.model
    options = dict(raw["model"]["options"])
    options.pop("hidden_channels")
    assert options == variant.options


def test_markdown_table_mean_and_std():
    report = {
        "cycle3": {"a": {"test_mae": [0.1, 0.3], "wall_s": 10.0}, "b": {"test_mae": [0.5], "wall_s": 5.0}},
        "cycle4": {"a": {"test_mae": [0.2], "wall_s": 1.0}},
    }
    table = markdown_table(report).splitlines()
    assert table[0] == "| model | cycle3 | cycle4 | epoch time |"
    assert table[2] == "| a | 0.2000 ± 0.1414 | 0.2000 | 11 s |"
    assert table[3] == "| b | 0.5000 | - | 5 s |"


def test_epoch_time_counts_every_epoch_of_a_resumed_run():
    """A run resumed from ``last.ckpt`` has a short ``wall_s`` (the last process only); the table's
    time is the epochs' time, summed over seeds."""
    resumed = {
        "test_mae": [0.1, 0.2],
        "wall_s": 3.0,
        "seconds_per_epoch": [2.0, 4.0],
        "epochs_run": [500, 250],
    }
    assert epoch_seconds(resumed) == 2.0 * 500 + 4.0 * 250
    assert markdown_table({"cycle3": {"a": resumed}}).splitlines()[2].endswith("| 2000 s |")


@needs_data
def test_reduced_run_reports_the_checkpoint_test_mae(tmp_path):
    output = tmp_path / "counting.json"
    argv = [
        "--targets",
        "triangle",
        "--models",
        "hod_relu",
        "--set",
        "hidden_channels=16",
        "--output",
        str(output),
        "epochs=2",
        "data.batch_size=16",
        "data.options={max_graphs_per_split: 48}",
        f"train.output_dir={tmp_path / 'runs'}",
        "train.progress_bar=false",
    ]
    assert main(argv) == 0
    entry = json.loads(output.read_text())["results"]["cycle3"]["hod_relu"]
    assert entry["config"]["data"]["name"] == "counting-cycle3"
    assert entry["options"] == {"hidden_channels": 16, "base_act": "relu", "order": 1}
    assert entry["epochs_run"] == [2]

    # recompute the test MAE from the best checkpoint and the exact (normalised) counts
    splits = load_counting("cycle3", max_graphs_per_split=48)
    std = splits.info.extra["target_std"][0]
    for data in splits.test:
        assert data.y.item() * std == pytest.approx(
            count_substructures(data.edge_index, data.num_nodes)["cycle3"]
        )
    checkpoint = torch.load(
        tmp_path / "runs" / "counting" / "cycle3" / "hod_relu" / "seed_0" / "checkpoints" / "best.ckpt",
        weights_only=False,
    )
    model = build_variant(resolve_variant("hod_relu"), splits.info, seed=0, overrides={"hidden_channels": 16})
    state = {k[len("model.") :]: v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
    model.load_state_dict(state)
    model.eval()
    errors = []
    with torch.no_grad():
        for batch in DataLoader(list(splits.test), batch_size=16):
            errors.append((model(batch) - batch.y).abs())
    assert torch.cat(errors).mean().item() == pytest.approx(entry["test_mae"][0], rel=1e-4)


def best_checkpoint_predictions(name: str, splits, ckpt) -> torch.Tensor:
    """Test-split predictions, flattened, of variant ``name`` (hidden width 16) with the weights of
    ``ckpt``, built independently of the runner."""
    model = build_variant(resolve_variant(name), splits.info, seed=0, overrides={"hidden_channels": 16})
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})
    model.eval()
    graphs = prepare_graphs(model, list(splits.test))
    with torch.no_grad():
        return torch.cat([model(batch).view(-1) for batch in DataLoader(graphs, batch_size=16)])


@needs_data
def test_reduced_run_reports_the_mae_of_its_best_checkpoint(tmp_path):
    """CI's reduced counting run (3-cycles, 40 graphs per split, 2 epochs, MPNN and 1-HOD ReLU): the reported
    test MAE equals the MAE recomputed here from ``best.ckpt`` against exact counts / training std."""
    output = tmp_path / "counting.json"
    argv = [
        "--targets", "cycle3", "--models", "mpnn,hod_relu", "--set", "hidden_channels=16",
        "--output", str(output), "epochs=2", "data.batch_size=16",
        "data.options.max_graphs_per_split=40", f"train.output_dir={tmp_path}", "train.progress_bar=false",
    ]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(output.read_text())["results"]["cycle3"]
    splits = load_counting("cycle3", max_graphs_per_split=40)
    std = splits.info.extra["target_std"][0]
    exact = torch.tensor(
        [count_substructures(g.edge_index, g.num_nodes)["cycle3"] / std for g in splits.test],
        dtype=torch.float64,
    )
    for name in ("mpnn", "hod_relu"):
        entry = report[name]
        assert len(entry["test_mae"]) == 1 and entry["epochs_run"] == [2]
        ckpt = next(tmp_path.rglob(f"cycle3/{name}/seed_0/checkpoints/best.ckpt"))
        pred = best_checkpoint_predictions(name, splits, ckpt)
        mae = (pred.double() - exact).abs().mean().item()
        assert entry["test_mae"][0] == pytest.approx(mae, rel=1e-4)


def test_merge_combines_records_made_in_parallel(tmp_path):
    """``--merge``: every (target, variant) entry once, a later record's entry replacing an earlier one's,
    the sources' dates / machines / commands kept (a merged source's own list included), table redone."""

    def record(date: str, results: dict) -> dict:
        return {
            "benchmark": "counting",
            "date": date,
            "machine": "m",
            "command": f"run {date}",
            "results": results,
        }

    def entry(mae: float) -> dict:
        return {"test_mae": [mae], "wall_s": 2.0}

    first = record("d1", {"cycle3": {"mpnn": entry(0.4)}, "cycle6": {"mpnn": entry(0.2)}})
    second = record("d2", {"cycle6": {"hod_silu": entry(0.02), "mpnn": entry(0.15)}})
    paths = []
    for i, payload in enumerate((first, second)):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps(payload))
    output = tmp_path / "merged.json"
    assert main(["--merge", *map(str, paths), "--output", str(output)]) == 0
    merged = json.loads(output.read_text())
    assert merged["results"]["cycle3"] == first["results"]["cycle3"]
    assert merged["results"]["cycle6"] == {"mpnn": entry(0.15), "hod_silu": entry(0.02)}
    assert [run["command"] for run in merged["runs"]] == ["run d1", "run d2"]
    assert merged["command"] == "run d1; run d2"
    assert merged["date"] == "d1, d2" and merged["markdown"] == markdown_table(merged["results"])
    assert "| mpnn | 0.4000 | 0.1500 | 4 s |" in merged["markdown"]

    # a merged record merges again with its sources' runs
    third = record("d3", {"cycle3": {"hod_silu": entry(0.01)}})
    (tmp_path / "third.json").write_text(json.dumps(third))
    assert main(["--merge", str(output), str(tmp_path / "third.json"), "--output", str(output)]) == 0
    again = json.loads(output.read_text())
    assert [run["date"] for run in again["runs"]] == ["d1", "d2", "d3"]
    assert again["results"]["cycle3"]["hod_silu"] == entry(0.01)
    with pytest.raises(ValueError, match="no 'results'"):
        main(["--merge", str(tmp_path / "0.json"), str(_brec_like(tmp_path)), "--output", str(output)])


def _brec_like(tmp_path):
    path = tmp_path / "brec.json"
    path.write_text(json.dumps({"benchmark": "BREC", "models": {}}))
    return path


@needs_data
def test_node_level_run_reports_the_per_node_mae_of_its_best_checkpoint(tmp_path):
    """``--level node``: one prediction per node; the reported test MAE is the mean over test nodes of
    |prediction - exact rooted count / training std|, recomputed here from ``best.ckpt``."""
    output = tmp_path / "counting.json"
    argv = [
        "--targets", "tailed_triangle", "--models", "mpnn_rwse,hod_relu", "--set", "hidden_channels=16",
        "--level", "node", "--output", str(output), "epochs=2", "data.batch_size=16",
        "data.options.max_graphs_per_split=30", f"train.output_dir={tmp_path}", "train.progress_bar=false",
    ]  # fmt: skip
    assert main(argv) == 0
    record = json.loads(output.read_text())
    assert record["level"] == "node"
    report = record["results"]["tailed_triangle"]
    splits = load_counting("tailed_triangle", level="node", max_graphs_per_split=30)
    std = splits.info.extra["target_std"][0]
    exact = torch.cat(
        [
            torch.as_tensor(count_substructures_per_node(g.edge_index, g.num_nodes)["tailed_triangle"] / std)
            for g in splits.test
        ]
    )
    for name in ("mpnn_rwse", "hod_relu"):
        entry = report[name]
        assert entry["config"]["data"]["name"] == "counting-node-tailed_triangle"
        ckpt = tmp_path / "counting_node" / "tailed_triangle" / name / "seed_0" / "checkpoints" / "best.ckpt"
        pred = best_checkpoint_predictions(name, splits, ckpt)
        assert pred.shape == exact.shape
        mae = (pred.double() - exact).abs().mean().item()
        assert entry["test_mae"][0] == pytest.approx(mae, rel=1e-4)


def test_merge_refuses_to_mix_graph_and_node_level_records():
    base = {"benchmark": "b", "date": "d", "machine": "m", "command": "c", "results": {}}
    assert merge_reports([base, {**base, "level": "graph"}])["level"] == "graph"
    with pytest.raises(ValueError, match="graph-level and node-level"):
        merge_reports([base, {**base, "level": "node"}])
