"""Learning-curve figures (matplotlib, Agg backend, written atomically)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hodgnn.io import atomic_write


def plot_learning_curves(runs: Sequence[dict[str, Any]], path: str | os.PathLike, title: str = "") -> Path:
    """Plot training loss and validation/test metric per epoch for one or several runs.

    Args:
        runs (list of dict): run results with ``seed``, ``metric``, ``history`` (entries with
            ``epoch``, ``train_loss``, ``val_metric``, ``test_metric``) and ``best_epoch``.
        path (str or Path): PNG file to write.
        title (str, optional): figure title. (default: ``""``)
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 3.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, run in enumerate(runs):
        color = colors[i % len(colors)]
        epochs = [h["epoch"] for h in run["history"]]
        label = f"seed {run['seed']}"
        ax_loss.plot(epochs, [h["train_loss"] for h in run["history"]], color=color, label=label)
        ax_metric.plot(epochs, [h["val_metric"] for h in run["history"]], color=color, label=f"{label} val")
        ax_metric.plot(
            epochs,
            [h["test_metric"] for h in run["history"]],
            color=color,
            linestyle="--",
            label=f"{label} test",
        )
        if run.get("best_epoch") is not None:
            ax_metric.axvline(run["best_epoch"], color=color, linestyle=":", linewidth=0.8)
    metric = runs[0]["metric"] if runs else "metric"
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_yscale("log")
    ax_metric.set_xlabel("epoch")
    ax_metric.set_ylabel(metric + " (dotted line: best validation epoch)")
    ax_loss.legend(fontsize=7)
    ax_metric.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=110))
    finally:
        plt.close(fig)
    return Path(path)
