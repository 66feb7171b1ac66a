"""MLflow SQLite tracking store: `mlflow.db` (the default tracking store since MLflow 3.7, `sqlite:///mlflow.db`).

One database holds every experiment and run; each run is a `Run` named `<name>/<experiment>/<run name>` (the run
name followed by the first 8 characters of its id where two runs of an experiment share a name). The database is
opened read-only through a `mode=ro` URI: never migrated, never written, no journal created. A store in WAL mode
(header byte 18 = 2) is opened `immutable`, since even a read-only connection would create its `-shm` file: what is
still only in its `-wal` file is then not seen, and a note says so; so is a store whose hot journal a read-only
connection cannot roll back.

Tables read (MLflow's SQLAlchemy store, every schema since 1.0): `experiments` (id, name, lifecycle stage),
`runs` (id, name, status, times, lifecycle stage, experiment), `metrics` (key, value, timestamp in ms, step,
`is_nan`), `params` (-> hyperparameters), `tags` (-> metadata). MLflow stores a NaN as 0 with `is_nan = 1` and
+/-inf as +/-1.7976931348623157e308; both are turned back into NaN and +/-inf, since they are findings.

Recognised by name (`mlflow.db`: claimed even when broken, so that a bad file is one clear error) or, for other
`*.db`/`*.sqlite` files, by the SQLite header and MLflow's tables.
"""
from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import quote

import numpy as np

from ..errors import ReadError
from ..schema import Run, canonical_metric, empty_frame, frame_from_columns, typed_hparam
from . import fs
from .base import check_lfs_pointer
from .fs import as_path
from .mlflow import RUN_NAME_TAG

FORMAT = "mlflow"
STORE_NAME = "mlflow.db"
SUFFIXES = (".db", ".sqlite", ".sqlite3")
SQLITE_HEADER = b"SQLite format 3\x00"
REQUIRED_TABLES = frozenset({"experiments", "runs", "metrics"})
# what MLflow's SQLAlchemy store writes for +/-inf (sanitize_metric_value)
DOUBLE_MAX = 1.7976931348623157e308


def _uri(path: Path, immutable: bool = False) -> str:
    return f"file:{quote(str(path.resolve()))}?mode=ro" + ("&immutable=1" if immutable else "")


def connect(path: Path, local: Path | None = None) -> tuple[sqlite3.Connection, list[str]]:
    """A read-only connection (and notes); `ReadError` when the file is not a readable SQLite database.
    `local`: where the bytes of `path` (an object in a store) were copied to (`fs.local_copy`): SQLite opens that,
    errors name `path`."""
    opened = local if local is not None else path
    try:
        head = fs.read_range(path, 0, 64)
    except OSError as exc:
        raise ReadError(path, f"cannot read: {exc.strerror or exc}") from None
    check_lfs_pointer(path, head)
    if not head.startswith(SQLITE_HEADER):
        raise ReadError(path, "not an SQLite database (no SQLite header)", offset=0)
    notes: list[str] = []
    if len(head) > 18 and head[18] == 2:
        # WAL mode: even a `mode=ro` connection creates the -shm (and -wal) files beside the database; `immutable`
        # creates nothing, and sees only what was checkpointed into the database file
        wal = path.with_name(path.name + "-wal")
        if fs.is_file(wal) and fs.size(wal):
            notes.append(f"{wal.name} not read (a writer is active or was killed): losslint opens WAL-mode stores "
                         "as immutable so as to write nothing beside them; its latest points may be missing")
        try:
            connection = sqlite3.connect(_uri(opened, immutable=True), uri=True)
            connection.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            raise ReadError(path, f"cannot open the SQLite database read-only: {exc}") from None
        return connection, notes
    try:
        connection = sqlite3.connect(_uri(opened), uri=True)
        connection.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        # a WAL-mode store needs its -shm file, which a read-only connection cannot create in a read-only folder
        try:
            connection = sqlite3.connect(_uri(opened, immutable=True), uri=True)
            connection.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.DatabaseError:
            raise ReadError(path, f"cannot open the SQLite database read-only: {exc}") from None
        notes.append(f"opened as immutable ({exc}): what is still in its -wal file is not read")
    return connection, notes


def _tables(connection: sqlite3.Connection) -> set[str]:
    return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _columns(connection: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')}


def is_mlflow_store(path: Path) -> bool:
    try:
        with fs.local_copy(path) as local:
            return _has_store_tables(path, local)
    except OSError:
        return False


def _has_store_tables(path: Path, local: Path) -> bool:
    try:
        connection, _ = connect(path, local)
    except ReadError:
        return False
    try:
        return REQUIRED_TABLES <= _tables(connection)
    except sqlite3.DatabaseError:
        return False
    finally:
        connection.close()


def _value(value: Any, is_nan: Any) -> float:
    if is_nan:
        return math.nan
    number = float(value)
    if abs(number) >= DOUBLE_MAX:
        return math.copysign(math.inf, number)
    return number


def read_store(path: Path, name: str, aliases: Mapping[str, str] | None = None) -> list[Run]:
    try:
        with fs.local_copy(path) as local:
            return _read_store(path, local, name, aliases)
    except OSError as exc:
        raise ReadError(path, f"cannot read: {exc.strerror or exc}") from None


def _read_store(path: Path, local: Path, name: str, aliases: Mapping[str, str] | None) -> list[Run]:
    connection, store_notes = connect(path, local)
    try:
        tables = _tables(connection)
        missing = REQUIRED_TABLES - tables
        if missing:
            raise ReadError(path, f"an SQLite database, but not an MLflow tracking store (no table "
                                  f"{', '.join(sorted(missing))})")
        return _runs(connection, path, name, aliases, tables, store_notes)
    except sqlite3.DatabaseError as exc:
        raise ReadError(path, f"cannot read the MLflow store: {exc}") from None
    finally:
        connection.close()


def _runs(connection: sqlite3.Connection, path: Path, name: str, aliases: Mapping[str, str] | None,
          tables: set[str], store_notes: list[str]) -> list[Run]:
    version = None
    if "alembic_version" in tables:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        version = row[0] if row else None
    experiments = {str(eid): (ename or str(eid), stage) for eid, ename, stage in connection.execute(
        "SELECT experiment_id, name, lifecycle_stage FROM experiments")}
    run_columns = _columns(connection, "runs")
    wanted = [c for c in ("run_uuid", "name", "status", "start_time", "end_time", "lifecycle_stage",
                          "experiment_id") if c in run_columns]
    runs = [dict(zip(wanted, row)) for row in connection.execute(
        f"SELECT {', '.join(wanted)} FROM runs ORDER BY experiment_id, start_time, run_uuid")]
    tags: dict[str, dict[str, str]] = {}
    if "tags" in tables:
        for key, value, run_id in connection.execute("SELECT key, value, run_uuid FROM tags"):
            tags.setdefault(run_id, {})[key] = value
    params: dict[str, dict[str, Any]] = {}
    if "params" in tables:
        for key, value, run_id in connection.execute("SELECT key, value, run_uuid FROM params"):
            params.setdefault(run_id, {})[key] = typed_hparam(value or "")
    metric_columns = _columns(connection, "metrics")
    step = "step" if "step" in metric_columns else "0"
    is_nan = "is_nan" if "is_nan" in metric_columns else "0"
    points: dict[str, list[tuple]] = {}
    for row in connection.execute(f"SELECT run_uuid, key, {step}, value, {is_nan}, timestamp FROM metrics "
                                  f"ORDER BY run_uuid, key, timestamp, {step}, rowid"):
        points.setdefault(row[0], []).append(row[1:])

    labels: dict[str, str] = {}
    seen: dict[str, int] = {}
    for run in runs:
        run_id = str(run["run_uuid"])
        experiment = experiments.get(str(run.get("experiment_id")), (str(run.get("experiment_id")), None))[0]
        run_name = run.get("name") or tags.get(run_id, {}).get(RUN_NAME_TAG) or run_id
        labels[run_id] = f"{experiment}/{run_name}"
        seen[labels[run_id]] = seen.get(labels[run_id], 0) + 1
    out = []
    for run in runs:
        run_id = str(run["run_uuid"])
        label = labels[run_id] if seen[labels[run_id]] == 1 else f"{labels[run_id]}-{run_id[:8]}"
        experiment_name, experiment_stage = experiments.get(str(run.get("experiment_id")), (None, None))
        notes = list(store_notes)
        metadata: dict[str, Any] = {"run_id": run_id, "run_name": run.get("name") or label.rsplit("/", 1)[-1],
                                    "experiment_id": str(run.get("experiment_id")), "experiment": experiment_name,
                                    "store": "sqlite", "schema_version": version}
        for key in ("status", "start_time", "end_time", "lifecycle_stage"):
            if run.get(key) not in (None, ""):
                metadata[key] = run[key]
        if run_id in tags:
            metadata["tags"] = dict(tags[run_id])
        if metadata.get("status") in ("FAILED", "KILLED"):
            notes.append(f"MLflow status {metadata['status']}: the run did not finish")
        if metadata.get("status") == "RUNNING":
            notes.append("MLflow status RUNNING: the run is still going (or died without telling MLflow)")
        if metadata.get("lifecycle_stage") == "deleted" or experiment_stage == "deleted":
            notes.append("run is deleted in MLflow (still in the database until `mlflow gc`)")
        rows = points.get(run_id, [])
        if rows:
            keys, steps, values, nans, stamps = zip(*rows)
            metric_names = {key: canonical_metric(key, None, aliases) for key in set(keys)}
            data = frame_from_columns(
                [metric_names[k] for k in keys], np.asarray(steps, dtype=np.int64),
                np.fromiter((_value(v, n) for v, n in zip(values, nans)), np.float64, len(values)),
                np.asarray([s / 1000.0 if s is not None else math.nan for s in stamps], dtype=np.float64),
                None, keys)
        else:
            data = empty_frame()
            notes.append("MLflow run without metrics (only params/tags): nothing to check")
        out.append(Run(name=f"{name}/{label}", format=FORMAT, sources=[str(path)], data=data, metadata=metadata,
                       hparams=params.get(run_id, {}), notes=notes))
    return out


def claims(path: Path) -> bool:
    """Is this file an MLflow SQLite store (for `MlflowReader.can_read`)?"""
    if path.name == STORE_NAME:
        return True  # by name: a broken or LFS-pointer mlflow.db is one clear error, not silence
    return path.suffix.lower() in SUFFIXES and is_mlflow_store(path)


def read_stores(paths: Sequence[Path], name: str, aliases: Mapping[str, str] | None = None) -> list[Run]:
    runs: list[Run] = []
    for path in sorted(as_path(p) for p in paths):
        runs.extend(read_store(path, name if len(paths) == 1 else f"{name}/{path.name}", aliases))
    return runs
