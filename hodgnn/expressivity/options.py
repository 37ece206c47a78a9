"""Command-line options shared by ``hodgnn brec``, ``hodgnn separation`` and ``hodgnn counting``.

:func:`add_common_options` adds the options every expressivity command has (model variants, model
options, result files, threads); :func:`add_config_options` adds one option per field of a settings
dataclass and :func:`config_from_args` reads the dataclass back from the parsed arguments.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any, TypeVar

Config = TypeVar("Config")


def add_common_options(
    parser: argparse.ArgumentParser,
    *,
    default_models: str,
    output: str,
    output_help: str = "JSON result file (written atomically)",
    data_root_holds: str | None = None,
) -> None:
    """Add ``--models`` (default ``default_models``), ``--set``, ``--output`` (default ``output``),
    ``--markdown``, ``--threads`` and, when the command reads data, ``--data-root`` (its help says the
    root holds ``data_root_holds``)."""
    parser.add_argument(
        "--models", default=default_models, help=f"comma-separated variants (default: {default_models})"
    )
    if data_root_holds is not None:
        parser.add_argument("--data-root", default=None, help=f"data root holding {data_root_holds}")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="model option for every variant"
    )
    parser.add_argument("--output", default=output, help=output_help)
    parser.add_argument("--markdown", default=None, help="also write the markdown table to this file")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")


def add_config_options(parser: argparse.ArgumentParser, config: Any, label: str = "") -> None:
    """One option ``--field-name`` per field of the dataclass instance ``config``, defaulting to its
    value; the help reads ``"<label> <field> (default: <value>)"`` (just ``"(default: <value>)"``
    without a label). A boolean field becomes ``--field`` / ``--no-field``."""
    for name, value in asdict(config).items():
        flag = "--" + name.replace("_", "-")
        prefix = f"{label} {name} " if label else ""
        if isinstance(value, bool):
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=value, help=prefix.strip() or None
            )
        else:
            parser.add_argument(flag, type=type(value), default=value, help=f"{prefix}(default: {value})")


def config_from_args(cls: type[Config], args: argparse.Namespace) -> Config:
    """The dataclass ``cls`` with every field read from ``args`` (options of :func:`add_config_options`)."""
    return cls(**{name: getattr(args, name) for name in asdict(cls())})
