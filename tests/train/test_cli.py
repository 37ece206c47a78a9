"""The ``hodgnn`` command: config errors, help, the embedded default, seeds, summary table, resume."""

from __future__ import annotations

import re
import statistics

import pytest

from hodgnn.cli import main
from hodgnn.train.results import read_json

TINY = """\
data:
  name: synthetic-counts
  options: {num_graphs: 30, min_nodes: 6, max_nodes: 9}
  batch_size: 6
model:
  name: gin
  options: {hidden_channels: 4, num_layers: 1}
train:
  epochs: 2
  progress_bar: false
  num_threads: 1
"""


def test_malformed_config_exits_2_and_names_key(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("optim:\n  learning_rate: 0.1\n")
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "optim.learning_rate" in err and "lr" in err and "warmup_epochs" in err
    assert main(["train", "train.loss=huber"]) == 2
    assert "'auto'" in capsys.readouterr().err


def test_help_config_and_show_config(capsys):
    assert main(["train", "--help-config"]) == 0
    text = capsys.readouterr().out
    assert "checkpoint_every_n_steps" in text and "warmup_epochs" in text
    assert main(["train", "--show-config", "epochs=3", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "# synthetic-counts/hodgnn" in text and "# synthetic-counts/gin" in text
    assert text.count("epochs: 3") == 2 and text.count("device: cpu") == 2


def test_seeds_summary_and_summarize(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    out = tmp_path / "runs"
    assert (
        main(["train", "--config", str(config), "--seeds", "2", "--output-dir", str(out), "optim.lr=0.005"])
        == 0
    )
    runs = [read_json(out / "synthetic-counts" / "gin" / f"seed_{s}" / "results.json") for s in (0, 1)]
    assert [r["seed"] for r in runs] == [0, 1] and all(r["status"] == "completed" for r in runs)
    assert runs[0]["config"]["optim"]["lr"] == 0.005
    tests = [r["test_metric"] for r in runs]
    expected = f"{statistics.mean(tests):.4f} +- {statistics.stdev(tests):.4f}"
    summary = (out / "synthetic-counts" / "gin" / "summary.md").read_text()
    assert expected in summary and f"| {runs[0]['num_parameters']:,} |" in summary
    capsys.readouterr()
    assert main(["summarize", str(out), "--output", str(tmp_path / "table.md")]) == 0
    assert expected in capsys.readouterr().out
    assert expected in (tmp_path / "table.md").read_text()


def test_unknown_command_line_option_fails():
    with pytest.raises(SystemExit):
        main(["train", "--sedes", "2"])


def test_embedded_default_prints_both_models_side_by_side(tmp_path, capsys):
    small = "data.options={num_graphs: 24, min_nodes: 6, max_nodes: 8}"
    assert main(["train", "epochs=1", small, "--output-dir", str(tmp_path), "progress_bar=false"]) == 0
    out = capsys.readouterr().out
    rows = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line.split()[:1] in (["hodgnn"], ["gin"])
    }
    for model in ("hodgnn", "gin"):
        result = read_json(tmp_path / "synthetic-counts" / model / "seed_0" / "results.json")
        assert float(rows[model][1]) == pytest.approx(result["test_metric"], abs=6e-5)
        std = result["target_std"]
        per_count = [m * s for m, s in zip(result["best"]["test_mae_per_task"], std, strict=True)]
        assert [float(v) for v in rows[model][2:4]] == pytest.approx(per_count, abs=6e-4)
    assert "cycle3 (count)" in out and "cycle4 (count)" in out


def test_resume_from_an_explicit_checkpoint(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["train", "--config", str(config), "--output-dir", str(first), "epochs=1"]) == 0
    checkpoint = first / "synthetic-counts" / "gin" / "seed_0" / "checkpoints" / "last.ckpt"
    # continue the one-epoch run for a second epoch in another folder
    assert (
        main(["train", "--config", str(config), "--output-dir", str(second), "--resume", str(checkpoint)])
        == 0
    )
    before = read_json(first / "synthetic-counts" / "gin" / "seed_0" / "results.json")["history"]
    after = read_json(second / "synthetic-counts" / "gin" / "seed_0" / "results.json")["history"]
    assert len(before) == 1 and len(after) == 2
    assert after[0] == before[0]


TINY_HODGNN = TINY.replace(
    "  name: gin\n  options: {hidden_channels: 4, num_layers: 1}",
    "  name: hodgnn\n"
    "  options: {hidden_channels: 4, num_layers: 1, order: 1, base_layers: 2, base_channels: 2}",
)


def test_memory_budget_error_exits_2_with_one_line_and_keeps_results(tmp_path, capsys, monkeypatch):
    """Seed 0 trains under the default budget; seed 1 runs under a 1 kB budget and is stopped by the
    guard at its first batch: exit status 2, one line on stderr naming the estimate, the budget and
    the remedies, no traceback; seed 0's results and the summary of the seeds done are kept."""
    import hodgnn.train.runner as runner_module

    assert "name: hodgnn" in TINY_HODGNN
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_HODGNN)
    out = tmp_path / "runs"
    run_seed = runner_module.run_seed

    def run_seed_with_tiny_budget_from_seed_1(config, seed, *args, **kwargs):
        if seed == 1:
            monkeypatch.setenv("HODGNN_MEMORY_BUDGET", "1000")
        return run_seed(config, seed, *args, **kwargs)

    monkeypatch.setattr(runner_module, "run_seed", run_seed_with_tiny_budget_from_seed_1)
    capsys.readouterr()
    assert main(["train", "--config", str(config), "--seeds", "2", "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    line = lines[0]
    failed = read_json(out / "synthetic-counts" / "hodgnn" / "seed_1" / "results.json")
    assert failed["status"] == "failed" and failed["error"].startswith("MemoryBudgetError: the ")
    what = failed["error"].removeprefix("MemoryBudgetError: ").split(" would need")[0]
    assert line.startswith(f"hodgnn train: memory budget exceeded: {what} would need about ")
    estimate = int(re.search(r"\(([\d,]+) bytes\)", failed["error"]).group(1).replace(",", ""))
    assert f"({estimate:,} bytes" in line and "(1,000 bytes)" in line
    remedies = ("data.batch_size", "u_node=diagonal", "HODGNN_MEMORY_BUDGET", "model.options.memory_budget")
    assert all(remedy in line for remedy in remedies), line
    done = read_json(out / "synthetic-counts" / "hodgnn" / "seed_0" / "results.json")
    assert done["status"] == "completed" and len(done["history"]) == 2
    assert (out / "synthetic-counts" / "hodgnn" / "seed_0" / "checkpoints" / "last.ckpt").exists()
    summary = read_json(out / "synthetic-counts" / "hodgnn" / "summary.json")
    assert summary["seeds"] == [0]
