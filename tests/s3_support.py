"""A real S3 API on loopback for the tests and the benchmark: moto's server on 127.0.0.1 (an ephemeral port), and
a tree of runs in every format losslint reads, written locally and uploaded with boto3."""
from __future__ import annotations

import logging
import shutil
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "runs"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "losslint-test", "AWS_SECRET_ACCESS_KEY": "losslint-test",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


@contextmanager
def moto_server() -> Iterator[str]:
    """The endpoint URL of a moto S3 server on 127.0.0.1, stopped on exit."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def forget_clients() -> None:
    """fsspec keeps one S3 file system per settings and process: a new endpoint or credentials need a new one."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


def upload(client, bucket: str, tree: Path, prefix: str) -> int:
    """Every file below `tree` as `s3://bucket/prefix/<relative path>`; the number of objects."""
    count = 0
    for path in sorted(tree.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(tree).as_posix()}")
            count += 1
    return count


def write_mlflow_file_store(root: Path) -> None:
    """An MLflow file store (`mlruns/<experiment>/<run>/{meta.yaml,metrics,params}`) with a falling loss."""
    experiment = root / "mlruns" / "3"
    run = experiment / "00112233445566778899aabbccddeeff"
    (run / "metrics").mkdir(parents=True)
    (run / "params").mkdir()
    (experiment / "meta.yaml").write_text("experiment_id: '3'\nname: demo\nlifecycle_stage: active\n")
    (run / "meta.yaml").write_text("run_id: 00112233445566778899aabbccddeeff\nrun_name: calm-owl\nstatus: 3\n"
                                   "lifecycle_stage: active\n")
    train = "".join(f"{1700000000000 + s} {2.0 / (1 + s / 20):.6f} {s}\n" for s in range(0, 300, 5))
    val = "".join(f"{1700000000000 + s} {2.1 / (1 + s / 25):.6f} {s}\n" for s in range(0, 300, 50))
    (run / "metrics" / "loss").write_text(train)
    (run / "metrics" / "val_loss").write_text(val)
    (run / "params" / "lr").write_text("0.001")


def write_mlflow_sqlite_store(path: Path) -> None:
    """A minimal MLflow SQLite tracking store (the tables and columns losslint reads), one run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE experiments (experiment_id INTEGER, name TEXT, lifecycle_stage TEXT)")
        db.execute("CREATE TABLE runs (run_uuid TEXT, name TEXT, status TEXT, start_time INTEGER, "
                   "end_time INTEGER, lifecycle_stage TEXT, experiment_id INTEGER)")
        db.execute("CREATE TABLE metrics (key TEXT, value REAL, timestamp INTEGER, run_uuid TEXT, step INTEGER, "
                   "is_nan BOOLEAN)")
        db.execute("INSERT INTO experiments VALUES (1, 'sweep', 'active')")
        db.execute("INSERT INTO runs VALUES ('r1', 'tidy-cat', 'FINISHED', 1, 2, 'active', 1)")
        db.executemany("INSERT INTO metrics VALUES (?, ?, ?, 'r1', ?, 0)",
                       [("loss", 2.0 / (1 + s / 30), 1000 + s, s) for s in range(0, 400, 4)]
                       + [("val_loss", 2.05 / (1 + s / 35), 1000 + s, s) for s in range(0, 400, 40)])
    # sqlite3's context manager commits but does not close; the with block above has committed


def write_lightning_csv(folder: Path) -> None:
    """A Lightning CSVLogger folder: sparse `metrics.csv` rows and its `hparams.yaml`."""
    folder.mkdir(parents=True)
    lines = ["epoch,step,train_loss,val_loss"]
    for s in range(0, 200, 2):
        lines.append(f"{s // 50},{s},{1.5 / (1 + s / 30):.6f},")
        if s % 50 == 48:
            lines.append(f"{s // 50},{s},,{1.6 / (1 + s / 40):.6f}")
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    (folder / "hparams.yaml").write_text("lr: 0.01\nbatch_size: 32\n")


def every_format_tree(root: Path) -> Path:
    """`fixtures/runs` (TensorBoard, trainer_state, W&B binary and export, JSONL) plus an MLflow file store, an
    MLflow SQLite store and a Lightning CSV log: every reader has a run in it."""
    shutil.copytree(FIXTURES, root)
    write_mlflow_file_store(root / "mlflow")
    write_mlflow_sqlite_store(root / "sqlite" / "mlflow.db")
    write_lightning_csv(root / "lightning" / "version_0")
    # a Keras-style TensorBoard run: train/ and validation/ event files, one run
    for split in ("train", "validation"):
        (root / "keras" / split).mkdir(parents=True)
        (event,) = (FIXTURES / "overfit" / "tensorboard").iterdir()
        shutil.copy(event, root / "keras" / split / event.name)
    return root
