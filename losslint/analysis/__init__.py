"""Pure numeric analysis of one series: smoothing, noise, trends, change points, spikes, early stop."""
from .changepoints import ChangePointDetector, ChangePoints, Segment
from .early_stop import (BASELINES, STRATEGIES, StopDecision, baseline_stops, best_until, metric_direction, patience_stop,
                         prechelt_gl, prechelt_pq, prechelt_up, recommend, saved_fraction)
from .excursions import Excursion, excursions, log_or_none
from .noise import noise_sigma, roughness
from .smoothing import bucket_mean, ema, rolling_median, trailing_median
from .spikes import find_spikes, robust_zscores
from .trend import MannKendall, TrendFit, mann_kendall, theil_sen

__all__ = [
    "BASELINES", "STRATEGIES", "ChangePointDetector", "ChangePoints", "Excursion", "MannKendall", "Segment", "StopDecision", "TrendFit",
    "baseline_stops", "best_until", "bucket_mean", "ema", "excursions", "log_or_none", "find_spikes", "mann_kendall", "metric_direction", "noise_sigma",
    "patience_stop", "prechelt_gl", "prechelt_pq", "prechelt_up", "recommend", "robust_zscores",
    "rolling_median", "roughness", "saved_fraction", "theil_sen", "trailing_median",
]
