"""`losslint check gs://...` and `az://...` against a real API of each store on loopback, as tests/test_remote.py
does for S3: Google Cloud Storage's JSON API from gcp-storage-emulator (in this process, 127.0.0.1, an ephemeral
port) and Azure Blob Storage from Azurite's blob service (a Node.js child process, 127.0.0.1, an ephemeral port).
Each bucket holds the tree of runs in every format; the remote check must give the local check's JSON, with the
tree's path replaced by the URL. Endpoints and credentials reach losslint only through the environment variables
the store's library reads (`STORAGE_EMULATOR_HOST`; `AZURE_STORAGE_CONNECTION_STRING`), as a user sets them."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import remote_support
from cli_support import invoke
from losslint.io import fs

BUCKET = "team"
PREFIX = "experiments/sweep-1"


@dataclass
class Store:
    protocol: str
    env: dict[str, str]  # what a user exports to reach this server
    uploader: Any  # an fsspec file system of its own (explicit settings), for writing objects

    @property
    def url(self) -> str:
        return f"{self.protocol}://{BUCKET}/{PREFIX}"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return remote_support.every_format_tree(tmp_path_factory.mktemp("local") / "sweep-1")


def _gcs(tmp: Path):
    pytest.importorskip("gcsfs")
    pytest.importorskip("gcp_storage_emulator")
    from gcsfs.core import GCSFileSystem

    with remote_support.gcs_emulator() as endpoint:
        # the uploader: gcsfs's JSON-API client, anonymous, told the endpoint. Not `gcsfs.GCSFileSystem`, which is
        # the experimental gRPC-aware subclass: with explicit anonymous credentials it first asks the endpoint for
        # the bucket's layout over gRPC, which the emulator does not speak (a 30 s timeout, retried)
        yield Store("gs", remote_support.gcs_environment(endpoint, tmp / "gcloud"),
                    GCSFileSystem(endpoint_url=endpoint, token="anon", skip_instance_cache=True))


def _azure(tmp: Path):
    pytest.importorskip("adlfs")
    if shutil.which("node") is None:
        pytest.skip("az:// is tested against Azurite, which needs Node.js (no `node` on PATH)")
    command = remote_support.azurite_command()
    if command is None:
        # The README's test command does not need npm: Azurite is an optional test component, like Node.js itself.
        pytest.skip("az:// is tested against Azurite, which is not installed: `npm ci --prefix tests/azurite` "
                    "(what .ci/run does when npm is there)")
    import adlfs

    with remote_support.azurite(command, tmp) as endpoint:
        env = remote_support.azure_environment(endpoint)
        yield Store("az", env, adlfs.AzureBlobFileSystem(connection_string=env["AZURE_STORAGE_CONNECTION_STRING"],
                                                         skip_instance_cache=True))


@pytest.fixture(scope="module", params=["gs", "az"])
def server(request, tree, tmp_path_factory):
    """The store's server with the tree uploaded below `bucket/prefix`; stopped after the module's tests."""
    start = {"gs": _gcs, "az": _azure}[request.param]
    servers = start(tmp_path_factory.mktemp(request.param))
    store = next(servers)
    try:
        store.uploader.mkdir(BUCKET)
        assert remote_support.upload_tree(store.uploader, tree, f"{BUCKET}/{PREFIX}") > 40
        yield store
    finally:
        servers.close()  # leaves the server's with block: it stops (a failed upload too)


def _forget_clients(store: Store) -> None:
    """fsspec keeps one file system per protocol, settings and process: a new endpoint needs a new one."""
    type(fs.filesystem(fs.as_path(store.url))).clear_instance_cache()


@pytest.fixture
def store(server, monkeypatch):
    """The environment a user sets for this store's emulator, in this process and the commands it starts."""
    for key in ("STORAGE_EMULATOR_HOST", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME",
                "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    _forget_clients(server)
    yield server
    _forget_clients(server)


def losslint(*args) -> subprocess.CompletedProcess:
    """The command as a user runs it: its own process, the environment inherited, nothing configured."""
    code = "import sys; from losslint.cli import main; main(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ))


def test_check_of_a_bucket_gives_the_json_of_the_same_tree_on_disk(store, tree):
    local = invoke("check", tree, "--format", "json", "-j", "1")
    remote = losslint("check", store.url, "--format", "json", "-j", "1")
    assert remote.returncode == local.exit_code == 1, remote.stderr[-2000:]
    # nothing but the report: no log line of the store's library (gcsfs warns on every request it cannot look up
    # a bucket's layout for, as with an emulator or a read-only principal)
    assert remote.stderr == ""
    local_doc = json.loads(local.output.replace(str(tree), store.url))
    remote_doc = json.loads(remote.stdout)
    assert remote_doc["errors"] == [] and len(remote_doc["runs"]) == len(local_doc["runs"]) >= 38
    assert remote_doc == local_doc
    formats = {run["format"] for run in remote_doc["runs"]}
    assert formats == {"tensorboard", "trainer_state", "wandb", "jsonl", "mlflow", "csv"}
    assert all(run["path"].startswith(store.url + "/") for run in remote_doc["runs"])
    # worker processes read the bucket themselves (each opens its own connection after the fork)
    assert losslint("check", store.url, "--format", "json", "-j", "2").stdout == remote.stdout


def test_a_prefix_inside_a_run_reads_the_whole_run(store, tree):
    remote_support.check_prefix_inside_a_run(store.url, tree)


def test_missing_bucket_is_one_line_and_exit_2(store):
    url = f"{store.protocol}://no-such-bucket/runs"
    result = losslint("check", url, "-j", "1")
    assert result.returncode == 2 and result.stderr == ""
    errors = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {url}: cannot open: no such bucket")
    assert len(result.stdout.splitlines()) == 2  # the error and the summary


def test_missing_prefix_is_one_line_and_exit_2(store):
    url = f"{store.protocol}://{BUCKET}/not-there"
    result = invoke("check", url, "--format", "json", "-j", "1")
    assert result.exit_code == 2
    (error,) = json.loads(result.stdout)["errors"]
    assert error["path"] == url and "no such bucket, object or prefix" in error["message"]


def test_discovery_lists_once_and_reads_nothing_it_does_not_need(store, monkeypatch):
    """Discovery of the whole prefix: one listing, then only the sniffs' ranged reads (never a whole object)."""
    from losslint import discover

    calls: list[str] = []
    remote = fs.filesystem(fs.as_path(store.url))  # fsspec's cached instance, the one discovery uses
    real_find = remote.find  # an instance attribute: fsspec's async file systems bind their sync methods there

    def counting_find(path, *args, **kwargs):
        calls.append(path)
        return real_find(path, *args, **kwargs)

    monkeypatch.setattr(remote, "find", counting_find)
    monkeypatch.setattr(fs, "read_bytes", lambda path: pytest.fail(f"discovery read all of {path}"))
    found = discover.discover([store.url])
    assert not found.errors and len(calls) == 1
    assert len(found.groups) == 39


def test_whole_objects_are_read_in_concurrent_ranges(store, tree, monkeypatch):
    """`Range` reads: the head, the rest in one concurrent batch, an object's middle, and an empty object."""
    remote_support.check_ranged_reads(store.url, tree, monkeypatch,
                                      lambda key: store.uploader.pipe_file(f"{BUCKET}/{key}", b""))


def test_show_on_a_run_in_the_bucket(store, tree):
    remote_support.check_show(store.url, tree)
