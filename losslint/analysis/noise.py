"""Robust noise level of a curve."""
from __future__ import annotations

import numpy as np


def noise_sigma(values: np.ndarray) -> float:
    """Robust white-noise sigma: MAD of first differences / (0.6745 * sqrt(2)); NaN when < 3 finite points."""
    raise NotImplementedError


def roughness(values: np.ndarray, smoothed: np.ndarray) -> float:
    """Robust spread (1.4826 * MAD) of residuals `values - smoothed`, relative to the median |smoothed| level."""
    raise NotImplementedError
