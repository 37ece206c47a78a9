"""Learning-curve figures: the PNG is written (atomically) and its axes hold the given series."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from hodgnn.train.plots import plot_learning_curves  # noqa: E402


def history(losses, vals, tests):
    return [
        {"epoch": e, "train_loss": loss, "val_metric": v, "test_metric": t}
        for e, (loss, v, t) in enumerate(zip(losses, vals, tests, strict=True))
    ]


RUNS = [
    {
        "seed": 0,
        "metric": "mae",
        "best_epoch": 2,
        "history": history([1.0, 0.5, 0.25], [0.9, 0.7, 0.6], [0.95, 0.72, 0.61]),
    },
    {
        "seed": 1,
        "metric": "mae",
        "best_epoch": None,
        "history": history([2.0, 0.8, 0.4], [1.1, 0.8, 0.85], [1.2, 0.9, 0.8]),
    },
]


@pytest.fixture
def figure(monkeypatch):
    """The figure plot_learning_curves draws, kept when it closes it."""
    kept = []
    close = plt.close

    def keep_and_close(fig=None):
        kept.append(fig)
        close(fig)

    monkeypatch.setattr(plt, "close", keep_and_close)
    return kept


def test_png_holds_the_loss_and_metric_series(tmp_path, figure):
    path = plot_learning_curves(RUNS, tmp_path / "sub" / "curves.png", title="zinc / gin")
    assert path == tmp_path / "sub" / "curves.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["curves.png"]  # no temporary left
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (418, 1100)  # 10 x 3.8 inches at 110 dpi
    (fig,) = figure
    ax_loss, ax_metric = fig.axes
    assert ax_loss.get_yscale() == "log" and fig._suptitle.get_text() == "zinc / gin"
    assert [line.get_label() for line in ax_loss.lines] == ["seed 0", "seed 1"]
    for line, run in zip(ax_loss.lines, RUNS, strict=True):
        assert list(line.get_xdata()) == [0, 1, 2]
        assert list(line.get_ydata()) == [h["train_loss"] for h in run["history"]]
    curves = [line for line in ax_metric.lines if line.get_label() and not line.get_label().startswith("_")]
    assert [line.get_label() for line in curves] == ["seed 0 val", "seed 0 test", "seed 1 val", "seed 1 test"]
    for k, run in enumerate(RUNS):
        val, test = curves[2 * k], curves[2 * k + 1]
        assert list(val.get_ydata()) == [h["val_metric"] for h in run["history"]]
        assert list(test.get_ydata()) == [h["test_metric"] for h in run["history"]]
        assert test.get_linestyle() == "--" and val.get_color() == test.get_color()
    # one dotted line at the best validation epoch, only for the run that has one
    markers = [line for line in ax_metric.lines if line.get_linestyle() == ":"]
    assert len(markers) == 1 and list(markers[0].get_xdata()) == [2, 2]
    assert ax_metric.get_ylabel().startswith("mae")
