"""Smoothing for noisy training curves: TensorBoard's debiased EMA, a robust rolling median, bucket averaging."""
from __future__ import annotations

import numpy as np


def ema(values: np.ndarray, weight: float = 0.6) -> np.ndarray:
    """TensorBoard's debiased exponential moving average (its scalar-chart "Smoothing" slider).

    Non-finite points are skipped: they keep their own value in the output and do not enter the average.
    """
    raise NotImplementedError


def rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    """Centered rolling median over `window` points, ignoring non-finite values (NaN where a window has none)."""
    raise NotImplementedError


def bucket_mean(steps: np.ndarray, values: np.ndarray, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Average a series into at most `max_points` equal-count buckets (non-finite values ignored).

    Returns (bucket steps, bucket means); a bucket's step is the last step it covers. Series already short
    enough come back as finite points unchanged.
    """
    raise NotImplementedError
