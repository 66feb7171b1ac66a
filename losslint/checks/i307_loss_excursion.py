"""Loss excursion: the training loss leaves its course for a stretch of steps, far above its best so far, and
comes back.

What it detects: the training loss, smoothed with a centered rolling median over about `smooth_fraction` of its
points (so single-batch spikes, I302's business, vanish), rises at least `min_rise` (relative) above the lowest
smoothed level it had reached, by at least `min_range_share` of the smoothed curve's range, and then comes back
down by at least half of that rise.
Why it matters: a loss that jumps from its trend to well above it and takes many steps to come back lost that
much training: the optimiser stepped into a region it had to climb out of (a learning rate at the edge of
stability, a warm-up that ended too high, fp16 overflow, a bad shard of data). Unlike a one-batch spike, this
changes the course of training (../shared/VERDICTS.md, `unstable`).
What to do: lower the peak learning rate or lengthen warm-up, clip gradients, raise the batch size; look at the
data seen where it started.

Defaults:
- `smooth_fraction = 0.05`, at least 5 points: a stretch of a twentieth of the run, so single spikes are removed
  but a blow-up over a few logging steps is not.
- `min_rise = 0.25`: 25% above the best smoothed level so far. Healthy real-world training losses (per-batch
  Whisper, TrOCR, MNIST) stay within 15% of their running best after smoothing; the labelled unstable nanoGPT
  runs left a level of 3.5-3.8 for 5-7.6.
- `min_range_share = 0.2`: and a fifth of the smoothed curve's range, so a loss memorised down to 0.01 that
  wanders to 0.03 after falling from 0.75 (Whisper and ViT fine-tunes labelled good fits) is not an excursion;
  the unstable nanoGPT runs went back up by a third of their whole descent.
- `noise_k = 4.0`: and 4 times the smoothed level's noise, taken as the 90th percentile of the raw points'
  distance from it over the square root of the smoothing window. The 90th percentile, not a MAD: per-batch losses
  near their floor are heavy-tailed (a Whisper fine-tune whose batches range 0.004-0.2 around 0.03, a ViT
  classifier's 0.001-0.16), and their rolling median wanders by more than a MAD-based sigma says; those two
  labelled good fits "rose" 0.054 and 0.068 against a bar of 0.08 and 0.096, while the unstable nanoGPT runs
  rose 2.3-2.5 against 0.9-1.0.
- `recover_share = 0.5`, `recover_within`: half of the rise won back within a tenth of the run: a rise that stays
  is I308 (training loss rising) or I303 (divergence).
- `min_points = 20`: as I302.
- `eval_react = 0.1`: where a validation loss was evaluated at least `min_evals_inside` (2) times between the
  excursion's start and its return, the excursion counts (warning) only if some evaluation in it is 10% above the
  best evaluation before it. An excursion the validation loss does not follow (it kept improving, or moved by
  less than evaluation noise) left the model's course untouched, so it is an info finding, as I304 treats
  gradient-norm spikes that leave the loss untouched (../shared/VERDICTS.md: `unstable` is "spikes that change
  the course of training"). The labelled unstable runs with a validation curve doubled it during the excursion
  (a Whisper LoRA fine-tune 0.22 -> 0.42, a wav2vec2 CTC run 603 -> 1038): 10% leaves a wide margin below that
  and above the 2-5% an evaluation wanders on a plateau. With fewer evaluations inside (or none logged) the
  excursion is judged on the training loss alone.

Passing: a loss falling 11 -> 3.4 with a few single-step spikes. Failing: a loss at 3.5 that jumps to 7.6 and
takes a twentieth of the run to come back.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .. import analysis
from ..findings import Finding
from ..view import RunView, odd_window
from ._common import emit, num, pct

CODE = "I307"
NAME = "loss-excursion"
CATEGORY = "instability"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"smooth_fraction": 0.05, "min_rise": 0.25, "min_range_share": 0.2, "noise_k": 4.0,
            "recover_share": 0.5, "min_points": 20, "eval_react": 0.1, "min_evals_inside": 2}


def _validation_followed(view: RunView, first: int, last: int, params: Mapping[str, Any]) -> tuple[bool | None, str]:
    """Whether the validation loss rose with an excursion of the training loss between steps `first` and `last`:
    True or False with a description of what the validation loss did, None (and "") where it cannot be judged."""
    valid = view.eval_loss
    if valid is None:
        return None, ""
    steps, values = valid.steps, valid.values
    inside = np.flatnonzero((steps >= first) & (steps <= last))
    if len(inside) < params["min_evals_inside"]:
        return None, ""
    before = values[: inside[0]]
    best = float(before.min()) if len(before) else float(values[inside[0]])
    for i in inside[0 if len(before) else 1:]:
        if best <= 0:  # a relative rise means nothing against a best at or below zero
            return None, ""
        if values[i] >= best * (1 + params["eval_react"]):
            return True, (f"{valid.metric} rose with it, to {num(values[i])} at step {int(steps[i])} from a best of "
                          f"{num(best)}")
        best = min(best, float(values[i]))
    first_value, last_value = float(values[inside[0]]), float(values[inside[-1]])
    return False, (f"{valid.metric} did not follow it ({num(first_value)} at step {int(steps[inside[0]])}, "
                   f"{num(last_value)} at step {int(steps[inside[-1]])}, never {pct(params['eval_react'])} above "
                   f"its best), so the course of training did not change")


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    train = view.train_loss
    if train is None or train.n < params["min_points"]:
        return
    steps, values = train.bucketed
    window = max(5, odd_window(len(values), params["smooth_fraction"]))
    smooth = analysis.rolling_median(values, window)
    scale = analysis.log_or_none(smooth)
    if scale is None:
        return
    found = analysis.excursions(scale, math.log1p(params["min_rise"]), recover_share=params["recover_share"],
                                recover_within=max(3, len(values) // 10), min_range_share=params["min_range_share"],
                                range_values=smooth)
    noise = float(np.quantile(np.abs(values - smooth), 0.9)) / math.sqrt(window)
    found = [e for e in found if smooth[e.peak] - smooth[e.start] >= params["noise_k"] * noise]
    if not found:
        return
    judged = [(e, *_validation_followed(view, int(steps[e.start]), int(steps[e.back]), params)) for e in found]
    counted = [(e, how) for e, followed, how in judged if followed is not False]
    severity = None
    if not counted:  # every excursion left the validation loss untouched
        counted = [(e, how) for e, _, how in judged]
        severity = "info"
    worst, how = max(counted, key=lambda pair: pair[0].rise)
    more = f" ({len(counted)} such excursions)" if len(counted) > 1 else ""
    advice = ("worth watching: lower the peak learning rate or lengthen warm-up if it grows" if severity else
              "lower the peak learning rate or lengthen warm-up, clip gradients, raise the batch size")
    yield emit(__name__, params, train.metric, int(steps[worst.peak]),
               f"{train.metric} left its course: from {num(smooth[worst.start])} at step {int(steps[worst.start])} "
               f"its smoothed level rose {pct(math.expm1(worst.rise))} to {num(smooth[worst.peak])} at step "
               f"{int(steps[worst.peak])} and came back to {num(smooth[worst.back])} by step "
               f"{int(steps[worst.back])}{more}{'; ' + how if how else ''}; {advice}", severity=severity)
