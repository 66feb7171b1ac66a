"""Unstable validation curve: the validation loss or a validation metric jumps and comes back.

What it detects, on the validation loss (the one early stopping watches) and on each validation metric whose
better direction is known (accuracy, F1, WER...), "excursions": the curve gets worse by a large amount and wins
at least half of it back within `recover_within` evaluations. For the loss, a rise of at least `min_rise`
(relative) from its lowest point so far (the median of that point and its neighbours: one lucky evaluation below
the curve is not where a jump starts) that is also `min_range_share` of the curve's whole range; for a metric,
a swing that gives up `metric_swing` of its range (worst to best value in the run) and at least `min_metric_drop`
of its best value (accuracy swinging between chance and its best). It reports a blow-up that recovers (the curve
stays up for `min_width` evaluations or more) or a zig-zag (`zigzag_count` excursions or more); a single bad
evaluation is neither.
Why it matters: an overfitting curve rises and stays up; a validation curve that jumps and comes back is a
training run that keeps stepping off its path (a learning rate too high for the batch size, a warm-up too short,
fp16 overflow), so which checkpoint is "best" is a matter of luck. The training loss may hide it when it is
logged rarely or averaged over an epoch. ../shared/VERDICTS.md counts a zig-zagging validation curve and an
evaluation accuracy swinging between chance and its best as `unstable`.
What to do: lower the learning rate or lengthen warm-up, raise the batch size, clip gradients; evaluate more
often to see where it happens.

Defaults:
- `min_rise = 0.5`: 50% above the lowest evaluation before it. An evaluation averages a whole validation set,
  so its noise is a few percent: in the labelled real-world corpus healthy runs bump by at most 18% (a Keras CIFAR
  CNN) and 11% (TrOCR), while a wav2vec2 run whose training blew up at a constant 3e-4 learning rate rose 72%
  (643 -> 1038 from the median of its low point and neighbours) and came back to 667. A Keras CNN whose
  validation loss wanders 0.29-0.46 around 0.37 rises 60% from its single lowest evaluation, 24% from that median.
- `recover_share = 0.5`, `recover_within = 3`: half of the rise won back within three evaluations: a rise that
  stays is overfitting (O101) or divergence (I303), not this.
- `min_range_share = 0.1`: and 10% of the curve's range, so a validation loss of 0.001 that doubles at the end of a
  descent from 2.3 (a relative rise, but nothing on the curve) does not count.
- `metric_swing = 0.5`: half the metric's range (from its worst to its best value in the run) lost and won back;
  `min_metric_drop = 0.1`: and 10% of its best value, so an accuracy that never moved (0.5741, 0.5739, 0.5741)
  does not "swing 100% of its range".
- `min_width = 2`, `zigzag_count = 3`: one evaluation off the curve is noise (../shared/VERDICTS.md: "one noisy
  evaluation" is no verdict); two in a row, or three separate jumps, are a pattern. A YOLOv5 run labelled good
  fit has one validation box loss 2.3x its neighbours.
- `min_points = 5`: as D004.
- `min_train_fall = 0.1`: task metrics are judged only in a run that fitted its training data (O101's
  `min_train_fall`): where the training loss stayed within 10% of its start, as high as the validation loss, the
  metric has no "best" to swing away from; it wanders around chance (a QuALITY reader at 0.23-0.31 on a 4-way
  task), which is underfitting (U201), and "lower the learning rate" would contradict U201's "raise" it.
- `loss_severity = "warning"` (the validation loss) and the rule's severity (task metrics): a warning, so a run
  whose validation loss zig-zags while it drifts up after its minimum is still called overfitting (a TF2 MNIST
  run, +70% over 95 epochs with evaluations jumping 2x); raise it to "error" to put validation instability
  ahead of overfitting in the verdict.

Passing: eval/loss 0.30, 0.28, 0.26, 0.235, 0.26, 0.23 (one 11% bump). Failing: eval/loss 2208, ..., 643, 603,
823, 1038, 853, 667 (a 72% jump that comes back); eval/accuracy 0.5, 0.8, 0.9, 0.52, 0.88, 0.91.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .. import analysis
from ..findings import Finding
from ..view import RunView
from ._common import emit, num, pct, train_fitted

CODE = "I306"
NAME = "validation-unstable"
CATEGORY = "instability"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"min_rise": 0.5, "recover_share": 0.5, "recover_within": 3, "min_range_share": 0.1,
            "metric_swing": 0.5, "min_metric_drop": 0.1, "min_width": 2, "zigzag_count": 3, "min_points": 5,
            "loss_severity": "warning", "min_train_fall": 0.1}


def _pattern(found: list[analysis.Excursion], params: Mapping[str, Any]) -> list[analysis.Excursion]:
    """The excursions when they make a pattern (one that lasts, or a zig-zag), else none."""
    if any(e.width >= params["min_width"] for e in found) or len(found) >= params["zigzag_count"]:
        return found
    return []


def _describe(metric: str, steps: np.ndarray, values: np.ndarray, found: list[analysis.Excursion]) -> str:
    worst = max(found, key=lambda e: e.rise)
    text = (f"{metric} jumped from {num(values[worst.start])} at step {int(steps[worst.start])} to "
            f"{num(values[worst.peak])} at step {int(steps[worst.peak])} and came back to {num(values[worst.back])} "
            f"by step {int(steps[worst.back])}")
    if len(found) > 1:
        text += f" ({len(found)} such jumps)"
    return text


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    within = int(params["recover_within"])
    loss = view.eval_loss
    scale = analysis.log_or_none(loss.values) if loss is not None and loss.n >= params["min_points"] else None
    if loss is not None and scale is not None:
        series = loss
        found = _pattern(analysis.excursions(scale, math.log1p(params["min_rise"]),
                                             recover_share=params["recover_share"], recover_within=within,
                                             min_range_share=params["min_range_share"], range_values=series.values,
                                             robust_start=True),
                         params)
        if found:
            worst = max(found, key=lambda e: e.rise)
            yield emit(__name__, params, series.metric, int(series.steps[worst.peak]),
                       _describe(series.metric, series.steps, series.values, found)
                       + f" (+{pct(math.expm1(worst.rise))} over the level before it): the validation curve is "
                       f"unstable; lower the learning rate or lengthen warm-up, raise the batch size, clip gradients",
                       severity=params["loss_severity"])
    if not train_fitted(view, params["min_train_fall"]):
        # A model that fitted nothing has no good evaluations to swing to: its metric wanders around chance (U201)
        return
    for series in view.task_metrics:
        if series.derived_from is not None or series.n < params["min_points"] or series.direction is None:
            continue
        values = series.values
        span = float(values.max() - values.min())
        if span <= 0:
            continue
        best = float(values.max() if series.direction == "max" else values.min())
        error = (values.max() - values) / span if series.direction == "max" else (values - values.min()) / span
        swing = max(params["metric_swing"], params["min_metric_drop"] * abs(best) / span)
        found = _pattern(analysis.excursions(error, swing, recover_share=params["recover_share"],
                                             recover_within=within, robust_start=True), params)
        if found:
            worst = max(found, key=lambda e: e.rise)
            yield emit(__name__, params, series.metric, int(series.steps[worst.peak]),
                       _describe(series.metric, series.steps, values, found)
                       + f" (a swing of {pct(worst.rise)} of its range): evaluations swing between bad and good; "
                       f"lower the learning rate or lengthen warm-up, raise the batch size")
