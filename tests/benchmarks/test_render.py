"""Benchmark pages are what the renderer makes of the committed JSON, and the helpers they share
(templates, fits, the subprocess watchdog, the memory-guard record) do what they say."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks import render as pages  # noqa: E402
from benchmarks.common import loglog_slope, run_watched  # noqa: E402


@pytest.mark.parametrize("name", sorted(pages.PAGES))
def test_committed_page_is_the_rendering_of_the_committed_json(name):
    _, json_path, page, _ = pages.PAGES[name]
    assert json_path.exists() and page.exists()
    assert pages.render_page(name) == page.read_text()


def test_every_benchmark_page_has_a_renderer():
    """A page whose head names a benchmark script is one of the rendered pages."""
    generated = {page.name for _, _, page, _ in pages.PAGES.values()}
    for page in (REPO / "docs" / "results").glob("*.md"):
        head = page.read_text()[:600]
        if "benchmarks/" in head or "benchmarks." in head:
            assert page.name in generated, page


def test_fill_blocks_and_inline_fields(tmp_path, monkeypatch):
    monkeypatch.setattr(pages, "TEMPLATES", tmp_path)
    (tmp_path / "t.md").write_text("# {{title}} ({{n:,}})\n\n{{rows}}\n{{empty}}\nend {{x:.2f}}\n{{text}}\n")
    out = pages.fill("t.md", title="T", n=12345, rows=["a", "b"], empty=[], x=1 / 3, text="s\n")
    assert out == "# T (12,345)\n\na\nb\nend 0.33\ns\n"
    assert pages.table(["a", "b"], [[1, ""]]) == ["| a | b |", "|---|---|", "| 1 |  |"]


def test_loglog_slope():
    assert loglog_slope([(x, 3 * x**2) for x in (1, 2, 4, 8)]) == pytest.approx(2.0)
    assert loglog_slope([(2, 1.0)]) is None
    assert loglog_slope([(2, 1.0), (2, 3.0)]) is None
    assert loglog_slope([(0, 1.0), (1, 1.0), (2, 0.0)]) is None  # non-positive points dropped


def test_run_watched_kills_a_command_past_its_time_limit():
    slow = run_watched([sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5)
    assert slow["status"] == "timeout" and slow["wall_s"] < 30
    fast = run_watched([sys.executable, "-c", "print(input())"], timeout=30, stdin_text="hi\n")
    assert fast["status"] == "ok" and fast["returncode"] == 0 and fast["stdout"] == "hi\n"


def test_memory_guard_records_the_estimate_of_the_exception():
    from benchmarks.scaling_workers import synthetic_worker

    result = synthetic_worker("hod1_full", "random", 30, repeats=1, memory_budget=1)
    assert result["status"] == "memory_guard"
    assert isinstance(result["estimated_bytes"], int) and result["estimated_bytes"] > 1
    assert f"{result['estimated_bytes']:,} bytes" in result["error"]


def test_scale_sections_render_from_their_json():
    from benchmarks.scaling_report import e2e_section

    record = json.loads((REPO / "benchmarks" / "results" / "peptides_e2e_hodgnn_2026-12-02.json").read_text())
    text = e2e_section(record)
    assert "| peptides-func | hodgnn | 160 | completed | 1 | 3104 | 5.83 | 53.3 min |" in text
    assert "`hodgnn train --restart --config configs/peptides-func/hodgnn.yaml epochs=1" in text


@pytest.mark.parametrize("model", ["hod2", "hod_silu_m1", "ds_gnn"])
def test_brec_dry_run_stops_at_the_largest_tensors(model, monkeypatch):
    """The BREC memory-guard dry run reaches the check that guards the variant's largest tensors and
    stops there; with a budget of one byte the first check stops the pair and is named."""
    from hodgnn.data.brec import BRECDataset
    from hodgnn.data.root import resolve_data_root

    brec_file = resolve_data_root() / "brec" / "brec_v3.npy.xz"
    if not brec_file.is_file():
        pytest.skip(f"{brec_file} not available")
    from benchmarks.brec_memory_guard import dry_run_pair, stop_check
    from hodgnn.derivatives.memory import CHECK_NAMES
    from hodgnn.expressivity.brec import RPCConfig
    from hodgnn.expressivity.models import resolve_variant

    variant, pair, config = resolve_variant(model), BRECDataset().pair(0), RPCConfig(batch_size=4)
    assert stop_check(variant) in CHECK_NAMES
    record = dry_run_pair(variant, pair, config)
    assert record["reached"] == stop_check(variant) and record["stopped_by"] is None
    assert record["estimates_bytes"][stop_check(variant)] > 0
    monkeypatch.setenv("HODGNN_MEMORY_BUDGET", "1")
    tiny = dry_run_pair(variant, pair, config)
    assert tiny["stopped_by"] == next(iter(tiny["estimates_bytes"])) and tiny["budget_bytes"] == 1


def test_brec_measured_step_reports_its_peaks_and_renders():
    """``--measure``'s worker runs one real RPC step and reports a positive tensor peak; the page shows
    it beside the estimates (and a failed step's reason)."""
    from hodgnn.data.root import resolve_data_root

    brec_file = resolve_data_root() / "brec" / "brec_v3.npy.xz"
    if not brec_file.is_file():
        pytest.skip(f"{brec_file} not available")
    from benchmarks.brec_memory_guard import render, step_worker

    step = step_worker("hod_silu_m1", 0, threads=1)
    assert step["status"] == "ok" and step["tensor_peak_bytes"] > 0
    row = {"pair_id": 0, "category": "basic", "nodes": 10, "edges": 14, "stopped_by": None}
    payload = {
        "command": "c",
        "date": "d",
        "machine": "m",
        "torch": "t",
        "threads": 1,
        "budget_bytes": 2**33,
        "rpc_batch_size": 16,
        "measured_steps": True,
        "models": {
            "hod_silu_m1": {
                "options": {},
                "pairs": [
                    {
                        **row,
                        "estimates_bytes": {"the derivative tensors": 2**30},
                        "step": {**step, "tensor_peak_bytes": 2**29},
                    },
                    {
                        **row,
                        "pair_id": 1,
                        "estimates_bytes": {"the derivative tensors": 2**30},
                        "step": {"status": "rss_limit", "error": "killed"},
                    },
                ],
            }
        },
    }
    text = render(payload)
    assert "one step: tensor peak / resident-set increase (GiB)" in text
    assert "| 0 | basic | 10 | 14 | 1.00 | runs | 0.50 / " in text
    assert "| 1 | basic | 10 | 14 | 1.00 | runs | rss_limit: killed |" in text
