"""Welch's unequal-variance t-test between two sets of seed results (the paper colours its tables by it).

For samples of sizes n1, n2 with means m1, m2 and sample variances s1^2, s2^2 (ddof = 1)::

    t  = (m1 - m2) / sqrt(s1^2/n1 + s2^2/n2)
    df = (s1^2/n1 + s2^2/n2)^2 / ((s1^2/n1)^2/(n1 - 1) + (s2^2/n2)^2/(n2 - 1))     (Welch-Satterthwaite)
    p  = P(|T_df| >= |t|) = I_{df/(df + t^2)}(df/2, 1/2)                           (two-sided)

with I_x(a, b) the regularised incomplete beta function. The p-value comes from ``scipy.stats.t`` when
scipy is importable and otherwise from :func:`regularized_incomplete_beta` (a continued fraction, math
only), so scipy stays optional.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

SIGNIFICANCE_LEVEL = 0.2
"""The paper's threshold: a model differs from the best one when Welch's p < 0.2."""

MIN_SEEDS = 3
"""A comparison where either side has fewer seeds than this is flagged as unreliable."""


@dataclass(frozen=True)
class WelchResult:
    """Welch's t statistic, Welch-Satterthwaite degrees of freedom and two-sided p-value.

    ``p_value`` is ``None`` when the test cannot be made (``reason`` says why); ``t`` and ``df`` are
    ``None`` then too. When both variances are zero, ``df`` is ``None``, ``t`` is 0 or +-inf and ``p``
    is 1.0 (equal means) or 0.0 (different means), with the ``reason`` recorded.
    """

    t: float | None
    df: float | None
    p_value: float | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample variance (ddof = 1) of at least two values."""
    mean = math.fsum(values) / len(values)
    return mean, math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)


def _beta_continued_fraction(
    x: float, a: float, b: float, eps: float = 1e-15, max_terms: int = 10_000
) -> float:
    """The continued fraction 1 / (1 + d1 / (1 + d2 / (1 + ...))) of I_x(a, b), by modified Lentz, with

    d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)),  d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)).

    Converges quickly for x < (a + 1) / (a + b + 2).
    """
    tiny = 1e-300
    value, numer_ratio, denom_ratio = tiny, tiny, 0.0  # f_0 = b_0 = 0 (kept off zero), C_0 = f_0, D_0 = 0
    for j in range(1, max_terms + 1):
        if j == 1:
            coefficient = 1.0
        else:
            k = j - 1  # coefficient of the j-th partial fraction is d_k
            m = k // 2
            if k % 2:
                coefficient = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            else:
                coefficient = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        denom_ratio = 1.0 + coefficient * denom_ratio
        denom_ratio = 1.0 / (denom_ratio if abs(denom_ratio) > tiny else tiny)
        numer_ratio = 1.0 + coefficient / numer_ratio
        numer_ratio = numer_ratio if abs(numer_ratio) > tiny else tiny
        step = numer_ratio * denom_ratio
        value *= step
        if abs(step - 1.0) < eps:
            return value
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (x={x}, a={a}, b={b})")


def regularized_incomplete_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b) = B(x; a, b) / B(a, b) for 0 <= x <= 1 and a, b > 0.

    I_x(a, b) = x^a (1 - x)^b / (a B(a, b)) * CF(x, a, b), evaluated directly for x < (a + 1)/(a + b + 2)
    and through the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) otherwise.
    """
    if not 0.0 <= x <= 1.0 or a <= 0.0 or b <= 0.0:
        raise ValueError(f"regularized_incomplete_beta needs 0 <= x <= 1 and a, b > 0 (x={x}, a={a}, b={b})")
    if x == 0.0 or x == 1.0:
        return x
    log_front = a * math.log(x) + b * math.log1p(-x) + math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(1.0 - x, b, a) / b


def _scipy_t_distribution() -> Any | None:
    try:
        from scipy.stats import t as student_t
    except ImportError:
        return None
    return student_t


def student_t_two_sided_p(t: float, df: float, use_scipy: bool | None = None) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` (real, > 0) degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2).

    ``use_scipy``: ``None`` uses scipy when importable, ``True`` requires it, ``False`` never uses it.
    """
    if not df > 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if math.isinf(t):
        return 0.0
    student_t = _scipy_t_distribution() if use_scipy is not False else None
    if use_scipy and student_t is None:
        raise ImportError("use_scipy=True but scipy is not installed")
    if student_t is not None:
        return float(min(1.0, 2.0 * student_t.sf(abs(t), df)))
    return regularized_incomplete_beta(df / (df + t * t), df / 2.0, 0.5)


def welch_t_test(
    first: Sequence[float], second: Sequence[float], use_scipy: bool | None = None
) -> WelchResult:
    """Two-sided Welch's t-test of ``first`` against ``second`` (t > 0 when ``first`` has the larger mean).

    Fewer than 2 values on either side (no sample variance) or a non-finite value: no test (p = None).
    Both sample variances zero: p = 1.0 when the means are equal and 0.0 otherwise (t = 0 or +-inf), the
    limit of the test as the spread vanishes; scipy returns NaN there.
    """
    first, second = [float(v) for v in first], [float(v) for v in second]
    if len(first) < 2 or len(second) < 2:
        return WelchResult(None, None, None, f"fewer than 2 seeds ({len(first)} vs {len(second)})")
    if not all(math.isfinite(v) for v in first + second):
        return WelchResult(None, None, None, "non-finite metric value")
    mean1, var1 = _mean_var(first)
    mean2, var2 = _mean_var(second)
    return _welch(mean1, var1, len(first), mean2, var2, len(second), use_scipy)


def welch_from_stats(
    mean1: float,
    std1: float,
    n1: int,
    mean2: float,
    std2: float,
    n2: int,
    use_scipy: bool | None = None,
) -> WelchResult:
    """Welch's t-test from summary statistics: means, sample standard deviations (ddof = 1) and sample
    sizes, e.g. a published ``mean +- std`` over ``n`` seeds against our seeds. Same conventions as
    :func:`welch_t_test` (t > 0 when the first mean is larger; no test below 2 samples a side)."""
    values = (mean1, std1, mean2, std2)
    if n1 < 2 or n2 < 2:
        return WelchResult(None, None, None, f"fewer than 2 seeds ({n1} vs {n2})")
    if not all(math.isfinite(float(v)) for v in values):
        return WelchResult(None, None, None, "non-finite metric value")
    if std1 < 0 or std2 < 0:
        raise ValueError(f"standard deviations must be >= 0, got {std1} and {std2}")
    return _welch(float(mean1), float(std1) ** 2, n1, float(mean2), float(std2) ** 2, n2, use_scipy)


def _welch(
    mean1: float, var1: float, n1: int, mean2: float, var2: float, n2: int, use_scipy: bool | None
) -> WelchResult:
    """The test of the module docstring from means, sample variances and sizes (n1, n2 >= 2)."""
    se1, se2 = var1 / n1, var2 / n2
    if se1 + se2 == 0.0:
        if mean1 == mean2:
            return WelchResult(0.0, None, 1.0, "both variances zero, equal means")
        return WelchResult(math.copysign(math.inf, mean1 - mean2), None, 0.0, "both variances zero")
    t = (mean1 - mean2) / math.sqrt(se1 + se2)
    df = (se1 + se2) ** 2 / (se1**2 / (n1 - 1) + se2**2 / (n2 - 1))
    return WelchResult(t, df, student_t_two_sided_p(t, df, use_scipy=use_scipy))


def _average_ranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n of ``values``, tied values sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def rank_correlation(first: Sequence[float], second: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's correlation of the average ranks (ties share their mean
    rank). NaN when fewer than 2 pairs, a non-finite value, or a constant side leaves it undefined."""
    if len(first) != len(second):
        raise ValueError(f"rank_correlation needs equal lengths, got {len(first)} and {len(second)}")
    if len(first) < 2 or not all(math.isfinite(float(v)) for v in (*first, *second)):
        return math.nan
    x, y = _average_ranks(first), _average_ranks(second)
    mean_x, mean_y = math.fsum(x) / len(x), math.fsum(y) / len(y)
    covariance = math.fsum((a - mean_x) * (b - mean_y) for a, b in zip(x, y, strict=True))
    spread = math.sqrt(math.fsum((a - mean_x) ** 2 for a in x) * math.fsum((b - mean_y) ** 2 for b in y))
    return covariance / spread if spread > 0 else math.nan
