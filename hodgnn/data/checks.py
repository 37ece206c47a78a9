"""Argument checks of the dataset loaders: one ``ValueError`` naming the argument, before any file is read."""

from __future__ import annotations


def check_max_graphs(max_graphs: object) -> None:
    """Raise a ``ValueError`` naming ``max_graphs`` unless it is ``None`` or an int ``>= 1`` (not a bool)."""
    if max_graphs is not None and (
        not isinstance(max_graphs, int) or isinstance(max_graphs, bool) or max_graphs < 1
    ):
        raise ValueError(f"max_graphs must be a positive int or None, got {max_graphs!r}")
