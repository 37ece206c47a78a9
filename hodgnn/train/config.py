"""Experiment configuration: dataclasses, YAML files with ``defaults:`` includes, ``key=value`` overrides.

Every field is declared once, with its default and a one-line comment, in the dataclasses below
(GraphGPS-style, but without a global config: the trainer passes values to the code that needs them).
A YAML file holds the sections ``data``, ``model``, ``optim`` and ``train`` (all optional) and an
optional ``defaults:`` list of files (paths relative to the including file) merged first, in order::

    defaults: [base.yaml]
    model:
      name: hodgnn
      options: {hidden_channels: 64}
    optim: {lr: 1.0e-3}

Overrides ``section.field=value`` (or just ``field=value`` when the field name belongs to one section
only, e.g. ``epochs=5``; ``model.options.hidden_channels=32`` reaches into option dicts) are parsed as
YAML scalars (never evaluated) and applied after the files. Unknown keys, wrong types and values
outside a ``Literal`` raise :class:`ConfigError` naming the key and the allowed keys or values.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

SECTIONS = ("data", "model", "optim", "train")
INCLUDE_KEY = "defaults"


class ConfigError(ValueError):
    """A malformed configuration: unknown key, wrong type, or a value outside the allowed ones."""


@dataclass
class DataConfig:
    """Which dataset and how it is batched."""

    name: str = "synthetic-counts"  # dataset of hodgnn.data.load_dataset (zinc, ogbg-molbace, ...)
    root: str | None = None  # data root; None: $HODGNN_DATA_ROOT, else <repo>/../shared/data
    options: dict = field(default_factory=dict)  # keyword options of the dataset loader
    batch_size: int = 32  # graphs per training batch on each device
    eval_batch_size: int | None = None  # graphs per evaluation batch (None: batch_size)
    num_workers: int = 0  # DataLoader worker processes (0: load in the training process)


@dataclass
class ModelConfig:
    """Which model, with the keyword options of its constructor."""

    name: str = "hodgnn"  # model of hodgnn.nn.build_model (hodgnn, gin, gine, gcn, *_rwse, ds_gnn)
    options: dict = field(default_factory=dict)  # keyword options of build_model for this model


@dataclass
class OptimConfig:
    """AdamW with linear warm-up, then cosine decay (stepped every optimizer step); or, with
    ``schedule: plateau``, the learning rate multiplied by ``plateau_factor`` whenever the validation
    metric has not improved for ``plateau_patience`` epochs (I2-GNN's counting schedule)."""

    lr: float = 1e-3  # peak learning rate, reached at the end of the warm-up
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    schedule: Literal["cosine", "plateau"] = "cosine"  # learning-rate schedule after the warm-up
    warmup_epochs: float = 5.0  # epochs of linear warm-up from 0 to lr (cosine only; plateau needs 0)
    min_lr: float = 0.0  # learning rate at the end of the cosine decay; the plateau schedule's floor
    plateau_factor: float = 0.9  # plateau: multiply the learning rate by this on a plateau
    plateau_patience: int = 10  # plateau: epochs without a better validation metric before a cut
    grad_clip: float = 0.0  # clip the gradient norm to this value (0: no clipping)


@dataclass
class TrainConfig:
    """How runs are executed, checkpointed and recorded.

    ``num_threads`` defaults to 1: these models run many small tensor operations, and on a busy
    2-core machine torch's default of one thread per core made a GINE epoch on ogbg-molbace 10 to 30
    times slower than one thread (measured 2026-11-24, 187 s against 6 s per epoch).
    """

    epochs: int = 60  # training epochs
    seed: int = 0  # seed of the first run; --seeds N runs seed, seed+1, ..., seed+N-1
    loss: Literal["auto", "l1", "mse", "bce", "ce"] = "auto"  # auto: l1 regression, bce binary, ce multiclass
    device: Literal["auto", "cpu", "cuda"] = "auto"  # accelerator; auto takes cuda when available
    devices: int = 1  # devices; more than 1 runs DDP (gloo on CPU, NCCL on GPU)
    num_nodes: int = 1  # machines; DDP runs devices x num_nodes processes (docs/multi_gpu.md)
    precision: Literal["32-true", "64-true", "16-mixed", "bf16-mixed"] = "32-true"  # Lightning precision
    deterministic: bool = True  # deterministic algorithms and seeded data order (exact resume on CPU)
    checkpoint_every_n_steps: int = 0  # also write last.ckpt every n optimizer steps (0: epoch ends only)
    output_dir: str = "runs"  # runs are written to <output_dir>/<run_name>/seed_<seed>/
    run_name: str = ""  # run folder name ("": <dataset>/<model>)
    progress_bar: bool = True  # show Lightning's progress bar
    num_threads: int = 1  # torch CPU threads per process (0: torch's default, one per core)


@dataclass
class ExperimentConfig:
    """A full experiment: data, model, optimiser and training settings."""

    data: DataConfig = field(default_factory=DataConfig)  # dataset and batching
    model: ModelConfig = field(default_factory=ModelConfig)  # model and its options
    optim: OptimConfig = field(default_factory=OptimConfig)  # optimiser and schedule
    train: TrainConfig = field(default_factory=TrainConfig)  # execution, checkpoints, results

    @property
    def resolved_run_name(self) -> str:
        """``train.run_name``, else ``<dataset>/<model>``."""
        return self.train.run_name or f"{self.data.name}/{self.model.name}"

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON serialisable)."""
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


SECTION_CLASSES: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "optim": OptimConfig,
    "train": TrainConfig,
}


def field_comments(cls: type) -> dict[str, str]:
    """The one-line comment of every field of a config dataclass, read from its source."""
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"^\s+(\w+):[^#]*#\s?(.*)$", line)
        if match:
            comments[match.group(1)] = match.group(2).strip()
    return comments


def describe_config() -> str:
    """Every section and field with its type, default and comment (for ``--help-config``)."""
    lines = []
    default = ExperimentConfig()
    for section, cls in SECTION_CLASSES.items():
        lines.append(f"{section}:")
        comments = field_comments(cls)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            value = getattr(getattr(default, section), f.name)
            lines.append(
                f"  {f.name}: {value!r}  [{_type_name(hints[f.name])}]  # {comments.get(f.name, '')}".rstrip()
            )
    return "\n".join(lines)


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "None"
    return getattr(hint, "__name__", str(hint))


def _check_value(key: str, value: Any, hint: Any) -> Any:
    """Return ``value`` (ints widened to float where a float is declared) or raise ConfigError."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed or isinstance(value, bool) != any(isinstance(a, bool) for a in allowed):
            raise ConfigError(
                f"config key {key!r} = {value!r} is not allowed; allowed values: {list(allowed)}"
            )
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(hint):
            try:
                return _check_value(key, value, option)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(f"config key {key!r} = {value!r} must be {_type_name(hint)}")
    if hint is type(None):
        if value is None:
            return None
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is dict or origin is dict:
        if isinstance(value, dict):
            return dict(value)
    else:
        raise TypeError(f"unsupported config field type {hint!r} for {key!r}")
    raise ConfigError(f"config key {key!r} = {value!r} ({type(value).__name__}) must be {_type_name(hint)}")


def _build_section(section: str, raw: Any, source: str) -> Any:
    cls = SECTION_CLASSES[section]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: section {section!r} must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        if key not in allowed:
            raise ConfigError(
                f"{source}: unknown config key '{section}.{key}'; allowed keys of {section}: {allowed}"
            )
        kwargs[key] = _check_value(f"{section}.{key}", value, hints[key])
    return cls(**kwargs)


def config_from_dict(raw: dict[str, Any], source: str = "config") -> ExperimentConfig:
    """Validate a nested dict (sections ``data``, ``model``, ``optim``, ``train``) into a config.

    Raises:
        ConfigError: on an unknown section or key, a wrong type, or a value outside a ``Literal``.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a config must be a mapping of sections {list(SECTIONS)}, got {raw!r}")
    for key in raw:
        if key not in SECTIONS:
            raise ConfigError(
                f"{source}: unknown config key {key!r}; allowed top-level keys: {list(SECTIONS)}"
            )
    config = ExperimentConfig(**{s: _build_section(s, raw.get(s), source) for s in SECTIONS})
    _check_ranges(config, source)
    return config


def _check_ranges(config: ExperimentConfig, source: str) -> None:
    checks = [
        ("data.batch_size", config.data.batch_size >= 1, "must be >= 1"),
        (
            "data.eval_batch_size",
            config.data.eval_batch_size is None or config.data.eval_batch_size >= 1,
            ">= 1",
        ),
        ("data.num_workers", config.data.num_workers >= 0, "must be >= 0"),
        ("optim.lr", config.optim.lr > 0, "must be > 0"),
        ("optim.weight_decay", config.optim.weight_decay >= 0, "must be >= 0"),
        ("optim.warmup_epochs", config.optim.warmup_epochs >= 0, "must be >= 0"),
        ("optim.min_lr", 0 <= config.optim.min_lr <= config.optim.lr, "must lie in [0, optim.lr]"),
        ("optim.plateau_factor", 0 < config.optim.plateau_factor < 1, "must lie in (0, 1)"),
        ("optim.plateau_patience", config.optim.plateau_patience >= 0, "must be >= 0"),
        (
            "optim.warmup_epochs",
            config.optim.schedule == "cosine" or config.optim.warmup_epochs == 0,
            "must be 0 with optim.schedule=plateau (the plateau schedule has no warm-up)",
        ),
        ("optim.grad_clip", config.optim.grad_clip >= 0, "must be >= 0"),
        ("train.epochs", config.train.epochs >= 1, "must be >= 1"),
        ("train.devices", config.train.devices >= 1, "must be >= 1"),
        ("train.num_nodes", config.train.num_nodes >= 1, "must be >= 1"),
        ("train.checkpoint_every_n_steps", config.train.checkpoint_every_n_steps >= 0, "must be >= 0"),
        ("train.num_threads", config.train.num_threads >= 0, "must be >= 0"),
    ]
    for key, ok, rule in checks:
        if not ok:
            section, name = key.split(".")
            raise ConfigError(
                f"{source}: config key {key!r} = {getattr(getattr(config, section), name)!r} {rule}"
            )


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_config_file(path: str | Path, _stack: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML config with its ``defaults:`` includes merged in (deep merge, later wins).

    Raises:
        ConfigError: on a missing file, invalid YAML, a non-mapping document or an include cycle.
    """
    path = Path(path).resolve()
    if path in _stack:
        chain = " -> ".join(str(p) for p in (*_stack, path))
        raise ConfigError(f"config include cycle: {chain}")
    if not path.is_file():
        where = f" (included from {_stack[-1]})" if _stack else ""
        raise ConfigError(f"config file {path} does not exist{where}")
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from error
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: a config must be a mapping of sections {list(SECTIONS)}")
    includes = document.pop(INCLUDE_KEY, [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError(
            f"{path}: {INCLUDE_KEY!r} must be a file name or a list of file names, got {includes!r}"
        )
    merged: dict[str, Any] = {}
    for include in includes:
        merged = _deep_merge(merged, read_config_file(path.parent / include, (*_stack, path)))
    return _deep_merge(merged, document)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``key.path=value`` into the resolved key path and the YAML-parsed value.

    A key without a section (``epochs=5``) is resolved to the one section that has such a field.
    """
    key, sep, value_text = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r} must look like key=value (e.g. optim.lr=1e-3 or epochs=5)")
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else ""
    except yaml.YAMLError as error:
        raise ConfigError(f"override {text!r}: the value is not valid YAML: {error}") from error
    parts = key.split(".")
    if parts[0] not in SECTIONS:
        owners = [
            s for s, cls in SECTION_CLASSES.items() if parts[0] in {f.name for f in dataclasses.fields(cls)}
        ]
        if len(owners) == 1:
            parts = [owners[0], *parts]
        elif len(owners) > 1:
            raise ConfigError(
                f"override key {key!r} is ambiguous; write one of {[f'{o}.{key}' for o in owners]}"
            )
        else:
            every = [f"{s}.{f.name}" for s, cls in SECTION_CLASSES.items() for f in dataclasses.fields(cls)]
            raise ConfigError(f"unknown override key {key!r}; allowed keys: {every}")
    if len(parts) < 2:
        allowed = [f.name for f in dataclasses.fields(SECTION_CLASSES[parts[0]])]
        raise ConfigError(
            f"override {text!r} names a section; write {parts[0]}.<key> with a key of {allowed}"
        )
    return parts, value


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``key=value`` overrides to a raw nested config dict (a new dict is returned)."""
    result = _deep_merge({}, raw)
    for text in overrides:
        parts, value = parse_override(text)
        node = result
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {part!r} is not a mapping")
            else:
                child = node[part] = dict(child)
            node = child
        node[parts[-1]] = value
    return result


def load_config(
    path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> ExperimentConfig:
    """Load an experiment config from YAML (or the defaults when ``path`` is None) plus overrides.

    Args:
        path (str or Path, optional): YAML file; ``None`` starts from the dataclass defaults.
            (default: :obj:`None`)
        overrides (list of str, optional): ``key=value`` strings applied last. (default: ``()``)
    """
    raw = read_config_file(path) if path is not None else {}
    raw = apply_overrides(raw, overrides)
    return config_from_dict(raw, source=str(path) if path is not None else "config")
