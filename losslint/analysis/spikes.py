"""Spikes: single points far from their neighbourhood, by a robust (median/MAD) z-score.

Lightning's `SpikeDetection` callback (src/lightning/fabric/utilities/spike.py; defaults mode="min", window=10,
warmup=1, atol=None, rtol=2.0, finite_only=True) flags a loss that is not an improvement on the last value and
deviates from the running *mean* of the last 10 values by at least 2x that mean. A mean is pulled up by the spike
itself and the relative rule depends on the loss's offset, so here the reference is a centered rolling median and
the scale the rolling MAD of residuals: a z-score that neither the spike nor the loss's level can distort.
"""
from __future__ import annotations

import numpy as np

from .smoothing import ROLLING_ONE_SORT_CELLS, median, rolling_median, window_nanmedian

_MAD_TO_SIGMA = 1.4826  # 1 / 0.6745: MAD of Gaussian noise times this estimates its sigma


def _symmetric_median(x: np.ndarray, window: int) -> np.ndarray:
    """Centered rolling median whose window, near the ends, shrinks symmetrically (2i+1 points at index i), so
    the first points of a steep descent are not compared with points far ahead of them."""
    half = window // 2
    n = x.size
    if n * (2 * half + 1) <= ROLLING_ONE_SORT_CELLS:  # short series: every window in one sort
        index = np.arange(n)
        reach = np.minimum(np.minimum(index, n - 1 - index), half)
        return window_nanmedian(np.where(np.isfinite(x), x, np.nan), index - reach, index + reach + 1)
    out = rolling_median(x, window)
    edge = np.arange(min(half, n))
    edge = np.unique(np.concatenate([edge, n - 1 - edge]))
    if edge.size:
        reach = np.minimum(edge, n - 1 - edge)
        out[edge] = window_nanmedian(np.where(np.isfinite(x), x, np.nan), edge - reach, edge + reach + 1)
    return out


def robust_zscores(values: np.ndarray, window: int = 25) -> np.ndarray:
    """(x - rolling median) / (1.4826 * rolling MAD) over a centered `window`; NaN for non-finite points.

    The scale is floored at a quarter of the series-wide robust scale and at 1e-9 of the level, so that a nearly
    noise-free stretch does not turn float rounding into huge z-scores while growing noise is still tracked locally.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return x.copy()
    window = max(3, int(window))
    center = _symmetric_median(x, window)
    resid = x - center
    abs_resid = np.where(np.isfinite(resid), np.abs(resid), np.nan)
    # Where the trend is steeper than the noise, the window's median is the center point itself and residual MADs
    # collapse towards 0; second differences cancel a local linear trend, so their MAD still sees the noise.
    d2 = np.full(x.size, np.nan)
    if x.size >= 3:
        d2[1:-1] = np.abs(x[2:] - 2.0 * x[1:-1] + x[:-2])
    n, half = x.size, window // 2
    if n * (2 * half + 1) <= ROLLING_ONE_SORT_CELLS:  # short series: both rolling medians in one sort
        index = np.arange(n)
        lo, hi = np.maximum(index - half, 0), np.minimum(index + half + 1, n)
        both = window_nanmedian(np.concatenate([abs_resid, np.where(np.isfinite(d2), d2, np.nan)]),
                                np.concatenate([lo, lo + n]), np.concatenate([hi, hi + n]))
        resid_median, d2_median = both[:n], both[n:]
    else:
        resid_median, d2_median = rolling_median(abs_resid, window), rolling_median(d2, window)
    local_scale = _MAD_TO_SIGMA * resid_median
    local_scale = np.fmax(local_scale, _MAD_TO_SIGMA / np.sqrt(6.0) * d2_median)
    finite = np.isfinite(abs_resid)
    global_scale = _MAD_TO_SIGMA * float(median(abs_resid[finite])) if finite.any() else 0.0
    level = float(median(np.abs(x[np.isfinite(x)]))) if np.isfinite(x).any() else 0.0
    floor = max(0.25 * global_scale, 1e-9 * level, 1e-300)
    scale = np.fmax(local_scale, floor)
    z = resid / scale
    z[~np.isfinite(x)] = np.nan
    return z


def find_spikes(values: np.ndarray, z_threshold: float = 6.0, window: int = 25, direction: str = "up") -> np.ndarray:
    """Indices of points whose robust z-score exceeds `z_threshold` ("up", "down" or "both").

    The default 6 is deliberately above the classic 3.5 of Iglewicz & Hoaglin (1993) for single samples: a run
    tests thousands of points, and Gaussian noise passes z > 6 about once in 10^9 points, so what is flagged is
    a real event. "up" suits losses (a spike is a jump up); use "down" for accuracies. Non-finite points are not
    spikes here (they are integrity findings of their own).
    """
    if direction not in ("up", "down", "both"):
        raise ValueError(f"direction must be 'up', 'down' or 'both', got {direction!r}")
    z = robust_zscores(values, window)
    with np.errstate(invalid="ignore"):
        if direction == "up":
            hit = z > z_threshold
        elif direction == "down":
            hit = z < -z_threshold
        else:
            hit = np.abs(z) > z_threshold
    return np.flatnonzero(hit & np.isfinite(z))
