"""Runs in object storage: `losslint check s3://...` against a real S3 API on loopback (moto's server on
127.0.0.1, an ephemeral port), the bucket filled with boto3 from a local tree holding every format. The remote
check must give the local check's JSON, with the tree's path replaced by the URL."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("moto.server")
pytest.importorskip("boto3")
pytest.importorskip("s3fs")

import s3_support  # noqa: E402 - after the skips: it imports nothing optional at module level
from cli_support import invoke
from losslint.io import fs  # noqa: E402

BUCKET = "team"
PREFIX = "experiments/sweep-1"
URL = f"s3://{BUCKET}/{PREFIX}"


@pytest.fixture(scope="module")
def endpoint():
    with s3_support.moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return s3_support.every_format_tree(tmp_path_factory.mktemp("local") / "sweep-1")


@pytest.fixture
def s3(endpoint, tree, monkeypatch):
    """The environment a user sets for MinIO/moto (endpoint and keys), and the bucket with the tree uploaded."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    for key, value in s3_support.CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    s3_support.forget_clients()
    client = boto3.client("s3")
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
        assert s3_support.upload(client, BUCKET, tree, PREFIX) > 40
    yield client
    s3_support.forget_clients()


def test_url_paths_keep_their_form_and_local_paths_stay_paths():
    remote = fs.as_path("s3://bucket/prefix/run/trainer_state.json")
    assert str(remote) == "s3://bucket/prefix/run/trainer_state.json"
    assert remote.name == "trainer_state.json" and str(remote.parent.parent) == "s3://bucket/prefix"
    assert remote.relative_to(fs.as_path("s3://bucket/prefix")).as_posix() == "run/trainer_state.json"
    assert fs.is_url("gs://b/x") and fs.is_url("az://c/x") and not fs.is_url("runs/x") and not fs.is_url("file:///x")
    assert type(fs.as_path("runs/x")) is type(Path("runs/x"))
    assert fs.as_path("file:///tmp/runs") == Path("/tmp/runs")


def test_check_of_a_bucket_gives_the_json_of_the_same_tree_on_disk(s3, tree):
    local = invoke("check", tree, "--format", "json", "-j", "1")
    remote = invoke("check", URL, "--format", "json", "-j", "1")
    assert remote.exit_code == local.exit_code == 1
    local_doc = json.loads(local.output.replace(str(tree), URL))
    remote_doc = json.loads(remote.output)
    assert remote_doc["errors"] == [] and len(remote_doc["runs"]) == len(local_doc["runs"]) >= 38
    assert remote_doc == local_doc
    formats = {run["format"] for run in remote_doc["runs"]}
    assert formats == {"tensorboard", "trainer_state", "wandb", "jsonl", "mlflow", "csv"}
    assert all(run["path"].startswith(URL + "/") for run in remote_doc["runs"])
    # worker processes read the bucket themselves (each opens its own connection after the fork)
    assert invoke("check", URL, "--format", "json", "-j", "2").output == remote.output


def test_one_object_by_its_url_is_read_with_its_run(s3, tree):
    result = invoke("check", f"{URL}/overfit/hf/trainer_state.json", "--format", "json", "-j", "1")
    (run,) = json.loads(result.output)["runs"]
    assert run["run"] == f"{URL}/overfit/hf" and run["verdict"] == "overfitting"


def test_a_prefix_inside_a_run_reads_the_whole_run(s3, tree):
    s3_support.check_prefix_inside_a_run(URL, tree)


def test_show_on_an_s3_run(s3, tree):
    s3_support.check_show(URL, tree)


def test_export_from_a_bucket(s3, tree, tmp_path):
    out = tmp_path / "all.csv"
    result = invoke("export", f"{URL}/spikes", "-o", out)
    assert result.exit_code == 0 and "from 5 run(s)" in result.output
    assert out.read_text().count("\n") > 1000


def test_missing_bucket_is_one_line_and_exit_2(s3):
    result = invoke("check", "s3://no-such-bucket/runs", "-j", "1")
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: s3://no-such-bucket/runs: cannot open: no such bucket")


def test_missing_prefix_is_one_line_and_exit_2(s3):
    result = invoke("check", f"s3://{BUCKET}/not-there", "--format", "json", "-j", "1")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["errors"][0]["path"] == f"s3://{BUCKET}/not-there"


def test_no_credentials_is_one_line_and_exit_2(s3, monkeypatch, tmp_path):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    s3_support.forget_clients()
    result = invoke("check", URL, "-j", "1")
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {URL}: cannot open: ")
    assert "credentials" in errors[0]


def test_discovery_lists_once_and_reads_nothing_it_does_not_need(s3, tree, monkeypatch):
    """Discovery of the whole bucket: one listing, then only the sniffs' ranged reads (never a whole object)."""
    from losslint import discover

    calls: list[str] = []
    real_find = fs.filesystem(fs.as_path(URL)).__class__.find

    def counting_find(self, path, *args, **kwargs):
        calls.append(path)
        return real_find(self, path, *args, **kwargs)

    monkeypatch.setattr(fs.filesystem(fs.as_path(URL)).__class__, "find", counting_find)
    monkeypatch.setattr(fs, "read_bytes", lambda path: pytest.fail(f"discovery read all of {path}"))
    found = discover.discover([URL])
    assert not found.errors and len(calls) == 1
    assert len(found.groups) == 39


def test_a_worker_told_what_discovery_listed_asks_the_store_only_for_bytes(s3, tree, monkeypatch):
    """A group carries what discovery listed in its folders: a worker process (simulated here by forgetting this
    process's listings) reads the run and looks for its settings files without one more metadata request."""
    import pickle

    from losslint import discover

    found = discover.discover([URL])
    groups = pickle.loads(pickle.dumps(found.groups))  # what crosses to a --jobs or Dask worker
    assert all(g.listing for g in groups)
    hf = next(g for g in groups if g.format == "trainer_state")
    assert any(url.endswith("/config.json") or url.endswith("/trainer_state.json") for url in hf.listing["files"])
    store_class = fs.filesystem(fs.as_path(URL)).__class__
    asked: list[str] = []

    def metadata(name):
        def ask(self, path, *args, **kwargs):
            asked.append(f"{name} {path}")
            raise AssertionError(f"{name}({path}): the store was asked what discovery had listed")
        return ask

    def fresh_worker():
        for name in ("_listed_roots", "_listed_dirs", "_listed_folders"):
            monkeypatch.setattr(fs, name, set())
        for name in ("_listed_files", "_files_in", "_dirs_in"):
            monkeypatch.setattr(fs, name, {})

    fresh_worker()
    for name in ("isfile", "isdir", "info", "exists", "size", "find", "ls"):
        monkeypatch.setattr(store_class, name, metadata(name))
    for group in groups:
        runs, errors = discover.read_group(group)
        assert runs and not errors, (group.key, errors)
    assert asked == []
    # without the listing the same worker would have asked (the test can fail)
    fresh_worker()
    bare = pickle.loads(pickle.dumps(hf))
    bare.listing = None
    discover._sidecar_folders(bare)  # is_dir(run folder): answered by the store (a refusal here, counted)
    assert asked and asked[0].startswith("isdir ")


def test_python_api_reads_a_bucket(s3, tree):
    import losslint

    report = losslint.check(f"{URL}/overfit")
    assert not report.errors and len(report) == 5 and {r.verdict for r in report} == {"overfitting"}
    missing = losslint.check("s3://no-such-bucket/runs")  # not FileNotFoundError: a store's answer is a ReadError
    assert len(missing) == 0 and missing.errors[0].path == "s3://no-such-bucket/runs"


def test_whole_objects_are_read_in_concurrent_ranges(s3, tree, monkeypatch):
    s3_support.check_ranged_reads(URL, tree, monkeypatch,
                                  lambda key: s3.put_object(Bucket=BUCKET, Key=key, Body=b""))
    small = tree / "good-fit" / "jsonl" / "metrics.jsonl"
    monkeypatch.setattr(fs, "RANGE_CHUNK", small.stat().st_size + 1)
    assert fs.read_bytes(fs.as_path(f"{URL}/good-fit/jsonl/metrics.jsonl")) == small.read_bytes()


def test_local_paths_never_import_fsspec_or_dask():
    """Object storage and Dask cost nothing to a user who checks local folders: not even an import."""
    import subprocess
    import sys

    code = ("import sys; from losslint.engine import check_paths; from losslint.cli import main; "
            f"check_paths([{str(s3_support.FIXTURES / 'overfit')!r}], jobs=1); "
            "print(sorted(m for m in ('fsspec', 's3fs', 'botocore', 'dask', 'distributed') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_protocol_without_a_file_system_is_one_line_and_exit_2():
    result = invoke("check", "nosuchstore://bucket/runs", "-j", "1")
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == ["error: nosuchstore://bucket/runs: cannot open: no file system for nosuchstore:// URLs "
                      "(fsspec does not know it or its package is not installed)"]


def test_file_urls_are_local_paths(tmp_path):
    local = invoke("check", s3_support.FIXTURES / "overfit", "--format", "json", "-j", "1")
    url = invoke("check", (s3_support.FIXTURES / "overfit").as_uri(), "--format", "json", "-j", "1")
    assert url.exit_code == local.exit_code == 1 and url.output == local.output


@pytest.mark.parametrize("args, missing, line", [
    (["check", "s3://bucket/runs", "-j", "1"], "s3fs",
     "error: s3://bucket/runs: cannot open: reading s3:// URLs needs s3fs (losslint's [s3] extra): "
     "pip install fsspec s3fs"),
    (["check", str(s3_support.FIXTURES / "overfit"), "--executor", "dask"], "distributed",
     "error: --executor dask needs dask[distributed] (losslint's [dask] extra): pip install 'dask[distributed]'"),
])
def test_a_missing_extra_is_one_line_naming_what_to_install(args, missing, line):
    import subprocess
    import sys

    code = (f"import sys; sys.modules[{missing!r}] = None  # as if not installed\n"
            f"from losslint.cli import main; main({args!r})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert line in (done.stdout + done.stderr).splitlines()
    assert "Traceback" not in done.stderr
