"""Robust noise level of a curve."""
from __future__ import annotations

import numpy as np

from .smoothing import median

# 0.6745 is the 75th percentile of the standard normal: MAD / 0.6745 estimates sigma for Gaussian noise.
_MAD_TO_SIGMA = 1.0 / 0.6744897501960817

# Differencing white noise of variance s^2 k times gives variance s^2 * C(2k, k): 2 for first, 6 for second.
_DIFF_VARIANCE = {1: 2.0, 2: 6.0}


def _mad(x: np.ndarray) -> float:
    return float(median(np.abs(x - median(x))))


def noise_sigma(values: np.ndarray, order: int = 1) -> float:
    """Robust white-noise sigma from the MAD of differences: MAD(diff) / (0.6745 * sqrt(2)) for order 1.

    Differencing removes the slow trend of a training curve and the MAD ignores the few points where the trend
    bends or a spike sits, so this tracks the point-to-point noise, not the curve's range. `order=2` (second
    differences, divided by sqrt(6)) also removes a linear trend, which matters on short steep curves.
    Non-finite values are dropped first. NaN when fewer than order + 2 finite points remain.
    """
    if order not in _DIFF_VARIANCE:
        raise ValueError(f"order must be 1 or 2, got {order}")
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < order + 2:
        return float("nan")
    d = np.diff(x, n=order)
    return _mad(d) * _MAD_TO_SIGMA / np.sqrt(_DIFF_VARIANCE[order])


def roughness(values: np.ndarray, smoothed: np.ndarray, range_share: float = 0.0) -> float:
    """Robust spread (1.4826 * MAD) of residuals `values - smoothed`, relative to the median |smoothed| level, or
    to `range_share` of the smoothed curve's range (max - min) when that is larger.

    A scale-free "how noisy is this curve" number (0.01 = residuals of about 1% of the curve's level). The range
    floor keeps it meaningful for a curve that falls towards zero: residuals of 0.01 around a level of 0.0004 are
    "2500% noise" by the level but 1% of a curve that fell from 1.0.
    Points where either array is non-finite are ignored; NaN when nothing is left or the scale is 0.
    """
    x = np.asarray(values, dtype=np.float64)
    s = np.asarray(smoothed, dtype=np.float64)
    if x.shape != s.shape:
        raise ValueError(f"values and smoothed differ in length: {x.size} vs {s.size}")
    ok = np.isfinite(x) & np.isfinite(s)
    if not ok.any():
        return float("nan")
    level = float(median(np.abs(s[ok])))
    if range_share > 0:
        level = max(level, range_share * float(s[ok].max() - s[ok].min()))
    if level == 0.0:
        return float("nan")
    return _mad(x[ok] - s[ok]) * _MAD_TO_SIGMA / level
