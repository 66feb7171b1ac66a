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
- `range_share = 0.5`: the level is never taken below half of the smoothed curve's range, so a loss that fell
  from 1.0 to 0.0004 (a memorised training set) is not "428% noisy" for residuals of 0.002: measured against its
  level alone, the end of a converged classifier is always noisy (per-batch MNIST, 2.3 -> 0.05 with batches at
  0.01-0.6: 72% of its level, 19% of half its range; a Whisper fine-tune 0.75 -> 0.01: 57% and 26%). A curve that
  stays near one level (range small) is still judged against its level: the fixture run at batch size 4 and a
  learning rate of 2e-3 scatters 69% of half its range.
- `min_points = 50`: roughness needs a window of points around each value.

Passing: a per-batch loss scattering 5% around a curve falling 2.3 -> 0.3. Failing: a loss scattering 40% around
its level at every step (batch size 4 at a learning rate of 2e-3).
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from .. import analysis
from ..findings import Finding
from ..view import RunView
from ._common import emit, pct

CODE = "I301"
NAME = "noisy-loss"
CATEGORY = "instability"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"threshold": 0.3, "range_share": 0.5, "min_points": 50}


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    train = view.train_loss
    if train is None or train.n < params["min_points"]:
        return
    _, values = train.bucketed
    rough = float(analysis.roughness(values, train.smoothed, params["range_share"]))
    if not rough == rough or rough < params["threshold"]:
        return
    yield emit(__name__, params, train.metric, None,
               f"{train.metric} scatters {pct(rough)} of its level around its smoothed curve (threshold "
               f"{pct(params['threshold'])}); lower the learning rate, use a larger batch or gradient accumulation, "
               f"clip gradients")
