"""The page ``docs/results/derivatives.md`` and its plot from ``benchmarks/results/derivatives.json``
(templates ``benchmarks/templates/derivatives*.md``): ratios, growth fits, tables."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import loglog_slope
from benchmarks.render import decimals, fill, mib, row, save_figure

FIT_MIN_NODES = 200  # second growth fit without the smallest graphs (fixed per-call costs)
MODES = ("no_grad", "graph", "train")


def _index(records: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    return {(r["input"], r["order"], r["method"], r["mode"]): r for r in records}


def _ok(record: dict[str, Any] | None) -> bool:
    return record is not None and "skipped" not in record and "error" not in record


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """Ratios and the fitted growth of the engine's time with the number of pairs."""
    records = report["records"]
    table = _index(records)
    rows = []
    for (name, order, method, mode), engine in sorted(table.items()):
        if method != "engine" or mode != "no_grad" or not _ok(engine):
            continue
        row = {"input": name, "order": order}
        func = table.get((name, order, "torch_func", "no_grad"))
        dense = table.get((name, order, "dense", "no_grad"))
        for key, other in (("torch_func", func), ("dense", dense)):
            if _ok(other):
                row[f"{key}_over_engine_cpu"] = other["cpu_median_s"] / engine["cpu_median_s"]
                row[f"{key}_over_engine_wall"] = other["wall_median_s"] / engine["wall_median_s"]
        row["engine_no_grad_tensor_peak_over_floor"] = _ratio(
            engine.get("tensor_peak_bytes"), engine["floor_bytes"]
        )
        row["engine_no_grad_rss_peak_over_floor"] = _ratio(
            engine.get("rss_peak_bytes"), engine["floor_bytes"]
        )
        for mode_name in ("graph", "train"):
            other = table.get((name, order, "engine", mode_name))
            if _ok(other):
                all_layers = other["floor_bytes_all_layers"]
                row[f"engine_{mode_name}_tensor_peak_over_all_layers"] = _ratio(
                    other.get("tensor_peak_bytes"), all_layers
                )
                row[f"engine_{mode_name}_rss_peak_over_all_layers"] = _ratio(
                    other.get("rss_peak_bytes"), all_layers
                )
        rows.append(row)
    fits = {}
    for order in sorted({r["order"] for r in records}):
        for mode in ("no_grad", "graph", "train"):
            points = [
                (r["num_nodes"], r["pairs"], r["cpu_median_s"])
                for r in records
                if r["input"].startswith("random")
                and r["order"] == order
                and r["method"] == "engine"
                and r["mode"] == mode
                and _ok(r)
            ]
            for suffix, min_nodes in (("", 0), (f"_n{FIT_MIN_NODES}", FIT_MIN_NODES)):
                kept = [(pairs, cpu) for n, pairs, cpu in points if n >= min_nodes]
                if len(kept) >= 3:
                    fits[f"m{order}_{mode}{suffix}"] = loglog_slope(kept)
    return {"ratios": rows, "time_vs_pairs_exponent": fits}


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _seconds(record: dict[str, Any] | None, key: str = "cpu_median_s") -> str:
    if record is None:
        return "-"
    if "skipped" in record:
        return "skipped"
    if "error" in record:
        return "error"
    text = f"{record[key]:.3g}"
    return text + "*" if record.get("extrapolated") else text


def _time_row(name: str, order: int, table: dict[tuple, dict[str, Any]]) -> str:
    engine = table[(name, order, "engine", "no_grad")]
    func = table.get((name, order, "torch_func", "no_grad"))
    dense = table.get((name, order, "dense", "no_grad"))
    ratio_func = f"{func['cpu_median_s'] / engine['cpu_median_s']:.0f}x" if _ok(func) else "-"
    ratio_dense = f"{dense['cpu_median_s'] / engine['cpu_median_s']:.1f}x" if _ok(dense) else "-"
    modes = [_seconds(table.get((name, order, "engine", mode))) for mode in MODES]
    return row(
        [name, f"{engine['num_nodes']:,}", order, f"{engine['pairs']:,}", *modes]
        + [_seconds(dense), _seconds(func), ratio_func, ratio_dense]
    )


def _memory_row(name: str, order: int, table: dict[tuple, dict[str, Any]]) -> str:
    engine, graph, train = (table.get((name, order, "engine", mode)) for mode in MODES)
    dense = table.get((name, order, "dense", "no_grad"))
    func = table.get((name, order, "torch_func", "no_grad"))

    def pair(record):
        if not _ok(record):
            return "-"
        return f"{mib(record.get('rss_peak_bytes'))} / {mib(record.get('tensor_peak_bytes'))}"

    ratio = _ratio(engine.get("tensor_peak_bytes"), engine["floor_bytes"])
    ratio_rss = _ratio(engine.get("rss_peak_bytes"), engine["floor_bytes"])
    ratio_train = (
        _ratio(train.get("tensor_peak_bytes"), train["floor_bytes_all_layers"]) if _ok(train) else None
    )
    return row(
        [name, order, mib(engine["floor_bytes"]), mib(engine["floor_bytes_all_layers"]), pair(engine)]
        + [f"{decimals(ratio_rss)} / {decimals(ratio)}", pair(graph), pair(train), decimals(ratio_train)]
        + [pair(dense), mib(func.get("rss_peak_bytes")) if _ok(func) else "-"]
    )


def _noise(records: list[dict[str, Any]]) -> str:
    """Wall / CPU time of the engine runs and the spread of repeated runs."""
    ratios = [
        r["wall_median_s"] / r["cpu_median_s"]
        for r in records
        if r["method"] == "engine" and _ok(r) and r["cpu_median_s"] > 0.05
    ]
    spreads = [
        (max(r["cpu_s"]) - min(r["cpu_s"])) / r["cpu_median_s"]
        for r in records
        if r["method"] != "torch_func" and _ok(r) and r["cpu_median_s"] > 0.05 and len(r.get("cpu_s", [])) > 1
    ]
    if not ratios:
        return ""
    text = f"Median wall / CPU time of the engine runs above 0.05 s: {statistics.median(ratios):.2f}"
    if not spreads:
        return text + "."
    return (
        f"{text}; median spread (max - min) / median of the CPU times of repeated runs: "
        f"{100 * statistics.median(spreads):.0f}% (largest {100 * max(spreads):.0f}%)."
    )


def render(report: dict[str, Any]) -> str:
    """The markdown page of a report (its summary is computed again from the records)."""
    records, info = report["records"], report["machine"]
    fits = summarise(report)["time_vs_pairs_exponent"]
    table = _index(records)
    names = list(report["inputs"])
    orders = sorted({r["order"] for r in records})
    rows = [(n, m) for n in names for m in orders if _ok(table.get((n, m, "engine", "no_grad")))]
    growth = ""
    if fits:
        keys = {
            order: [f"m{order}_{mode}{suffix}" for suffix in ("", f"_n{FIT_MIN_NODES}") for mode in MODES]
            for order in orders
        }
        growth = fill(
            "derivatives_growth.md",
            sizes=", ".join(str(s) for s in report["sizes"]),
            fit_min=FIT_MIN_NODES,
            rows=[row([order, *(decimals(fits.get(key)) for key in keys[order])]) for order in orders],
        )
    checks = [r["max_rel_error_vs_engine"] for r in records if r["method"] == "torch_func" and _ok(r)]
    check = []
    if checks:
        check = [
            "",
            "Check: on the first seeds of every torch.func configuration, torch.func and the engine agree "
            f"to a relative error of at most {max(checks):.1e} (float32).",
        ]
    return fill(
        "derivatives.md",
        command=report["command"],
        cores=info["cores"],
        cpu=info["cpu"],
        torch=info["torch"],
        threads=report["threads"],
        load_start=report["load_average_start"],
        load_end=report["load_average_end"],
        date=info["date_utc"],
        date_end=report.get("date_end_utc", "?"),
        inputs=[f"- `{name}`: {source}" for name, source in report["inputs"].items()],
        func_budget=report["func_budget_s"],
        func_budget_molecules=report.get("func_budget_molecules_s", report["func_budget_s"]),
        summary=_headline(table, names),
        times=[_time_row(name, order, table) for name, order in rows],
        memory=[_memory_row(name, order, table) for name, order in rows],
        growth=growth,
        check=check,
        noise=_noise(records),
    )


def _headline(table: dict[tuple, dict[str, Any]], names: list[str], order: int = 3) -> list[str]:
    """Summary lines at order ``order`` for the molecule batches."""
    lines = []
    for name in names:
        if name.startswith("random"):
            continue
        engine, graph, train = (
            table.get((name, order, "engine", mode)) for mode in ("no_grad", "graph", "train")
        )
        func = table.get((name, order, "torch_func", "no_grad"))
        if not (_ok(engine) and _ok(func)):
            continue
        text = (
            f"- `{name}`, m = {order} ({engine['num_graphs']} graphs, {engine['num_nodes']:,} nodes, "
            f"{engine['pairs']:,} pairs): torch.func {_seconds(func)} s against the engine's "
            f"{_seconds(engine)} s without autograd ({func['cpu_median_s'] / engine['cpu_median_s']:.0f}x)"
        )
        if _ok(train):
            text += (
                f" and {_seconds(train)} s for forward + backward "
                f"({func['cpu_median_s'] / train['cpu_median_s']:.0f}x)"
            )
        tensors = _ratio(engine.get("tensor_peak_bytes"), engine["floor_bytes"])
        rss = _ratio(engine.get("rss_peak_bytes"), engine["floor_bytes"])
        text += f"; peak tensor memory without autograd {decimals(tensors)}x the floor (RSS {decimals(rss)}x)"
        if _ok(graph):
            ratio = _ratio(graph.get("tensor_peak_bytes"), graph["floor_bytes_all_layers"])
            text += f", with the autograd graph {decimals(ratio)}x the non-zero bytes of all layers."
        lines.append(text)
    if lines:
        lines = ["## Summary (CPU time; * = extrapolated)", "", *lines, ""]
    return lines


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in report["records"] if r["input"].startswith("random") and _ok(r)]
    orders = sorted({r["order"] for r in report["records"]})
    series = [
        ("engine", "no_grad", "engine no_grad", "tab:blue", "-"),
        ("engine", "train", "engine train (fwd+bwd)", "tab:green", "-"),
        ("dense", "no_grad", "dense no_grad", "tab:orange", "-"),
        ("torch_func", "no_grad", "torch.func no_grad (open marker: extrapolated)", "tab:red", "-"),
    ]
    fig, axes = plt.subplots(2, len(orders), figsize=(4 * len(orders), 7), squeeze=False)
    for col, order in enumerate(orders):
        for line, (key, label) in enumerate(
            (("cpu_median_s", "CPU time (s)"), ("rss_peak_bytes", "peak RSS (MiB)"))
        ):
            ax = axes[line][col]
            for method, mode, name, color, style in series:
                points = sorted(
                    (r["num_nodes"], r[key], r.get("extrapolated", False))
                    for r in records
                    if r["order"] == order and r["method"] == method and r["mode"] == mode and r.get(key)
                )
                if not points:
                    continue
                scale = 1.0 if key == "cpu_median_s" else 1 / 2**20
                xs, ys = [p[0] for p in points], [p[1] * scale for p in points]
                ax.plot(xs, ys, style, color=color, marker="o", label=name)
                for x, y, extrapolated in zip(xs, ys, [p[2] for p in points], strict=True):
                    if extrapolated:
                        ax.plot([x], [y], "o", color="white", markeredgecolor=color)
            if key == "rss_peak_bytes":
                floor = sorted(
                    (r["num_nodes"], r["floor_bytes"] / 2**20)
                    for r in records
                    if r["order"] == order and r["method"] == "engine" and r["mode"] == "no_grad"
                )
                if floor:
                    ax.plot(*zip(*floor, strict=True), ":", color="black", label="floor (non-zero bytes)")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("n (random sparse graph, mean degree 3)")
            ax.set_ylabel(label)
            ax.set_title(f"order m = {order}")
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    axes[1][0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
