"""JSON-lines logs: one object per line (`*.jsonl`, `*.ndjson`, detectron2's `metrics.json`).

- The step is the first of `step`, `global_step`, `_step`, `iteration`, `iter` that the file has; lines without it
  are left out with a note. A file with none of them is stepped by line order (0, 1, ...), with a note.
- `epoch` fills the epoch column and a numeric `wall_time`/`walltime`/`_timestamp`/`timestamp` the wall-time
  column; every other key is a metric. Nested objects are flattened with `/` (`{"val": {"loss": 1}}` -> `val/loss`).
- Bare `NaN`, `Infinity` and `-Infinity` tokens (what Python's `json.dumps` writes) are values, not absences:
  a NaN loss is a finding. `null` means "not logged on this line".
- Strings, booleans and lists where a number belongs are skipped with one note per key naming its first line;
  a step that is not a whole number is a `ReadError`.
- A final line cut short (the writer was killed mid-line) is dropped with a note; a bad line anywhere else is a
  `ReadError` with its line number.

Speed: the whole file is parsed by one `json.loads` call over `[line,line,...]` (C speed; unlike
`pandas.read_json` it accepts the NaN/Infinity tokens, and a NaN token parses to a marker so that it stays apart from
a missing key). Only when that fails is the file parsed line by line, to find the bad line or the truncated tail.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ReadError
from ..schema import Run, canonical_metric, empty_frame, frame_from_columns
from .base import check_lfs_pointer

FORMAT = "jsonl"
SUFFIXES = (".jsonl", ".ndjson")
# detectron2's JSON-lines file keeps a .json name
SNIFFED_SUFFIX = ".json"
DETECTRON2_NAME = "metrics.json"
# W&B's system-metrics stream (GPU/CPU use), not a training log
NOT_TRAINING_LOGS = frozenset({"wandb-events.jsonl"})
SNIFF_BYTES = 4096

STEP_KEYS = ("step", "global_step", "_step", "iteration", "iter")
EPOCH_KEY = "epoch"
WALL_TIME_KEYS = ("wall_time", "walltime", "_timestamp", "timestamp")
# Per-key notes about skipped values, then one line for the rest: a W&B history with 30 histogram keys
# should not bury the run's other notes.
MAX_KEY_NOTES = 5


class _NanToken:
    """What a bare NaN token parses to, so that a logged NaN is told apart from a key missing on that line."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NaN"


NAN_TOKEN = _NanToken()


def _constant(token: str) -> Any:
    return NAN_TOKEN if token == "NaN" else float(token)


def sniff_json_lines(head: bytes, whole_file: bool, single_line_ok: bool) -> bool:
    """Does this head of a file look like JSON lines: a complete object on the first line and another after it?"""
    text = head.lstrip()
    if not text.startswith(b"{"):
        return False
    end = text.find(b"\n")
    if end < 0:
        if not (whole_file and single_line_ok):
            return False
        end = len(text)
    try:
        first = json.loads(text[:end], parse_constant=_constant)
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(first, dict):
        return False
    rest = text[end:].lstrip()
    return rest.startswith(b"{") or (single_line_ok and whole_file and not rest)


class JsonLinesReader:
    format = FORMAT
    priority = 40

    def can_read(self, path: Path) -> bool:
        name = path.name.lower()
        if name in NOT_TRAINING_LOGS:
            return False
        if name.endswith(SUFFIXES):
            return True
        if not name.endswith(SNIFFED_SUFFIX):
            return False
        try:
            with open(path, "rb") as fh:
                head = fh.read(SNIFF_BYTES + 1)
        except OSError:
            return name == DETECTRON2_NAME  # claimed by name, so that `read` reports why it cannot be opened
        return sniff_json_lines(head[:SNIFF_BYTES], whole_file=len(head) <= SNIFF_BYTES,
                                single_line_ok=name == DETECTRON2_NAME)

    def run_key(self, path: Path) -> Path:
        return path.parent

    def read(self, paths: Sequence[Path], name: str, aliases: Mapping[str, str] | None = None) -> list[Run]:
        runs = [read_file(Path(p), name, aliases) for p in sorted(paths)]
        return merge_or_split(runs, name)


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
        merged.data = pd.concat([merged.data, run.data], ignore_index=True)
        merged.sources.extend(run.sources)
        merged.notes.extend(run.notes)
        merged.metadata.update(run.metadata)
    return [merged]


def load_text(path: Path) -> str:
    """The file as text; empty, binary and LFS-pointer files are a `ReadError`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReadError(path, f"cannot read: {exc.strerror or exc}") from None
    check_lfs_pointer(path, data[:100])
    if not data.strip():
        raise ReadError(path, "empty file")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ReadError(path, "binary data (NUL byte), not a text log", line=data.count(b"\n", 0, nul) + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReadError(path, "not UTF-8 text (binary file?)", line=data.count(b"\n", 0, exc.start) + 1) from None


def parse_lines(path: Path, text: str) -> tuple[list[dict], np.ndarray, list[str]]:
    """The objects, their 1-based line numbers, and notes (a dropped truncated tail)."""
    lines = text.split("\n")
    numbers = [i + 1 for i, line in enumerate(lines) if line.strip()]
    body = [lines[i - 1] for i in numbers]
    try:
        rows = json.loads("[" + ",".join(body) + "]", parse_constant=_constant)
        if len(rows) == len(body) and all(type(r) is dict for r in rows):
            return rows, np.asarray(numbers, dtype=np.int64), []
    except ValueError:
        pass
    return _parse_line_by_line(path, body, numbers)


def _parse_line_by_line(path: Path, body: list[str], numbers: list[int]) -> tuple[list[dict], np.ndarray, list[str]]:
    rows: list[dict] = []
    notes: list[str] = []
    for k, (line, number) in enumerate(zip(body, numbers)):
        try:
            obj = json.loads(line, parse_constant=_constant)
        except ValueError as exc:
            if k == len(body) - 1 and k > 0:
                notes.append(f"line {number}: final line is cut short ({exc.args[0].split(':')[0]}); ignored "
                             "(was the writer interrupted?)")
                break
            raise ReadError(path, f"invalid JSON: {exc.args[0]}", line=number) from None
        if type(obj) is not dict:
            raise ReadError(path, f"expected one JSON object per line, got {type(obj).__name__}", line=number)
        rows.append(obj)
    return rows, np.asarray(numbers[: len(rows)], dtype=np.int64), notes


def flatten(table: pd.DataFrame) -> pd.DataFrame:
    """Nested objects become `parent/child` columns; only object columns are looked at."""
    for column in [c for c in table.columns if table[c].dtype == object]:
        cells = table[column].to_numpy()
        is_dict = np.fromiter((type(v) is dict for v in cells), dtype=bool, count=len(cells))
        if not is_dict.any():
            continue
        nested = pd.json_normalize([v if d else {} for v, d in zip(cells, is_dict)], sep="/")
        nested.columns = [f"{column}/{c}" for c in nested.columns]
        nested.index = table.index
        table = pd.concat([table.drop(columns=[column]), nested], axis=1)
    return table


def numeric_column(column: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, present, not_a_number): values as float64 (NaN tokens -> NaN), which rows hold the key, and which
    of those hold something that is not a number (strings, booleans, lists)."""
    present = column.notna().to_numpy()
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_string_dtype(dtype) and dtype != object:
        return np.full(len(column), np.nan), present, present.copy()
    if pd.api.types.is_numeric_dtype(dtype):
        values = column.to_numpy(dtype=float, na_value=np.nan)
        return values, present, np.zeros(len(column), bool)
    cells = column.to_numpy()
    kinds = np.fromiter((type(v) in (int, float) or v is NAN_TOKEN for v in cells), dtype=bool, count=len(cells))
    bad = present & ~kinds
    values = np.full(len(cells), np.nan)
    good = present & kinds & (cells != NAN_TOKEN)
    values[good] = cells[good].astype(float)
    return values, present, bad


def read_file(path: Path, name: str, aliases: Mapping[str, str] | None = None) -> Run:
    rows, line_numbers, notes = parse_lines(path, load_text(path))
    run = Run(name=name, format=FORMAT, sources=[str(path)], data=empty_frame(), notes=notes)
    if not rows:
        return run
    table = flatten(pd.DataFrame(rows))
    keys = [str(c) for c in table.columns]
    table.columns = keys

    step_key = next((k for k in STEP_KEYS if k in table.columns), None)
    if step_key is None:
        steps = np.arange(len(table), dtype=np.float64)
        has_step = np.ones(len(table), bool)
        run.notes.append(f"no step key ({', '.join(STEP_KEYS)}); lines are numbered in order from 0")
    else:
        steps, has_step, bad = numeric_column(table[step_key])
        bad |= has_step & ~bad & ~(np.isfinite(steps) & (np.nan_to_num(steps) % 1 == 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ReadError(path, f"`{step_key}` {table[step_key].iloc[i]!r} is not a whole number",
                            line=int(line_numbers[i]))
        if not has_step.all():
            first = int(line_numbers[np.flatnonzero(~has_step)[0]])
            run.notes.append(f"{int((~has_step).sum())} line(s) without `{step_key}` left out (first: line {first})")

    epochs = np.full(len(table), np.nan)
    if EPOCH_KEY in table.columns and EPOCH_KEY != step_key:
        epochs, _, _ = numeric_column(table[EPOCH_KEY])
    wall_key = next((k for k in WALL_TIME_KEYS if k in table.columns), None)
    walls = np.full(len(table), np.nan)
    if wall_key is not None:
        walls, _, _ = numeric_column(table[wall_key])

    position_keys = {step_key, EPOCH_KEY, wall_key}
    parts: list[tuple[str, str, np.ndarray, np.ndarray]] = []  # (metric, tag, rows, values)
    skipped: list[str] = []
    for key in keys:
        if key in position_keys:
            continue
        values, present, bad = numeric_column(table[key])
        rows_used = present & ~bad & has_step
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            skipped.append(f"key `{key}`: {int(bad.sum())} non-numeric value(s) skipped "
                           f"(first at line {int(line_numbers[i])}: {_short(table[key].iloc[i])})")
        if rows_used.any():
            parts.append((canonical_metric(key, aliases=aliases), key, np.flatnonzero(rows_used), values))
    run.notes.extend(cap_notes(skipped))
    if parts:
        idx = np.concatenate([p[2] for p in parts])
        run.data = frame_from_columns(
            np.concatenate([np.full(len(p[2]), p[0], dtype=object) for p in parts]),
            steps[idx].astype(np.int64),
            np.concatenate([p[3][p[2]] for p in parts]),
            walls[idx], epochs[idx],
            np.concatenate([np.full(len(p[2]), p[1], dtype=object) for p in parts]),
        )
    return run


def cap_notes(notes: list[str], limit: int = MAX_KEY_NOTES) -> list[str]:
    if len(notes) <= limit:
        return notes
    return notes[:limit] + [f"... and {len(notes) - limit} more keys with non-numeric values skipped"]


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


READER = JsonLinesReader()
