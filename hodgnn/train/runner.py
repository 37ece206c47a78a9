"""Run an experiment: load the data once, train one run per seed, write results, table and plots.

Layout of ``<train.output_dir>/<run name>/``::

    seed_<s>/config.yaml           the resolved config of the run
    seed_<s>/checkpoints/last.ckpt latest state (epoch ends, and every n steps if asked); resumed from
    seed_<s>/checkpoints/best.ckpt state at the best validation epoch
    seed_<s>/csv/version_<k>/      Lightning CSV logs (one version per start or resume)
    seed_<s>/results.json          history, best epoch, val/test metric there, parameters, timing
    seed_<s>/learning_curve.png
    summary.md, summary.json       mean +- std over the completed seeds
    learning_curves.png            every seed's curves

A seed whose ``results.json`` says ``completed`` (with the same config) is not run again; a seed with a
``last.ckpt`` resumes from it. Every result file is written atomically.
"""

from __future__ import annotations

import datetime
import os
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from hodgnn.environment import run_environment
from hodgnn.io import atomic_write_json, atomic_write_text
from hodgnn.train.config import ExperimentConfig, config_from_dict
from hodgnn.train.distributed import is_global_zero
from hodgnn.train.loaders import apply_transforms
from hodgnn.train.module import MONITORED_METRIC, GraphPredictionModule
from hodgnn.train.plots import plot_learning_curves
from hodgnn.train.results import RESULTS_FILE, aggregate, markdown_table, read_json

EXECUTION_ONLY_KEYS = (
    ("data", "root"),
    ("data", "num_workers"),
    ("train", "device"),
    ("train", "progress_bar"),
    ("train", "output_dir"),
    ("train", "num_threads"),
)
"""Config fields that may change between a run and its resumption (they do not change results)."""


class RunConfigMismatchError(RuntimeError):
    """A run folder holds a run made with a different config."""


class LastCheckpoint(Checkpoint):
    """Write ``last.ckpt`` atomically at every epoch end and, optionally, every ``n`` optimizer steps.

    The epoch-end checkpoint is written in ``on_train_epoch_end`` (after that epoch's validation),
    where Lightning's loops resume with the next epoch. Step checkpoints are skipped at the last
    batch of an epoch: the epoch-end checkpoint follows right after it.

    Args:
        dirpath (str or Path): checkpoint folder.
        every_n_steps (int, optional): also save every ``n`` optimizer steps (0: never). (default: ``0``)
    """

    FILENAME = "last.ckpt"

    def __init__(self, dirpath: str | os.PathLike, every_n_steps: int = 0):
        super().__init__()
        self.dirpath = Path(dirpath)
        self.every_n_steps = every_n_steps

    @property
    def path(self) -> Path:
        return self.dirpath / self.FILENAME

    def save(self, trainer: L.Trainer) -> None:
        tmp = self.dirpath / f".{self.FILENAME}.tmp"
        trainer.save_checkpoint(tmp, weights_only=False)
        if trainer.is_global_zero:
            os.replace(tmp, self.path)
        trainer.strategy.barrier("LastCheckpoint.save")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.every_n_steps <= 0 or trainer.global_step % self.every_n_steps != 0:
            return
        if batch_idx + 1 >= trainer.num_training_batches:
            return
        self.save(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.save(trainer)


@dataclass
class ExperimentResult:
    """Results of :func:`run_experiment`: one dict per seed and the aggregated table rows."""

    runs: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    folder: Path
    table: str = field(default="")


def resolve_accelerator(device: str) -> str:
    """``cpu`` or ``cuda``; ``auto`` takes cuda when available.

    Raises:
        ValueError: for ``cuda`` without a visible GPU, or an unknown device.
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device='cuda' but torch sees no CUDA device; use device=cpu or auto")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; allowed: ['auto', 'cpu', 'cuda']")
    return device


def _comparable(config_dict: dict[str, Any]) -> dict[str, Any]:
    out = {section: dict(values) for section, values in config_dict.items()}
    for section, key in EXECUTION_ONLY_KEYS:
        out.get(section, {}).pop(key, None)
    return out


def _config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    old, new = _comparable(old), _comparable(new)
    diffs = []
    for section in sorted(set(old) | set(new)):
        for key in sorted(set(old.get(section, {})) | set(new.get(section, {}))):
            a, b = old.get(section, {}).get(key), new.get(section, {}).get(key)
            if a != b:
                diffs.append(f"{section}.{key}: {a!r} -> {b!r}")
    return diffs


def run_dir_for(config: ExperimentConfig, seed: int) -> Path:
    return Path(config.train.output_dir) / config.resolved_run_name / f"seed_{seed}"


def build_trainer(
    config: ExperimentConfig, run_dir: Path, higher_is_better: bool, callbacks: Sequence[L.Callback] = ()
) -> tuple[L.Trainer, LastCheckpoint]:
    """The Lightning trainer of one run, with best/last checkpoints and a CSV logger."""
    train = config.train
    accelerator = resolve_accelerator(train.device)
    strategy: Any = "auto"
    if train.devices * train.num_nodes > 1:
        from lightning.pytorch.strategies import DDPStrategy

        strategy = DDPStrategy(process_group_backend="gloo" if accelerator == "cpu" else "nccl")
    checkpoint_dir = run_dir / "checkpoints"
    best = ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename="best",
        monitor=MONITORED_METRIC,
        mode="max" if higher_is_better else "min",
        save_top_k=1,
        save_last=False,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    last = LastCheckpoint(checkpoint_dir, every_n_steps=train.checkpoint_every_n_steps)
    deterministic: bool | str = False
    if train.deterministic:
        deterministic = True if accelerator == "cpu" else "warn"
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=train.devices,
        num_nodes=train.num_nodes,
        strategy=strategy,
        max_epochs=train.epochs,
        precision=train.precision,
        deterministic=deterministic,
        gradient_clip_val=config.optim.grad_clip or None,
        callbacks=[*callbacks, best, last],
        logger=CSVLogger(str(run_dir), name="csv"),
        enable_progress_bar=train.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        log_every_n_steps=1,
        default_root_dir=str(run_dir),
    )
    return trainer, last


def load_splits(config: ExperimentConfig):
    """Load the dataset of ``config`` (``DatasetSplits``)."""
    from hodgnn.data import load_dataset

    return load_dataset(config.data.name, root=config.data.root, **config.data.options)


def run_seed(
    config: ExperimentConfig,
    seed: int,
    dataset,
    transformed: dict[str, Any] | None = None,
    resume: bool = True,
    restart: bool = False,
    checkpoint_path: str | os.PathLike | None = None,
    callbacks: Sequence[L.Callback] = (),
    model_builder: Callable[..., torch.nn.Module] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train one seed; return ``(result dict, transformed splits)``.

    Args:
        config (ExperimentConfig): the experiment.
        seed (int): the seed of this run (weights, data order, dropout).
        dataset (DatasetSplits): the loaded dataset.
        transformed (dict, optional): splits with the model's transforms applied, from an earlier
            seed (transforms do not depend on the seed). (default: :obj:`None`)
        resume (bool, optional): reuse a completed result, else resume from ``last.ckpt``.
            (default: :obj:`True`)
        restart (bool, optional): delete this seed's checkpoints and results first.
            (default: :obj:`False`)
        checkpoint_path (str, optional): resume from this checkpoint file. (default: :obj:`None`)
        callbacks (list, optional): extra Lightning callbacks. (default: ``()``)
        model_builder (callable, optional): ``model_builder(name, info, **options)`` used instead of
            :func:`hodgnn.nn.build_model` (for models outside the package). (default: :obj:`None`)

    Raises:
        RunConfigMismatchError: the run folder holds a run with another config (and no ``restart``).
        NonFiniteLossError: the loss became NaN or Inf (a ``failed`` result is written first).
    """
    if model_builder is None:
        from hodgnn.nn import build_model as model_builder

    run_dir = run_dir_for(config, seed)
    results_path = run_dir / RESULTS_FILE
    config_path = run_dir / "config.yaml"
    is_zero = is_global_zero()
    if restart and run_dir.exists() and is_zero:
        for name in ("checkpoints", "csv", RESULTS_FILE, "learning_curve.png", "config.yaml"):
            target = run_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    if config_path.exists() and not restart:
        import yaml

        previous = yaml.safe_load(config_path.read_text())
        diffs = _config_differences(previous, config.to_dict())
        if diffs:
            raise RunConfigMismatchError(
                f"{run_dir} holds a run made with another config ({'; '.join(diffs)}). Pass --restart to "
                "discard it, or choose another train.run_name / train.output_dir."
            )
    if resume and not restart and results_path.exists():
        previous_result = read_json(results_path)
        if previous_result.get("status") == "completed":
            print(f"[hodgnn] {run_dir}: completed result found, not retrained (--restart to train again)")
            return previous_result, transformed or {}

    if config.train.num_threads > 0:
        torch.set_num_threads(config.train.num_threads)
    L.seed_everything(seed, workers=True, verbose=False)
    info = dataset.info
    model = model_builder(config.model.name, info, **config.model.options)
    if transformed is None:
        transforms = list(model.required_transforms()) if hasattr(model, "required_transforms") else []
        transformed = {
            split: apply_transforms(getattr(dataset, split), transforms) for split in ("train", "val", "test")
        }
    module = GraphPredictionModule(model, info, transformed, config, seed=seed)
    trainer, last = build_trainer(config, run_dir, info.higher_is_better, callbacks)
    if trainer.is_global_zero:
        atomic_write_text(config_path, config.to_yaml())

    ckpt_path = None
    if checkpoint_path is not None:
        ckpt_path = str(checkpoint_path)
    elif resume and last.path.exists() and not restart:
        ckpt_path = str(last.path)
    if ckpt_path is not None:
        print(f"[hodgnn] resuming {run_dir} from {ckpt_path}")

    base = {
        "dataset": info.name,
        "model": config.model.name,
        "run_name": config.resolved_run_name,
        "seed": seed,
        "metric": info.metric,
        "higher_is_better": info.higher_is_better,
        "num_parameters": module.num_parameters(),
        "device": trainer.accelerator.__class__.__name__.replace("Accelerator", "").lower(),
        "devices": trainer.world_size,
        "targets": info.extra.get("targets"),
        "target_std": info.extra.get("target_std"),
        "config": config.to_dict(),
        "environment": run_environment(gpu=resolve_accelerator(config.train.device) == "cuda"),
    }
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # ResumableSampler skips the consumed batches itself; Lightning cannot know and warns.
            warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
            # Raised inside Lightning 2.6 itself (its pytree helper), nothing to act on here.
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
            trainer.fit(module, ckpt_path=ckpt_path)
    except BaseException as error:
        if trainer.is_global_zero:
            atomic_write_json(
                results_path,
                {
                    **base,
                    "status": "failed" if isinstance(error, Exception) else "interrupted",
                    "error": f"{type(error).__name__}: {error}",
                    "history": module.history,
                    "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
                },
            )
        raise
    elapsed = time.perf_counter() - started

    best = module.best_entry()
    times = [h["epoch_seconds"] for h in module.history if h["epoch_seconds"] == h["epoch_seconds"]]
    result = {
        **base,
        "status": "completed",
        "best_epoch": best["epoch"],
        "val_metric": best["val_metric"],
        "test_metric": best["test_metric"],
        "train_loss_at_best": best["train_loss"],
        "best": best,
        "final_test_metric": module.history[-1]["test_metric"],
        "epochs_run": len(module.history),
        "seconds_per_epoch": sum(times) / len(times) if times else float("nan"),
        "fit_seconds": elapsed,
        "history": module.history,
        "best_checkpoint": str(run_dir / "checkpoints" / "best.ckpt"),
        "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    if trainer.is_global_zero:
        atomic_write_json(results_path, result)
        plot_learning_curves(
            [result], run_dir / "learning_curve.png", title=f"{config.resolved_run_name} seed {seed}"
        )
    return result, transformed


def write_summary(folder: Path, runs: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """Write ``summary.md``, ``summary.json`` and ``learning_curves.png`` for the runs of one experiment."""
    rows = aggregate(runs)
    table = markdown_table(rows)
    completed = [r for r in runs if r.get("status") == "completed"]
    atomic_write_json(folder / "summary.json", {"rows": rows, "seeds": [r["seed"] for r in completed]})
    atomic_write_text(folder / "summary.md", f"# {folder.name}\n\nMean +- sample std over seeds.\n\n{table}")
    if completed:
        plot_learning_curves(completed, folder / "learning_curves.png", title=str(folder.name))
    return rows, table


def run_experiment(
    config: ExperimentConfig,
    seeds: int = 1,
    resume: bool = True,
    restart: bool = False,
    checkpoint_path: str | os.PathLike | None = None,
    callbacks: Sequence[L.Callback] = (),
    dataset=None,
    model_builder: Callable[..., torch.nn.Module] | None = None,
) -> ExperimentResult:
    """Train ``seeds`` runs (seeds ``train.seed .. train.seed + seeds - 1``) and aggregate them.

    Args:
        config (ExperimentConfig): the experiment (validated again here).
        seeds (int, optional): number of seeds. (default: :obj:`1`)
        resume (bool, optional): reuse completed seeds and resume from ``last.ckpt``. (default: :obj:`True`)
        restart (bool, optional): discard existing checkpoints and results first. (default: :obj:`False`)
        checkpoint_path (str, optional): resume the first seed from this checkpoint. (default: :obj:`None`)
        callbacks (list, optional): extra Lightning callbacks for every run. (default: ``()``)
        dataset (DatasetSplits, optional): already loaded data (else loaded from the config).
            (default: :obj:`None`)
        model_builder (callable, optional): replaces :func:`hodgnn.nn.build_model`. (default: :obj:`None`)
    """
    config = config_from_dict(config.to_dict())
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    if dataset is None:
        dataset = load_splits(config)
    runs = []
    transformed = None
    folder = Path(config.train.output_dir) / config.resolved_run_name
    for offset in range(seeds):
        try:
            result, transformed = run_seed(
                config,
                config.train.seed + offset,
                dataset,
                transformed=transformed or None,
                resume=resume,
                restart=restart,
                checkpoint_path=checkpoint_path if offset == 0 else None,
                callbacks=callbacks,
                model_builder=model_builder,
            )
        except Exception:
            # The failed seed has written its own results.json; summarise the seeds done so far.
            if runs and is_global_zero():
                write_summary(folder, runs)
            raise
        runs.append(result)
        print(
            f"[hodgnn] {config.resolved_run_name} seed {result['seed']}: best epoch {result['best_epoch']}, "
            f"val {result['metric']} {result['val_metric']:.4f}, "
            f"test {result['metric']} {result['test_metric']:.4f}"
        )
    rows, table = [], ""
    if is_global_zero():
        rows, table = write_summary(folder, runs)
    return ExperimentResult(runs=runs, summary=rows, folder=folder, table=table)
