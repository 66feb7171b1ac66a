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
            "recover_share": 0.5, "min_points": 20}


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
    worst = max(found, key=lambda e: e.rise)
    more = f" ({len(found)} such excursions)" if len(found) > 1 else ""
    yield emit(__name__, params, train.metric, int(steps[worst.peak]),
               f"{train.metric} left its course: from {num(smooth[worst.start])} at step {int(steps[worst.start])} "
               f"its smoothed level rose {pct(math.expm1(worst.rise))} to {num(smooth[worst.peak])} at step "
               f"{int(steps[worst.peak])} and came back to {num(smooth[worst.back])} by step "
               f"{int(steps[worst.back])}{more}; lower the peak learning rate or lengthen warm-up, clip gradients, "
               f"raise the batch size")
