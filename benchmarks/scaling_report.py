"""The page ``docs/results/scale.md`` and its plot ``docs/results/scaling.png``.

The page has three measured sections, each rendered from the JSON of its suite when that file
exists (``benchmarks/results/peptides_e2e.json``, ``peptides_scale.json``, ``scaling.json``), and
hand-written sections (in the template ``benchmarks/templates/scale.md``). The end-to-end and the
Peptides-steps sections were measured before their JSON was kept in the repository: without their
JSON they are the committed text of ``templates/scale_e2e_archived.md`` and
``templates/scale_peptides_archived.md`` (the first also carries a hand-added row and notes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.common import REPO_ROOT, RESULTS_DIR, loglog_slope
from benchmarks.render import TEMPLATES, fill, row, save_figure, table
from benchmarks.scaling_workers import FAMILIES, PEPTIDES_TRAIN_SIZE, SYNTHETIC_MODELS

SYNTHETIC_JSON = RESULTS_DIR / "scaling.json"
PEPTIDES_JSON = RESULTS_DIR / "peptides_scale.json"
E2E_JSON = RESULTS_DIR / "peptides_e2e.json"


def exponents(results: list[dict[str, Any]], fit_min: int) -> dict[str, dict[str, Any]]:
    """Growth exponents of step time and peak memory increase per ``model/family``."""
    out = {}
    for model in SYNTHETIC_MODELS:
        for family in FAMILIES:
            ok = [r for r in results if r["model"] == model and r["family"] == family and r["status"] == "ok"]
            ok = [r for r in ok if r["n"] >= fit_min]
            out[f"{model}/{family}"] = {
                "time": loglog_slope([(r["n"], r["step_s"]) for r in ok]),
                "memory": loglog_slope([(r["n"], r["peak_increase_mib"]) for r in ok]),
                "points": len(ok),
                "sizes": [r["n"] for r in ok],
            }
    return out


def check_targets(results: list[dict[str, Any]], n: int = 1000) -> list[dict[str, Any]]:
    """The two targets of the issue at ``n`` nodes, per graph family."""
    checks = []
    for family in FAMILIES:
        at = {r["model"]: r for r in results if r["family"] == family and r["n_requested"] == n}
        gine, full, ds = (at.get(m) for m in ("gine_rwse", "hod1_full", "ds_gnn"))
        for label, what in (("hod1_diag", "order 3"), ("hod1_diag_m1", "order 1")):
            diag = at.get(label)
            if diag and gine and diag["status"] == "ok" and gine["status"] == "ok":
                ratio = diag["step_s"] / gine["step_s"]
                checks.append(
                    {
                        "family": family,
                        "target": f"1-HOD diagonal-only ({what}) step time within 3x of GINE+RWSE at n = {n}",
                        "value": f"{ratio:.2f}x ({diag['step_s']:.3f} s vs {gine['step_s']:.3f} s)",
                        "met": ratio <= 3.0,
                    }
                )
        if full and ds and full["status"] == "ok":
            full_bytes = full["peak_increase_mib"] * 2**20
            if ds["status"] == "ok":
                ds_bytes, how = ds["peak_increase_mib"] * 2**20, "measured"
            elif ds.get("estimated_bytes"):
                ds_bytes, how = ds["estimated_bytes"], "DS-GNN stopped by the memory guard: its estimate"
            else:
                continue
            ratio = ds_bytes / max(full_bytes, 1.0)
            both = [
                (r["n_requested"], r, at_n)
                for r in results
                if r["model"] == "ds_gnn" and r["family"] == family and r["status"] == "ok"
                for at_n in results
                if at_n["model"] == "hod1_full"
                and at_n["family"] == family
                and at_n["n_requested"] == r["n_requested"]
                and at_n["status"] == "ok"
            ]
            if both:
                largest, ds_row, full_row = max(both, key=lambda item: item[0])
                measured = ds_row["peak_increase_mib"] / max(full_row["peak_increase_mib"], 1e-9)
                checks.append(
                    {
                        "family": family,
                        "target": f"(context) DS-GNN / full 1-HOD memory, both measured, at n = {largest}",
                        "value": f"{measured:.1f}x ({ds_row['peak_increase_mib']:.0f} MiB vs "
                        f"{full_row['peak_increase_mib']:.0f} MiB)",
                        "met": measured >= 5.0,
                    }
                )
            checks.append(
                {
                    "family": family,
                    "target": f"full 1-HOD at least 5x less memory than DS-GNN at n = {n}",
                    "value": f"{ratio:.1f}x ({full_bytes / 2**20:.0f} MiB measured vs "
                    f"{ds_bytes / 2**20:.0f} MiB, {how})",
                    "met": ratio >= 5.0,
                }
            )
    return checks


def plot(payload: dict[str, Any], path: Path) -> None:
    """Time and peak memory against n, per graph family (the guard's estimates where it stopped)."""
    results = payload["results"]
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True)
    colors = dict(zip(SYNTHETIC_MODELS, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for col, family in enumerate(FAMILIES):
        ax_time, ax_mem = axes[0, col], axes[1, col]
        for model in SYNTHETIC_MODELS:
            rows = sorted(
                (r for r in results if r["model"] == model and r["family"] == family),
                key=lambda r: r["n_requested"],
            )
            ok = [r for r in rows if r["status"] == "ok"]
            guard = [r for r in rows if r["status"] == "memory_guard" and r.get("estimated_bytes")]
            color = colors[model]
            if ok:
                ax_time.plot([r["n"] for r in ok], [r["step_s"] for r in ok], "o-", color=color, label=model)
                ax_mem.plot(
                    [r["n"] for r in ok], [r["peak_increase_mib"] for r in ok], "o-", color=color, label=model
                )
            if guard:
                ax_mem.plot(
                    [r["n_requested"] for r in guard],
                    [r["estimated_bytes"] / 2**20 for r in guard],
                    "x--",
                    color=color,
                    label=f"{model} (guard estimate)",
                )
        ax_time.set_title(f"{family} graphs: time of one training step")
        ax_mem.set_title(f"{family} graphs: peak memory of one step")
        ax_time.set_ylabel("seconds")
        ax_mem.set_ylabel("MiB (x: memory-guard estimate, not run)")
        ax_mem.set_xlabel("nodes n")
        for ax in (ax_time, ax_mem):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
    handles: dict[str, Any] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    save_figure(fig, path, dpi=100)


# ---------------------------------------------------------------------------------------- markdown
def _fmt_status(r: dict[str, Any], key: str, fmt: str) -> str:
    if r["status"] == "ok":
        return format(r[key], fmt)
    if r["status"] == "memory_guard":
        est = r.get("estimated_bytes")
        return f"guard: est. {est / 2**30:.1f} GiB" if est else "guard"
    if r["status"] == "skipped":
        return "skipped"
    return r["status"]


def _run(payload: dict[str, Any]) -> str:
    """Command (and merged reruns), machine, date and load of a suite's run."""
    merged = "".join(
        f"; then `{run['command']}` (merged; {run['date']}, load before {run['load_average_before']})"
        for run in payload.get("merged_commands", [])
    )
    return fill(
        "scale_run.md",
        command=payload["command"],
        merged=merged,
        machine=payload["machine"],
        torch=payload["torch"],
        threads=payload["threads"],
        date=payload["date"],
        before=payload["load_average_before"],
        after=payload["load_average_after"],
    )


def _size_tables(results: list[dict[str, Any]], family: str) -> list[str]:
    rows = [r for r in results if r["family"] == family]
    sizes = sorted({r["n_requested"] for r in rows})
    at = {(r["model"], r["n_requested"]): r for r in reversed(rows)}  # the first record of each
    lines = []
    for key, fmt, title in (
        ("step_s", ".3g", "seconds per training step"),
        ("peak_increase_mib", ".0f", "peak memory of a step (MiB over the pre-step resident set)"),
    ):
        cells = [
            [model, *(_fmt_status(at[model, s], key, fmt) if (model, s) in at else "" for s in sizes)]
            for model in SYNTHETIC_MODELS
        ]
        lines += [
            f"### {family} graphs: {title}",
            "",
            *table(["model", *(f"n={s}" for s in sizes)], cells),
            "",
        ]
    return lines


def _notes(payload: dict[str, Any]) -> list[str]:
    """Runs above the guard budget, RWSE precomputation and pair-support build times."""
    results, notes = payload["results"], []
    guarded = ("hod1_full", "hod1_diag", "hod1_diag_m1", "hod2", "ds_gnn")
    ok = [r for r in results if r["status"] == "ok"]
    over = [
        r for r in ok if r["model"] in guarded and r["peak_increase_mib"] * 2**20 > payload["memory_budget"]
    ]
    if over:
        cells = ", ".join(
            f"{r['model']} {r['family']} n={r['n']} ({r['peak_increase_mib']:.0f} MiB)" for r in over
        )
        notes += [
            "",
            f"Ran although the measured peak exceeds the {payload['memory_budget'] / 2**30:.0f} GiB guard "
            f"budget (the guard estimates only the derivative tensors or the bag, in advance): {cells}.",
        ]
    transform = [r for r in ok if r["model"] == "gine_rwse"]
    if transform:
        cells = ", ".join(f"{r['family']} n={r['n']}: {r['transform_s']:.2f} s" for r in transform)
        notes += [
            "",
            f"RWSE precomputation (PyG `AddRandomWalkPE`, length 20, not in the step time): {cells}.",
        ]
    supports = [r for r in ok if "support_build_s" in r and r["model"] == "hod1_full"]
    if supports:
        cells = ", ".join(f"{r['family']} n={r['n']}: {r['support_build_s']:.3f} s" for r in supports)
        notes += [
            "",
            "Pair-support build of `hod1_full` (`build_pair_support`, once per graph: the model's "
            "`SupportCache` reuses it while the same `edge_index` comes back, so it is in the first step, "
            f"not in the step time; `hod1_diag` builds a smaller, pruned one): {cells}.",
        ]
    return notes


def synthetic_section(payload: dict[str, Any]) -> str:
    results = payload["results"]
    exponent_rows = []
    for key, fit in exponents(results, payload["fit_min"]).items():
        t, m = (f"{fit[k]:.2f}" if fit[k] is not None else "n/a" for k in ("time", "memory"))
        exponent_rows.append(row([*key.split("/"), t, m, ", ".join(str(s) for s in fit["sizes"]) or "none"]))
    grids = sorted({r["n"] for r in results if r["family"] == "grid" and "edges" in r})
    return fill(
        "scale_synthetic.md",
        run=_run(payload),
        time_limit=payload["time_limit"],
        budget_gib=payload["memory_budget"] / 2**30,
        rss_gib=payload["rss_limit"] / 2**30,
        grid_sizes=", ".join(str(n) for n in grids),
        tables=[line for family in FAMILIES for line in _size_tables(results, family)],
        fit_min=payload["fit_min"],
        exponents=exponent_rows,
        targets=[
            row([c["family"], c["target"], c["value"], "yes" if c["met"] else "NO"])
            for c in check_targets(results)
        ],
        notes=_notes(payload),
    )


def _run_label(config: list) -> str:
    filename, overrides = config
    return f"`{filename}`" + (f" + `{' '.join(overrides)}`" if overrides else "")


def _peptides_row(r: dict[str, Any], rss_limit: float) -> str:
    notes = []
    if "derivative_pairs" in r:
        notes.append(f"{r['derivative_pairs']:,} stored derivative pairs (layers 1..T) in the first batch")
    if "bag_nodes" in r:
        notes.append(f"{r['bag_nodes']:,} bag nodes in the first batch")
    est = r.get("ds_gnn_estimates_bytes")
    if est:
        notes.append(
            f"guard estimate over the {r['batches_per_epoch']} batches of one epoch: min "
            f"{est['min'] / 2**30:.2f}, median {est['median'] / 2**30:.2f}, "
            f"max {est['max'] / 2**30:.2f} GiB; "
            f"{est['over_budget']} batches above the {est['budget'] / 2**30:.0f} GiB budget"
        )
    config = _run_label(r["config"]) if "config" in r else ""
    head = f"| {r['model']} | {config} | {r.get('batch_size', '')} | {r.get('parameters', '')} "
    nodes = r.get("nodes_per_batch") or []
    nodes_cell = f"{min(nodes)}-{max(nodes)}" if nodes else ""
    if r["status"] != "ok":
        reason = r.get("error", r["status"])
        if r["status"] == "memory_guard" and r.get("estimated_bytes"):
            reason = f"stopped by the memory guard: estimated {r['estimated_bytes'] / 2**30:.1f} GiB"
        elif r["status"] == "rss_limit":
            reason = f"killed above the resident-set limit of {rss_limit / 2**30:.0f} GiB"
        return f"{head}| {nodes_cell} | 0 | | | | | {'; '.join([reason, *notes])} |"
    steps = 1 + len(r["step_times_s"])
    evaluation = f"{r['epoch_eval_s_extrapolated'] / 60:.1f} min" if "epoch_eval_s_extrapolated" in r else ""
    return (
        f"{head}| {nodes_cell} | {steps} | {r['step_s']:.2f} | {r['peak_increase_mib']:.0f} "
        f"| {r['epoch_train_s_extrapolated'] / 60:.1f} min | {evaluation} | {'; '.join(notes)} |"
    )


def peptides_section(payload: dict[str, Any]) -> str:
    return fill(
        "scale_peptides.md",
        run=_run(payload),
        train_size=PEPTIDES_TRAIN_SIZE,
        rows=[_peptides_row(r, payload["rss_limit"]) for r in payload["results"]],
    )


def _e2e_row(entry: dict[str, Any]) -> str:
    history = entry.get("history") or []
    metrics = "; ".join(f"{h['val_metric']:.4f} / {h['test_metric']:.4f}" for h in history)
    per_epoch = f"{entry['seconds_per_epoch']:.0f}" if entry.get("seconds_per_epoch") else ""
    notes = entry.get("error") or ""
    if entry["dataset"] == "peptides-struct":
        notes = (
            "synthetic targets (random normal, official SMILES and split): MAE is meaningless. " + notes
        ).strip()
    return row(
        [
            entry["dataset"],
            entry["model"],
            entry.get("batch_size", ""),
            entry.get("status") or entry["returncode"],
        ]
        + [entry.get("epochs_run") or 0, per_epoch, f"{entry['peak_rss_mib'] / 1024:.2f}"]
        + [f"{entry['wall_s'] / 60:.1f} min", metrics]
        + [f"{entry['date']}, load {entry['load_average_before']} -> {entry['load_average_after']}", notes]
    )


def e2e_section(payload: dict[str, Any]) -> str:
    runs = list(payload["runs"].values())
    commands = []
    if runs:
        commands = ["", f"Machine: {runs[0]['machine']}. Benchmark commands:", ""]
        commands += [f"- `{command}`" for command in sorted({e["command"] for e in runs})]
        commands += ["", "Training commands they ran:", ""]
        commands += [f"- `{e['hodgnn_train'].replace(str(REPO_ROOT) + '/', '')}`" for e in runs]
    return fill("scale_e2e.md", rows=[_e2e_row(e) for e in runs], commands=commands)


def _section(path: Path, section, archived: str) -> list[str]:
    """A section's lines: rendered from ``path`` if it exists, else the archived template."""
    text = section(json.loads(path.read_text())) if path.exists() else (TEMPLATES / archived).read_text()
    return text.split("\n")


def render(payload: dict[str, Any]) -> str:
    """The page from the synthetic suite's ``payload`` and the other suites' JSON (or archive)."""
    return fill(
        "scale.md",
        e2e=_section(E2E_JSON, e2e_section, "scale_e2e_archived.md"),
        peptides=_section(PEPTIDES_JSON, peptides_section, "scale_peptides_archived.md"),
        synthetic=synthetic_section(payload).split("\n"),
    )
