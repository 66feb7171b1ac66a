"""MLflow SQLite tracking store (`mlflow.db`), against a store written by the real `mlflow` package (a test-only
dependency: `mlflow-skinny` with SQLAlchemy and Alembic, in the `test` extra)."""
from __future__ import annotations

import hashlib
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from losslint.discover import discover, load
from losslint.errors import ReadError
from losslint.io.mlflow import READER

WRITER = textwrap.dedent('''
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    mlflow.set_experiment("demo")
    with mlflow.start_run(run_name="overfit"):
        mlflow.log_params({"lr": 0.001, "batch_size": 32, "optimizer": "adam"})
        for step in range(40):
            mlflow.log_metric("train_loss", 2.0 / (step + 1), step=step)
            if step % 4 == 3:
                mlflow.log_metric("val_loss", 1.0 + (step - 16) ** 2 / 400.0, step=step)
    with mlflow.start_run(run_name="broken"):
        for step, value in enumerate([1.0, 0.8, float("nan"), float("inf"), float("-inf")]):
            mlflow.log_metric("loss", value, step=step)
    for _ in range(2):
        with mlflow.start_run(run_name="dup"):
            mlflow.log_metric("loss", 1.0, step=0)
    with mlflow.start_run(run_name="params-only"):
        mlflow.log_param("seed", 1)
    with mlflow.start_run(run_name="crashed"):
        mlflow.log_metric("loss", 1.0, step=0)
        mlflow.end_run(status="FAILED")
    with mlflow.start_run(run_name="gone") as gone:
        mlflow.log_metric("loss", 1.0, step=0)
    MlflowClient().delete_run(gone.info.run_id)
''')


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """`mlflow.db` written by MLflow itself (in a subprocess: MLflow keeps global tracking state)."""
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    folder = tmp_path_factory.mktemp("mlflow-store")
    env = {**os.environ, "MLFLOW_TRACKING_URI": "sqlite:///mlflow.db", "GIT_PYTHON_REFRESH": "quiet"}
    done = subprocess.run([sys.executable, "-c", WRITER], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (folder / "mlflow.db").is_file()
    return folder / "mlflow.db"


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


def by_label(runs) -> dict:
    return {r.name.split("/", 1)[1]: r for r in runs}


def test_every_run_of_the_store_is_read(store):
    before = snapshot(store.parent)
    assert READER.can_read(store)
    assert READER.run_key(store) == store
    runs = by_label(READER.read([store], "mlflow.db"))
    assert snapshot(store.parent) == before  # never written, migrated, or given a journal
    assert set(runs) == {"demo/overfit", "demo/broken", "demo/params-only", "demo/crashed", "demo/gone"} | {
        name for name in runs if name.startswith("demo/dup-")}
    assert len([n for n in runs if n.startswith("demo/dup-")]) == 2  # one name twice: told apart by the run id
    overfit = runs["demo/overfit"]
    assert overfit.format == "mlflow"
    train, val = overfit.series("train/loss"), overfit.series("eval/loss")
    assert train["step"].tolist() == list(range(40))
    assert train["value"].tolist() == pytest.approx([2.0 / (s + 1) for s in range(40)])
    assert val["step"].tolist() == list(range(3, 40, 4))
    assert overfit.data["wall_time"].notna().all() and overfit.data["wall_time"].iloc[0] > 1.6e9
    assert overfit.hparams == {"lr": 0.001, "batch_size": 32, "optimizer": "adam"}
    assert len(overfit.metadata["run_id"]) == 32 and overfit.metadata["run_name"] == "overfit"
    assert overfit.metadata["experiment"] == "demo" and overfit.metadata["status"] == "FINISHED"


def test_nan_and_inf_come_back_as_logged(store):
    broken = by_label(READER.read([store], "db"))["demo/broken"]
    values = broken.series("train/loss")["value"].tolist()
    assert values[:2] == [1.0, 0.8] and math.isnan(values[2]) and values[3:] == [math.inf, -math.inf]


def test_status_deletion_and_params_only_runs_are_notes(store):
    runs = by_label(READER.read([store], "db"))
    assert any("FAILED" in n for n in runs["demo/crashed"].notes)
    assert any("deleted" in n for n in runs["demo/gone"].notes)
    assert runs["demo/params-only"].data.empty and any("without metrics" in n for n in runs["demo/params-only"].notes)


def test_discovery_and_check_of_a_project_folder(store, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from losslint.cli import main

    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(store, project / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    groups = discover(["project"]).groups
    assert [(g.name, g.format) for g in groups] == [("mlflow.db", "mlflow")]
    runs, errors = load(["project"])
    assert errors == [] and len(runs) == 7 and all(r.path == "project/mlflow.db" for r in runs)
    result = CliRunner().invoke(main, ["check", "project/mlflow.db", "--format", "json", "-j", "1"])
    assert result.exit_code in (0, 1), result.output
    import json

    doc = json.loads(result.stdout)
    assert doc["errors"] == [] and "project/mlflow.db/demo/overfit" in {r["run"] for r in doc["runs"]}


def test_a_read_only_wal_store_is_read(store, tmp_path):
    folder = tmp_path / "wal"
    folder.mkdir()
    copy = Path(shutil.copy(store, folder / "mlflow.db"))
    with sqlite3.connect(copy) as connection:  # test setup: the copy is switched to WAL mode
        assert connection.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    connection.close()
    for extra in folder.glob("mlflow.db-*"):
        extra.unlink()
    copy.chmod(0o444)
    folder.chmod(0o555)
    try:
        before = snapshot(folder)
        runs = READER.read([copy], "db")
        assert len(runs) == 7 and snapshot(folder) == before
    finally:
        folder.chmod(0o755)
        copy.chmod(0o644)


@pytest.mark.parametrize("content, fragment", [
    (b"", "no SQLite header"),
    (b"not a database at all\n" * 10, "no SQLite header"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 1032192\n", "git lfs pull"),
])
def test_a_broken_mlflow_db_is_one_error(tmp_path, content, fragment):
    path = tmp_path / "mlflow.db"
    path.write_bytes(content)
    assert READER.can_read(path)  # claimed by name, so that it is reported
    with pytest.raises(ReadError, match=fragment):
        READER.read([path], "db")
    runs, errors = load([tmp_path])
    assert runs == [] and len(errors) == 1 and fragment in errors[0].message


def test_a_store_cut_short_is_one_error(store, tmp_path):
    data = store.read_bytes()
    cut = tmp_path / "mlflow.db"
    cut.write_bytes(data[: len(data) // 3])
    runs, errors = load([cut])
    assert runs == [] and len(errors) == 1 and str(cut) in errors[0].path


def test_other_sqlite_databases_are_not_stores(tmp_path):
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE users (id INTEGER)")
    connection.close()
    assert not READER.can_read(other)
    named = tmp_path / "sub" / "mlflow.db"
    named.parent.mkdir()
    shutil.copy(other, named)
    with pytest.raises(ReadError, match="not an MLflow tracking store"):
        READER.read([named], "db")


def test_a_store_under_another_name_is_recognised_by_its_tables(store, tmp_path):
    renamed = Path(shutil.copy(store, tmp_path / "tracking.sqlite"))
    assert READER.can_read(renamed)
    assert len(READER.read([renamed], "x")) == 7
