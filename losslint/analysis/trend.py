"""Trend tests: Theil-Sen slope and Mann-Kendall, both robust to outliers and to the curve's shape.

Both are computed in numpy with the same formulas as `scipy.stats.theilslopes` and `scipy.stats.kendalltau`
(scipy 1.17; tests/test_analysis_trend.py compares them on random series): importing `scipy.stats` costs
~0.8 s, a quarter of a whole `losslint check` on a 1M-step run.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from .smoothing import bucket_mean, median


@dataclass(frozen=True)
class TrendFit:
    slope: float  # per step
    intercept: float
    lo_slope: float
    hi_slope: float


@dataclass(frozen=True)
class MannKendall:
    tau: float
    p_value: float
    trend: str  # "increasing" | "decreasing" | "no trend"


_NAN_FIT = TrendFit(float("nan"), float("nan"), float("nan"), float("nan"))


def theil_sen(steps: np.ndarray, values: np.ndarray, confidence: float = 0.95, max_points: int = 2000) -> TrendFit:
    """Theil-Sen slope (median of pairwise slopes, per step) with its `confidence` interval.

    All n^2/2 pairwise slopes are needed, so series longer than `max_points` are bucket-averaged first (the slope
    of bucket means estimates the same trend). Non-finite points are dropped; NaNs when fewer than 2 distinct
    steps remain. Intercept and interval as scipy.stats.theilslopes(method="separate") gives them: the interval
    is Sen's (1968) rank interval of the sorted slopes, with tie corrections for repeated steps and values.
    """
    s, x = bucket_mean(steps, values, max_points)
    if x.size < 2 or np.ptp(s) == 0:
        return _NAN_FIT
    t = s.astype(np.float64)
    y = np.array(x, dtype=np.float64)
    delta_t = t[:, np.newaxis] - t
    delta_y = y[:, np.newaxis] - y
    forward = delta_t > 0
    slopes = delta_y[forward] / delta_t[forward]
    slopes.sort()
    slope = median(slopes)
    intercept = median(y) - slope * median(t)
    alpha = 1.0 - confidence if confidence > 0.5 else confidence
    z = _normal_quantile(alpha / 2.0)
    n_pairs, n = slopes.size, y.size
    # Variance of Kendall's S (Sen 1968), written as scipy writes it so the rounding is the same.
    sigma_sq = 1 / 18.0 * (n * (n - 1) * (2 * n + 5) - _tie_term(t) - _tie_term(y))
    if not sigma_sq >= 0:  # heavy ties on both sides: no interval
        return TrendFit(float(slope), float(intercept), float("nan"), float("nan"))
    sigma = np.sqrt(sigma_sq)
    hi = min(int(np.round((n_pairs - z * sigma) / 2.0)), n_pairs - 1)
    lo = max(int(np.round((n_pairs + z * sigma) / 2.0)) - 1, 0)
    return TrendFit(float(slope), float(intercept), float(slopes[lo]), float(slopes[hi]))


@functools.lru_cache(maxsize=64)
def _normal_quantile(p: float) -> float:
    """NormalDist().inv_cdf(p), once per p (the same few confidence levels on every series)."""
    return NormalDist().inv_cdf(p)


def _tie_term(a: np.ndarray) -> int:
    """Sum of k(k-1)(2k+5) over groups of k > 1 equal values: the tie correction of Kendall's S variance."""
    counts = _tie_counts(np.sort(a))
    return sum(k * (k - 1) * (2 * k + 5) for k in counts.tolist())


def _tie_counts(sorted_values: np.ndarray) -> np.ndarray:
    """Sizes of the groups of equal values (> 1) of a sorted array."""
    change = np.concatenate(([True], sorted_values[1:] != sorted_values[:-1]))
    sizes = np.diff(np.concatenate((np.flatnonzero(change), [sorted_values.size])))
    return sizes[sizes > 1]


def mann_kendall(values: np.ndarray, alpha: float = 0.05) -> MannKendall:
    """Mann-Kendall trend test: Kendall's tau-b of the values against their order, as scipy.stats.kendalltau.

    p-value: exact (Kendall 1970) without ties when n <= 33 or at most one pair is out of order, else the normal
    approximation of S with the tie-corrected variance. Two-sided: "increasing"/"decreasing" when p < alpha, else
    "no trend". Non-finite values are dropped; fewer than 3 finite points or a constant series give tau NaN, p 1
    and "no trend".
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 3 or np.ptp(x) == 0:
        return MannKendall(float("nan"), 1.0, "no trend")
    tau, p = _kendall_tau_against_order(x)
    if p < alpha:
        return MannKendall(tau, p, "increasing" if tau > 0 else "decreasing")
    return MannKendall(tau, p, "no trend")


def _kendall_tau_against_order(y: np.ndarray) -> tuple[float, float]:
    """(tau-b, two-sided p) of y against 0, 1, ..., n-1 (no ties on that side)."""
    n = int(y.size)
    ranks = _dense_ranks(y)
    discordant = _count_inversions(ranks) if n > INVERSIONS_BY_PAIRS_MAX else _count_inversions_by_pairs(ranks)
    counts = np.bincount(ranks).astype(np.int64, copy=False)
    counts = counts[counts > 1]
    y_ties = int((counts * (counts - 1) // 2).sum())
    y_var_term = int((counts * (counts - 1.0) * (2 * counts + 5)).sum())
    total = n * (n - 1) // 2
    s = total - y_ties - 2 * discordant  # concordant - discordant
    tau = float(np.minimum(1.0, max(-1.0, s / np.sqrt(total) / np.sqrt(total - y_ties))))
    if y_ties == 0 and (n <= 33 or min(discordant, total - discordant) <= 1):
        return tau, _kendall_p_exact(n, total - discordant)
    m = n * (n - 1.0)
    var = (m * (2 * n + 5) - y_var_term) / 18
    z = s / np.sqrt(var)
    return tau, 2.0 * _normal_sf(abs(float(z)))


def _normal_sf(z: float) -> float:
    """P(N(0, 1) > z) = ndtr(-z), with the branches of cephes' ndtr that scipy uses."""
    x = -z * _SQRT1_2
    if abs(x) < _SQRT1_2:
        return 0.5 + 0.5 * math.erf(x)
    y = 0.5 * math.erfc(abs(x))
    return 1.0 - y if x > 0 else y


_SQRT1_2 = math.sqrt(0.5)


def _dense_ranks(y: np.ndarray) -> np.ndarray:
    """0-based ranks with equal values sharing a rank and no gaps."""
    order = np.argsort(y, kind="stable")
    sorted_y = y[order]
    ranks = np.empty(y.size, dtype=np.intp)
    ranks[order] = np.concatenate(([0], np.cumsum(sorted_y[1:] != sorted_y[:-1])))
    return ranks


# Up to this many points the inversions are counted over all pairs at once (an n x n comparison): a few numpy
# calls instead of the merge sort's ~10 per level, which is what a short tail (10-100 points) spends its time on.
INVERSIONS_BY_PAIRS_MAX = 256


def _count_inversions_by_pairs(ranks: np.ndarray) -> int:
    """Pairs i < j with ranks[i] > ranks[j], by comparing every pair (for short series; same count as the merge
    sort of `_count_inversions`)."""
    a = np.asarray(ranks)
    n = a.size
    later = np.arange(n) > np.arange(n)[:, None]  # j > i
    return int(np.count_nonzero((a[:, None] > a) & later))


def _count_inversions(ranks: np.ndarray) -> int:
    """Pairs i < j with ranks[i] > ranks[j] (equal ranks are not inversions), by a vectorised bottom-up merge sort.

    At each level the array is sorted within blocks of `width`; for each element of a right block, the elements of
    its left partner block that are greater are counted with one searchsorted over all blocks at once (block pair
    index * (max rank + 1) keeps the pairs apart in one sorted key array). O(n log^2 n), a few ms for 10^4 points.
    """
    a = np.asarray(ranks, dtype=np.int64)
    n = a.size
    span = int(a.max()) + 1 if n else 1
    position = np.arange(n)
    inversions = 0
    width = 1
    while width < n:
        pair = position // (2 * width)
        is_left = (position // width) % 2 == 0
        keys = pair * span + a
        left_keys = keys[is_left]  # sorted: pairs ascend, and each left block is sorted
        right_keys, right_pair = keys[~is_left], pair[~is_left]
        left_end = np.searchsorted(left_keys, (right_pair + 1) * span, side="left")
        not_greater_end = np.searchsorted(left_keys, right_keys, side="right")
        inversions += int((left_end - not_greater_end).sum())
        a = np.sort(keys) - pair * span  # merge each pair of blocks; block order is kept by the pair offset
        width *= 2
    return inversions


def _kendall_p_exact(n: int, concordant: int) -> float:
    """Two-sided exact p-value of Kendall's S without ties (Kendall, Rank Correlation Methods, 1970), as scipy's."""
    return _kendall_p_exact_of(int(n), int(min(concordant, n * (n - 1) // 2 - concordant)))


@functools.lru_cache(maxsize=4096)
def _kendall_p_exact_of(n: int, c: int) -> float:
    """`_kendall_p_exact` for n points and c = min(concordant, discordant) pairs: a pure function of the two, and
    the runs of a sweep share their tail lengths, so each (n, c) is computed once (a loop of n numpy calls)."""
    if n == 1 or n == 2:
        return 1.0
    if c == 0:
        prob = 2.0 / math.factorial(n) if n < 171 else 0.0
    elif c == 1:
        prob = 2.0 / math.factorial(n - 1) if n < 172 else 0.0
    elif 4 * c == n * (n - 1):
        prob = 1.0
    elif n < 171:
        new = np.zeros(c + 1)
        new[0:2] = 1.0
        for j in range(3, n + 1):
            new = np.cumsum(new)
            if j <= c:
                new[j:] -= new[:c + 1 - j]
        prob = 2.0 * np.sum(new) / math.factorial(n)
    else:
        new = np.zeros(c + 1)
        new[0:2] = 1.0
        for j in range(3, n + 1):
            new = np.cumsum(new) / j
            if j <= c:
                new[j:] -= new[:c + 1 - j]
        prob = np.sum(new)
    return float(np.clip(prob, 0, 1))
