"""Shared helpers for the report tests: real runs (from /work/shared/realworld or small JSONL logs written by the
test through the real reader) wrapped in `Result`s with hand-made findings, until the engine decides them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from losslint import discover
from losslint.findings import EarlyStop, Finding, Result
from realworld_path import REALWORLD


def realworld(rel: str) -> Path:
    path = REALWORLD / rel
    if not path.exists():
        pytest.skip(f"real-world corpus not available: {path}")
    return path


def load_runs(*paths):
    runs, errors = discover.load([str(p) for p in paths])
    return runs, errors


def write_jsonl_run(directory: Path, name: str, train: list[float], val: list[float] | None = None,
                    val_every: int = 10, extra: dict[str, list[float]] | None = None) -> Path:
    """A JSON-lines log as a training script writes it (Python's json.dumps writes NaN as a bare token)."""
    run_dir = directory / name
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "metrics.jsonl"
    with open(path, "w") as fh:
        for i, loss in enumerate(train):
            row = {"step": i * 10, "train_loss": loss}
            if val is not None and i % val_every == 0 and i // val_every < len(val):
                row["val_loss"] = val[i // val_every]
            for key, series in (extra or {}).items():
                if i < len(series):
                    row[key] = series[i]
            fh.write(json.dumps(row) + "\n")
    return path


def descending(n: int = 200, start: float = 2.5, floor: float = 0.2, noise: float = 0.02, seed: int = 0,
               time_constants: float = 5.0) -> list[float]:
    """An exponential decay to `floor` over `time_constants` time constants, with Gaussian noise."""
    rng = np.random.default_rng(seed)
    x = np.arange(n)
    return list(floor + (start - floor) * np.exp(-x * time_constants / n) + noise * rng.standard_normal(n))


def result_for(run, verdict: str = "good-fit", findings=(), best: int | None = None, stop: int | None = None,
               annotations=None) -> Result:
    early = None
    if best is not None or stop is not None:
        steps = np.sort(run.data["step"].unique())
        saved = float((steps > stop).sum() / len(steps)) if stop is not None and len(steps) else 0.0
        early = EarlyStop(metric="eval/loss", strategy="default", best_step=best, recommended_stop_step=stop,
                          saved_fraction=saved,
                          baselines={"hf_patience_3": {"stop_step": stop}, "keras_patience_5": {"stop_step": None}})
    return Result(run=run, verdict=verdict, findings=list(findings), early_stop=early, annotations=annotations or {})


def finding(code="O101", severity="warning", metric="eval/loss", step=None, message="validation loss rising",
            name="val-loss-rising", category="overfitting") -> Finding:
    return Finding(code=code, name=name, severity=severity, metric=metric, step=step, message=message,
                   category=category)
