"""The Lightning module on one hand-checkable epoch: a linear mean-pool model, one training batch that
holds the whole training split, so every number it records can be recomputed directly."""

from __future__ import annotations

import copy

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.nn import global_mean_pool

from hodgnn.data.synthetic import load_synthetic_counts
from hodgnn.train.config import load_config
from hodgnn.train.module import GraphPredictionModule

LR, MIN_LR = 0.01, 0.001


class MeanPoolLinear(nn.Module):
    """``y_G = W mean_{v in G} x_v + b``, without dropout or normalisation."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.lin = nn.Linear(in_channels, out_channels)

    def forward(self, data):
        return global_mean_pool(self.lin(data.x.float()), data.batch, data.num_graphs)


class Capture(L.Callback):
    """The model as it was before the (only) optimizer step, the batch it saw and the returned loss."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.model_before = copy.deepcopy(pl_module.model)
        self.batch = batch.clone()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.loss = outputs["loss"].detach()


def fit_mean_pool_linear(epochs: int, overrides: list[str], callbacks=()):
    """Train :class:`MeanPoolLinear` on a small synthetic split, the whole training split per batch."""
    splits = load_synthetic_counts(num_graphs=30, min_nodes=5, max_nodes=8, seed=2, targets="cycle3,cycle4")
    graphs = {"train": list(splits.train), "val": list(splits.val), "test": list(splits.test)}
    config = load_config(
        None,
        [
            f"epochs={epochs}",
            f"batch_size={len(graphs['train'])}",
            "eval_batch_size=4",
            "warmup_epochs=0",
            "progress_bar=false",
            "device=cpu",
            *overrides,
        ],
    )
    torch.manual_seed(0)
    model = MeanPoolLinear(splits.info.node_dim, splits.info.num_tasks)
    module = GraphPredictionModule(model, splits.info, graphs, config, seed=0)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        callbacks=list(callbacks),
    )
    trainer.fit(module)
    return module, graphs


@pytest.fixture(scope="module")
def trained():
    capture = Capture()
    module, graphs = fit_mean_pool_linear(1, [f"lr={LR}", f"min_lr={MIN_LR}"], [capture])
    return module, capture, graphs


def test_training_step_loss_is_the_l1_loss_of_the_batch(trained):
    module, capture, graphs = trained
    batch = capture.batch
    assert batch.num_graphs == len(graphs["train"])  # the whole split in one batch
    with torch.no_grad():
        pred = capture.model_before(batch)
    target = batch.y.reshape(pred.shape)
    by_hand = (pred - target).abs().mean()
    torch.testing.assert_close(capture.loss, by_hand, rtol=1e-6, atol=0)
    # the epoch's training loss is the graph-weighted mean over its batches: here, that one batch
    assert module.history[0]["train_loss"] == pytest.approx(float(by_hand), rel=1e-6)


def test_validation_and_test_metrics_are_the_mae_of_the_updated_model(trained):
    module, _, graphs = trained
    entry = module.history[0]
    for split in ("val", "test"):
        batch = Batch.from_data_list(graphs[split])
        with torch.no_grad():
            pred = module.model(batch).double().numpy()
        target = batch.y.double().numpy().reshape(pred.shape)
        assert entry[f"{split}_metric"] == pytest.approx(np.abs(pred - target).mean(), rel=1e-6)
        per_task = np.abs(pred - target).mean(axis=0)
        assert entry[f"{split}_mae_per_task"] == pytest.approx(per_task.tolist(), rel=1e-6)
        assert entry[f"{split}_loss"] == pytest.approx(np.abs(pred - target).mean(), rel=1e-6)


def test_one_adamw_step_at_lr_then_the_cosine_floor(trained):
    module, capture, _ = trained
    before = dict(capture.model_before.named_parameters())
    batch = capture.batch
    model = copy.deepcopy(capture.model_before)
    loss = (model(batch) - batch.y.reshape(batch.num_graphs, -1)).abs().mean()
    loss.backward()
    for name, param in module.model.named_parameters():
        # AdamW's first step moves every weight by lr * g / (|g| + eps) = lr * sign(g) (no weight decay)
        grad = dict(model.named_parameters())[name].grad
        expected = before[name].detach() - LR * grad / (grad.abs() + 1e-8)
        torch.testing.assert_close(param.detach(), expected, rtol=1e-5, atol=1e-7)
    # one step in all, no warm-up: the scheduler has reached min_lr when the epoch is evaluated
    assert module.history[0]["lr"] == pytest.approx(MIN_LR)
    assert module.best_entry() is module.history[0]
    assert module.num_parameters() == sum(p.numel() for p in before.values())


def test_plateau_schedule_cuts_the_lr_after_the_validation_metric_stalls():
    # a large step makes the validation MAE oscillate, so the schedule has plateaus to react to
    factor, patience, floor = 0.5, 1, 0.01
    module, _ = fit_mean_pool_linear(
        12,
        [
            "lr=1.0",
            "optim.schedule=plateau",
            f"optim.plateau_factor={factor}",
            f"optim.plateau_patience={patience}",
            f"min_lr={floor}",
        ],
    )
    # reference: torch's rule fed the recorded validation metrics (the lr of epoch e is set by epochs < e)
    reference_optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(
        reference_optimizer, mode="min", factor=factor, patience=patience, min_lr=floor
    )
    expected = []
    for entry in module.history:
        expected.append(reference_optimizer.param_groups[0]["lr"])
        reference.step(entry["val_metric"])
    recorded = [entry["lr"] for entry in module.history]
    assert recorded == pytest.approx(expected)
    assert min(recorded) < 1.0  # the schedule did cut the learning rate in this run


def test_plateau_schedule_refuses_a_warm_up():
    from hodgnn.train.config import ConfigError

    with pytest.raises(ConfigError, match="optim.warmup_epochs.*plateau"):
        load_config(None, ["optim.schedule=plateau", "optim.warmup_epochs=5"])
