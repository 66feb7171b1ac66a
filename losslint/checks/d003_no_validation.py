"""No validation series: the run logged a training loss but nothing measured on held-out data.

What it detects: a run with a training loss and no validation loss or validation task metric (`eval/...`).
Why it matters: overfitting is the gap between training and unseen data; with the training curve alone it
cannot be seen, and no early stop can be recommended (except before a break: a diverged run is stopped where its
training loss was best). A `test/` metric logged once (HF `predict()`) is a result, not a curve to steer by; a
`test/` loss evaluated at 3 or more steps in a run with no `eval/` metric is that run's validation (DETR, DeiT
and MAE name their per-epoch evaluation so: `RunView.validation_split`).
What to do: evaluate during training: HF `eval_strategy="steps"` with an `eval_dataset`, Keras
`validation_data=`/`validation_split=`, Lightning `val_dataloaders` / `val_check_interval`.

Defaults: no parameters; informational, since many quick experiments log no validation on purpose.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..findings import Finding
from ..view import RunView
from ._common import emit

CODE = "D003"
NAME = "no-validation"
CATEGORY = "integrity"
DEFAULT_SEVERITY = "info"
DEFAULTS: dict = {}


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    if view.train_loss is None:
        return
    if view.eval_losses or [t for t in view.task_metrics if t.derived_from is None]:
        return
    yield emit(__name__, params, None, None,
               f"only training metrics were logged ({view.train_loss.metric}); overfitting cannot be judged and no "
               f"early stop can be recommended; log a validation loss (HF eval_strategy, Keras validation_data)")
