"""Benchmark pages: a results JSON and a markdown template make a page of ``docs/results/``.

Every benchmark writes its measurements as JSON under ``benchmarks/results/`` and renders its page
from that JSON alone, so a page can be made again without measuring anything:

    python -m benchmarks.render                 # every page from the committed JSON
    python -m benchmarks.render scale derivatives --plots

Templates live in ``benchmarks/templates/`` (see :func:`fill` for their two kinds of placeholder).
A page's module provides ``render(payload) -> str`` (and optionally ``plot(payload, path)``);
:data:`PAGES` says which module, JSON file and page belong together.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchmarks.common import PAGES_DIR, RESULTS_DIR
from hodgnn.io import atomic_write, atomic_write_text

TEMPLATES = Path(__file__).resolve().parent / "templates"

# page -> (module with render(payload) / plot(payload, path), results JSON, page, plot or None)
PAGES: dict[str, tuple[str, Path, Path, Path | None]] = {
    "brec_memory_guard": (
        "benchmarks.brec_memory_guard",
        RESULTS_DIR / "brec_memory_guard.json",
        PAGES_DIR / "brec_memory_guard.md",
        None,
    ),
    "derivatives": (
        "benchmarks.derivatives_report",
        RESULTS_DIR / "derivatives.json",
        PAGES_DIR / "derivatives.md",
        PAGES_DIR / "derivatives.png",
    ),
    "model_memory": (
        "benchmarks.model_memory",
        RESULTS_DIR / "model_memory.json",
        PAGES_DIR / "model_memory.md",
        None,
    ),
    "scale": (
        "benchmarks.scaling_report",
        RESULTS_DIR / "scaling.json",
        PAGES_DIR / "scale.md",
        PAGES_DIR / "scaling.png",
    ),
    "train_speed": (
        "benchmarks.train_speed_report",
        RESULTS_DIR / "train_speed.json",
        PAGES_DIR / "train_speed.md",
        None,
    ),
}

_PLACEHOLDER = re.compile(r"^\{\{(\w+)\}\}\n|\{\{(\w+)(?::([^}]*))?\}\}", re.MULTILINE)


def fill(template: str, **fields: Any) -> str:
    """The template ``benchmarks/templates/<template>`` with its placeholders replaced.

    * ``{{name}}`` alone on a line is a block: it is replaced by the value, a list of lines or a
      string (such as another filled template); an empty value removes the line.
    * ``{{name}}`` or ``{{name:spec}}`` inside a line is replaced by ``format(value, spec)``.
    """

    def replace(match: re.Match) -> str:
        block, name, spec = match.groups()
        if block is not None:
            value = fields[block]
            if not isinstance(value, str):
                return "\n".join(value) + "\n" if value else ""
            return value if not value or value.endswith("\n") else value + "\n"
        return format(fields[name], spec or "")

    return _PLACEHOLDER.sub(replace, (TEMPLATES / template).read_text())


def row(cells: Iterable[Any]) -> str:
    """One markdown table row: ``| a | b | c |``."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    """A markdown table (header, separator, rows) as lines."""
    header = list(header)
    return [row(header), "|" + "---|" * len(header), *(row(cells) for cells in rows)]


def mib(num_bytes: float | None, spec: str = ",.0f") -> str:
    """Bytes in MiB (``"-"`` for ``None``)."""
    return "-" if num_bytes is None else format(num_bytes / 2**20, spec)


def decimals(value: float | None, spec: str = ".2f") -> str:
    """``format(value, spec)``, ``"-"`` for ``None``."""
    return "-" if value is None else format(value, spec)


def save_figure(fig, path: Path, dpi: int) -> None:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    try:
        atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=dpi))
    finally:
        plt.close(fig)


def page_module(name: str):
    return importlib.import_module(PAGES[name][0])


def render_page(name: str, payload: dict[str, Any] | None = None) -> str:
    """The markdown of page ``name`` rendered from ``payload`` (default: its committed JSON)."""
    module, json_path, _, _ = PAGES[name]
    if payload is None:
        payload = json.loads(json_path.read_text())
    return importlib.import_module(module).render(payload)


def write_page(
    name: str, payload: dict[str, Any] | None = None, plots: bool = False, markdown: Path | None = None
) -> Path:
    """Render page ``name`` (and its plot with ``plots``) and write it; returns the page's path."""
    module, json_path, page, plot_path = PAGES[name]
    if payload is None:
        payload = json.loads(json_path.read_text())
    page = markdown or page
    atomic_write_text(page, render_page(name, payload))
    if plots and plot_path is not None:
        importlib.import_module(module).plot(payload, plot_path)
    return page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render benchmark pages from their committed JSON.")
    parser.add_argument("pages", nargs="*", metavar="page", help=f"default: all of {', '.join(PAGES)}")
    parser.add_argument("--plots", action="store_true", help="also redraw the plots")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.pages) - set(PAGES))
    if unknown:
        parser.error(f"unknown page(s) {unknown}; choose from {list(PAGES)}")
    for name in args.pages or list(PAGES):
        print(f"wrote {write_page(name, plots=args.plots)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
