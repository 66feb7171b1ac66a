"""Weights & Biases, every way its logs reach a user's disk.

- Local run folders `wandb/run-<date>_<time>-<id>/` and `wandb/offline-run-.../` (the run is the folder):
  the binary `run-<id>.wandb` record log (decoded in `binary.py`, no wandb package, no network),
  `files/wandb-summary.json`, `files/config.yaml`; wandb 0.8-era folders hold `wandb-history.jsonl` instead.
  A run resumed with `wandb.init(id=..., resume=...)` leaves one such folder per session, side by side: discovery
  reads each alone and `join_sessions` makes them one run (first session's name, every session's sources); per
  key, a later session replaces the earlier points from the step where it starts logging that key (W&B's run
  rewind truncates the history at one step; per key, keys on different `define_metric` axes never cut each other),
  and each overlap is recorded as a `step_regressions` entry.
- History exports from `run.history()` / `scan_history()` saved as CSV, JSON, JSONL or parquet: columns `_step`,
  `_runtime`, `_timestamp` plus one per logged key (the file is the run). `run.history()` is a pandas table in which
  NaN fills every key not logged on a row, so in CSV and parquet an empty/NaN cell is a gap (a logged NaN cannot
  survive that export); JSON keeps them apart (`NaN` token = logged NaN, null or absent = not logged).
- The UI's chart export CSV (`wandb_export*.csv`): one x column and `<run> - <metric>` columns for MANY runs; one
  `Run` per W&B run, named `<name>/<wandb run name>`.

W&B conventions applied everywhere: keys starting with `_` are W&B's own (`_step` is the step, `_timestamp` the wall
time); `epoch` fills the epoch column (as in the JSONL reader); a logged dict {"opt": {"lr": x}} is the metric
`opt.lr`, as in W&B's UI; media and histograms (dicts with a `_type`) are not scalars and are skipped; text values
are skipped, and where the same key also holds numbers the run gets a note naming the first such value's line or
byte offset. In a `.wandb` log, `wandb.define_metric(..., step_metric=...)` axes (HF Trainer's
`train/global_step`) replace `_step`.
"""
from __future__ import annotations

import fnmatch
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ...errors import ReadError
from ...schema import Run, canonical_metric, empty_frame, frame_from_columns
from .. import fs
from ..base import Reader, ReadOptions, check_lfs_pointer, read_log_bytes
from ..fs import as_path
from . import csv_export
from .binary import FormatError, decode_run_log, is_number

# `<rest>` is the run id, then `-<n>` when W&B started a second folder of that id in the same second; a chosen id
# may itself hold '-', '_' or '.' (W&B refuses only `:;,#?/'`).
RUN_DIR = re.compile(r"^(?:(?:offline-)?run-(?P<start>\d{8}_\d{6})-(?P<rest>.+)|latest-run)$")
RECORD_LOG_NAME = re.compile(r"^run-(?P<id>.+)\.wandb$")  # W&B names it after the run id (settings.sync_file)
RUN_DIR_DEPTH = 6  # files/media/images/<name>/... is as deep as W&B nests inside a run folder
# Names only W&B writes, wherever they are (wandb 0.8 wrote them straight into the run folder).
WANDB_FILES = {
    "wandb-history.jsonl": "legacy_history",
    "wandb-summary.json": "summary",
    "wandb-events.jsonl": "other",  # system metrics (CPU, GPU), not training curves
    "wandb-metadata.json": "other",
}
TABLE_KINDS = ("chart", "history_csv", "history_json", "history_parquet")
SNIFF_BYTES = 1 << 16
STEP_KEY, TIME_KEY, EPOCH_KEY = "_step", "_timestamp", "epoch"
CONFIG_INTERNAL_KEYS = {"_wandb", "wandb_version"}
MAX_KEY_NOTES = 5  # as the JSONL reader: 30 histogram keys must not bury a run's other notes
# A history that logs its own step (nanoGPT's `iter`, HF's `train/global_step`, Lightning's `trainer/global_step`,
# Keras' `epoch`) is plotted against it, as `wandb.define_metric(..., step_metric=...)` would; `_step` only counts
# `wandb.log` calls. First found wins, in this order.
STEP_COLUMNS = ("train/global_step", "trainer/global_step", "global_step", "step", "iter", "epoch")
KEPT_STEP_METRIC = "_step"  # W&B's own step, kept in the table as a metric when another axis is the step


def choose_step_column(axis_values: Mapping[str, np.ndarray], metric_rows: Mapping[str, np.ndarray],
                       steps: np.ndarray) -> tuple[str, np.ndarray] | None:
    """The first of `STEP_COLUMNS` that can be the step: whole numbers wherever logged, on at least half of the
    rows that log a metric, and giving no metric two points at one step (a per-batch loss logged with a whole
    `epoch` must stay on `_step`). Rows without it take its last value (W&B's step sync), rows before its first
    value `_step`. Returns (column, steps per row)."""
    logged = np.zeros(len(steps), bool)
    for rows in metric_rows.values():
        logged |= rows
    for name in STEP_COLUMNS:
        values = axis_values.get(name)
        if values is None:
            continue
        present = np.isfinite(values)
        if not present.any() or (values[present] % 1 != 0).any() or present[logged].sum() * 2 < logged.sum():
            continue
        index = np.where(present, np.arange(len(values)), -1)
        index = np.maximum.accumulate(index)
        chosen = np.where(index >= 0, values[np.maximum(index, 0)], steps).astype(np.int64)
        if all(len(np.unique(chosen[rows])) == int(rows.sum()) for rows in metric_rows.values()):
            return name, chosen
    return None


def _axis_note(column: str) -> str:
    return (f"steps are the history's `{column}` column (as `wandb.define_metric(step_metric=...)` would plot "
            f"them), not W&B's `_step`, which is kept as the metric `{KEPT_STEP_METRIC}`")


def _rows_step_column(rows: Sequence[Mapping[str, Any]], steps: Sequence[int | None]) -> str | None:
    """`choose_step_column` over history rows (dicts); only the column's name is returned."""
    n = len(rows)
    if not n:
        return None
    candidates = {name: np.full(n, np.nan) for name in STEP_COLUMNS if any(name in row for row in rows)}
    if not candidates:
        return None
    metric_rows: dict[str, np.ndarray] = {}
    own = np.zeros(n, dtype=np.int64)
    for i, (row, step) in enumerate(zip(rows, steps)):
        logged = row.get(STEP_KEY) if step is None else step
        own[i] = int(logged) if is_number(logged) and math.isfinite(logged) else i
        for key, value in row.items():
            if key in candidates:
                if is_number(value) and math.isfinite(value):
                    candidates[key][i] = float(value)
            elif key[:1] != "_" and (is_number(value) or (isinstance(value, dict) and "_type" not in value)):
                mask = metric_rows.get(key)
                if mask is None:
                    mask = metric_rows[key] = np.zeros(n, bool)
                mask[i] = True
    found = choose_step_column(candidates, metric_rows, own)
    return found[0] if found else None


def _run_dir(path: Path) -> Path | None:
    for depth, parent in enumerate(path.parents):
        if depth >= RUN_DIR_DEPTH:
            break
        if RUN_DIR.match(parent.name):
            return parent
    return None


def _head(path: Path) -> bytes:
    with fs.open_binary(path) as handle:
        return handle.read(SNIFF_BYTES)


def _parquet_has_step(path: Path) -> bool:
    try:
        import pyarrow.parquet as pq

        return STEP_KEY in pq.read_schema(fs.readable(path)).names
    except Exception:  # noqa: BLE001 - not parquet, or no pyarrow: not ours
        return False


def file_kind(path: Path) -> str | None:
    """What kind of W&B file this is, from its name and at most its first 64 KiB (None: not W&B)."""
    name = path.name
    if path.suffix == ".wandb":
        return "binary"
    if name in WANDB_FILES:
        return WANDB_FILES[name]
    if _run_dir(path) is not None:
        return "config" if name == "config.yaml" else "other"
    suffix = path.suffix.lower()
    if suffix == ".csv":
        columns = csv_export.header_columns(path)
        if columns is None:
            return None
        if csv_export.is_chart_header(columns):
            return "chart"
        return "history_csv" if csv_export.is_history_header(columns) else None
    if suffix in (".jsonl", ".ndjson", ".json"):
        head = _head(path)
        first = head if suffix == ".json" else head.split(b"\n", 1)[0]
        return "history_json" if b'"_step"' in first else None
    if suffix == ".parquet":
        return "history_parquet" if _parquet_has_step(path) else None
    return None


# --- values ---------------------------------------------------------------------------------------------------


def _flatten(values: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Logged dicts become dotted keys, as W&B's UI names them; typed dicts (media, histograms) stay whole."""
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and "_type" not in value:
            yield from _flatten(value, f"{name}.")
        else:
            yield name, value


def _where_text(where: Mapping[str, int]) -> str:
    if "line" in where:
        return f"line {where['line']}"
    if "offset" in where:
        return f"offset {where['offset']}"
    return f"row {where.get('row', 0) + 1}"


_NUMBER_TEXT = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")


def number_in_text(text: str) -> float | None:
    """The number a text value holds (`" 0.163"`, `"1e-3"`), else None: plain decimal notation only, so words
    (`"nan"`, `"inf"`, `"1_000"`, `"0x10"`) stay text."""
    if len(text) > 64 or _NUMBER_TEXT.fullmatch(text) is None:
        return None
    return float(text)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass
class _TextSeen:
    count: int
    where: Mapping[str, int]
    text: str


def skipped_text_notes(seen: Mapping[str, _TextSeen], number_keys: set[str] | None = None) -> list[str]:
    """One note per key where text sat among numbers (capped), one for keys that only ever hold text."""
    notes = []
    mixed = [key for key in seen if number_keys is None or key in number_keys]
    for key in mixed[:MAX_KEY_NOTES]:
        first = seen[key]
        notes.append(f"key {key!r}: {first.count} non-numeric value(s) skipped "
                     f"(first at {_where_text(first.where)}: {_short(first.text)})")
    if len(mixed) > MAX_KEY_NOTES:
        notes.append(f"{len(mixed) - MAX_KEY_NOTES} more key(s) with non-numeric values skipped")
    text_only = sorted(key for key in seen if key not in mixed)
    if text_only:
        notes.append(f"text-valued key(s) skipped: {', '.join(text_only)}")
    return notes


class StepAxes:
    """`wandb.define_metric(key_or_glob, step_metric=axis)`: the key's points are plotted against `axis`.

    HF Trainer's W&B callback does this with `train/global_step` (W&B's own `_step` only counts log calls), so the
    axis is the step losslint must report. A row without the axis uses the axis' last value (W&B's step_sync);
    before the first one, `_step`. Axis keys are positions, not metrics.
    """

    def __init__(self, definitions: Sequence[tuple[str, str, str]]):
        self.exact = {name: axis for name, _glob, axis in definitions if name}
        self.globs = [(glob, axis) for name, glob, axis in definitions if glob and not name]
        self.axes = {axis for _name, _glob, axis in definitions}
        self._cache: dict[str, str | None] = {}
        self.last: dict[str, int] = {}
        self.used: set[str] = set()

    def axis_of(self, key: str) -> str | None:
        if key not in self._cache:
            axis = self.exact.get(key)
            if axis is None:
                axis = next((a for glob, a in reversed(self.globs) if fnmatch.fnmatchcase(key, glob)), None)
            self._cache[key] = None if key in self.axes else axis
        return self._cache[key]

    def note_row(self, row: Mapping[str, Any]) -> None:
        for axis in self.axes:
            value = row.get(axis)
            if is_number(value) and math.isfinite(value):
                self.last[axis] = int(value)

    def step(self, key: str, default: int) -> int:
        axis = self.axis_of(key)
        if axis is None or axis not in self.last:
            return default
        self.used.add(axis)
        return self.last[axis]


@dataclass
class RowCollector:
    """Collects history rows (dicts) into long-table records, remembering where text showed up in a key."""

    path: Path
    records: list[tuple[str, int, float, float, float]] = field(default_factory=list)
    text_keys: dict[str, _TextSeen] = field(default_factory=dict)
    number_text_keys: dict[str, int] = field(default_factory=dict)  # key -> values logged as text holding a number
    objects_skipped: int = 0
    rows: int = 0
    axes: StepAxes | None = None
    keep_step: bool = False  # the axis is a history column: `_step` is kept as a metric

    def _position(self, row: Mapping[str, Any], step: int | None) -> tuple[int, float, float]:
        """(step, wall time, epoch) of one history row; a row without `_step` counts by its position."""
        if step is None:
            logged = row.get(STEP_KEY)
            step = int(logged) if is_number(logged) and math.isfinite(logged) else self.rows
        wall = row.get(TIME_KEY)
        epoch = row.get(EPOCH_KEY)
        self.rows += 1
        if not -(1 << 63) <= step < (1 << 63):
            raise ReadError(self.path, f"`{STEP_KEY}` {step} is out of the int64 range of a step")
        return step, float(wall) if is_number(wall) else math.nan, float(epoch) if is_number(epoch) else math.nan

    def add(self, row: Mapping[str, Any], step: int | None, where: Mapping[str, int]) -> None:
        if self.axes is not None:
            self._add_with_axes(row, step, where)
            return
        step, wall, epoch = self._position(row, step)
        append = self.records.append
        for key, value in row.items():
            kind = type(value)
            if kind is float or kind is int:
                if key[:1] != "_" and key != EPOCH_KEY:  # [:1]: an empty key is a metric named ""
                    append((key, step, float(value), wall, epoch))
                continue
            if kind is dict and "_type" not in value:
                for sub_key, sub_value in _flatten(value, f"{key}."):
                    self._add_other(sub_key, sub_value, step, wall, epoch, where)
            else:
                self._add_other(key, value, step, wall, epoch, where)

    def _add_with_axes(self, row: Mapping[str, Any], step: int | None, where: Mapping[str, int]) -> None:
        axes = self.axes
        assert axes is not None
        step, wall, epoch = self._position(row, step)
        axes.note_row(row)
        if self.keep_step:
            self.records.append((KEPT_STEP_METRIC, axes.step(KEPT_STEP_METRIC, step), float(step), wall, epoch))
        for key, value in _flatten(row):
            if key in axes.axes:
                continue
            self._add_other(key, value, axes.step(key, step), wall, epoch, where)

    def _add_other(self, key: str, value: Any, step: int, wall: float, epoch: float,
                   where: Mapping[str, int]) -> None:
        if key.startswith("_") or key == EPOCH_KEY:
            return
        if is_number(value):
            self.records.append((key, step, float(value), wall, epoch))
        elif isinstance(value, str) and (number := number_in_text(value)) is not None:
            # `wandb.log({"loss": f"{loss:.4f}"})`: a number written as text; W&B keeps the string, a reader of the
            # run reads the number (said in a note)
            self.records.append((key, step, number, wall, epoch))
            self.number_text_keys[key] = self.number_text_keys.get(key, 0) + 1
        elif isinstance(value, str):
            seen = self.text_keys.get(key)
            if seen is None:
                self.text_keys[key] = _TextSeen(1, where, value)
            else:
                seen.count += 1
        elif value is not None and not isinstance(value, bool):
            self.objects_skipped += 1

    def frame(self, aliases: Mapping[str, str] | None, notes: list[str]) -> pd.DataFrame:
        number_keys = {record[0] for record in self.records} if self.text_keys else set()
        notes.extend(skipped_text_notes(self.text_keys, number_keys))
        if self.number_text_keys:
            keys = sorted(self.number_text_keys)
            notes.append(f"{sum(self.number_text_keys.values())} value(s) logged as text holding a number, read as "
                         f"numbers: {', '.join(keys[:MAX_KEY_NOTES])}"
                         + (f" and {len(keys) - MAX_KEY_NOTES} more key(s)" if len(keys) > MAX_KEY_NOTES else ""))
        if self.objects_skipped:
            notes.append(f"{self.objects_skipped} non-scalar value(s) skipped (media, histograms, tables)")
        return records_frame(self.records, aliases)


def records_frame(records: list[tuple[str, int, float, float, float]],
                  aliases: Mapping[str, str] | None) -> pd.DataFrame:
    """`(tag, step, value, wall_time, epoch)` tuples -> table, canonicalising each distinct tag once."""
    if not records:
        return empty_frame()
    tags, steps, values, walls, epochs = zip(*records)
    names = {tag: canonical_metric(tag, None, aliases) for tag in set(tags)}
    return frame_from_columns([names[tag] for tag in tags], np.fromiter(steps, np.int64, len(steps)),
                              np.fromiter(values, np.float64, len(values)), np.fromiter(walls, np.float64, len(walls)),
                              np.fromiter(epochs, np.float64, len(epochs)), tags)


# --- run folders ----------------------------------------------------------------------------------------------


def use_step_column(collector: RowCollector, rows: Sequence[Mapping[str, Any]], steps: Sequence[int | None],
                    notes: list[str]) -> None:
    """Put the collector on the history's own step column, when it has one (`choose_step_column`)."""
    if collector.axes is not None:
        return
    column = _rows_step_column(rows, steps)
    if column is None:
        return
    collector.axes = StepAxes([("", "*", column)])
    collector.keep_step = True
    notes.append(_axis_note(column))


def _read_binary(path: Path, collector: RowCollector, metadata: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Feed a `.wandb` file's history to the collector; returns its config."""
    data = read_log_bytes(path)
    try:
        log = decode_run_log(data)
    except FormatError as exc:
        raise ReadError(path, exc.message, offset=exc.offset) from None
    if log.step_metrics:
        collector.axes = StepAxes(log.step_metrics)
    else:
        use_step_column(collector, [row.values for row in log.history], [row.step for row in log.history], notes)
    for row in log.history:
        collector.add(row.values, row.step, {"offset": row.offset})
    if collector.axes is not None and collector.axes.used and not collector.keep_step:
        notes.append(f"steps are W&B define_metric step metric(s) {', '.join(sorted(collector.axes.used))}, "
                     "not `_step`")
    for key in ("run_id", "display_name", "project", "entity", "group", "job_type", "start_time", "resumed"):
        if key in log.run:
            metadata.setdefault(key, log.run[key])
    if log.summary:
        metadata.setdefault("summary", _scalar_summary(log.summary))
    if log.run.get("resumed"):
        notes.append(resumed_alone_note(log.run.get("run_id", "<id>")))
    if log.truncated_at is not None:
        notes.append(f"{path.name} ends inside a record at offset {log.truncated_at} (a run still being written, "
                     f"or a copy cut short); read the {log.record_count} complete records before it")
    elif log.exit is None:
        notes.append(f"{path.name} has no exit record: the run is still running or was killed before W&B finished")
    if log.exit is not None:
        metadata["exit_code"] = log.exit["exit_code"]
        if log.exit["exit_code"] != 0:
            notes.append(f"W&B recorded exit code {log.exit['exit_code']} (the run crashed or was killed)")
    if not log.history:
        notes.append(f"{path.name} holds no history records")
    return log.config


def _json_rows(path: Path, notes: list[str]) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) of each JSON-lines row; a cut-off last line is a note, other bad lines errors.

    The whole file is parsed by one `json.loads` over `[line,line,...]` (C speed); only when that fails is it
    parsed line by line, to find the bad line or the cut-off tail.
    """
    data = read_log_bytes(path)
    if not data.strip():
        raise ReadError(path, "empty file")
    lines = data.split(b"\n")
    numbers = [number for number, raw in enumerate(lines, start=1) if raw.strip()]
    try:
        rows = json.loads(b"[" + b",".join(lines[n - 1] for n in numbers) + b"]")
    except (ValueError, UnicodeDecodeError):
        rows = None
    if rows is not None and all(isinstance(row, dict) for row in rows):
        return list(zip(numbers, rows))
    out = []
    for number in numbers:
        try:
            row = json.loads(lines[number - 1])
        except (ValueError, UnicodeDecodeError) as exc:
            if number == len(lines) and not data.endswith(b"\n"):
                notes.append(f"{path.name}: last line {number} is cut off (a run still being written); skipped")
                break
            raise ReadError(path, f"not valid JSON: {exc}", line=number) from None
        if not isinstance(row, dict):
            raise ReadError(path, f"expected a JSON object per line, got {type(row).__name__}", line=number)
        out.append((number, row))
    return out


def _scalar_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in _flatten(summary)
            if isinstance(value, (int, float, str, bool)) and not key.startswith("_wandb")}


def _read_summary(path: Path, notes: list[str]) -> dict[str, Any] | None:
    """The optional summary: whatever is wrong with it (unreadable, an LFS pointer, bad or too deeply nested JSON)
    is a note on the run, never the run's loss."""
    try:
        loaded = json.loads(read_log_bytes(path))
    except ReadError as exc:
        notes.append(f"{path.name} not read ({exc.message}); summary ignored")
        return None
    except RecursionError:
        notes.append(f"{path.name} is nested too deeply to parse; summary ignored")
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        notes.append(f"{path.name} is not valid JSON ({exc}); summary ignored")
        return None
    if not isinstance(loaded, dict):
        notes.append(f"{path.name} is not a JSON object; summary ignored")
        return None
    return _scalar_summary(loaded)


def _coerce(value: Any) -> Any:
    """YAML 1.1 reads `1e-08` as text; W&B wrote it from a float."""
    if isinstance(value, str):
        try:
            return float(value) if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+", value.strip()) else value
        except ValueError:
            return value
    return value


def _config_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """W&B's config.yaml stores {key: {desc, value}}; the binary log stores plain values."""
    out = {}
    for key, entry in config.items():
        if key in CONFIG_INTERNAL_KEYS:
            continue
        value = entry["value"] if isinstance(entry, dict) and "value" in entry else entry
        out[key] = _coerce(value)
    return out


def _read_config(path: Path, notes: list[str]) -> dict[str, Any] | None:
    import yaml

    try:
        loaded = yaml.safe_load(read_log_bytes(path))
    except ReadError as exc:  # optional, as the summary: a note, not the run's loss
        notes.append(f"{path.name} not read ({exc.message}); config ignored")
        return None
    except RecursionError:
        notes.append(f"{path.name} is nested too deeply to parse; config ignored")
        return None
    except yaml.YAMLError as exc:
        notes.append(f"{path.name} is not valid YAML ({str(exc).splitlines()[0]}); config ignored")
        return None
    if not isinstance(loaded, dict):
        return None
    return _config_values(loaded)


def _read_run_folder(files: Sequence[tuple[Path, str]], name: str, aliases: Mapping[str, str] | None) -> Run:
    by_kind: dict[str, list[Path]] = {}
    for path, kind in files:
        by_kind.setdefault(kind, []).append(path)
    notes: list[str] = []
    metadata: dict[str, Any] = {}
    binaries = sorted(by_kind.get("binary", []))
    legacy = sorted(by_kind.get("legacy_history", []))
    sources = binaries or legacy
    if not sources:
        where = (by_kind.get("summary") or by_kind.get("config") or [files[0][0]])[0]
        raise ReadError(where, "W&B run folder without history (no run-<id>.wandb or wandb-history.jsonl); "
                        "a summary alone holds only final values")
    collector = RowCollector(sources[0])
    config: dict[str, Any] = {}
    for source in sources:
        collector.path = source
        if source.suffix == ".wandb":
            config.update(_config_values(_read_binary(source, collector, metadata, notes)))
        else:
            rows = _json_rows(source, notes)
            use_step_column(collector, [row for _, row in rows], [None] * len(rows), notes)
            for line, row in rows:
                collector.add(row, None, {"line": line})
    if len(sources) > 1:
        notes.append(f"{len(sources)} history files in one run folder, read in name order")
    if binaries and legacy:
        notes.append("wandb-history.jsonl ignored: the .wandb record log holds the same history")
    data = collector.frame(aliases, notes)
    summary_files = by_kind.get("summary", [])
    if summary_files:
        summary = _read_summary(summary_files[0], notes)
        if summary is not None:
            metadata["summary"] = summary
    for config_path in by_kind.get("config", []):
        loaded = _read_config(config_path, notes)
        if loaded is not None:
            config = loaded
    used = set(sources) | set(summary_files[:1]) | set(by_kind.get("config", []))
    return Run(name=display_named(name, metadata), format="wandb", sources=[str(p) for p in sorted(used)], data=data,
               metadata=metadata, hparams=config, notes=notes)


def display_named(name: str, metadata: dict[str, Any]) -> str:
    """The run named by its W&B display name (`wandb.init(name=...)` or the generated `smooth-sun-12`) in place of
    its folder (`run-20250310_142111-nqwecnan`): `wandb/run-...-id` -> `wandb/smooth-sun-12`. The folder name stays
    in `metadata["folder_name"]`, and discovery goes back to it where two runs would share a display name. A name
    that holds `/` (a path used as the name) would read as folders: the folder is kept then."""
    display = metadata.get("display_name")
    if not isinstance(display, str) or not display.strip() or "/" in display or display != display.strip():
        return name
    metadata["folder_name"] = name
    head, _, _leaf = name.rpartition("/")
    return f"{head}/{display}" if head else display


# --- resumed runs ------------------------------------------------------------------------------------------------
# `wandb.init(id=..., resume="allow"|"must")` writes each session to a new `run-<date>_<time>-<id>/` folder beside
# the earlier ones. Discovery asks `WandbReader.session_of` which folders are sessions of one run and hands them
# back, each read alone, to `join_sessions`.


def resumed_alone_note(run_id: str) -> str:
    return (f"resumed W&B run {run_id}: its earlier steps are in another run-*-{run_id} folder, not among the "
            f"folders read (pass their common wandb/ folder to read them as one run)")


def folder_session(folder: Path, files: Iterable[str | Path]) -> tuple[str, tuple[str, int]] | None:
    """(run id, start order) of a local run folder; None when `folder` is not one.

    The id is the one in the record log's name (`run-<id>.wandb`, named from the same setting as the RUN record's
    id), else the folder name's (wandb 0.8 folders hold only `wandb-history.jsonl`). The order is the folder's
    start second, then the `-<n>` W&B appends to the second folder of one id started within the same second.
    """
    found = RUN_DIR.match(folder.name)
    if found is None or found.group("start") is None:
        return None
    rest = found.group("rest")
    logged = sorted(m.group("id") for m in (RECORD_LOG_NAME.match(Path(f).name) for f in files) if m)
    run_id = logged[0] if logged else rest
    repeat = rest[len(run_id) + 1:] if rest.startswith(run_id + "-") else ""
    return run_id, (found.group("start"), int(repeat) if repeat.isdigit() else 0)


def join_sessions(runs: Sequence[Run]) -> list[Run]:
    """Runs read from sibling folders of one id, in start order -> one Run per run id (a folder whose RUN record
    names another id, a renamed folder, stays its own run)."""
    by_id: dict[str, list[Run]] = {}
    for run in runs:
        by_id.setdefault(_session_id(run), []).append(run)
    return [_join(run_id, sessions) if len(sessions) > 1 else sessions[0] for run_id, sessions in by_id.items()]


def _session_folder(run: Run) -> Path:
    source = as_path(run.sources[0])
    return _run_dir(source) or source.parent


def _session_id(run: Run) -> str:
    recorded = run.metadata.get("run_id")
    if recorded:
        return str(recorded)
    folder = _session_folder(run)
    session = folder_session(folder, run.sources)
    return session[0] if session else folder.name


def _join(run_id: str, sessions: Sequence[Run]) -> Run:
    """Later sessions win where they overlap: per tag, an earlier session's points at or after the step where a
    later one starts that tag are dropped (the TensorBoard reader's restart rule). Each overlap is a
    `step_regressions` entry, as the TensorBoard reader records them."""
    folders = [_session_folder(run).name for run in sessions]
    data = sessions[0].data
    regressions: list[dict[str, Any]] = []
    notes = [f"W&B run {run_id} resumed: {len(sessions)} folders read as one run, in start order: "
             f"{', '.join(folders)}"]
    for folder, run in zip(folders[1:], sessions[1:]):
        data, found, overwritten = _resume_onto(data, run.data, folder)
        regressions.extend(found)
        if found:
            notes.append(_overwrite_note(folder, found, overwritten))
    answered = resumed_alone_note(run_id)  # a later session's earlier steps are now read with it
    for index, (folder, run) in enumerate(zip(folders, sessions)):
        notes.extend(f"{folder}: {note}" for note in run.notes if index == 0 or note != answered)
    metadata = dict(sessions[0].metadata)
    metadata["run_id"] = run_id
    metadata["run_folders"] = [str(_session_folder(run)) for run in sessions]
    for run in sessions[1:]:
        # the run's final state is the last session's, as W&B's run page shows it after a resume
        for key in ("exit_code", "summary"):
            if key in run.metadata:
                metadata[key] = run.metadata[key]
    if regressions:
        metadata["step_regressions"] = list(metadata.get("step_regressions") or []) + regressions
    hparams: dict[str, Any] = {}
    for run in sessions:
        hparams.update(run.hparams)  # a resumed session's config updates the run's, key by key
    return Run(name=sessions[0].name, format=sessions[0].format,
               sources=[source for run in sessions for source in run.sources], data=data, metadata=metadata,
               hparams=hparams, notes=notes)


def _resume_onto(earlier: pd.DataFrame, later: pd.DataFrame, folder: str
                 ) -> tuple[pd.DataFrame, list[dict[str, Any]], int]:
    """`earlier` continued by `later`: earlier points of each tag at or after that tag's first step in `later`
    are dropped. Returns the joined table, one regression record per tag that lost points, and how many distinct
    steps lost points. Tags go through integer codes: mapping a million-row text column costs ~0.3 s."""
    if later.empty:
        return earlier, [], 0
    later_codes, later_tags = pd.factorize(later["tag"])
    first_rows = np.flatnonzero(~pd.Series(later_codes).duplicated().to_numpy())  # in code order
    resumes_at = pd.Series(later["step"].to_numpy()[first_rows], index=later_tags)
    codes, tags = pd.factorize(earlier["tag"])
    start_of = resumes_at.reindex(tags).to_numpy(dtype=np.float64)  # NaN: the later session never logs that tag
    steps = earlier["step"].to_numpy()
    dropped = steps >= start_of[codes] if len(codes) else np.zeros(0, dtype=bool)
    if not dropped.any():
        return pd.concat([earlier, later], ignore_index=True), [], 0
    reached = pd.Series(steps).groupby(codes).max()
    lost_points = pd.Series(dropped).groupby(codes).sum()
    # same_run_resume: the run id proves both folders are one run (D002 then informs instead of warning)
    found = [{"tag": tags[code], "file": folder, "from_step": int(reached[code]), "to_step": int(start_of[code]),
              "dropped_points": int(count), "same_run_resume": True} for code, count in lost_points.items() if count]
    joined = pd.concat([earlier[~dropped], later], ignore_index=True)
    return joined, found, int(np.unique(steps[dropped]).size)


def _overwrite_note(folder: str, regressions: Sequence[dict[str, Any]], overwritten: int) -> str:
    first = min(r["to_step"] for r in regressions)
    reached = max(r["from_step"] for r in regressions)
    note = (f"{folder} resumes at step {first} after the earlier folder(s) reached step {reached}: "
            f"{overwritten} earlier step(s) overwritten by its values (the later folder wins, as in W&B)")
    if first == 0 < reached:
        note += "; it starts again at step 0, as an offline resume without `step=` does"
    return note


# --- history exports --------------------------------------------------------------------------------------------


def _table_column(path: Path, table: pd.DataFrame, column: str) -> csv_export.NumericColumn:
    return csv_export.numeric_column(table[column])


def _history_table_run(path: Path, table: pd.DataFrame, name: str, aliases: Mapping[str, str] | None,
                       header_lines: int | None) -> Run:
    """A `run.history()` table: one row per logged step, one column per key."""
    notes: list[str] = []
    table = csv_export.drop_index_column(table)
    if STEP_KEY not in table.columns:
        raise ReadError(path, "W&B history export without a `_step` column")
    step_col = _table_column(path, table, STEP_KEY)
    line_of = (lambda row: {"line": row + 1 + header_lines}) if header_lines is not None else (lambda row: {})
    if step_col.first_bad is not None:
        raise ReadError(path, f"`_step` {step_col.bad_text!r} is not a number", **line_of(step_col.first_bad))
    ok = step_col.present & np.isfinite(step_col.values)
    if not ok.all():
        raise ReadError(path, "`_step` is empty or not finite on this row", **line_of(int(np.argmin(ok))))
    too_big = np.abs(step_col.values) >= 2.0**63
    if too_big.any():
        row = int(np.argmax(too_big))
        raise ReadError(path, f"`_step` {step_col.values[row]} is out of the int64 range of a step", **line_of(row))
    steps = step_col.values.astype(np.int64)
    own_steps = steps
    columns = {str(c): _table_column(path, table, str(c)) for c in table.columns if str(c) in STEP_COLUMNS}
    metric_rows = {str(c): _table_column(path, table, str(c)).present for c in table.columns
                   if not str(c).startswith("_") and str(c) not in STEP_COLUMNS}
    axis = choose_step_column({name: np.where(col.present, col.values, np.nan) for name, col in columns.items()},
                              metric_rows, steps)
    if axis is not None:
        steps = axis[1]
        notes.append(_axis_note(axis[0]))
    wall = _table_column(path, table, TIME_KEY).values if TIME_KEY in table.columns else np.full(len(table), np.nan)
    epoch = _table_column(path, table, EPOCH_KEY).values if EPOCH_KEY in table.columns else np.full(len(table), np.nan)
    tags, step_parts, value_parts, wall_parts, epoch_parts = [], [], [], [], []
    text_seen: dict[str, _TextSeen] = {}
    number_columns: set[str] = set()
    if axis is not None:  # W&B's own step, kept in the table
        tags.append(np.full(len(steps), KEPT_STEP_METRIC, dtype=object))
        step_parts.append(steps)
        value_parts.append(own_steps.astype(np.float64))
        wall_parts.append(wall)
        epoch_parts.append(epoch)
    for column in table.columns:
        column = str(column)
        if column.startswith("_") or column == EPOCH_KEY or (axis is not None and column == axis[0]):
            continue
        col = _table_column(path, table, column)
        if col.any_number:
            number_columns.add(column)
        if col.first_bad is not None:
            text_seen[column] = _TextSeen(col.bad_count, line_of(col.first_bad) or {"row": col.first_bad},
                                          col.bad_text)
        mask = col.present
        count = int(mask.sum())
        if not count:
            continue
        tags.append(np.full(count, column, dtype=object))
        step_parts.append(steps[mask])
        value_parts.append(col.values[mask])
        wall_parts.append(wall[mask])
        epoch_parts.append(epoch[mask])
    notes.extend(skipped_text_notes(text_seen, number_columns))
    data = _long_frame(tags, step_parts, value_parts, wall_parts, epoch_parts, aliases, row_major=True)
    return Run(name=name, format="wandb", sources=[str(path)], data=data, metadata={"wandb_export": "history"},
               notes=notes)


def _long_frame(tags: list[np.ndarray], steps: list[np.ndarray], values: list[np.ndarray], walls: list[np.ndarray],
                epochs: list[np.ndarray], aliases: Mapping[str, str] | None, row_major: bool = False) -> pd.DataFrame:
    """Concatenate per-column parts; row_major re-sorts by step so points keep their logged order."""
    if not tags:
        return empty_frame()
    tag = np.concatenate(tags)
    step = np.concatenate(steps)
    value = np.concatenate(values)
    wall = np.concatenate(walls)
    epoch = np.concatenate(epochs)
    if row_major:
        order = np.argsort(step, kind="stable")
        tag, step, value, wall, epoch = tag[order], step[order], value[order], wall[order], epoch[order]
    names = {t: canonical_metric(t, None, aliases) for t in dict.fromkeys(tag.tolist())}
    metric = np.array([names[t] for t in tag.tolist()], dtype=object)
    return frame_from_columns(metric, step, value, wall, epoch, tag)


def _json_history_rows(path: Path, notes: list[str]) -> Iterable[tuple[dict[str, int], dict[str, Any]]]:
    data = read_log_bytes(path)
    stripped = data.lstrip()
    if not stripped:
        raise ReadError(path, "empty file")
    if path.suffix.lower() == ".json" and stripped[:1] in (b"[", b"{") and not _looks_like_json_lines(stripped):
        try:
            loaded = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ReadError(path, f"not valid JSON: {exc}") from None
        return [({}, row) for row in _rows_of_json(path, loaded)]
    return [({"line": line}, row) for line, row in _json_rows(path, notes)]


def _looks_like_json_lines(data: bytes) -> bool:
    first = data.split(b"\n", 1)[0].strip()
    return first.startswith(b"{") and first.endswith(b"}") and b"\n{" in data


def _rows_of_json(path: Path, loaded: Any) -> list[dict[str, Any]]:
    """pandas `to_json` orients that a history export may be saved in: records, columns, split."""
    if isinstance(loaded, list) and all(isinstance(row, dict) for row in loaded):
        return loaded
    if isinstance(loaded, dict) and {"columns", "data"} <= loaded.keys():
        return [dict(zip(loaded["columns"], row)) for row in loaded["data"]]
    if isinstance(loaded, dict) and loaded and all(isinstance(col, dict) for col in loaded.values()):
        index = list(dict.fromkeys(i for col in loaded.values() for i in col))
        return [{key: col[i] for key, col in loaded.items() if i in col} for i in index]
    raise ReadError(path, "JSON history export must be a list of row objects (or a pandas records/columns/split "
                    "table)")


def _read_table_file(path: Path, kind: str, name: str, aliases: Mapping[str, str] | None) -> list[Run]:
    if kind == "chart":
        return _chart_runs(path, name, aliases)
    if kind == "history_csv":
        check_lfs_pointer(path, _head(path)[:64])
        return [_history_table_run(path, csv_export.read_table(path), name, aliases, header_lines=1)]
    if kind == "history_parquet":
        try:
            table = pd.read_parquet(fs.readable(path))
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a bad file
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ReadError(path, f"not a readable parquet file: {detail}") from None
        return [_history_table_run(path, table, name, aliases, header_lines=None)]
    notes: list[str] = []
    collector = RowCollector(path)
    rows = list(_json_history_rows(path, notes))
    use_step_column(collector, [row for _, row in rows], [None] * len(rows), notes)
    for where, row in rows:
        collector.add(row, None, where)
    data = collector.frame(aliases, notes)
    return [Run(name=name, format="wandb", sources=[str(path)], data=data, metadata={"wandb_export": "history"},
                notes=notes)]


def _chart_runs(path: Path, name: str, aliases: Mapping[str, str] | None) -> list[Run]:
    check_lfs_pointer(path, _head(path)[:64])
    export = csv_export.read_chart_export(path)
    runs = []
    for chart_run in export.runs:
        nan_walls = [np.full(len(s), np.nan) for s in chart_run.steps]
        data = _long_frame(chart_run.tags, chart_run.steps, chart_run.values, nan_walls, chart_run.epochs, aliases,
                           row_major=True)
        runs.append(Run(name=f"{name}/{chart_run.label}", format="wandb", sources=[str(path)], data=data,
                        metadata={"wandb_run": chart_run.label, "wandb_export": "chart", "x_axis": export.x_column},
                        notes=list(export.notes)))
    return runs


class WandbReader(Reader):
    format = "wandb"
    priority = 20

    def can_read(self, path: Path) -> bool:
        return file_kind(as_path(path)) is not None

    def run_key(self, path: Path) -> Path:
        path = as_path(path)
        run_dir = _run_dir(path)
        if run_dir is not None:
            return run_dir
        if path.suffix == ".wandb" or path.name in WANDB_FILES:
            return path.parent
        return path  # an exported table is its own run (a chart export holds many; two exports never merge)

    def session_of(self, key: Path, files: Sequence[str]) -> tuple[str, tuple[str, int]] | None:
        """For discovery: the run id and start order of a run folder, so that the folders of a resumed run are
        read as one; None for everything else."""
        return folder_session(key, files)

    def join_sessions(self, runs: Sequence[Run]) -> list[Run]:
        return join_sessions(runs)

    def read(self, paths: Sequence[Path], name: str, aliases: Mapping[str, str] | None = None, *,
             options: ReadOptions | None = None) -> list[Run]:
        kinds = [(as_path(p), file_kind(as_path(p))) for p in paths]
        tables = [(p, k) for p, k in kinds if k in TABLE_KINDS]
        folder = [(p, k) for p, k in kinds if k is not None and k not in TABLE_KINDS]
        runs: list[Run] = []
        for path, kind in tables:
            label = name if len(tables) == 1 and not folder else f"{name}/{path.name}"
            runs.extend(_read_table_file(path, kind, label, aliases))
        if folder:
            runs.append(_read_run_folder(folder, name, aliases))
        if not runs:
            raise ReadError(paths[0] if paths else name, "not a W&B log")
        return runs


READER = WandbReader()
