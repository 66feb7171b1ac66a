"""What the table-shaped readers (JSONL, CSV, trainer_state.json; MLflow for the step range) share: loading a
text log, the long table from per-key columns, step checks, note capping, and one run or several from the logs of
one directory."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ReadError
from ..schema import Run, compact_frame, frame_from_columns
from .base import read_log_bytes

# Per-key notes about skipped values, then one line for the rest: a W&B history with 30 histogram keys
# should not bury the run's other notes.
MAX_KEY_NOTES = 5


def merge_or_split(runs: list[Run], name: str) -> list[Run]:
    """Logs of one reader in one directory: one run when they hold different metrics (train.jsonl + eval.jsonl),
    separate runs `<name>/<file stem>` when they share a metric (two runs' logs side by side)."""
    if len(runs) <= 1:
        return runs
    seen: set[str] = set()
    shared = False
    for run in runs:
        metrics = set(run.data["metric"].unique())
        shared = shared or bool(seen & metrics)
        seen |= metrics
    if shared:
        for run in runs:
            run.name = f"{name}/{Path(run.sources[0]).stem}"
            run.notes.append(f"one of {len(runs)} {run.format} logs in one directory that log the same metrics; "
                             "read as separate runs")
        return runs
    merged = runs[0]
    for run in runs[1:]:
        merged.data = compact_frame(pd.concat([merged.data, run.data], ignore_index=True))  # categories differ
        merged.sources.extend(run.sources)
        merged.notes.extend(run.notes)
        merged.metadata.update(run.metadata)
    return [merged]


def load_bytes(path: Path) -> bytes:
    """The file's bytes, checked to be text: empty, binary, non-UTF-8 and LFS-pointer files are a `ReadError`."""
    return checked_text(path, read_log_bytes(path))


def checked_text(path: Path, data: bytes) -> bytes:
    """`data`, checked to be UTF-8 text: empty, binary (a NUL byte) and non-UTF-8 data are a `ReadError`."""
    if not data or data.isspace():
        raise ReadError(path, "empty file")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ReadError(path, "binary data (NUL byte), not a text log", line=data.count(b"\n", 0, nul) + 1)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReadError(path, "not UTF-8 text (binary file?)", line=data.count(b"\n", 0, exc.start) + 1) from None
    return data


def load_text(path: Path) -> str:
    return load_bytes(path).decode("utf-8")


def long_frame(parts: list[tuple[str, str, np.ndarray, np.ndarray]], steps: np.ndarray, walls: np.ndarray,
               epochs: np.ndarray) -> pd.DataFrame:
    """The schema's long table from per-key (metric, tag, row indices, values of all rows)."""
    idx = np.concatenate([p[2] for p in parts])
    codes = np.repeat(np.arange(len(parts)), [len(p[2]) for p in parts])  # names as codes: no string per row
    return frame_from_columns(
        [p[0] for p in parts],
        steps[idx].astype(np.int64),
        np.concatenate([p[3][p[2]] for p in parts]),
        walls[idx], epochs[idx],
        [p[1] for p in parts],
        metric_codes=codes, tag_codes=codes,
    )


# Steps are stored as int64; a float beyond 2**63 would wrap around.
MAX_STEP = 2.0**63


def is_whole_step(values: np.ndarray) -> np.ndarray:
    """Which float values can be an int64 step: finite, whole, in range."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (np.nan_to_num(values) % 1 == 0) & (np.abs(np.nan_to_num(values)) < MAX_STEP)


def bad_step_message(label: str, value: Any) -> str:
    """Why `value` cannot be a step (`label` names the field): not a number, not whole, or out of the int64 range
    steps are stored in."""
    value = as_python(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value:
            return f"{label} NaN is not a whole number"
        if abs(value) >= MAX_STEP and (isinstance(value, int) or abs(value) != float("inf")):
            return f"{label} {short_repr(value)} is out of the int64 range of a step (|step| < 2**63)"
    return f"{label} {short_repr(value)} is not a whole number"


def cap_notes(notes: list[str], limit: int = MAX_KEY_NOTES) -> list[str]:
    if len(notes) <= limit:
        return notes
    return notes[:limit] + [f"... and {len(notes) - limit} more keys with non-numeric values skipped"]


def as_python(value: Any) -> Any:
    """A numpy scalar as the plain Python value, so that messages read `2.5`, not `np.float64(2.5)`."""
    return value.item() if isinstance(value, np.generic) else value


def short_repr(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
