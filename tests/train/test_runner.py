"""End-to-end training: results, best-epoch test score, schedule, exact resume, NaN stop, atomic files."""

from __future__ import annotations

import json
import math
import os
import platform

import lightning as L
import numpy as np
import pytest
import torch
import torch_geometric
from torch_geometric.loader import DataLoader

import hodgnn.io as io_module
from hodgnn.data.synthetic import load_synthetic_counts
from hodgnn.io import atomic_write_json
from hodgnn.nn import build_model
from hodgnn.train.config import load_config
from hodgnn.train.module import NonFiniteLossError
from hodgnn.train.results import read_json
from hodgnn.train.runner import RunConfigMismatchError, run_dir_for, run_experiment

EPOCHS, BATCH, TRAIN_GRAPHS = 3, 8, 36  # 5 batches per epoch, the last one of 4 graphs
STEPS_PER_EPOCH = math.ceil(TRAIN_GRAPHS / BATCH)
MODEL = ["model.name=gin", "model.options={hidden_channels: 8, num_layers: 2, dropout: 0.5}"]


@pytest.fixture(scope="module")
def dataset():
    return load_synthetic_counts(num_graphs=60, min_nodes=6, max_nodes=10, seed=1)


def make_config(output_dir, *extra):
    base = [
        f"epochs={EPOCHS}",
        f"batch_size={BATCH}",
        "warmup_epochs=1",
        "lr=0.01",
        "min_lr=0.001",
        "progress_bar=false",
        "device=cpu",
        "num_threads=1",
        f"output_dir={output_dir}",
    ]
    return load_config(None, [*base, *MODEL, *extra])


class SimulatedKill(RuntimeError):
    pass


class Interrupt(L.Callback):
    """Simulates a kill: raises at the given global step (after its optimizer step) or validation start."""

    def __init__(self, step=None, validation_epoch=None):
        self.step, self.validation_epoch = step, validation_epoch

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.step:
            raise SimulatedKill(f"at step {self.step}")

    def on_validation_start(self, trainer, *args):
        if trainer.current_epoch == self.validation_epoch:
            raise SimulatedKill(f"in validation of epoch {self.validation_epoch}")


def strip_timing(history):
    return [{k: v for k, v in h.items() if k != "epoch_seconds"} for h in history]


def final_weights(run_dir):
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    return checkpoint["state_dict"]


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory):
    """One uninterrupted run with step checkpoints every 2 steps."""
    config = make_config(tmp_path_factory.mktemp("reference"), "checkpoint_every_n_steps=2")
    result = run_experiment(config, dataset=dataset).runs[0]
    return config, result


def test_results_files_and_test_score_at_best_validation_epoch(reference, dataset):
    config, result = reference
    run_dir = run_dir_for(config, 0)
    assert result["status"] == "completed" and result["epochs_run"] == EPOCHS
    assert [h["epoch"] for h in result["history"]] == list(range(EPOCHS))
    on_disk = read_json(run_dir / "results.json")
    assert on_disk["test_metric"] == pytest.approx(result["test_metric"], rel=1e-12)
    for name in ("config.yaml", "learning_curve.png", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((run_dir / "csv").glob("version_*/metrics.csv"))
    folder = run_dir.parent
    assert (folder / "summary.md").is_file() and (folder / "learning_curves.png").is_file()

    vals = [h["val_metric"] for h in result["history"]]
    best = int(np.argmin(vals))
    assert result["best_epoch"] == best and result["test_metric"] == result["history"][best]["test_metric"]
    assert result["num_parameters"] == sum(
        p.numel() for p in build_model("gin", dataset.info, **config.model.options).parameters()
    )

    # independent check: the best checkpoint's weights give that validation and test MAE
    model = build_model("gin", dataset.info, **config.model.options)
    state = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=False)["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    model.eval()
    for split, key in (("val", "val_metric"), ("test", "test_metric")):
        with torch.no_grad():
            pairs = [(model(b), b.y) for b in DataLoader(list(getattr(dataset, split)), batch_size=5)]
        pred = torch.cat([p for p, _ in pairs]).double().numpy()
        target = torch.cat([y for _, y in pairs]).double().numpy()
        assert np.abs(pred - target).mean() == pytest.approx(result[key], rel=1e-5)


def test_results_name_the_environment_of_the_run(reference):
    config, _ = reference
    environment = read_json(run_dir_for(config, 0) / "results.json")["environment"]
    assert environment == {
        "torch": torch.__version__,
        "lightning": L.__version__,
        "torch_geometric": torch_geometric.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": 1,  # num_threads=1 in the config
    }


def test_learning_rate_follows_warmup_then_cosine(reference):
    config, result = reference
    total = EPOCHS * STEPS_PER_EPOCH
    warmup = STEPS_PER_EPOCH  # warmup_epochs=1
    floor = config.optim.min_lr / config.optim.lr
    for h in result["history"]:
        steps = (h["epoch"] + 1) * STEPS_PER_EPOCH  # scheduler steps taken at the end of the epoch
        if steps < warmup:
            factor = (steps + 1) / warmup
        else:
            factor = (
                floor
                + (1 - floor) * (1 + math.cos(math.pi * min(1.0, (steps - warmup) / (total - warmup)))) / 2
            )
        assert h["lr"] == pytest.approx(config.optim.lr * factor, rel=1e-9)
    assert result["history"][-1]["lr"] == pytest.approx(config.optim.min_lr)


@pytest.mark.parametrize(
    "every_n, interrupt",
    [
        (2, Interrupt(step=STEPS_PER_EPOCH + 2)),  # mid-epoch 1; resumes from the step-6 checkpoint
        (2, Interrupt(validation_epoch=1)),  # during validation; resumes from the step-8 checkpoint
        (0, Interrupt(step=2 * STEPS_PER_EPOCH + 1)),  # epoch 2; resumes from the end of epoch 1
    ],
    ids=["mid-epoch", "in-validation", "after-epoch-end"],
)
def test_killed_run_resumes_to_identical_metrics(reference, dataset, tmp_path, every_n, interrupt):
    _, expected = reference
    config = make_config(tmp_path, f"checkpoint_every_n_steps={every_n}")
    with pytest.raises(SimulatedKill):
        run_experiment(config, dataset=dataset, callbacks=[interrupt])
    run_dir = run_dir_for(config, 0)
    assert read_json(run_dir / "results.json")["status"] == "failed"
    resumed = run_experiment(config, dataset=dataset).runs[0]  # automatic resume from last.ckpt
    assert strip_timing(resumed["history"]) == strip_timing(expected["history"])
    assert (resumed["best_epoch"], resumed["test_metric"]) == (
        expected["best_epoch"],
        expected["test_metric"],
    )
    ref_weights = final_weights(run_dir_for(reference[0], 0))
    for key, value in final_weights(run_dir).items():
        assert torch.equal(value, ref_weights[key]), key


def test_completed_run_is_reused_and_other_config_refused(reference, dataset):
    config, result = reference

    class MustNotTrain(L.Callback):
        def on_train_start(self, *args):
            raise AssertionError("a completed run was trained again")

    again = run_experiment(config, dataset=dataset, callbacks=[MustNotTrain()]).runs[0]
    assert again["test_metric"] == result["test_metric"]
    changed = make_config(config.train.output_dir, "checkpoint_every_n_steps=2", f"epochs={EPOCHS + 1}")
    with pytest.raises(RunConfigMismatchError, match=r"train\.epochs: 3 -> 4"):
        run_experiment(changed, dataset=dataset)


class NaNAtStep(torch.nn.Module):
    """Wraps a model; its training output becomes NaN at one training forward pass."""

    def __init__(self, model, bad_call):
        super().__init__()
        self.model, self.bad_call, self.calls = model, bad_call, 0

    def forward(self, data):
        out = self.model(data)
        if self.training:
            self.calls += 1
            if self.calls == self.bad_call:
                return out * float("nan")
        return out


def test_non_finite_loss_stops_with_epoch_and_batch(dataset, tmp_path):
    config = make_config(tmp_path)

    def builder(name, info, **options):
        return NaNAtStep(build_model(name, info, **options), bad_call=STEPS_PER_EPOCH + 3)

    with pytest.raises(NonFiniteLossError, match=r"epoch 1, batch 2 \(global step 7\)"):
        run_experiment(config, dataset=dataset, model_builder=builder)
    failed = read_json(run_dir_for(config, 0) / "results.json")
    assert failed["status"] == "failed" and "epoch 1, batch 2" in failed["error"]
    assert len(failed["history"]) == 1  # epoch 0 finished, epoch 1 did not


def test_result_files_are_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    atomic_write_json(path, {"test_metric": 0.5, "bad": float("nan")})
    assert json.loads(path.read_text()) == {"test_metric": 0.5, "bad": None}

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(io_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_json(path, {"test_metric": 0.9})
    assert json.loads(path.read_text())["test_metric"] == 0.5  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no temporary left behind
