"""The Lightning module that trains any ``model(data) -> [num_graphs, num_tasks]`` on a graph dataset
(``[num_nodes, num_tasks]`` on a node-level one).

Protocol (the paper's, as far as known): AdamW, linear warm-up then cosine decay stepped per
optimizer step (or ``optim.schedule: plateau``: the learning rate cut by a factor whenever the
validation metric stalls, stepped per epoch after validation); validation and test metrics after
every epoch, computed over the whole split (all processes' predictions gathered); the reported test
score is the one at the epoch with the best validation score (earliest on ties).

State that Lightning does not checkpoint is kept here and saved with every checkpoint: the
per-epoch history, the loss accumulators and batch counter of the running epoch, and the global
random states. With :class:`hodgnn.train.loaders.ResumableSampler` this makes a run resumed from a
mid-epoch checkpoint end with the same metrics as an uninterrupted one (deterministic CPU setting).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from hodgnn.data.info import DatasetInfo
from hodgnn.train.config import ExperimentConfig
from hodgnn.train.loaders import SAMPLE_INDEX, ResumableSampler, make_loader
from hodgnn.train.metrics import compute_loss, compute_metric, resolve_loss

EVAL_SPLITS = ("val", "test")
CHECKPOINT_KEY = "hodgnn_state"


def logged_name(key: str) -> str:
    """The name an epoch's ``<split>_<field>`` value is logged under (``val_metric`` -> ``val/metric``)."""
    return key.replace("_", "/", 1)


MONITORED_METRIC = logged_name("val_metric")
"""What the best checkpoint and the plateau schedule watch: the validation metric."""


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or Inf; the message names the epoch and batch."""


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    r"""Learning-rate multiplier: linear warm-up, then cosine decay to ``min_ratio``.

    .. math::
        f(s) = \begin{cases} (s + 1) / W & s < W \\
        r + (1 - r)\,\tfrac12\left(1 + \cos\left(\pi \frac{s - W}{\max(1, S - W)}\right)\right) & s \ge W
        \end{cases}

    with :math:`W` warm-up steps, :math:`S` total steps and :math:`r` = ``min_ratio``.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def best_epoch_index(history: Sequence[dict[str, Any]], higher_is_better: bool) -> int:
    """Position in ``history`` of the best ``val_metric`` (the earliest on ties)."""
    if not history:
        raise ValueError("no evaluated epoch in the history")
    values = [h["val_metric"] for h in history]
    best = max(values) if higher_is_better else min(values)
    return values.index(best)


def _rng_states() -> dict[str, Any]:
    """Global random states as tensors and plain Python values (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class GraphPredictionModule(L.LightningModule):
    r"""Trains and evaluates a graph-level model on its train/val/test splits.

    Args:
        model (nn.Module): called as ``model(batch) -> [num_graphs, num_tasks]``
            (``[num_nodes, num_tasks]`` when ``info.level == "node"``).
        info (DatasetInfo): task, metric and metric direction of the dataset.
        splits (dict): ``{"train", "val", "test"}`` lists of graphs (transforms already applied).
        config (ExperimentConfig): batch sizes, optimiser, schedule and loss.
        seed (int, optional): seed of the training order. (default: :obj:`0`)
    """

    def __init__(
        self,
        model: nn.Module,
        info: DatasetInfo,
        splits: dict[str, Sequence[Data]],
        config: ExperimentConfig,
        seed: int = 0,
    ):
        super().__init__()
        for name in ("train", *EVAL_SPLITS):
            if name not in splits or len(splits[name]) == 0:
                raise ValueError(
                    f"split {name!r} is missing or empty; training needs train, val and test graphs"
                )
        self.model = model
        self.info = info
        self.splits = splits
        self.config = config
        self.seed = seed
        self.loss_name = resolve_loss(config.train.loss, info.task)
        self.history: list[dict[str, Any]] = []
        self._batches_done = 0
        self._train_loss_sum = 0.0
        self._train_examples = 0
        self._epoch_started_at: float | None = None
        self._eval_outputs: dict[int, list[tuple[Tensor, Tensor, Tensor]]] = {}
        self._rng_to_restore: dict[str, Any] | None = None

    # ----------------------------------------------------------------- data
    def train_dataloader(self):
        data = self.config.data
        sampler = ResumableSampler(
            len(self.splits["train"]),
            shuffle=True,
            seed=self.seed,
            rank=self.global_rank,
            world_size=self.trainer.world_size,
            pad=True,
            epoch=self.current_epoch,
            skip=self._batches_done * data.batch_size,
        )
        return make_loader(self.splits["train"], data.batch_size, sampler, data.num_workers)

    def _eval_loader(self, split: str):
        data = self.config.data
        sampler = ResumableSampler(
            len(self.splits[split]),
            shuffle=False,
            seed=self.seed,
            rank=self.global_rank,
            world_size=self.trainer.world_size,
            pad=False,
        )
        return make_loader(
            self.splits[split], data.eval_batch_size or data.batch_size, sampler, data.num_workers
        )

    def val_dataloader(self):
        return [self._eval_loader(split) for split in EVAL_SPLITS]

    # ------------------------------------------------------------- training
    def forward(self, batch: Data) -> Tensor:
        return self.model(batch)

    def _reset_epoch_state(self) -> None:
        self._batches_done = 0
        self._train_loss_sum = 0.0
        self._train_examples = 0

    def on_train_epoch_start(self) -> None:
        self._reset_epoch_state()
        self._epoch_started_at = time.perf_counter()

    def on_train_epoch_end(self) -> None:
        # Runs before the checkpoint callbacks' on_train_epoch_end: the epoch-end checkpoint then
        # holds a finished epoch, and resuming from it starts the next epoch at its first batch.
        self._reset_epoch_state()

    def on_train_batch_start(self, batch: Data, batch_idx: int) -> None:
        if self._rng_to_restore is not None:
            _set_rng_states(self._rng_to_restore)
            self._rng_to_restore = None
        if self._epoch_started_at is None:
            self._epoch_started_at = time.perf_counter()

    def training_step(self, batch: Data, batch_idx: int) -> Tensor:
        pred = self.model(batch)
        loss = compute_loss(self.loss_name, pred, batch.y)
        finite = bool(torch.isfinite(loss).item())
        if not self.trainer.strategy.reduce_boolean_decision(finite, all=True):
            raise NonFiniteLossError(
                f"non-finite training loss ({loss.item() if not finite else 'on another process'}) at "
                f"epoch {self.current_epoch}, batch {self._batches_done} (global step {self.global_step}); "
                "stopping. "
                "Lower optim.lr, set optim.grad_clip, or check the inputs and targets for NaN/Inf."
            )
        self._batches_done += 1
        examples = self._num_examples(batch)
        self._train_loss_sum += loss.item() * examples
        self._train_examples += examples
        self.log(
            "train/loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=examples,
            sync_dist=True,
        )
        return loss

    def _num_examples(self, batch: Data) -> int:
        """Rows of the batch's target: its graphs, or its nodes for a node-level dataset."""
        return batch.num_nodes if self.info.level == "node" else batch.num_graphs

    # ----------------------------------------------------------- evaluation
    def validation_step(self, batch: Data, batch_idx: int, dataloader_idx: int = 0) -> None:
        pred = self.model(batch)
        target = batch.y.reshape(self._num_examples(batch), -1)
        sample = batch[SAMPLE_INDEX]
        if self.info.level == "node":  # every node carries its graph's id; a stable sort keeps node order
            sample = sample[batch.batch]
        self._eval_outputs.setdefault(dataloader_idx, []).append(
            (pred.detach(), target.detach(), sample.detach())
        )

    def _gather_split(self, outputs: list[tuple[Tensor, Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        """One split's predictions and targets over batches and processes, in split order, float64.

        Under DDP every process evaluates its own shard; shards may differ in size (or be empty for a
        tiny split), so they are padded to the largest, gathered, trimmed and ordered by sample id.
        """
        options = {"dtype": torch.float64, "device": self.device}
        if outputs:
            pred = torch.cat([o[0] for o in outputs]).to(**options)
            target = torch.cat([o[1] for o in outputs]).to(**options)
            index = torch.cat([o[2] for o in outputs]).to(**options)
        else:
            target_width = 1 if self.info.task == "multiclass" else self.info.num_tasks
            pred = torch.zeros(0, self.info.num_tasks, **options)
            target = torch.zeros(0, target_width, **options)
            index = torch.zeros(0, **options)
        if self.trainer.world_size > 1:
            local = torch.cat([pred, target, index.unsqueeze(1)], dim=1)
            sizes = self.all_gather(torch.tensor([local.size(0)], device=local.device)).reshape(-1)
            padded = torch.zeros(int(sizes.max()), local.size(1), **options)
            padded[: local.size(0)] = local
            gathered = self.all_gather(padded)
            local = torch.cat([gathered[r, : int(sizes[r])] for r in range(gathered.size(0))])
            pred, target, index = local[:, : pred.size(1)], local[:, pred.size(1) : -1], local[:, -1]
        order = torch.argsort(index.round().long(), stable=True)
        return pred[order], target[order]

    def on_validation_epoch_end(self) -> None:
        outputs, self._eval_outputs = self._eval_outputs, {}
        if self.trainer.sanity_checking:
            return
        entry: dict[str, Any] = {"epoch": self.current_epoch}
        totals = torch.tensor([self._train_loss_sum, float(self._train_examples)], dtype=torch.float64)
        totals = self.trainer.strategy.reduce(totals.to(self.device), reduce_op="sum").cpu()
        entry["train_loss"] = float(totals[0] / totals[1]) if totals[1] > 0 else float("nan")
        for idx, split in enumerate(EVAL_SPLITS):
            pred, target = self._gather_split(outputs.get(idx, []))
            entry[f"{split}_loss"] = float(compute_loss(self.loss_name, pred, target))
            entry[f"{split}_metric"] = compute_metric(
                self.info.metric, target, pred, self.info.task, self.info.name
            )
            if self.info.metric == "mae" and target.size(1) > 1:
                entry[f"{split}_mae_per_task"] = [
                    compute_metric("mae", target[:, t], pred[:, t], self.info.task)
                    for t in range(target.size(1))
                ]
        entry["lr"] = float(self.trainer.optimizers[0].param_groups[0]["lr"])
        started = self._epoch_started_at
        entry["epoch_seconds"] = time.perf_counter() - started if started is not None else float("nan")
        self._epoch_started_at = None
        self.history = [h for h in self.history if h["epoch"] != entry["epoch"]] + [entry]
        for key in ("val_metric", "test_metric", "val_loss"):
            self.log(logged_name(key), entry[key], prog_bar=key == "val_metric", sync_dist=False)

    # ------------------------------------------------------------ optimiser
    def configure_optimizers(self):
        optim = self.config.optim
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
        if optim.schedule == "plateau":
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode="max" if self.info.higher_is_better else "min",
                factor=optim.plateau_factor,
                patience=optim.plateau_patience,
                min_lr=optim.min_lr,
            )
            schedule = {"scheduler": plateau, "interval": "epoch", "monitor": MONITORED_METRIC}
            return {"optimizer": optimizer, "lr_scheduler": schedule}
        total_steps = int(self.trainer.estimated_stepping_batches)
        steps_per_epoch = total_steps / max(1, self.trainer.max_epochs)
        warmup_steps = int(round(optim.warmup_epochs * steps_per_epoch))
        factor = partial(
            warmup_cosine_factor,
            warmup_steps=warmup_steps,
            total_steps=total_steps,
            min_ratio=optim.min_lr / optim.lr,
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ---------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            "history": self.history,
            "batches_done": self._batches_done,
            "train_loss_sum": self._train_loss_sum,
            "train_graphs": self._train_examples,
            "rng": _rng_states(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint[CHECKPOINT_KEY]
        self.history = list(state["history"])
        self._batches_done = int(state["batches_done"])
        self._train_loss_sum = float(state["train_loss_sum"])
        self._train_examples = int(state["train_graphs"])
        self._rng_to_restore = state["rng"]

    # -------------------------------------------------------------- results
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def best_entry(self) -> dict[str, Any]:
        """The history entry of the best validation epoch."""
        return self.history[best_epoch_index(self.history, self.info.higher_is_better)]
