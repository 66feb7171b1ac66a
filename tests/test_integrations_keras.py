"""The Keras 3 callback (torch backend) on real (tiny, CPU) training: an overfitting run is stopped near its best
epoch, a healthy one is not, and the callback's result agrees with `losslint check` on the CSVLogger's file."""
from __future__ import annotations

import logging
import os

import pytest

# Keras picks its backend at import: torch here, set before the first import (this module is the only importer of
# keras in the test suite)
os.environ.setdefault("KERAS_BACKEND", "torch")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover - another backend was chosen before this module
    pytest.skip("keras was imported with another backend", allow_module_level=True)

import numpy as np  # noqa: E402

import losslint  # noqa: E402
from losslint.integrations.keras import LosslintCallback  # noqa: E402

FEATURES, EPOCHS = 16, 40
# Keras' torch backend converts tensors with numpy's pre-2.0 `__array__` protocol, once per batch
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def data(n: int, seed: int, flipped: float):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES)).astype("float32")
    rule = (x[:, 0] + x[:, 1] > 0).astype("int64")  # learnable
    flip = rng.random(n) < flipped
    return x, np.where(flip, 1 - rule, rule)


def train(tmp_path, *, overfit: bool, stop_on: str | None):
    torch.set_num_threads(1)
    keras.utils.set_random_seed(0)
    # overfitting: 48 examples of a learnable rule with a third of the labels flipped (the validation loss falls
    # while the rule is learnt, then rises while the flipped labels are memorised); healthy: 256 clean examples,
    # a smaller step and weight decay
    x, y = data(48, 1, 0.35) if overfit else data(256, 1, 0.0)
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(2)])
    optimizer = (keras.optimizers.AdamW(3e-3, weight_decay=0.0) if overfit
                 else keras.optimizers.AdamW(2e-3, weight_decay=0.1))
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = LosslintCallback(stop_on=stop_on, report_dir=tmp_path / "report", config={"fail-on": "warning"})
    log = tmp_path / "logs" / "training.csv"
    log.parent.mkdir()
    history = model.fit(x, y, validation_data=data(256, 2, 0.0), epochs=EPOCHS, batch_size=16, verbose=0,
                        shuffle=False, callbacks=[keras.callbacks.CSVLogger(str(log)), callback])
    return callback, history, log


def agree(callback, log):
    offline = losslint.check(log, config={"fail-on": "warning"})
    assert not offline.errors and len(offline.results) == 1
    live, saved = callback.result, offline.results[0]
    assert live.verdict == saved.verdict
    assert sorted((f.code, f.metric) for f in live.findings) == sorted((f.code, f.metric) for f in saved.findings)
    assert live.early_stop is not None and saved.early_stop is not None
    assert live.early_stop.best_step == saved.early_stop.best_step


def test_an_overfitting_run_is_stopped_near_its_best_epoch(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="losslint")
    callback, history, log = train(tmp_path, overfit=True, stop_on="warning")
    losses = history.history["val_loss"]
    assert callback.stopped_at is not None and len(losses) < EPOCHS  # stopped before the end
    assert callback.stopped_at == len(losses) - 1
    best = int(np.argmin(losses))
    assert callback.best_step is not None and callback.best_step < callback.stopped_at
    assert abs(callback.best_step - best) <= 4, (callback.best_step, best, losses)
    assert callback.result.verdict == "overfitting"
    assert any("stopping training" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "report" / "report.md").is_file()
    agree(callback, log)


def test_a_healthy_run_is_not_stopped(tmp_path):
    callback, history, log = train(tmp_path, overfit=False, stop_on="warning")
    assert callback.stopped_at is None
    assert len(history.history["val_loss"]) == EPOCHS
    assert callback.result.verdict not in ("overfitting", "diverged")
    agree(callback, log)
