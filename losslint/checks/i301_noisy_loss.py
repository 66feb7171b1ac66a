"""Noisy loss: the training loss scatters widely around its own smoothed curve.

What it detects: the roughness of the training loss (robust spread, 1.4826 x MAD, of the residuals around a
rolling-median curve, relative to the curve's level) is at least `threshold`, on at least `min_points` points.
Why it matters: a loss this noisy hides trends (plateaus, slow rises) and makes the end-of-run value a lottery;
it comes from a batch too small for the learning rate, a learning rate near the edge of stability, or very
uneven batches.
What to do: lower the learning rate or raise the batch size (or use gradient accumulation), add gradient
clipping; for plots, log a running mean.

Defaults:
- `threshold = 0.3`: residuals spread over 30% of the loss level. Measured on the real-world corpus, healthy
  training losses spread 0-5% (per-batch LM, detection and Whisper logs) and up to 19% (an epoch-level loss near
  0.003); the heavy-tailed 25-50% noise that the project's synthetic generator plants for its "unstable/noisy"
  runs measures 37-67%. 30% separates the two.
- `min_points = 50`: roughness needs a window of points around each value.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..findings import Finding
from ..view import RunView
from ._common import emit, pct

CODE = "I301"
NAME = "noisy-loss"
CATEGORY = "instability"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"threshold": 0.3, "min_points": 50}


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    train = view.train_loss
    if train is None or train.n < params["min_points"]:
        return
    rough = train.roughness
    if not rough == rough or rough < params["threshold"]:
        return
    yield emit(__name__, params, train.metric, None,
               f"{train.metric} scatters {pct(rough)} of its level around its smoothed curve (threshold "
               f"{pct(params['threshold'])}); lower the learning rate, use a larger batch or gradient accumulation, "
               f"clip gradients")
