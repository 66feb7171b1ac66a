"""LiveCheck, the framework-free part of the callbacks: the stop_on semantics on a run fed one evaluation at a time
(a U-shaped validation loss while the training loss falls), findings logged once, the configuration forms."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from losslint.errors import ConfigError
from losslint.integrations._live import LiveCheck
from losslint.schema import Run, frame_from_records

EVALS, EVERY = 40, 10


def records(upto: int):
    """Training loss every step, validation loss every EVERY steps: a U with its bottom at evaluation 15."""
    rng = np.random.default_rng(0)
    out = []
    for step in range(1, upto * EVERY + 1):
        out.append(("loss", step, 2.0 * np.exp(-step / 120) + 0.05 + rng.normal(0, 0.01), np.nan, np.nan))
    for i in range(upto):
        t = i / EVALS
        out.append(("val_loss", (i + 1) * EVERY, 0.6 + 2.0 * (t - 0.375) ** 2 + rng.normal(0, 0.005), np.nan, np.nan))
    return out


def feed(live: LiveCheck) -> int | None:
    """Evaluations one at a time, as a callback sees them; the step where `update` said stop (None: never)."""
    for i in range(1, EVALS + 1):
        run = Run(name="live", format="live", sources=[], data=frame_from_records(records(i)))
        if live.update(run, i * EVERY):
            return i * EVERY
    return None


def test_stop_on_warning_stops_after_the_best_and_names_it(caplog):
    caplog.set_level(logging.INFO, logger="losslint")
    live = LiveCheck(stop_on="warning")
    stopped = feed(live)
    assert stopped is not None and stopped == live.stopped_at
    assert 160 < stopped < EVALS * EVERY  # after the bottom (evaluation 15 = step 160), before the end
    assert live.best_step is not None and abs(live.best_step - 160) <= 3 * EVERY
    messages = [r.getMessage() for r in caplog.records]
    assert sum("stopping training" in m for m in messages) == 1
    codes = [m.split()[1] for m in messages if m.startswith("losslint: ") and m.split()[1][1:].isdigit()]
    assert codes and len(codes) == len(set(codes))  # each finding once, though checked at every evaluation


def test_advise_only_by_default_and_until_a_finding_reaches_the_level(caplog):
    caplog.set_level(logging.INFO, logger="losslint")
    assert feed(LiveCheck()) is None
    assert sum("would stop" in r.getMessage() and "advise only" in r.getMessage() for r in caplog.records) == 1
    caplog.clear()
    at_warning = feed(LiveCheck(stop_on="warning"))
    # O101 reports the rise as a warning, and as an error once it reaches 50%: stop_on="error" keeps training
    # past the online stop (saying so once) until then
    live = LiveCheck(stop_on="error")
    at_error = feed(live)
    assert at_warning is not None and at_error is not None and at_error > at_warning
    assert sum("no finding at or above error" in r.getMessage() for r in caplog.records) == 1
    # ...and a configuration that makes every O101 an error stops where "warning" does
    assert feed(LiveCheck(stop_on="error", config={"rules": {"O101": {"severity": "error"}}})) == at_warning


def test_the_configuration_may_be_a_file_and_the_monitor_is_kept(tmp_path):
    path = tmp_path / "losslint.toml"
    path.write_text('fail-on = "error"\n[early-stop]\nk-sigma = 4.0\n', encoding="utf-8")
    live = LiveCheck(config=path, monitor="eval/accuracy")
    assert live.config.fail_on == "error" and live.config.monitor == "eval/accuracy"
    assert live.online.strategy.k_sigma == 4.0  # the online stop uses the configured default-strategy parameters
    with pytest.raises(ConfigError):
        LiveCheck(config={"no-such-key": 1})
    with pytest.raises(ConfigError, match="stop_on"):
        LiveCheck(stop_on="warn")
