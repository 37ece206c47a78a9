"""Welch's t-test against ``scipy.stats.ttest_ind(equal_var=False)`` and the Student-t closed forms for
1 and 2 degrees of freedom; the math-only incomplete beta against ``scipy.special.betainc``."""

from __future__ import annotations

import math
import statistics

import pytest

from hodgnn.train import stats
from hodgnn.train.stats import (
    MIN_SEEDS,
    SIGNIFICANCE_LEVEL,
    rank_correlation,
    regularized_incomplete_beta,
    student_t_two_sided_p,
    welch_t_test,
)

SAMPLES = [
    # equal sizes, unequal variances
    ([0.25, 0.28, 0.31], [0.30, 0.40, 0.35]),
    # unequal sizes and variances (ROC-AUC-like seeds)
    ([0.71, 0.74, 0.69], [0.75, 0.80, 0.78, 0.77, 0.79]),
    # 2 vs 10 seeds, variance ratio ~ 1e4: df close to 1
    ([0.5, 0.9], [0.601, 0.602, 0.600, 0.603, 0.599, 0.601, 0.600, 0.602, 0.598, 0.604]),
    # many seeds: df ~ 60, a small p
    ([0.1 * i for i in range(30)], [0.1 * i + 0.9 for i in range(0, 60, 2)]),
    # one variance zero, the other not: df = n - 1 of the spread side
    ([1.0, 1.0, 1.0], [1.2, 1.5, 0.9, 1.1]),
    # equal means: t = 0, p = 1
    ([1.0, 2.0, 3.0], [0.0, 2.0, 4.0]),
]


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy on the zero-variance side
@pytest.mark.parametrize("use_scipy", [False, None])
@pytest.mark.parametrize("first, second", SAMPLES)
def test_welch_matches_scipy_ttest_ind(first, second, use_scipy):
    scipy_stats = pytest.importorskip("scipy.stats")
    expected = scipy_stats.ttest_ind(first, second, equal_var=False)
    result = welch_t_test(first, second, use_scipy=use_scipy)
    assert result.reason is None
    assert result.t == pytest.approx(float(expected.statistic), rel=1e-12, abs=1e-12)
    assert result.df == pytest.approx(float(expected.df), rel=1e-12)
    assert result.p_value == pytest.approx(float(expected.pvalue), rel=1e-10, abs=1e-14)
    assert 0.0 <= result.p_value <= 1.0


def test_welch_statistic_from_the_textbook_formula():
    """t and the Welch-Satterthwaite df written out for [1, 2, 3, 4] vs [2, 4, 9] (means 2.5 and 5,
    sample variances 5/3 and 13)."""
    result = welch_t_test([1, 2, 3, 4], [2, 4, 9])
    se1, se2 = (5 / 3) / 4, 13 / 3
    assert result.t == pytest.approx(-2.5 / math.sqrt(se1 + se2), rel=1e-14)
    assert result.df == pytest.approx((se1 + se2) ** 2 / (se1**2 / 3 + se2**2 / 2), rel=1e-14)
    assert welch_t_test([2, 4, 9], [1, 2, 3, 4]).t == pytest.approx(-result.t, rel=1e-14)


@pytest.mark.parametrize("t", [0.0, 0.3, 1.0, 2.5, 12.0, -4.0, 1e3])
def test_two_sided_p_closed_forms_for_one_and_two_degrees_of_freedom(t):
    """df = 1 (Cauchy): p = 1 - (2/pi) atan|t|; df = 2: p = 1 - |t| / sqrt(2 + t^2)."""
    assert student_t_two_sided_p(t, 1.0, use_scipy=False) == pytest.approx(
        1 - 2 / math.pi * math.atan(abs(t)), rel=1e-12, abs=1e-15
    )
    assert student_t_two_sided_p(t, 2.0, use_scipy=False) == pytest.approx(
        1 - abs(t) / math.sqrt(2 + t * t), rel=1e-10, abs=1e-15
    )
    assert student_t_two_sided_p(math.inf, 3.0) == 0.0


@pytest.mark.parametrize("df", [0.5, 1.0, 1.7, 2.0, 4.96, 30.0, 1e4])
@pytest.mark.parametrize("t", [0.0, 0.1, 1.0, 2.0, 5.0, 40.0])
def test_math_only_p_matches_scipy_t_distribution(t, df):
    scipy_stats = pytest.importorskip("scipy.stats")
    expected = 2 * scipy_stats.t.sf(t, df)
    assert student_t_two_sided_p(t, df, use_scipy=False) == pytest.approx(expected, rel=1e-10, abs=1e-300)
    assert student_t_two_sided_p(-t, df, use_scipy=False) == pytest.approx(expected, rel=1e-10, abs=1e-300)


def test_incomplete_beta_matches_scipy_and_its_limits():
    special = pytest.importorskip("scipy.special")
    for x in (1e-8, 0.01, 0.2, 0.5, 0.8, 0.999, 1 - 1e-9):
        for a in (0.5, 1.0, 2.5, 15.0, 200.0):
            for b in (0.5, 1.0, 3.0, 40.0):
                expected = float(special.betainc(a, b, x))
                assert regularized_incomplete_beta(x, a, b) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert regularized_incomplete_beta(0.0, 2.0, 3.0) == 0.0
    assert regularized_incomplete_beta(1.0, 2.0, 3.0) == 1.0
    assert regularized_incomplete_beta(0.3, 1.0, 1.0) == pytest.approx(0.3, rel=1e-14)  # uniform CDF
    with pytest.raises(ValueError):
        regularized_incomplete_beta(1.5, 1.0, 1.0)


def test_without_scipy_the_math_only_path_is_used(monkeypatch):
    first, second = [0.71, 0.74, 0.69], [0.75, 0.80, 0.78, 0.77, 0.79]
    reference = welch_t_test(first, second, use_scipy=False)
    monkeypatch.setattr(stats, "_scipy_t_distribution", lambda: None)
    assert welch_t_test(first, second).p_value == reference.p_value
    with pytest.raises(ImportError):
        welch_t_test(first, second, use_scipy=True)


def test_edge_cases():
    single = welch_t_test([0.8], [0.7, 0.75, 0.72])
    assert (single.t, single.df, single.p_value) == (None, None, None)
    assert single.reason == "fewer than 2 seeds (1 vs 3)"
    assert welch_t_test([0.7, 0.75], []).p_value is None
    equal = welch_t_test([0.5, 0.5, 0.5], [0.5, 0.5])
    assert (equal.t, equal.df, equal.p_value) == (0.0, None, 1.0) and "zero" in equal.reason
    apart = welch_t_test([0.4, 0.4], [0.5, 0.5, 0.5])
    assert apart.p_value == 0.0 and apart.t == -math.inf and apart.df is None
    assert welch_t_test([0.6, 0.6], [0.5, 0.5]).t == math.inf
    nan = welch_t_test([0.5, float("nan")], [0.5, 0.6])
    assert nan.p_value is None and nan.reason == "non-finite metric value"
    assert apart.to_dict() == {"t": -math.inf, "df": None, "p_value": 0.0, "reason": apart.reason}
    assert SIGNIFICANCE_LEVEL == 0.2 and MIN_SEEDS == 3


@pytest.mark.parametrize("use_scipy", [False, None])
@pytest.mark.parametrize(
    "summary",
    [
        (80.63, 1.63, 4, 82.10, 1.45, 4),  # our molbace HOD-GNN against the paper's
        (75.26, 0.68, 4, 77.99, 0.71, 4),  # moltox21
        (0.0183, 0.002, 3, 0.0012, 0.0001, 4),  # unequal sizes, variance ratio 400
        (1.0, 0.0, 4, 1.2, 0.3, 2),  # one variance zero
    ],
)
def test_welch_from_stats_matches_scipy_ttest_ind_from_stats(summary, use_scipy):
    scipy_stats = pytest.importorskip("scipy.stats")
    mean1, std1, n1, mean2, std2, n2 = summary
    expected = scipy_stats.ttest_ind_from_stats(mean1, std1, n1, mean2, std2, n2, equal_var=False)
    result = stats.welch_from_stats(*summary, use_scipy=use_scipy)
    assert result.reason is None
    assert result.t == pytest.approx(float(expected.statistic), rel=1e-12)
    assert result.p_value == pytest.approx(float(expected.pvalue), rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("first, second", SAMPLES[:4])
def test_welch_from_stats_equals_the_test_on_the_samples(first, second):
    mean_std = [(statistics.mean(v), statistics.stdev(v), len(v)) for v in (first, second)]
    from_stats = stats.welch_from_stats(*mean_std[0], *mean_std[1], use_scipy=False)
    from_samples = welch_t_test(first, second, use_scipy=False)
    assert from_stats.t == pytest.approx(from_samples.t, rel=1e-9)
    assert from_stats.df == pytest.approx(from_samples.df, rel=1e-9)
    assert from_stats.p_value == pytest.approx(from_samples.p_value, rel=1e-9, abs=1e-14)


def test_welch_from_stats_edge_cases():
    assert stats.welch_from_stats(1.0, 0.1, 1, 2.0, 0.1, 4).reason == "fewer than 2 seeds (1 vs 4)"
    assert stats.welch_from_stats(float("nan"), 0.1, 4, 2.0, 0.1, 4).reason == "non-finite metric value"
    assert stats.welch_from_stats(2.0, 0.0, 4, 2.0, 0.0, 4).p_value == 1.0
    with pytest.raises(ValueError, match="standard deviations must be >= 0"):
        stats.welch_from_stats(1.0, -0.1, 4, 2.0, 0.1, 4)


@pytest.mark.parametrize(
    "first, second",
    [
        ([0.1, 0.4, 0.2, 0.9, 0.5], [1.0, 3.0, 2.0, 0.5, 4.0]),
        ([0.1, 0.4, 0.4, 0.9, 0.1, 0.3], [0.2, 0.2, 0.5, 0.1, 0.9, 0.9]),  # ties on both sides
        ([3.0, 1.0, 2.0], [30.0, 10.0, 20.0]),
    ],
)
def test_rank_correlation_matches_scipy_spearmanr(first, second):
    scipy_stats = pytest.importorskip("scipy.stats")
    expected = scipy_stats.spearmanr(first, second).statistic
    assert rank_correlation(first, second) == pytest.approx(expected, abs=1e-12)


def test_rank_correlation_edge_cases():
    assert rank_correlation([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert math.isnan(rank_correlation([1.0], [2.0]))
    assert math.isnan(rank_correlation([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))  # constant side
    assert math.isnan(rank_correlation([1.0, math.nan], [1.0, 2.0]))
    with pytest.raises(ValueError, match="equal lengths"):
        rank_correlation([1.0, 2.0], [1.0])
