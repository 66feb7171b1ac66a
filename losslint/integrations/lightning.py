"""`LosslintCallback` for Lightning (the `lightning` extra; `pytorch_lightning` works as well when
that is what is installed: the `lightning` package is preferred when both are).

    from losslint.integrations.lightning import LosslintCallback
    callback = LosslintCallback(stop_on="warning", report_dir="losslint-report")
    trainer = L.Trainer(max_epochs=50, logger=CSVLogger("logs"), callbacks=[callback])
    trainer.fit(model, train_loader, val_loader)
    print(callback.result.verdict, callback.best_step)

What it sees: the metrics the Trainer hands its loggers (`log_metrics(metrics, step)`), at the steps and with the
names a CSV or TensorBoard logger writes, so that the live check and `losslint check` on `metrics.csv` read the same
points. It listens through a small logger of its own, added to `trainer.loggers` once fitting starts (after the
checkpoint callback has chosen its folder from the first logger) and removed at the end. A Trainer without any
logger (`logger=False`) sends nothing to loggers; the callback then reads `trainer.callback_metrics` after each
validation (the monitored metric at `trainer.global_step`) and after each training epoch.
After each validation the configured rules run; on a stop `trainer.should_stop` is set (see
`losslint.integrations._live`); at fit end `callback.result` is the `Result`.
"""
from __future__ import annotations

import importlib
import importlib.util
import math
from typing import Any

from ..schema import Run, frame_from_records
from ._live import LiveCheck, LiveResults, lazy_callback, missing_framework

_PACKAGE = next((name for name in ("lightning", "pytorch_lightning") if importlib.util.find_spec(name) is not None),
                None)
if _PACKAGE is None:
    raise missing_framework("lightning", "lightning (or pytorch_lightning)")



def _number(value: Any) -> float | None:
    try:
        if hasattr(value, "item"):
            value = value.item()
        return float(value)
    except (TypeError, ValueError):
        return None


def _build() -> type:
    root = "lightning.pytorch" if _PACKAGE == "lightning" else "pytorch_lightning"
    try:
        pl = importlib.import_module(root)
        loggers = importlib.import_module(f"{root}.loggers")
    except ImportError as exc:  # pragma: no cover
        raise missing_framework("lightning", root) from exc

    logger_base: Any = loggers.Logger
    callback_base: Any = pl.Callback

    class _Tap(logger_base):
        """Receives what the Trainer logs, as every logger does."""

        def __init__(self, sink) -> None:
            super().__init__()
            self._sink = sink

        @property
        def name(self) -> str:
            return "losslint"

        @property
        def version(self) -> str:
            return "0"

        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            pass

        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            self._sink(metrics, step)

    class LosslintCallback(LiveResults, callback_base):
        """losslint's rules and online stop inside `Trainer.fit()` (see the module docstring)."""

        def __init__(self, *, config: Any = None, monitor: str | None = None, stop_on: str | None = None,
                     report_dir: Any = None, name: str | None = None) -> None:
            super().__init__()
            from ..schema import canonical_metric

            self.live = LiveCheck(config=config, monitor=None if monitor is None else canonical_metric(monitor),
                                  stop_on=stop_on, report_dir=report_dir)
            self.name = name
            self.records: list[tuple[str, int, float, float, float]] = []
            self._tap: Any = None

        def _record(self, metrics: dict[str, Any], step: int | None) -> None:
            epoch = _number(metrics.get("epoch"))
            for key, value in metrics.items():
                number = _number(value)
                if key in ("epoch", "step") or number is None:
                    continue
                self.records.append((key, int(step or 0), number, math.nan, math.nan if epoch is None else epoch))

        def run(self, trainer: Any) -> Run:
            name = self.name
            if name is None:
                name = getattr(trainer.logger, "name", None) or "lightning"
            return Run(name=str(name), format="live", sources=[], data=frame_from_records(
                self.records, self.live.config.aliases))

        def on_fit_start(self, trainer, pl_module):
            self.records.clear()
            if trainer.loggers:
                self._tap = _Tap(self._record)
                trainer.loggers = [*trainer.loggers, self._tap]

        def on_validation_end(self, trainer, pl_module):
            if trainer.sanity_checking:
                return
            if self._tap is None:
                self._record(dict(trainer.callback_metrics), trainer.global_step)
            # the step the loggers were given (the stop is reported at the step metrics.csv shows)
            step = self.records[-1][1] if self.records else int(trainer.global_step)
            if self.live.update(self.run(trainer), step):
                trainer.should_stop = True

        def on_train_epoch_end(self, trainer, pl_module):
            if self._tap is None:
                metrics = {k: v for k, v in trainer.callback_metrics.items() if not k.startswith("val")}
                self._record(metrics, trainer.global_step)

        def on_fit_end(self, trainer, pl_module):
            if self._tap is not None:
                trainer.loggers = [one for one in trainer.loggers if one is not self._tap]
                self._tap = None
            self.live.finish(self.run(trainer))

    return LosslintCallback


__getattr__ = lazy_callback(__name__, _build)
