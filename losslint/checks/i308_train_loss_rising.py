"""Training loss rising: the training loss went up over the second half of the run.

What it detects: the training loss has a significant increasing trend over the second half (Mann-Kendall,
p < `alpha`), and its end level is at least `min_rise` above its smoothed minimum and `noise_k` noise-sigmas.
Why it matters: the optimiser is no longer descending: the learning rate is too high for this phase (or a
schedule raised it), the data changed (curriculum, a new shard), or regularisation is growing. A model trained
like this fits even its own training data worse than it did earlier. It is an instability rule (verdict
`unstable`, or `diverged` when I303 also fires), not an underfitting one: ../shared/VERDICTS.md defines
underfitting as losses that *plateau* while the model is still bad, and a loss that climbs back up is neither a
plateau nor a model that stopped learning; the remedy (lower or decay the learning rate) is instability's.
Formerly U203: `U203` still selects, ignores and configures this rule (a redirect, as ruff keeps for moved rules).
What to do: lower the learning rate (or decay it), check the schedule and the data pipeline; keep the checkpoint
from the minimum.

Defaults:
- `min_rise = 0.1`: 10% above the minimum; SageMaker Debugger's LossNotDecreasing rule uses
  `increase_threshold_percent=5` on a single window, the whole-half test here asks for twice that.
- `alpha = 0.05`, `noise_k = 3.0`, `min_points = 10`.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from .. import analysis
from ..findings import Finding
from ..view import RunView
from ._common import emit, num, pct

CODE = "I308"
NAME = "train-loss-rising"
CATEGORY = "instability"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"min_rise": 0.1, "alpha": 0.05, "noise_k": 3.0, "min_points": 10}


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    train = view.train_loss
    if train is None or train.n < params["min_points"]:
        return
    steps, values = train.bucketed
    half = len(values) // 2
    mk = analysis.mann_kendall(values[half:], alpha=params["alpha"])
    if mk.trend != "increasing" or mk.p_value >= params["alpha"]:
        return
    smoothed = train.smoothed
    i_min = int(smoothed.argmin())
    low, end = float(smoothed[i_min]), train.tail_level()
    noise = train.noise if train.noise == train.noise else 0.0
    rise = end - low
    if rise < params["min_rise"] * max(abs(low), 1e-12) or rise < params["noise_k"] * noise:
        return
    yield emit(__name__, params, train.metric, int(steps[i_min]),
               f"{train.metric} rose {pct(rise / max(abs(low), 1e-12))} from its low {num(low)} at step "
               f"{int(steps[i_min])} to {num(end)} at the end (Mann-Kendall p={mk.p_value:.2g}); lower or decay the "
               f"learning rate, check the schedule and the data pipeline")
