"""The page ``docs/results/train_speed.md`` from ``benchmarks/results/train_speed.json``
(template ``benchmarks/templates/train_speed.md``)."""

from __future__ import annotations

from typing import Any

from benchmarks.render import fill, row

PHASES = ("support", "engine_forward", "encoders", "downstream", "head_backward", "engine_backward")


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.0f}"


def _mib(case: dict[str, Any]) -> str:
    peak = case.get("peak_rss_bytes", {}).get("hodgnn")
    return "-" if peak is None else f"{peak / 2**20:.0f}"


def _before(case: dict[str, Any] | None) -> str:
    if not case or "error" in case:
        return "-"
    med = case["median_step_s"]
    return f"{_ms(med['hodgnn'])} / {_ms(med['baseline'])}, {case['ratio']:.1f}x, {_mib(case)}"


def _bound(case: dict[str, Any]) -> str:
    """One line: how far the step is from its target and the phases that take the time."""
    med, phases = case["median_step_s"], case["phases_s"]
    allowed = case["target_ratio"] * med["baseline"]
    total = sum(phases.values())
    ranked = sorted(phases, key=phases.get, reverse=True)[:2]
    largest = ", ".join(
        f"{p.replace('_', ' ')} {_ms(phases[p])} ms ({100 * phases[p] / total:.0f}%)" for p in ranked
    )
    engine = case.get("engine", {})
    roofline = (
        f"; the engine runs at {100 * engine['roofline_fraction']:.0f}% of the {engine['bound']} roofline"
        if engine
        else ""
    )
    if med["hodgnn"] <= allowed:
        return f"met ({_ms(med['hodgnn'])} ms <= {_ms(allowed)} ms); largest phases: {largest}{roofline}"
    return (
        f"{_ms(med['hodgnn'])} ms against {_ms(allowed)} ms allowed "
        f"({case['target_ratio']:g}x the baseline), "
        f"{med['hodgnn'] / allowed:.1f}x too slow; largest phases: {largest}{roofline}"
    )


def _step_row(name: str, case: dict[str, Any], before: dict[str, Any] | None) -> str:
    if "error" in case:
        return row([name, *["-"] * 7, case["error"]])
    med, target = case["median_step_s"], case["target_ratio"]
    met = "-" if target is None else f"<= {target:g}x ({'met' if case['ratio'] <= target else 'not met'})"
    config = case["hodgnn_config"] + "".join(f" `{o}`" for o in case["overrides"])
    baseline = case["baseline_config"].split("/")[-1]
    return row(
        [name, f"{config} vs {baseline}", case["batch_size"], f"{case['nodes_per_batch']:.0f}"]
        + [_ms(med["hodgnn"]), _ms(med["baseline"]), f"{case['ratio']:.1f}x", met]
        + [f"{case['first_step_s']:.1f}", _mib(case), _before(before)]
    )


def _phase_row(name: str, case: dict[str, Any]) -> str:
    phases = case["phases_s"]
    total = sum(phases.values())
    cells = [f"{_ms(phases[p])} ({100 * phases[p] / total:.0f}%)" for p in PHASES]
    return row([name, *cells, _ms(total), _ms(case["median_step_s"]["hodgnn"])])


def _engine_row(name: str, e: dict[str, Any]) -> str:
    return row(
        [name, f"{e['flops'] / 1e9:.2f}", f"{e['bytes_allocated'] / 1e9:.2f}", _ms(e["seconds"])]
        + [f"{e['flops_per_s'] / 1e9:.1f}", f"{e['bytes_per_s'] / 1e9:.1f}", e["bound"]]
        + [f"{100 * e['roofline_fraction']:.0f}%"]
    )


def render(results: dict[str, Any]) -> str:
    """The markdown page of a results dict."""
    m, peak, cases = results["machine"], results["peak"], results["cases"]
    before = results.get("before", {}).get("cases", {})
    ok = {name: case for name, case in cases.items() if "error" not in case}
    paragraph = []
    if "before" in results:
        b = results["before"]
        paragraph = [
            f"The last column: the same steps measured with the code before this change (`{b['command']}`, "
            f"run from a checkout of the earlier commit, {b['machine']['date_utc']}, same machine).",
            "",
        ]
    load = m.get("load_average")
    return fill(
        "train_speed.md",
        command=results["command"],
        cpu=m["cpu"],
        cores=m["cores"],
        torch=m["torch"],
        threads=m["torch_threads"],
        date=m["date_utc"],
        load="-" if not load else ", ".join(f"{x:.2f}" for x in load),
        batches=results["batches"],
        gflops=peak["matmul_flops_per_s"] / 1e9,
        gbytes=peak["copy_bytes_per_s"] / 1e9,
        before=paragraph,
        steps=[_step_row(name, case, before.get(name)) for name, case in cases.items()],
        phases=[_phase_row(name, case) for name, case in ok.items() if "phases_s" in case],
        bounds=[
            f"- {name}: {_bound(case)}"
            for name, case in ok.items()
            if "phases_s" in case and case["target_ratio"] is not None
        ],
        engine=[_engine_row(name, case["engine"]) for name, case in ok.items() if "engine" in case],
    )
