"""Argument checks shared by the whole package: one ``ValueError`` that names the argument and what it
allows, raised before any work. A leaf module (imports nothing from ``hodgnn``), so the engine, the
data loaders, the transforms and the models can all use it."""

from __future__ import annotations


def check_choice(name: str, value, allowed) -> None:
    """Raise a ``ValueError`` naming option ``name`` when ``value`` is not in ``allowed``."""
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of {list(allowed)}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(name: str, value, minimum: int) -> None:
    """Raise a ``ValueError`` naming option ``name`` unless ``value`` is an int ``>= minimum``."""
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_positive_int_or_none(name: str, value) -> None:
    """Raise a ``ValueError`` naming ``name`` unless ``value`` is ``None`` or an int ``>= 1`` (not a bool)."""
    if value is not None and (not _is_int(value) or value < 1):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")


def check_dropout(value) -> None:
    """Raise a ``ValueError`` unless ``value`` is a number in ``[0, 1)``."""
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1), got {value!r}")
