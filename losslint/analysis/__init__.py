"""Pure numeric analysis of one series: smoothing, noise, trends, change points, spikes.

Early stop, which builds on these, is `losslint.early_stop`."""
from .changepoints import ChangePointDetector, ChangePoints, Segment
from .excursions import Excursion, excursions, log_or_none
from .noise import noise_sigma, roughness
from .smoothing import bucket_mean, ema, median, rolling_median, trailing_median
from .spikes import find_spikes, robust_zscores
from .trend import MannKendall, TrendFit, mann_kendall, theil_sen

__all__ = [
    "ChangePointDetector", "ChangePoints", "Excursion", "MannKendall", "Segment", "TrendFit", "bucket_mean", "ema",
    "excursions", "find_spikes", "log_or_none", "mann_kendall", "median", "noise_sigma", "robust_zscores",
    "rolling_median", "roughness", "theil_sen", "trailing_median",
]
