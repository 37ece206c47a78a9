"""Named model variants of the expressivity experiments and small shared helpers.

A *variant* is a short name (``gin``, ``hod_silu_m3``, ``hod2``, ...) for a
:func:`hodgnn.nn.build_model` call: a model name plus keyword options. Options given on the command
line (``--set key=value``) are applied on top of every variant.

============================  ===========================================================================
variant                       model
============================  ===========================================================================
``gin`` / ``mpnn``            GIN (1-WL bounded)
``gin_rwse`` / ``mpnn_rwse``  GIN + random-walk structural encodings
``gcn``, ``gcn_rwse``         GCN, GCN + RWSE
``ds_gnn``                    DS-GNN (node-marking subgraph GNN)
``hod_relu``                  1-HOD-GNN, ReLU base, first-order derivatives (orders >= 2 vanish for ReLU)
``hod_relu_m1``               same as ``hod_relu``
``hod_silu``                  1-HOD-GNN, SiLU base, orders 1..3
``hod_silu_m<k>``             1-HOD-GNN, SiLU base, orders 1..k (k >= 1)
``hod_silu_m0``               the order-0 point of the ablation: HOD-GNN with every derivative encoder
                              off (base MPNN output only, no derivatives)
``hod_uout0``                 1-HOD-GNN (SiLU, orders 1..3) with :math:`U_{out} = 0`
``hod2``                      2-HOD-GNN (mixed derivatives over two nodes), SiLU base, orders 1..2
============================  ===========================================================================
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import yaml
from torch import nn

from hodgnn.data.info import DatasetInfo
from hodgnn.derivatives.memory import MEMORY_BUDGET_VARIABLE
from hodgnn.environment import machine_description
from hodgnn.io import atomic_write_json, atomic_write_text
from hodgnn.train.loaders import apply_transforms


@dataclass(frozen=True)
class ModelVariant:
    """A named :func:`hodgnn.nn.build_model` call."""

    name: str
    model: str
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""


_FIXED_VARIANTS = [
    ModelVariant("gin", "gin", {}, "GIN"),
    ModelVariant("mpnn", "gin", {}, "MPNN (GIN)"),
    ModelVariant("gin_rwse", "gin_rwse", {}, "GIN + RWSE"),
    ModelVariant("mpnn_rwse", "gin_rwse", {}, "MPNN (GIN) + RWSE"),
    ModelVariant("mpnn_dpe", "gin_dpe", {}, "MPNN (GIN) + derivative encodings"),
    ModelVariant("gcn", "gcn", {}, "GCN"),
    ModelVariant("gcn_rwse", "gcn_rwse", {}, "GCN + RWSE"),
    ModelVariant("ds_gnn", "ds_gnn", {}, "DS-GNN (node marking)"),
    ModelVariant("hod_relu", "hodgnn", {"base_act": "relu", "order": 1}, "1-HOD, ReLU, m=1"),
    ModelVariant("hod_relu_m1", "hodgnn", {"base_act": "relu", "order": 1}, "1-HOD, ReLU, m=1"),
    ModelVariant(
        "hod_silu", "hodgnn", {"base_act": "silu", "order": 3, "compile_engine": True}, "1-HOD, SiLU, m=3"
    ),
    ModelVariant(
        "hod_silu_m0",
        "hodgnn",
        {"base_act": "silu", "order": 1, "u_node": "off", "u_out": False},
        "HOD-GNN without derivative features (m=0)",
    ),
    ModelVariant(
        "hod_uout0", "hodgnn", {"base_act": "silu", "order": 3, "u_out": False}, "1-HOD, SiLU, m=3, U_out=0"
    ),
    ModelVariant("hod2", "hodgnn", {"base_act": "silu", "order": 2, "k": 2}, "2-HOD, SiLU, m=2"),
]
VARIANTS: dict[str, ModelVariant] = {variant.name: variant for variant in _FIXED_VARIANTS}
DEFAULT_MODELS = "gin,gin_rwse,ds_gnn,hod_relu_m1,hod_silu_m1..m4,hod2"
"""The variants ``hodgnn brec`` and ``hodgnn separation`` compare unless ``--models`` says otherwise."""
_SILU_ORDER = re.compile(r"^hod_silu_m([1-9][0-9]*)$")


def resolve_variant(name: str) -> ModelVariant:
    """The :class:`ModelVariant` of ``name`` (``hod_silu_m<k>`` for any ``k >= 1``, or a plain model name
    of :func:`hodgnn.nn.build_model` with default options)."""
    key = name.strip()
    if key in VARIANTS:
        return VARIANTS[key]
    match = _SILU_ORDER.match(key)
    if match:
        order = int(match.group(1))
        return ModelVariant(key, "hodgnn", {"base_act": "silu", "order": order}, f"1-HOD, SiLU, m={order}")
    if key in ("hodgnn", "gine", "gine_rwse"):
        return ModelVariant(key, key, {}, key)
    raise ValueError(f"Unknown model variant {name!r}; known: {sorted(VARIANTS)} or hod_silu_m<k>")


def parse_variants(text: str) -> list[ModelVariant]:
    """Comma-separated variant names (``"gin,hod_silu_m1..m4"`` expands ``m1..m4``)."""
    names: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        ranged = re.match(r"^(.*_m)(\d+)\.\.m?(\d+)$", item)
        if ranged:
            prefix, lo, hi = ranged.group(1), int(ranged.group(2)), int(ranged.group(3))
            if hi < lo:
                raise ValueError(f"Empty order range in {item!r}")
            names.extend(f"{prefix}{k}" for k in range(lo, hi + 1))
        else:
            names.append(item)
    if not names:
        raise ValueError("No model given")
    return [resolve_variant(name) for name in names]


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["key=value", ...]`` with YAML scalars (``hidden_channels=32``, ``base_act=tanh``)."""
    overrides: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"Override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def build_variant(
    variant: ModelVariant, info: DatasetInfo, seed: int, overrides: dict[str, Any] | None = None
) -> nn.Module:
    """Seed torch, then build ``variant`` for ``info`` with its options updated by ``overrides``."""
    from hodgnn.nn import build_model

    torch.manual_seed(seed)
    options = {**variant.options, **(overrides or {})}
    return build_model(variant.model, info, **options)


def prepare_graphs(model: nn.Module, graphs: list) -> list:
    """``graphs`` with ``model.required_transforms()`` (e.g. RWSE) applied; unchanged when there are none."""
    transforms = model.required_transforms() if hasattr(model, "required_transforms") else []
    return apply_transforms(graphs, transforms) if transforms else list(graphs)


def cast_graphs(graphs: list, dtype: torch.dtype) -> list:
    """Copies of ``graphs`` with every floating-point attribute in ``dtype`` (no copy for float32)."""
    if dtype == torch.float32:
        return graphs
    out = []
    for data in graphs:
        data = data.clone()
        for key, value in data.items():
            if torch.is_tensor(value) and value.is_floating_point():
                data[key] = value.to(dtype)
        out.append(data)
    return out


RECORDED_ENVIRONMENT = (MEMORY_BUDGET_VARIABLE,)
"""Environment variables that change what a run does (the memory guard decides which pairs run): a
report's command line starts with those that are set, as shell assignments."""


def report_header(benchmark: str, started: str, command: str, argv: list[str] | None) -> dict[str, Any]:
    """The first fields of every expressivity report: the benchmark, its start date, the machine and the
    command line (``hodgnn <command> <argv>``, ``sys.argv`` when ``argv`` is ``None``), preceded by the
    set :data:`RECORDED_ENVIRONMENT` variables (``HODGNN_MEMORY_BUDGET=15e9 hodgnn brec ...``)."""
    arguments = argv if argv is not None else sys.argv[1:]
    assignments = [f"{name}={os.environ[name]} " for name in RECORDED_ENVIRONMENT if os.environ.get(name)]
    return {
        "benchmark": benchmark,
        "date": started,
        "machine": machine_description(),
        "command": "".join(assignments) + f"hodgnn {command} " + " ".join(arguments),
    }


PROVENANCE_SEPARATORS = {"date": ", ", "machine": " + ", "command": "; "}


def provenance_runs(headers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every run behind several report headers, in order and each once, as ``{"date", "machine",
    "command"}``: a header that lists its ``runs`` (a merged or resumed report) contributes those, any
    other its own three fields. A merged record keeps this list, so every cell can be traced to the
    machine and date of the command that made it."""
    runs: list[dict[str, Any]] = []
    for header in headers:
        for run in header.get("runs") or [{key: header.get(key) for key in PROVENANCE_SEPARATORS}]:
            if run not in runs:
                runs.append(dict(run))
    return runs


def combined_provenance(headers: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The ``date``, ``machine`` and ``command`` of several report headers as one header's fields, in
    order and each once: dates joined by ``", "``, machines by ``" + "``, commands by ``"; "``. A field
    that already joins several (a merged or resumed report) is split on its separator first, and missing
    or empty fields are skipped."""
    combined = {}
    for key, separator in PROVENANCE_SEPARATORS.items():
        parts = (part for header in headers for part in str(header.get(key) or "").split(separator))
        combined[key] = separator.join(dict.fromkeys(part for part in parts if part))
    return combined


def merged_provenance(headers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The provenance fields of a record made from several (a merge, a resume): ``runs``, every source
    run once (:func:`provenance_runs`), and ``date``, ``machine`` and ``command`` joining them
    (:func:`combined_provenance`)."""
    runs = provenance_runs(headers)
    return {**combined_provenance(runs), "runs": runs}


def write_report(
    payload: dict[str, Any], output: str | os.PathLike, markdown: str | os.PathLike | None
) -> None:
    """Write ``payload`` as JSON to ``output`` and, when ``markdown`` is a path, ``payload["markdown"]``
    to it (both atomically)."""
    atomic_write_json(output, payload)
    if markdown:
        atomic_write_text(markdown, payload["markdown"] + "\n")
