"""Render ``docs/results/expressivity.md`` from the JSON records of the expressivity commands.

Every ``hodgnn brec`` / ``hodgnn separation`` / ``hodgnn counting`` run writes one JSON file holding its
command, date, machine, configuration, raw per-pair / per-run records and its markdown table. This
module collects the files of a folder (default ``docs/results/expressivity/``), groups them by
benchmark and writes one page with every table next to the command that produced it, so the page is
always regenerated from measured records and never edited by hand::

    python -m hodgnn.expressivity.report                      # rewrite docs/results/expressivity.md
    python -m hodgnn.expressivity.report --intro notes.md     # with a hand-written introduction
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hodgnn.data.root import package_repo_dir
from hodgnn.io import atomic_write_text

RESULTS_DIR = package_repo_dir() / "docs" / "results" / "expressivity"
PAGE = package_repo_dir() / "docs" / "results" / "expressivity.md"
INTRO = RESULTS_DIR / "intro.md"

_SECTIONS = (
    ("brec", "BREC: official RPC protocol"),
    ("separation", "EXP and SR25: fraction of pairs separated"),
    ("counting", "Substructure counting: normalised test MAE"),
)


def _section_of(record: dict) -> str:
    benchmark = str(record.get("benchmark", ""))
    for key, title in _SECTIONS:
        if key in benchmark.lower():
            return title
    return "Other"


def load_records(folder: Path) -> list[tuple[Path, dict]]:
    """Every JSON record of ``folder`` that carries a markdown table, sorted by date then name."""
    records = []
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        if isinstance(record, dict) and record.get("markdown"):
            records.append((path, record))
    return sorted(records, key=lambda item: (str(item[1].get("date", "")), item[0].name))


def _official_rpc_config() -> dict:
    """The official BREC RPC config as stored in the records."""
    from dataclasses import asdict

    from hodgnn.expressivity.brec import RPCConfig

    return asdict(RPCConfig())


def _combined_brec_table(records: list[dict]) -> list[str]:
    """One BREC table over the records made with the official RPC config (each model's pairs from every
    such record, an evaluated pair taking the place of a pair another record did not run); nothing when
    there are fewer than two such records or a model has different options in them. Records with another
    config (e.g. a diagnostic run) are shown only on their own."""
    from hodgnn.expressivity.brec_cli import merge_reports

    official = _official_rpc_config()
    runs = [record for record in records if "models" in record and record.get("config") == official]
    runs.sort(key=lambda record: -len(record["models"]))  # rows follow the record with the most models
    if len(runs) < 2:
        return []
    try:
        merged = merge_reports(runs)
    except (KeyError, ValueError):
        return []
    return [
        f"The {len(runs)} records below that use the official RPC config, combined per model "
        "(`hodgnn brec --merge` of the same files; wall time is the sum over the records):",
        "",
        merged["markdown"].rstrip(),
        "",
    ]


def _protocol_note(record: dict) -> str:
    """For a BREC record whose RPC config differs from the official one: which fields differ."""
    if "config" not in record or "brec" not in str(record.get("benchmark", "")).lower():
        return ""
    used, official = record["config"], _official_rpc_config()
    changed = [f"{key}={used.get(key)}" for key, default in official.items() if used.get(key) != default]
    return f" **(not the official protocol: {', '.join(changed)})**" if changed else ""


def render(folder: Path = RESULTS_DIR, intro: str = "") -> str:
    """The markdown page: ``intro``, then one section per benchmark, one block per record."""
    by_section: dict[str, list[tuple[Path, dict]]] = {}
    for path, record in load_records(folder):
        by_section.setdefault(_section_of(record), []).append((path, record))
    lines = [intro.rstrip(), ""] if intro.strip() else []
    order = [title for _, title in _SECTIONS] + ["Other"]
    for title in order:
        entries = by_section.get(title)
        if not entries:
            continue
        lines += [f"## {title}", ""]
        if title == _SECTIONS[0][1]:
            lines += _combined_brec_table([record for _, record in entries])
        for path, record in entries:
            complete = record.get("complete", True)
            status = ("" if complete else " **(interrupted: partial record)**") + _protocol_note(record)
            lines += [
                f"`{record.get('command', '?')}`{status}  ",
                f"date {record.get('date', '?')}; machine {record.get('machine', '?')}; "
                f"record [`{path.name}`](expressivity/{path.name})",
                "",
                record["markdown"].rstrip(),
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hodgnn.expressivity.report", description=__doc__)
    parser.add_argument("--folder", type=Path, default=RESULTS_DIR, help="folder of JSON records")
    parser.add_argument(
        "--intro", type=Path, default=INTRO, help="markdown put before the tables (default: intro.md)"
    )
    parser.add_argument("--output", type=Path, default=PAGE, help="page to write (atomically)")
    args = parser.parse_args(argv)
    intro = args.intro.read_text() if args.intro.is_file() else ""
    page = render(args.folder, intro)
    atomic_write_text(args.output, page)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
