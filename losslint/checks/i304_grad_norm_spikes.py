"""Gradient-norm spikes: the gradient norm jumps far above its local level.

What it detects: points of `train/grad_norm` with a robust z-score of at least `z_threshold` against a rolling
median/MAD over `window` points that are also at least `min_rel_jump` above the local median.
Why it matters: gradient-norm spikes precede loss spikes and divergence (large updates in one step); they show
an optimiser near its stability edge even when the loss has not (yet) moved.
What to do: enable or tighten gradient clipping (HF `max_grad_norm`, default 1.0), lower the learning rate or
lengthen warm-up, look for bad batches.

Defaults:
- `window = 10`, `z_threshold = 6.0`: as I302 (Lightning `SpikeDetection(window=10)`).
- `min_rel_jump = 1.0`: at least twice the local level; gradient norms are noisier than losses.
- `min_range_fraction = 0.01`, `min_points = 20`: as I302.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..findings import Finding
from ..view import RunView
from ._common import emit
from .i302_loss_spikes import describe_spikes

CODE = "I304"
NAME = "grad-norm-spikes"
CATEGORY = "instability"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"window": 10, "z_threshold": 6.0, "min_rel_jump": 1.0, "min_range_fraction": 0.01, "min_points": 20}


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    series = view.grad_norm
    if series is None or series.n < params["min_points"]:
        return
    found = series.spikes(params["z_threshold"], params["window"], params["min_rel_jump"], params["min_range_fraction"])
    if not len(found.indices):
        return
    yield emit(__name__, params, series.metric, int(found.steps[0]),
               describe_spikes(series, found, "") + "; clip gradients (max_grad_norm), lower the learning rate or "
               "lengthen warm-up")
