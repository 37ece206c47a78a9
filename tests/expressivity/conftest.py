"""Fixtures shared by the BREC tests."""

from __future__ import annotations

import pytest

from hodgnn.expressivity.brec import PairResult


@pytest.fixture
def pair_results() -> list[PairResult]:
    """Four hand-made RPC outcomes: two Basic pairs (one separated reliably, one separated but failing
    the reliability check), a strongly regular pair counted and a distance-regular pair not separated."""

    def result(pair_id: int, category: str, separated: bool, reliable: bool) -> PairResult:
        return PairResult(
            pair_id, category, 100.0, 1.0, separated, reliable, separated and reliable, 1, 0.1, 0.1
        )

    return [
        result(0, "basic", True, True),
        result(1, "basic", True, False),
        result(110, "strongly_regular", True, True),
        result(380, "distance_regular", False, True),
    ]
