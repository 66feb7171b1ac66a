"""Not converged: the training loss was still falling clearly when the run ended (an info note on a good fit).

What it detects: over the last `tail_fraction` of the run the training loss has a significant decreasing trend
(Mann-Kendall, p < `alpha`), its Theil-Sen fit fell over that window by at least `min_share` of the whole descent
(start level minus end level) and by at least `min_drop` of the end level, and it ends at a new low (within `new_low_tol` of its smoothed minimum: a loss recovering from a spike is not
"still improving"); the validation loss, when logged, reached its best within that same last stretch. A loss
that already fell below `converged_fraction` of its start is a fitted training set (what remains is the
learning-rate decay), not an unfinished run.
Why it matters: the run was stopped before the model got what it could from the data: more steps would still
have lowered the loss, on training and (with a validation loss still falling) on unseen data.
What to do: train longer (more epochs or steps) or, if the budget is fixed, shorten the decay so that the curve
flattens within the budget.
Severity: `info`. A run still clearly improving at its end is a good fit that could train longer, not
underfitting (../shared/VERDICTS.md): underfitting is a plateau while still bad (U201). Before 0.3 this was a
warning and made such runs "underfitting"; four real runs labelled good-fit (a YOLOv3 run, a Fashion-MNIST CNN,
an interrupted nanoGPT, a 5-epoch numpy FFN) failed the gate for it.

Defaults:
- `tail_fraction = 0.2`: the last fifth of the run, the window Keras/HF users read off as "the end of the curve".
- `min_share = 0.025`: the last fifth still made 2.5% or more of the run's whole descent: a run cut off
  mid-descent. Measured with benchmarks/quality.py across all three corpora: good fits made at most 1.9% of
  their descent in their last fifth (600 synthetic good fits over two seeds, the fixture good fit, and the
  hand-labelled real runs whose validation was still improving: 1.8% at most), while the real runs labelled
  "train longer" made 2.7-3.8% (an interrupted nanoGPT, a one-epoch LM, a BERT run still falling after 100 epochs).
  A share of the descent, not of the level: a loss falling towards zero has large relative falls however flat
  its curve is, and a power-law descent keeps falling ~10% of its level per fifth long after it has flattened.
  (0.1.0 used a 15%-of-level bar, chosen so slow synthetic descents pass; it missed those three real runs.)
- `min_drop = 0.02`: and at least 2% of the end level, so a near-flat tail that ranks as falling by a hair is
  not "still falling".
- `alpha = 0.05`: the usual significance level. `min_points = 5`: five epochs falling in a row are significant
  (Mann-Kendall p < 0.05) and a run stopped there is the typical "train longer" case.
- `new_low_tol = 0.02`: ending within 2% of the lowest smoothed level counts as a new low.
- `converged_fraction = 0.05`: a loss down to 5% of its start (a 95% fall) is not called unfinished.

Passing: a loss that fell 3.0 -> 0.5 and flattened (its last fifth made 1% of the descent). Failing (info): a loss
that fell 3.0 -> 1.2 and was still falling 4% per tenth of the run when it stopped.
"""  # noqa: E501 - printed as written by `losslint rules`
from __future__ import annotations

import math
from typing import Any, Iterator, Mapping

from ..findings import Finding
from ..view import RunView
from ._common import emit, num, pct

CODE = "U202"
NAME = "not-converged"
CATEGORY = "underfitting"
DEFAULT_SEVERITY = "info"
DEFAULTS = {"tail_fraction": 0.2, "min_share": 0.025, "min_drop": 0.02, "alpha": 0.05, "min_points": 5,
            "new_low_tol": 0.02, "converged_fraction": 0.05}


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    train = view.train_loss
    if train is None or train.n < params["min_points"]:
        return
    trend = train.tail_trend(params["tail_fraction"], min_points=5)
    if trend is None:
        return
    mk, fit, steps, _ = trend
    if mk.trend != "decreasing" or mk.p_value >= params["alpha"]:
        return
    level = train.tail_level()
    drop = -fit.slope * float(steps[-1] - steps[0])
    if level <= 0 or drop < params["min_drop"] * level:
        return
    descent = train.head_level() - level
    if descent <= 0 or drop < params["min_share"] * descent:
        return
    if float(train.smoothed[-1]) > float(train.smoothed.min()) * (1 + params["new_low_tol"]):
        return
    if level <= params["converged_fraction"] * train.head_level():
        return
    evals = view.eval_loss
    if evals is not None and evals.n >= 3:
        _, values = evals.bucketed
        tail_start = len(values) - max(1, int(math.ceil(len(values) * params["tail_fraction"])))
        if int(values.argmin()) < tail_start:
            return
    yield emit(__name__, params, train.metric, int(steps[-1]),
               f"not converged: {train.metric} was still falling at the end, the last "
               f"{pct(params['tail_fraction'])} of the run still gained {pct(drop / (level + drop))} "
               f"({pct(drop / descent)} of its whole descent; steps {int(steps[0])}..{int(steps[-1])}, now "
               f"{num(level)}, Mann-Kendall p={mk.p_value:.2g}); it could train longer")
