"""`LosslintCallback` for Keras 3 (the `keras` extra; tested on the torch backend).

    from losslint.integrations.keras import LosslintCallback
    callback = LosslintCallback(stop_on="warning", report_dir="losslint-report")
    model.fit(x, y, validation_data=(xv, yv), epochs=100,
              callbacks=[keras.callbacks.CSVLogger("log.csv"), callback])
    print(callback.result.verdict, callback.best_step)

What it sees: the `logs` of each `on_epoch_end`, at the epoch as the step, which is what `keras.callbacks.CSVLogger`
writes and `losslint check` reads back (`loss` -> `train/loss`, `val_loss` -> `eval/loss`). After each epoch with
validation values the configured rules run; on a stop `self.model.stop_training` is set (see
`losslint.integrations._live`); at train end `callback.result` is the `Result`. Keras keeps no checkpoint by
itself: `callback.best_step` is the epoch to keep (a `ModelCheckpoint(save_best_only=True)` holds it).
"""
from __future__ import annotations

import importlib.util
import math
from typing import Any

from ..schema import Run, canonical_metric, frame_from_records
from ._live import LiveCheck, LiveResults, lazy_callback, missing_framework

if importlib.util.find_spec("keras") is None:
    raise missing_framework("keras", "keras")



def _build() -> type:
    try:
        import keras
    except ImportError as exc:  # pragma: no cover - keras installed but its backend is missing
        raise missing_framework("keras", f"keras with a backend ({exc})") from exc

    class LosslintCallback(LiveResults, keras.callbacks.Callback):
        """losslint's rules and online stop inside `model.fit()` (see the module docstring)."""

        def __init__(self, *, config: Any = None, monitor: str | None = None, stop_on: str | None = None,
                     report_dir: Any = None, name: str = "keras") -> None:
            super().__init__()
            self.live = LiveCheck(config=config, monitor=None if monitor is None else canonical_metric(monitor),
                                  stop_on=stop_on, report_dir=report_dir)
            self.name = name
            self.records: list[tuple[str, int, float, float, float]] = []

        def run(self) -> Run:
            return Run(name=self.name, format="live", sources=[],
                       data=frame_from_records(self.records, self.live.config.aliases))

        def on_train_begin(self, logs=None):
            self.records.clear()

        def on_epoch_end(self, epoch, logs=None):
            evaluated = False
            for key, value in (logs or {}).items():
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    continue
                self.records.append((key, int(epoch), number, math.nan, float(epoch)))
                evaluated = evaluated or key.startswith("val_")
            if evaluated and self.live.update(self.run(), int(epoch)):
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            self.live.finish(self.run())

    return LosslintCallback


__getattr__ = lazy_callback(__name__, _build)
