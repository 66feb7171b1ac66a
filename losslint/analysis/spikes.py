"""Spikes: points far from their neighbourhood by a robust z-score."""
from __future__ import annotations

import numpy as np


def robust_zscores(values: np.ndarray, window: int = 25) -> np.ndarray:
    """(x - rolling median) / (1.4826 * rolling MAD) over a centered window; NaN for non-finite points."""
    raise NotImplementedError


def find_spikes(values: np.ndarray, z_threshold: float = 6.0, window: int = 25, direction: str = "up") -> np.ndarray:
    """Indices of points whose robust z-score exceeds `z_threshold` ("up", "down" or "both")."""
    raise NotImplementedError
