"""Argument checks of the models' constructors: one ``ValueError`` naming the option and what it allows."""

from __future__ import annotations


def check_choice(name: str, value, allowed) -> None:
    """Raise a ``ValueError`` naming option ``name`` when ``value`` is not in ``allowed``."""
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of {list(allowed)}")


def check_int(name: str, value, minimum: int) -> None:
    """Raise a ``ValueError`` naming option ``name`` unless ``value`` is an int ``>= minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_dropout(value) -> None:
    """Raise a ``ValueError`` unless ``value`` is a number in ``[0, 1)``."""
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1), got {value!r}")
