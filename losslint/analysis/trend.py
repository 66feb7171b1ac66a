"""Trend tests: Theil-Sen slope and Mann-Kendall, both robust to outliers and to the curve's shape."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .smoothing import bucket_mean


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

    scipy.stats.theilslopes needs all n^2/2 pairs, so series longer than `max_points` are bucket-averaged first
    (the slope of bucket means estimates the same trend). Non-finite points are dropped; NaNs when fewer than
    2 distinct steps remain.
    """
    s, x = bucket_mean(steps, values, max_points)
    if x.size < 2 or np.ptp(s) == 0:
        return _NAN_FIT
    res = stats.theilslopes(x, s.astype(np.float64), alpha=confidence)
    return TrendFit(float(res.slope), float(res.intercept), float(res.low_slope), float(res.high_slope))


def mann_kendall(values: np.ndarray, alpha: float = 0.05) -> MannKendall:
    """Mann-Kendall trend test: Kendall's tau of the values against their order (scipy.stats.kendalltau).

    Two-sided: "increasing"/"decreasing" when p < alpha, else "no trend". Non-finite values are dropped; fewer
    than 3 finite points or a constant series give tau NaN, p 1 and "no trend".
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 3 or np.ptp(x) == 0:
        return MannKendall(float("nan"), 1.0, "no trend")
    res = stats.kendalltau(np.arange(x.size), x)
    tau, p = float(res.statistic), float(res.pvalue)
    if p < alpha:
        return MannKendall(tau, p, "increasing" if tau > 0 else "decreasing")
    return MannKendall(tau, p, "no trend")
