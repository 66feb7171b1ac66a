"""Object stores on loopback for the tests of `losslint check <url>`: the tree of runs in every format losslint
reads (written locally, then uploaded), and the servers of the stores that have no S3 API (`s3_support` has
moto's S3 server):

- Google Cloud Storage: `gcp-storage-emulator` (pure Python, from PyPI; the JSON API gcsfs speaks), in a thread of
  the test process on 127.0.0.1, an ephemeral port. gcsfs finds it through `STORAGE_EMULATOR_HOST`.
- Azure Blob Storage: Azurite's blob service (`azurite-blob`, from npm: `npm ci --prefix tests/azurite`, pinned by
  `tests/azurite/package-lock.json`), a child process on 127.0.0.1, an ephemeral port, in-memory. adlfs finds it
  through `AZURE_STORAGE_CONNECTION_STRING` with Azurite's well-known development account.
"""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "runs"

# -- Google Cloud Storage ----------------------------------------------------------------------------------------


def gcs_environment(endpoint: str, home: Path) -> dict[str, str]:
    """What a user sets to point gcsfs at an emulator, and what keeps a developer's own Google credentials out:
    no application-default or gcloud credentials (gcsfs then connects anonymously, as the emulator wants), no
    probe of a GCE metadata server."""
    return {"STORAGE_EMULATOR_HOST": endpoint, "NO_GCE_CHECK": "true", "CLOUDSDK_CONFIG": str(home),
            "GOOGLE_APPLICATION_CREDENTIALS": ""}


@contextmanager
def gcs_emulator() -> Iterator[str]:
    """The endpoint URL of gcp-storage-emulator on 127.0.0.1 (in memory), shut down on exit."""
    import logging
    import socketserver

    from gcp_storage_emulator.server import create_server

    logging.getLogger("gcp_storage_emulator").setLevel(logging.ERROR)  # one line per request otherwise
    # The emulator binds the port it is given (0 included) but does not tell which one it got: bind it first here,
    # then hand the emulator that port (released by the time its thread binds it, milliseconds later).
    with socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler) as probe:
        port = probe.server_address[1]
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    # gcsfs's info() sends two requests at once (the object, and a listing in case it is a "folder") and drops the
    # one it no longer needs: the emulator's HTTP server would print a traceback for each such hang-up
    httpd = server._api._httpd
    default_handle_error = httpd.handle_error

    def handle_error(request, client_address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            default_handle_error(request, client_address)

    httpd.handle_error = handle_error
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()  # shutdown() and close of its HTTP server; the thread then ends


def forget_gcs_clients() -> None:
    """fsspec keeps one GCS file system per settings and process; the endpoint is read when one is made."""
    import gcsfs

    gcsfs.GCSFileSystem.clear_instance_cache()


# -- Azure Blob Storage ------------------------------------------------------------------------------------------
# Azurite's development account: a published, fixed name and key (https://learn.microsoft.com/azure/storage/common/
# storage-use-azurite#http-connection-strings), not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_DIR = Path(__file__).resolve().parent / "azurite"


def azurite_command() -> str | None:
    """Azurite's blob service as `npm ci --prefix tests/azurite` installs it, or one on PATH; None if neither."""
    local = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return str(local)
    return shutil.which("azurite-blob")


def azure_environment(endpoint: str) -> dict[str, str]:
    """What a user sets to point adlfs at Azurite: the connection string of the development account."""
    return {"AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
                                               f"AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"}


@contextmanager
def azurite(command: str, workdir: Path) -> Iterator[str]:
    """The blob endpoint URL (`http://127.0.0.1:PORT/devstoreaccount1`) of an Azurite blob service started as a
    child process (in memory, port chosen by the system), terminated and waited for on exit."""
    args = [command, "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence", "--skipApiVersionCheck",
            "--silent"]
    log = (workdir / "azurite.log").open("w+b")
    process = subprocess.Popen(args, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        endpoint = _azurite_endpoint(process, workdir / "azurite.log", timeout=60)
        yield f"{endpoint}/{AZURITE_ACCOUNT}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _azurite_endpoint(process: subprocess.Popen, log: Path, timeout: float) -> str:
    """The address Azurite prints once it listens ("... successfully listens on http://127.0.0.1:PORT")."""
    deadline = time.monotonic() + timeout
    marker = "successfully listens on "
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if marker in text:
            return text.split(marker, 1)[1].split()[0].rstrip("/")
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited with {process.returncode}: {text.strip()[-2000:]}")
        time.sleep(0.1)
    raise RuntimeError(f"Azurite did not listen within {timeout:.0f} s: {log.read_text(errors='replace')[-2000:]}")


# -- the tree ----------------------------------------------------------------------------------------------------


def upload_tree(store, tree: Path, root: str) -> int:
    """Every file below `tree` as `<root>/<relative path>` through an fsspec file system (`root` without the
    protocol: `bucket/prefix`); the number of objects."""
    count = 0
    for path in sorted(tree.rglob("*")):
        if path.is_file():
            store.put_file(str(path), f"{root}/{path.relative_to(tree).as_posix()}")
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


def check_ranged_reads(base_url: str, tree: Path, monkeypatch, put_empty) -> None:
    """`fs.read_bytes` on a bucket at `base_url` holding `tree`: a whole object comes as its first range, then the
    rest in one concurrent batch; an empty object (written by `put_empty(key)`, key under `empty/`) reads as b"".
    The same assertions for every store (S3, GCS, Azure)."""
    from losslint.io import fs

    monkeypatch.setattr(fs, "RANGE_CHUNK", 4096)  # the fixtures' event files are tens of KiB: several ranges
    (event,) = (tree / "spikes" / "tensorboard").iterdir()
    url = fs.as_path(f"{base_url}/spikes/tensorboard/{event.name}")
    remote = fs.filesystem(url)  # fsspec's cached instance, the one read_bytes uses
    real, calls = remote.cat_ranges, []

    def counting(paths, starts, ends, **kwargs):
        calls.append(len(starts))
        return real(paths, starts, ends, **kwargs)

    monkeypatch.setattr(remote, "cat_ranges", counting)
    size = event.stat().st_size
    assert size > 3 * 4096
    assert fs.read_bytes(url) == event.read_bytes()
    assert calls == [-(-size // 4096) - 1]  # the first range, then the rest in one concurrent batch
    assert fs.read_range(url, 1000, 1100) == event.read_bytes()[1000:1100]
    with fs.open_binary(url, block_size=512) as handle:
        assert handle.read(10) == event.read_bytes()[:10]
    put_empty("empty/metrics.jsonl")
    bucket_url = base_url.split("/", 3)
    assert fs.read_bytes(fs.as_path("/".join(bucket_url[:3]) + "/empty/metrics.jsonl")) == b""


def check_prefix_inside_a_run(base_url: str, tree: Path) -> None:
    """`check` on a prefix inside a run (Keras's `validation/`) checks the whole run, as on local disk."""
    import json

    from cli_support import invoke

    remote = invoke("check", f"{base_url}/keras/validation", "--format", "json", "-j", "1")
    local = invoke("check", tree / "keras" / "validation", "--format", "json", "-j", "1")
    (run,) = json.loads(remote.output)["runs"]
    assert run["run"] == f"{base_url}/keras" and run["path"] == f"{base_url}/keras"
    (local_run,) = json.loads(local.output)["runs"]
    assert run["findings"] == local_run["findings"] and run["verdict"] == local_run["verdict"]


def check_show(base_url: str, tree: Path) -> None:
    """`show` on a run in the bucket prints what it prints for the same run on local disk, under the URL."""
    from cli_support import invoke

    remote = invoke("show", f"{base_url}/good-fit/tensorboard")
    local = invoke("show", tree / "good-fit" / "tensorboard")
    assert remote.exit_code == local.exit_code == 0
    assert remote.output.splitlines()[0].startswith(f"{base_url}/good-fit/tensorboard  [tensorboard]")
    assert remote.output.splitlines()[1:] == local.output.splitlines()[1:]
