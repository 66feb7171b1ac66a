"""OnlineStop: the default strategy made causal (fed one evaluation at a time, it never looks ahead)."""
from __future__ import annotations

import numpy as np
import pytest

from losslint.config import ConfigError, config_from_table
from losslint.early_stop import DefaultStop
from losslint.early_stop.online import OnlineStop


def u_shape(seed: int, n: int = 60, noise: float = 0.005):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return t * 10, (t / n - 0.4) ** 2 + 0.5 + rng.normal(0, noise, n)


@pytest.mark.parametrize("seed", range(5))
def test_a_u_shape_is_stopped_after_its_best_and_before_its_end(seed):
    steps, values = u_shape(seed)
    decision = OnlineStop().replay(steps, values)
    offline = DefaultStop().decide(steps, values)
    assert decision.stop and decision.trigger == "rise"
    assert offline.stop_index is not None
    # the online stop waits for the evidence: after the offline stop, and well before the end
    assert offline.stop_index < decision.index < len(values) - 10
    assert decision.best_index is not None and abs(decision.best_index - offline.best_index) <= 3
    assert decision.best_step == steps[decision.best_index]


def test_it_never_looks_ahead():
    steps, values = u_shape(1)
    decision = OnlineStop().replay(steps, values)
    changed = values.copy()
    changed[decision.index + 1:] = 0.0  # a future that comes back down changes nothing up to the stop
    assert OnlineStop().replay(steps, changed) == decision
    assert OnlineStop().decide(steps[:decision.index + 1], values[:decision.index + 1]) == decision


@pytest.mark.parametrize("seed", range(5))
def test_a_falling_or_flat_curve_is_never_stopped(seed):
    rng = np.random.default_rng(seed)
    t = np.arange(80)
    falling = np.exp(-t / 15) + 0.3 + rng.normal(0, 0.01, t.size)
    flat = 0.3 + rng.normal(0, 0.01, t.size)
    assert not OnlineStop().replay(t, falling).stop
    assert not OnlineStop().replay(t, flat).stop


def test_non_finite_stops_at_the_second_and_keeps_the_best_before_it():
    steps, values = u_shape(2)
    values[20] = np.nan  # an isolated NaN is no break
    values[30:] = np.nan
    decision = OnlineStop().replay(steps, values)
    assert decision.stop and decision.trigger == "non-finite" and decision.index == 31
    assert decision.best_index < 30 and np.isfinite(values[decision.best_index])
    assert OnlineStop(nonfinite_evals=1).replay(steps, values).index == 20


def test_no_decision_before_min_evals():
    steps, values = np.arange(7), np.array([1.0, 0.5, 2, 3, 4, 5, 6])
    assert not OnlineStop().replay(steps, values).stop


def test_config_from_a_table_is_the_toml_table():
    config = config_from_table({"fail-on": "error", "monitor": "eval/accuracy", "rules": {"O101": {"severity": "info"}},
                                "early-stop": {"k-sigma": 4.0}})
    assert config.fail_on == "error" and config.monitor == "eval/accuracy"
    assert config.params_for("O101")["severity"] == "info" and config.early_stop.k_sigma == 4.0
    with pytest.raises(ConfigError, match="unknown key"):
        config_from_table({"fail_onn": "error"})
