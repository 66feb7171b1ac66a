"""Trend tests: Theil-Sen slope and Mann-Kendall."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrendFit:
    slope: float
    intercept: float
    lo_slope: float
    hi_slope: float


@dataclass(frozen=True)
class MannKendall:
    tau: float
    p_value: float
    trend: str  # "increasing" | "decreasing" | "no trend"


def theil_sen(steps: np.ndarray, values: np.ndarray, confidence: float = 0.95) -> TrendFit:
    """Theil-Sen slope (per step) with its confidence interval, via scipy.stats.theilslopes."""
    raise NotImplementedError


def mann_kendall(values: np.ndarray, alpha: float = 0.05) -> MannKendall:
    """Mann-Kendall trend test (Kendall's tau of values against their index)."""
    raise NotImplementedError
