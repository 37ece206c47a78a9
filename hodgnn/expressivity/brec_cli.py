"""``hodgnn brec``: the command line of :mod:`hodgnn.expressivity.brec` and its JSON records.

:func:`main` runs the RPC protocol on the chosen models and pairs (resumable: the JSON record is
rewritten atomically after every pair), :func:`merge_reports` combines records made in parallel, and
:func:`markdown_table` renders one record's per-category table (``counted/evaluated``)::

    hodgnn brec --models gin,hod_silu_m3 --categories basic,regular --output results/brec.json
    hodgnn brec --merge a.json b.json --output results/brec.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from hodgnn.data.brec import BREC_TITLES, BRECDataset, pair_ids_from_arguments
from hodgnn.environment import utc_now
from hodgnn.expressivity.brec import PairResult, RPCConfig, run_brec, summarize
from hodgnn.expressivity.models import (
    DEFAULT_MODELS,
    merged_provenance,
    parse_overrides,
    parse_variants,
    report_header,
    write_report,
)
from hodgnn.expressivity.options import add_common_options, add_config_options, config_from_args
from hodgnn.io import atomic_write_json

TABLE_COLUMNS = (
    ("basic", "Basic"),
    ("regular", "Simple reg."),
    ("strongly_regular", "Strongly reg."),
    ("4_vertex_condition", "4-vertex"),
    ("distance_regular", "Dist. reg."),
    ("Regular", "Regular"),
    ("Beyond 3-WL", "Reg. beyond 3-WL"),
    ("extension", "Extension"),
    ("cfi", "CFI"),
    ("Total", "Total"),
)


def markdown_table(report: dict) -> str:
    """Per-category markdown table: ``counted/evaluated`` (full category size in the header)."""
    any_summary = next(iter(report.values()))["summary"]

    def cell(summary: dict, key: str) -> dict:
        return summary["categories"][key] if key in summary["categories"] else summary["groups"][key]

    header = ["model"]
    for key, title in TABLE_COLUMNS:
        header.append(f"{title} ({cell(any_summary, key)['size']})")
    header += ["reliability failures", "not run (memory)", "wall time"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, entry in report.items():
        summary = entry["summary"]
        row = [name]
        for key, _ in TABLE_COLUMNS:
            c = cell(summary, key)
            row.append(f"{c['counted']}/{c['evaluated']}" if c["evaluated"] else "-")
        total = summary["groups"]["Total"]
        row += [str(total["reliability_failures"]), str(total["not_run"]), f"{entry['wall_s']:.0f} s"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hodgnn brec",
        description="BREC with the official RPC protocol (siamese training per pair, T^2 test, "
        "reliability check).",
    )
    add_common_options(
        parser,
        default_models=DEFAULT_MODELS,
        output="results/brec.json",
        output_help="JSON result file (rewritten atomically after every pair)",
        data_root_holds="brec/brec_v3.npy.xz",
    )
    parser.add_argument(
        "--categories",
        default=None,
        help="comma-separated categories or groups (basic, regular, strongly_regular, extension, cfi, "
        "4_vertex_condition, distance_regular; Basic, Regular, Extension, CFI). Default: all",
    )
    parser.add_argument(
        "--max-pairs-per-category", type=int, default=None, help="first K pairs of each category"
    )
    parser.add_argument(
        "--pairs", default=None, help="explicit comma-separated pair ids (overrides --categories)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse the pairs already evaluated in --output (same RPC config and options) and keep "
        "its other models and pairs; pairs not run for memory are tried again",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="JSON",
        help="combine the reports of runs made in parallel (same RPC config) into --output, running nothing",
    )
    add_config_options(parser, RPCConfig(), label="RPC")
    return parser


def merge_reports(reports: Sequence[dict]) -> dict:
    """One report from several made in parallel (e.g. one process per block of pairs): every model's
    pairs, in pair order, with summaries and wall time recomputed. The reports must share the RPC
    config, and a model must have the same options in each; a pair in several keeps its first evaluated
    record (a pair not run for memory in one report takes the record of a report that ran it). ``runs``
    lists every source's date, machine and command, and ``date``, ``machine`` and ``command`` join them
    (:func:`merged_provenance`). The merge is ``complete`` when every
    report is, or when every model has a record of every pair in ``pair_ids`` (the pairs an interrupted
    run left were run elsewhere).
    """
    if not reports:
        raise ValueError("nothing to merge")
    config = reports[0]["config"]
    models: dict = {}
    for report in reports:
        if report["config"] != config:
            raise ValueError("the reports were made with different RPC configs; they cannot be merged")
        for name, entry in report["models"].items():
            merged = models.setdefault(name, {**entry, "pairs": []})
            if entry["options"] != merged["options"]:
                raise ValueError(f"model {name!r} has different options in the reports")
            merged["pairs"] = _merge_pairs(merged["pairs"], entry["pairs"])
    for entry in models.values():
        _recount(entry)
    pair_ids = sorted({i for report in reports for i in report["pair_ids"]})
    covered = all({p["pair_id"] for p in entry["pairs"]} >= set(pair_ids) for entry in models.values())
    return {
        "benchmark": reports[0]["benchmark"],
        **merged_provenance(reports),
        "complete": all(r["complete"] for r in reports) or covered,
        "config": config,
        "pair_ids": pair_ids,
        "category_titles": reports[0]["category_titles"],
        "models": models,
        "markdown": markdown_table(models),
    }


def _merge_pairs(first: list[dict], second: list[dict]) -> list[dict]:
    """The pair records of ``first`` and ``second``, one per pair id: the first evaluated one (a record of
    a pair not run for memory gives way to one that ran it)."""
    kept = {p["pair_id"]: p for p in first}
    for pair in second:
        earlier = kept.get(pair["pair_id"])
        if earlier is None or (earlier.get("error") is not None and pair.get("error") is None):
            kept[pair["pair_id"]] = pair
    return list(kept.values())


def _recount(entry: dict) -> None:
    """Sort a model entry's pairs by id and recompute its summary and wall time from them."""
    entry["pairs"].sort(key=lambda p: p["pair_id"])
    entry["summary"] = summarize([PairResult(**p) for p in entry["pairs"]])
    entry["wall_s"] = sum(p["seconds"] for p in entry["pairs"])


def with_earlier_records(report: dict, previous: dict | None) -> dict:
    """``report`` (the ``models`` of a resumed run) with every record of ``previous`` (the ``models`` of the
    report it resumed, same RPC config) that the run did not redo: models outside this run as they were,
    and a model's pairs outside this run's selection when its options are unchanged. A resumed run with
    other ``--models`` or ``--pairs`` thus adds to its JSON instead of dropping what was there.
    """
    if not previous:
        return report
    combined = {name: entry for name, entry in previous.items() if name not in report}
    for name, entry in report.items():
        earlier = previous.get(name)
        if earlier is None or earlier.get("options") != entry["options"]:
            combined[name] = entry
            continue
        combined[name] = {**entry, "pairs": _merge_pairs(entry["pairs"], earlier.get("pairs", []))}
        _recount(combined[name])
    return combined


def resumed_header(earlier: dict, header: dict) -> dict:
    """``header`` of a resumed run with the earlier record's provenance kept: its runs come first, then
    this one, each once, and their dates, machines and commands are joined (:func:`merged_provenance`)."""
    if not earlier:
        return header
    return {**header, **merged_provenance([earlier, header])}


def main(argv: list[str] | None = None) -> int:
    """``hodgnn brec``: run RPC, print the markdown table, write JSON. Returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.merge:
        merged = merge_reports([load_report(path) for path in args.merge])
        print(merged["markdown"])
        atomic_write_json(args.output, merged)
        print(f"wrote {Path(args.output)}")
        return 0
    torch.set_num_threads(args.threads)
    config = config_from_args(RPCConfig, args)
    variants = parse_variants(args.models)
    overrides = parse_overrides(args.set)
    pair_ids = pair_ids_from_arguments(args.pairs, args.categories, args.max_pairs_per_category)
    dataset = BRECDataset(args.data_root)
    previous = None
    header = report_header("BREC (RPC protocol)", utc_now(), "brec", argv)
    if args.resume and Path(args.output).is_file():
        earlier = load_report(args.output)
        if earlier.get("config") == asdict(config):
            previous = earlier.get("models")
            header = resumed_header(earlier, header)
        else:
            print(f"{args.output} was made with another RPC config; not resumed")

    def payload(report: dict, complete: bool) -> dict:
        models = with_earlier_records(report, previous)
        evaluated = {p["pair_id"] for entry in models.values() for p in entry["pairs"]}
        return {
            **header,
            "complete": complete,
            "config": asdict(config),
            "pair_ids": sorted(set(pair_ids) | evaluated),
            "category_titles": BREC_TITLES,
            "models": models,
            "markdown": markdown_table(models),
        }

    report = run_brec(
        variants,
        dataset,
        pair_ids,
        config,
        overrides,
        previous=previous,
        on_update=lambda partial: atomic_write_json(args.output, payload(partial, complete=False)),
    )
    final = payload(report, complete=True)
    print(final["markdown"])
    write_report(final, args.output, args.markdown)
    print(f"wrote {Path(args.output)}")
    return 0


def load_report(path: str) -> dict:
    """Read a JSON report written by :func:`main`."""
    return json.loads(Path(path).read_text())


if __name__ == "__main__":
    raise SystemExit(main())
