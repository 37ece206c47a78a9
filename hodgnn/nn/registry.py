"""``build_model(name, info, **options)``: every model of :mod:`hodgnn.nn` from a dataset description.

The dataset's raw features are encoded by :class:`~hodgnn.nn.inputs.InputEncoder` s of width
``hidden_channels`` (node features always, edge features when the dataset has them and the
model uses them), and the output width is ``info.num_tasks``.
"""

from __future__ import annotations

import inspect

from torch import nn

from hodgnn.checks import check_choice, check_int
from hodgnn.data.info import DatasetInfo
from hodgnn.nn.baselines import DSGNN, MPNNBaseline
from hodgnn.nn.downstream import NODE_LEVEL
from hodgnn.nn.hod_gnn import HODGNN
from hodgnn.nn.inputs import edge_encoder, node_encoder

DEFAULT_HIDDEN_CHANNELS = 64
DEFAULT_RWSE_WALK_LENGTH = 20
DEFAULT_DERIVATIVE_ENCODING = {
    "order": 2,  # first and second derivatives
    "tensors": ["diagonal", "out"],  # every layer's diagonal and D_out
    "num_layers": 6,  # reach: closed walks up to length 6 (6-cycles)
    "channels": 4,  # base width d
    "act": "silu",  # analytic: the second order is informative
    "seed": 0,  # the frozen base's weights
}
"""The frozen base of ``gin_dpe`` (:class:`~hodgnn.transforms.AddDerivativeEncoding` options)."""

# name -> (class, options fixed by the name, defaults that differ from the class's)
MODELS: dict[str, tuple[type[nn.Module], dict, dict]] = {
    "hodgnn": (HODGNN, {}, {}),
    "gin": (MPNNBaseline, {"conv": "gin", "rwse_walk_length": None}, {}),
    "gine": (MPNNBaseline, {"conv": "gine", "rwse_walk_length": None}, {}),
    "gcn": (MPNNBaseline, {"conv": "gcn", "rwse_walk_length": None}, {}),
    "gin_rwse": (MPNNBaseline, {"conv": "gin"}, {"rwse_walk_length": DEFAULT_RWSE_WALK_LENGTH}),
    "gine_rwse": (MPNNBaseline, {"conv": "gine"}, {"rwse_walk_length": DEFAULT_RWSE_WALK_LENGTH}),
    "gcn_rwse": (MPNNBaseline, {"conv": "gcn"}, {"rwse_walk_length": DEFAULT_RWSE_WALK_LENGTH}),
    "gin_dpe": (MPNNBaseline, {"conv": "gin"}, {"derivative_encoding": DEFAULT_DERIVATIVE_ENCODING}),
    "ds_gnn": (DSGNN, {}, {}),
}

_INTERNAL = {
    "in_channels",
    "hidden_channels",
    "out_channels",
    "edge_dim",
    "node_encoder",
    "edge_encoder",
    "input_projection",  # a module: only for HODGNN built from parts
}


def model_options(name: str) -> dict:
    """The options ``build_model(name, ...)`` accepts, with their defaults."""
    check_choice("model", name, sorted(MODELS))
    cls, fixed, defaults = MODELS[name]
    options = {"hidden_channels": DEFAULT_HIDDEN_CHANNELS}
    for param in inspect.signature(cls.__init__).parameters.values():
        if param.kind is param.KEYWORD_ONLY and param.name not in _INTERNAL and param.name not in fixed:
            options[param.name] = defaults.get(param.name, param.default)
    return options


def _uses_edge_features(name: str, options: dict) -> bool:
    """Whether the model would read edge features, given its options."""

    def gine_or_default(key: str) -> bool:
        return options.get(key) in (None, "gine")

    if name == "hodgnn":
        return gine_or_default("conv") or options.get("base_conv") == "gine"
    if name == "ds_gnn":
        return gine_or_default("conv") or gine_or_default("subgraph_conv")
    return MODELS[name][1]["conv"] == "gine"


def pooling_for_level(level: str, pooling: str | None, default: str = "sum") -> str:
    """The downstream ``pooling`` for a dataset ``level``: ``"none"`` at node level, the given one
    (else ``default``) at graph level; a contradiction raises :class:`ValueError`."""
    if level == "node":
        if pooling not in (None, NODE_LEVEL):
            raise ValueError(
                f"pooling={pooling!r} pools the nodes, but the dataset is node-level (one target per "
                f"node): leave pooling unset or set it to {NODE_LEVEL!r}"
            )
        return NODE_LEVEL
    if pooling == NODE_LEVEL:
        raise ValueError(
            f"pooling={NODE_LEVEL!r} predicts per node, but the dataset is graph-level: use 'sum' or 'mean'"
        )
    return pooling or default


def build_model(name: str, info: DatasetInfo, **options) -> nn.Module:
    """Build model ``name`` for the dataset ``info``.

    Args:
        name: ``"hodgnn"``, ``"gin"``, ``"gine"``, ``"gcn"``, ``"gin_rwse"``,
            ``"gine_rwse"``, ``"gcn_rwse"``, ``"gin_dpe"`` (GIN + derivative encodings) or ``"ds_gnn"``.
        info: the dataset description (input kinds, widths, number of tasks).
        **options: ``hidden_channels`` (default ``64``) and the keyword options of the model's
            class (:class:`~hodgnn.nn.HODGNN`, :class:`~hodgnn.nn.MPNNBaseline`,
            :class:`~hodgnn.nn.DSGNN`); :func:`model_options` lists them with defaults. The
            ``*_rwse`` models default to ``rwse_walk_length=20``. ``None`` means the default.

    A node-level dataset (``info.level == "node"``) gets ``pooling="none"``: one prediction per
    node; every model here then predicts from its node states without pooling.

    Raises:
        ValueError: unknown model name, unknown option, an option fixed by the name (e.g.
            ``conv`` for ``"gin"``), a bad option value, or a ``pooling`` that does not match the
            dataset's level.
    """
    allowed = model_options(name)
    cls, fixed, _ = MODELS[name]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        clash = [key for key in unknown if key in fixed]
        if clash:
            raise ValueError(f"option(s) {clash} are fixed by the model name {name!r}")
        raise ValueError(f"unknown option(s) {unknown} for model {name!r}; allowed: {sorted(allowed)}")
    given = {key: value for key, value in options.items() if value is not None}
    kwargs = {**{key: value for key, value in allowed.items() if key != "hidden_channels"}, **given}
    kwargs.pop("hidden_channels", None)
    hidden = given.get("hidden_channels", DEFAULT_HIDDEN_CHANNELS)
    check_int("hidden_channels", hidden, 1)
    kwargs.update({key: value for key, value in fixed.items() if value is not None})
    kwargs["pooling"] = pooling_for_level(info.level, given.get("pooling"), kwargs["pooling"])
    if name.endswith("_rwse"):
        check_int("rwse_walk_length", kwargs["rwse_walk_length"], 1)
    uses_edges = info.has_edge_features and _uses_edge_features(name, {**options, **fixed})
    encoder = edge_encoder(info, hidden) if uses_edges else None
    return cls(
        hidden,
        hidden,
        info.num_tasks,
        hidden if uses_edges else None,
        node_encoder=node_encoder(info, hidden),
        edge_encoder=encoder,
        **kwargs,
    )
