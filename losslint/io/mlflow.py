"""MLflow file store: `mlruns/<experiment id>/<run id>/` (the run is that folder). The SQLite store (`mlflow.db`) is
read by `mlflow_sqlite`, through this reader.

- `metrics/<name>`: one line per logged value, `<timestamp ms> <value> <step>` (MLflow before 1.0 wrote no step:
  the line number is the step then). A metric named `train/loss` is the file `metrics/train/loss`.
- `params/<name>`: one value per file -> hparams; `tags/<name>` -> metadata (`mlflow.runName` names the run).
- `meta.yaml`: run id, run name, status, lifecycle stage (a deleted run is still on disk until `mlflow gc`).

Experiment folders also hold a `meta.yaml` (and newer ones a `tags/` folder); a run folder is told apart by its
parent having a `meta.yaml` too.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ReadError
from ..schema import Run, canonical_metric, empty_frame, frame_from_columns, typed_hparam
from . import fs
from .base import Reader, ReadOptions, check_lfs_pointer, read_log_bytes, served_bytes
from .fs import as_path
from .tabular import MAX_STEP

RUN_PARTS = ("metrics", "params", "tags")
RUN_DIR_DEPTH = 8  # metric names with slashes nest folders below metrics/
# RunStatus values from mlflow/protos/service.proto
STATUS_NAMES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
RUN_NAME_TAG = "mlflow.runName"


def _is_run_dir(directory: Path) -> bool:
    return fs.is_file(directory / "meta.yaml") and fs.is_file(directory.parent / "meta.yaml")


def _run_dir_and_part(path: Path) -> tuple[Path, str] | None:
    """The run folder that holds this file and which part of it ('metrics', 'params', 'tags', 'meta')."""
    if path.name == "meta.yaml" and fs.is_dir(path.parent / "metrics") and _is_run_dir(path.parent):
        return path.parent, "meta"
    for depth, parent in enumerate(path.parents):
        if depth >= RUN_DIR_DEPTH:
            break
        if parent.name in RUN_PARTS and _is_run_dir(parent.parent):
            return parent.parent, parent.name
    return None


def _read_text(path: Path) -> str:
    data = read_log_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReadError(path, f"not UTF-8 text (byte {exc.start})", offset=exc.start) from None


@dataclass
class MetricSeries:
    tag: str
    steps: np.ndarray
    values: np.ndarray
    walls: np.ndarray


def _fast_metric_file(path: Path, tag: str) -> MetricSeries | None:
    """The common case at C speed: every line is `timestamp value step`. None: let the careful parser look."""
    served = served_bytes(path)  # `losslint watch`: the bytes it already holds
    try:
        table = pd.read_csv(io.BytesIO(served) if served is not None else fs.readable(path), sep=" ", header=None,
                            names=["ts", "value", "step"], dtype=np.float64,
                            engine="c", skip_blank_lines=True)
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return None
    ts, step = table["ts"].to_numpy(), table["step"].to_numpy()
    if not (np.isfinite(ts).all() and np.isfinite(step).all() and (step == np.round(step)).all()
            and (np.abs(step) < MAX_STEP).all()):
        return None  # the careful parser names the line (a step outside int64 would wrap around here)
    return MetricSeries(tag, step.astype(np.int64), table["value"].to_numpy(), ts / 1000.0)


def parse_metric_file(path: Path, tag: str, notes: list[str]) -> MetricSeries:
    """One metric file's points, in logged order."""
    try:
        served = served_bytes(path)
        if served is not None:
            check_lfs_pointer(path, served[:64])
        else:
            check_lfs_pointer(path, fs.read_range(path, 0, 64))
    except OSError as exc:
        raise ReadError(path, f"cannot read: {exc.strerror or exc}") from None
    fast = _fast_metric_file(path, tag)
    if fast is not None:
        return fast
    records = _parse_metric_lines(path, tag, notes)
    return MetricSeries(tag, np.array([r[1] for r in records], dtype=np.int64),
                        np.array([r[2] for r in records], dtype=np.float64),
                        np.array([r[3] for r in records], dtype=np.float64))


def _step_of(field: str) -> int:
    """A step as MLflow writes it (an integer); a float spelling of a whole number is taken, anything outside the
    int64 range steps are stored in is a ValueError that says so."""
    try:
        step = int(field)
    except ValueError:
        number = float(field)  # ValueError for text
        if not math.isfinite(number) or number != round(number):
            raise ValueError(f"step {field!r} is not a whole number") from None
        step = int(number)
    if not -MAX_STEP <= step < MAX_STEP:
        raise ValueError(f"step {field} is out of the int64 range of a step (|step| < 2**63)")
    return step


def _parse_metric_lines(path: Path, tag: str, notes: list[str]) -> list[tuple[str, int, float, float, float]]:
    """Line by line, for legacy two-field lines and to name the line that is wrong."""
    text = _read_text(path)
    lines = text.split("\n")
    records: list[tuple[str, int, float, float, float]] = []
    width = None  # 3 fields, or 2 in files from MLflow < 1.0 (no step column); one file never mixes them
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        width = width or len(fields)
        try:
            if len(fields) != width or width not in (2, 3):
                raise ValueError(f"expected 'timestamp value step', got {len(fields)} fields")
            if width == 3:
                timestamp, value, step = float(fields[0]), float(fields[1]), _step_of(fields[2])
            else:
                timestamp, value, step = float(fields[0]), float(fields[1]), len(records)
        except ValueError as exc:
            if number == len(lines) and not text.endswith("\n"):
                notes.append(f"metric {tag!r}: last line {number} is cut off (run still writing?); skipped")
                break
            reason = (str(exc) if "expected" in str(exc) or "step" in str(exc)
                      else f"{line.strip()!r} is not 'timestamp value step' numbers")
            raise ReadError(path, reason, line=number) from None
        wall = timestamp / 1000.0 if math.isfinite(timestamp) else math.nan
        records.append((tag, step, value, wall, math.nan))
    if not records:
        notes.append(f"metric {tag!r}: empty file")
    return records


def _read_meta(path: Path, notes: list[str]) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(_read_text(path))
    except yaml.YAMLError as exc:
        notes.append(f"meta.yaml is not valid YAML ({str(exc).splitlines()[0]}); run metadata ignored")
        return {}
    except RecursionError:
        notes.append("meta.yaml is nested too deeply to parse; run metadata ignored")
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _metadata(meta: Mapping[str, Any], tags: Mapping[str, str], notes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("run_id", "experiment_id", "lifecycle_stage", "start_time", "end_time"):
        if meta.get(key) not in (None, ""):
            out[key] = meta[key]
    run_name = meta.get("run_name") or meta.get("name") or tags.get(RUN_NAME_TAG)
    if run_name:
        out["run_name"] = str(run_name)
    status = meta.get("status")
    if status is not None:
        out["status"] = STATUS_NAMES.get(status, status) if isinstance(status, int) else str(status)
    if out.get("status") in ("FAILED", "KILLED"):
        notes.append(f"MLflow status {out['status']}: the run did not finish")
    if out.get("status") == "RUNNING":
        notes.append("MLflow status RUNNING: the run is still going (or died without telling MLflow)")
    if out.get("lifecycle_stage") == "deleted":
        notes.append("run is deleted in MLflow (still on disk until `mlflow gc`)")
    if tags:
        out["tags"] = dict(tags)
    return out


def _frame(series: list[MetricSeries], aliases: Mapping[str, str] | None) -> pd.DataFrame:
    series = [s for s in series if len(s.steps)]
    if not series:
        return empty_frame()
    tags = np.concatenate([np.full(len(s.steps), s.tag, dtype=object) for s in series])
    metrics = np.concatenate([np.full(len(s.steps), canonical_metric(s.tag, None, aliases), dtype=object)
                              for s in series])
    steps = np.concatenate([s.steps for s in series])
    return frame_from_columns(metrics, steps, np.concatenate([s.values for s in series]),
                              np.concatenate([s.walls for s in series]), np.full(len(steps), np.nan), tags)


class MlflowReader(Reader):
    format = "mlflow"
    priority = 35

    def can_read(self, path: Path) -> bool:
        return _run_dir_and_part(as_path(path)) is not None or mlflow_sqlite.claims(as_path(path))

    def run_key(self, path: Path) -> Path:
        path = as_path(path)
        found = _run_dir_and_part(path)
        if found is None and mlflow_sqlite.claims(path):
            return path  # an SQLite store holds many runs: the database is its own group
        return found[0] if found else path.parent

    def read(self, paths: Sequence[Path], name: str, aliases: Mapping[str, str] | None = None, *,
             options: ReadOptions | None = None) -> list[Run]:
        candidates = [as_path(p) for p in paths]
        stores = [p for p in candidates if _run_dir_and_part(p) is None and mlflow_sqlite.claims(p)]
        if stores:
            return mlflow_sqlite.read_stores(stores, name, aliases)
        notes: list[str] = []
        metric_files: list[tuple[Path, str]] = []
        params: dict[str, Any] = {}
        tags: dict[str, str] = {}
        meta: dict[str, Any] = {}
        run_dir: Path | None = None
        for raw in sorted(as_path(p) for p in paths):
            found = _run_dir_and_part(raw)
            if found is None:
                continue
            run_dir, part = found
            if part == "meta":
                meta = _read_meta(raw, notes)
                continue
            key = raw.relative_to(run_dir / part).as_posix()
            if part == "metrics":
                metric_files.append((raw, key))
            elif part == "params":
                params[key] = typed_hparam(_read_text(raw))
            else:
                tags[key] = _read_text(raw).strip()
        if run_dir is None:
            raise ReadError(paths[0] if paths else name, "not an MLflow run folder (no meta.yaml beside metrics/)")
        if not metric_files:
            raise ReadError(run_dir, "MLflow run without metrics (only params/tags): nothing to check")
        data = _frame([parse_metric_file(path, tag, notes) for path, tag in metric_files], aliases)
        sources = [str(p) for p, _ in metric_files]
        if fs.is_file(run_dir / "meta.yaml"):
            sources.append(str(run_dir / "meta.yaml"))
        return [Run(name=name, format="mlflow", sources=sources, data=data,
                    metadata=_metadata(meta, tags, notes), hparams=params, notes=notes)]


READER = MlflowReader()


from . import mlflow_sqlite  # noqa: E402 - it imports helpers from this module
