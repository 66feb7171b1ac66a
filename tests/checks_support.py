"""Helpers for the rule tests: build a `Run` from plain arrays and run one rule or the whole engine on it."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from losslint.checks import all_rules
from losslint.config import load_config
from losslint.engine import check_run
from losslint.schema import Run, frame_from_columns
from losslint.view import RunView


def make_run(series: Mapping[str, tuple[Sequence[int], Sequence[float]]], name: str = "run", hparams=None,
             metadata=None) -> Run:
    metrics, steps, values = [], [], []
    for metric, (s, v) in series.items():
        s, v = np.asarray(s, dtype=np.int64), np.asarray(v, dtype=np.float64)
        metrics += [metric] * len(s)
        steps.append(s)
        values.append(v)
    data = frame_from_columns(metrics, np.concatenate(steps) if steps else [], np.concatenate(values) if values else [],
                              None, None, metrics)
    return Run(name=name, format="test", sources=[], data=data, metadata=dict(metadata or {}),
               hparams=dict(hparams or {}))


def run_rule(code: str, run: Run, **overrides):
    """Findings of one rule with its default parameters (plus `overrides`)."""
    params = load_config().params_for(code)
    params.update(overrides)
    return list(all_rules()[code].check(RunView(run), params))


def check(run: Run, preset: str = "default"):
    return check_run(run, load_config(preset=preset))


def descent(n: int, start: float = 2.3, floor: float = 0.3, rate: float = 5.0) -> np.ndarray:
    u = np.arange(1, n + 1) / n
    return floor + (start - floor) * np.exp(-rate * u)
