"""Too few evaluation points: the validation curve is too short to judge.

What it detects: a validation loss (or, without one, the validation task metric early stopping would watch)
with fewer than `min_points` finite values.
Why it matters: a trend, a minimum followed by a rise, or a patience-based stop all need several evaluations
after the best one: HF `EarlyStoppingCallback(early_stopping_patience=3)` needs the best evaluation plus 3,
Prechelt's (1998) progress criteria work on strips of 5. With fewer points losslint's overfitting rules stay
silent, so a clean verdict means little.
What to do: evaluate more often (HF `eval_steps`, Lightning `val_check_interval`, Keras `validation_freq=1`).

Defaults:
- `min_points = 5`: Prechelt's strip length k=5, and one more than the best evaluation + Lightning's default
  `EarlyStopping(patience=3)`.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..findings import Finding
from ..view import RunView
from ._common import emit

CODE = "D004"
NAME = "too-few-evals"
CATEGORY = "integrity"
DEFAULT_SEVERITY = "info"
DEFAULTS = {"min_points": 5}


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    series = view.eval_loss
    if series is None:
        candidates = [t for t in view.task_metrics if t.derived_from is None]
        series = candidates[0] if candidates else None
    if series is None or series.n_total == 0 or series.n >= params["min_points"]:
        return
    steps = ", ".join(str(int(s)) for s in series.steps[:5])
    yield emit(__name__, params, series.metric, None,
               f"only {series.n} finite evaluation(s) of {series.metric}" + (f" (step {steps})" if steps else "")
               + f"; at least {params['min_points']} are needed to judge overfitting or recommend a stop; "
               f"evaluate more often")
