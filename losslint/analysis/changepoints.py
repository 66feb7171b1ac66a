"""Change points in a curve's mean/slope with ruptures, on a bounded number of points."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Segment:
    start_step: int
    end_step: int
    mean: float
    slope: float  # Theil-Sen slope per step within the segment


@dataclass(frozen=True)
class ChangePoints:
    steps: list[int] = field(default_factory=list)  # first step of each new segment
    segments: list[Segment] = field(default_factory=list)


class ChangePointDetector:
    """Penalised change-point search (ruptures) on a bucket-averaged copy of the series."""

    def __init__(self, max_points: int = 2000, min_size: int = 5, penalty_scale: float = 3.0, model: str = "l2"):
        self.max_points = max_points
        self.min_size = min_size
        self.penalty_scale = penalty_scale
        self.model = model

    def fit(self, steps: np.ndarray, values: np.ndarray) -> ChangePoints:
        raise NotImplementedError
