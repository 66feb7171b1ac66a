"""Hostile and broken input (issue 13): no crash, no hang, no silent loss, no gate bypass.

Every case is generated small in tmp_path next to a healthy run, and checked against the contract: exit 2, the bad
file named in one line, no traceback on stderr, the healthy run still gets its verdict, the input unchanged, and every
output format parseable. Cases that can hang or kill the process run `losslint` in a subprocess with a timeout.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import synthetic_curves as sc
from losslint.cli import main
from losslint.io.tensorboard import records as tfrecord

TIMEOUT = 60
FORMATS = ("text", "json", "markdown", "github", "junit", "sarif")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "runs"


# -- builders ----------------------------------------------------------------------------------------------------
def healthy(root: Path, name: str = "healthy") -> Path:
    """A good-fit JSONL run: its verdict must survive any bad neighbour."""
    return sc.write_jsonl(sc.make_run("good-fit", 2, n_train=200), root / name / "metrics.jsonl")


def event_bytes(points: int = 60, tag: str = "train/loss") -> bytes:
    from losslint.io.tensorboard.reader import _event_class

    event = _event_class()
    records = [tfrecord.frame(event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())]
    for step in range(points):
        e = event(wall_time=1.0 + step, step=step)
        value = e.summary.value.add()
        value.tag, value.simple_value = tag, 2.0 * np.exp(-step / 20) + 0.1
        records.append(tfrecord.frame(e.SerializeToString()))
    return b"".join(records)


def mlflow_run(root: Path, metric_lines: str) -> Path:
    run = root / "mlruns" / "1" / "0123456789abcdef0123456789abcdef"
    (run / "metrics").mkdir(parents=True)
    (root / "mlruns" / "1" / "meta.yaml").write_text("experiment_id: '1'\nname: demo\n")
    (run / "meta.yaml").write_text("run_id: abc\nrun_name: fox\nstatus: 3\nlifecycle_stage: active\n")
    (run / "metrics" / "loss").write_text(metric_lines)
    return run


def digest(root: Path) -> dict[str, str]:
    """Every regular file under root and its hash: inputs must be unchanged."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


# -- running -----------------------------------------------------------------------------------------------------
def run_cli(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    """`losslint ARGS` in a subprocess: a hang fails the test at TIMEOUT instead of blocking the suite."""
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("LOSSLINT_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "losslint.cli", *map(os.fsdecode, args)], capture_output=True,
                          timeout=TIMEOUT, cwd=cwd, env=full_env)


def invoke(*args):
    """`losslint ARGS` in-process (fast): stdout and stderr apart."""
    result = CliRunner().invoke(main, [os.fsdecode(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def assert_contract(code: int, stderr: str, bad_name: str, expect_exit: int = 2) -> None:
    assert code == expect_exit, stderr
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert any(bad_name in line for line in errors), stderr


def parse_output(fmt: str, text: str) -> None:
    """The output of `check --format FMT` parses as that format."""
    if fmt in ("json", "sarif"):
        json.loads(text)
    elif fmt == "junit":
        ET.fromstring(text)
    elif fmt == "github":
        for line in text.splitlines()[:-1]:
            assert line.startswith("::"), line
    elif fmt == "markdown":
        text.encode("utf-8")  # strict: no lone surrogates
    else:
        assert text.splitlines()[-1].split(" ")[1] == "run(s)", text


def check_all_formats(tree: Path, bad_name: str, healthy_name: str = "healthy", jobs: str = "1",
                      extra: tuple = ()) -> dict:
    """check TREE in every output format: the contract holds in each, the healthy run has its verdict."""
    before = digest(tree)
    document = None
    for fmt in FORMATS:
        result = invoke("check", tree, *extra, "--format", fmt, "-j", jobs)
        assert_contract(result.exit_code, result.stderr + (result.stdout if fmt == "text" else ""), bad_name)
        parse_output(fmt, result.stdout)
        if fmt == "json":
            document = json.loads(result.stdout)
    assert digest(tree) == before
    verdicts = {run["run"]: run["verdict"] for run in document["runs"]}
    assert verdicts.get(healthy_name) == "good-fit", verdicts
    return document


# == 1. a parser that can crash the process ==========================================================================
def deep_line(depth: int, opener: bytes = b"[") -> bytes:
    closer = b"]" if opener == b"[" else b"}"
    inner = opener * depth + closer * depth if opener == b"[" else b'{"a":' * depth + b"1" + b"}" * depth
    return b'{"step": 3, "train/loss": 0.5, "deep": ' + inner + b"}\n"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_deep_json_line_is_an_error_not_a_segfault(tmp_path, jobs):
    healthy(tmp_path)
    bad = tmp_path / "deep" / "metrics.jsonl"
    bad.parent.mkdir()
    bad.write_bytes(b'{"step": 1, "train/loss": 1.0}\n' * 3 + deep_line(25_000) + b'{"step": 4, "train/loss": 0.4}\n')
    before = digest(tmp_path)
    proc = run_cli("check", tmp_path, "--format", "json", "-j", jobs)
    assert_contract(proc.returncode, proc.stderr.decode(), "deep/metrics.jsonl")
    document = json.loads(proc.stdout)
    assert {r["run"]: r["verdict"] for r in document["runs"]}["healthy"] == "good-fit"
    assert "nested" in json.dumps(document["errors"])
    for command in (("show", tmp_path), ("export", tmp_path, "-o", tmp_path.parent / f"out{jobs}.csv")):
        proc = run_cli(*command)
        assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr.decode()
        assert "deep/metrics.jsonl" in proc.stderr.decode()
    assert digest(tmp_path) == before


def test_deep_metrics_json_in_a_sniff_is_one_error(tmp_path):
    healthy(tmp_path)
    bad = tmp_path / "detectron" / "metrics.json"
    bad.parent.mkdir()
    bad.write_bytes(b'{"iteration": 1, "x": ' + b"[" * 1500 + b"]" * 1500 + b"}\n")
    document = check_all_formats(tmp_path, "detectron/metrics.json")
    assert any("metrics.json" in e["path"] for e in document["errors"])
    for command in ("show", "report"):
        args = (command, tmp_path) if command == "show" else (command, tmp_path, "-o", tmp_path.parent / "rep")
        result = invoke(*args)
        assert result.exit_code in (1, 2) and "Traceback" not in result.stderr
        assert "metrics.json" in result.stderr


def test_a_worker_that_dies_loses_only_its_run(tmp_path, monkeypatch):
    """A reader that kills its process (as a C parser's segfault does) is retried alone: only its run is lost."""
    for k in range(3):
        healthy(tmp_path, f"healthy{k}")
    bad = tmp_path / "crash" / "metrics.jsonl"
    bad.parent.mkdir()
    bad.write_text('{"step": 1, "train/loss": 1.0}\n')
    script = ("import os, sys, losslint.io.jsonl as j\n"
              "real = j.read_file\n"
              "def read_file(path, *a, **k):\n"
              "    if 'crash' in str(path): os._exit(139)\n"
              "    return real(path, *a, **k)\n"
              "j.read_file = read_file\n"
              "from losslint.cli import main\n"
              "sys.exit(main())\n")
    proc = subprocess.run([sys.executable, "-c", script, "check", str(tmp_path), "--format", "json", "-j", "2"],
                          capture_output=True, timeout=TIMEOUT)
    assert_contract(proc.returncode, proc.stderr.decode(), "crash/metrics.jsonl")
    verdicts = {r["run"]: r["verdict"] for r in json.loads(proc.stdout)["runs"]}
    assert verdicts == {f"healthy{k}": "good-fit" for k in range(3)}
    assert "crashed" in proc.stderr.decode()


# == 2. special files and links out of the tree =====================================================================
def test_fifo_argument_is_refused_not_a_hang(tmp_path):
    healthy(tmp_path)
    fifo = tmp_path / "wandb-summary.json"
    os.mkfifo(fifo)
    proc = run_cli("check", fifo, tmp_path / "healthy", "--format", "json")
    assert_contract(proc.returncode, proc.stderr.decode(), "wandb-summary.json")
    assert "named pipe" in proc.stderr.decode()
    assert json.loads(proc.stdout)["runs"][0]["verdict"] == "good-fit"
    # inside a tree: skipped, the tree still checked
    proc = run_cli("check", tmp_path, "--format", "json")
    assert proc.returncode == 0, proc.stderr


def test_socket_and_device_links_are_refused(tmp_path):
    healthy(tmp_path)
    zero = tmp_path / "metrics.jsonl"
    zero.symlink_to("/dev/zero")
    sock_path = tmp_path / "s.jsonl"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        proc = run_cli("check", zero, sock_path, tmp_path / "healthy", "--format", "json")
    finally:
        sock.close()
    stderr = proc.stderr.decode()
    assert_contract(proc.returncode, stderr, "metrics.jsonl")
    assert "character device" in stderr and "socket" in stderr and "s.jsonl" in stderr
    assert json.loads(proc.stdout)["runs"][0]["verdict"] == "good-fit"


def test_links_to_folders_outside_the_tree_are_not_followed(tmp_path):
    tree = tmp_path / "tree"
    healthy(tree)
    outside = tmp_path / "outside"
    healthy(outside, "other")
    (tree / "to_root").symlink_to("/")
    (tree / "to_outside").symlink_to(outside)
    (tree / "inner").symlink_to(tree / "healthy")  # inside the tree: followed, read once
    proc = run_cli("check", tree, "--format", "json")
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    assert [r["run"] for r in json.loads(proc.stdout)["runs"]] == ["healthy"]
    assert "to_root" in stderr and "to_outside" in stderr and "not followed" in stderr
    proc = run_cli("check", "/proc")
    assert proc.returncode == 2 and "system folder" in proc.stdout.decode()


# == 3./4./5. names that are not UTF-8, control characters, CI commands ===========================================
@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses file names that are not UTF-8")
def test_folder_name_not_utf8_in_every_output(tmp_path):
    healthy(tmp_path)
    bad_dir = os.path.join(os.fsencode(tmp_path), b"bad\xff\xfe")
    os.mkdir(bad_dir)
    (Path(os.fsdecode(bad_dir)) / "events.out.tfevents.1").write_bytes(b"garbage" * 10)
    sc.write_jsonl(sc.make_run("good-fit", 3, n_train=200), Path(os.fsdecode(bad_dir)) / "ok" / "metrics.jsonl")
    document = check_all_formats(tmp_path, "bad\ufffd\ufffd")
    assert "bad\ufffd\ufffd/ok" in {r["run"] for r in document["runs"]}
    report = tmp_path.parent / "report"
    result = invoke("check", tmp_path, "--report", report, "-j", "1")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert any("bad" in p.name for p in report.glob("*.png"))
    (report / "report.md").read_text(encoding="utf-8")
    for suffix in (".csv", ".jsonl", ".parquet"):
        out = tmp_path.parent / f"export{suffix}"
        result = invoke("export", tmp_path, "-o", out)
        assert result.exit_code == 2 and "Traceback" not in result.stderr, result.stderr
        assert "export" in result.stderr
    import pandas as pd

    assert set(pd.read_parquet(tmp_path.parent / "export.parquet")["run"]) == {"healthy", "bad\ufffd\ufffd/ok"}
    # a strict UTF-8 stdout (PYTHONIOENCODING) takes every output
    for fmt in ("text", "github"):
        proc = run_cli("check", tmp_path, "--format", fmt, "-j", "1", env={"PYTHONIOENCODING": "utf-8:strict"})
        assert proc.returncode == 2 and b"Traceback" not in proc.stderr
        assert "bad\ufffd\ufffd" in proc.stdout.decode("utf-8")


HOSTILE_NAMES = ["x\n::error file=a.py::injected", "x\r::warning::injected", "t\x1b]0;title\x07\x1b[31mred",
                 "u\u2028::error::sep", "bidi\u202eevil"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_control_characters_in_names_cannot_start_a_line(tmp_path, name):
    healthy(tmp_path)
    sc.write_jsonl(sc.make_run("overfitting", 1, n_train=200), tmp_path / name / "metrics.jsonl")
    broken = tmp_path / (name + "-broken")
    broken.mkdir()
    (broken / "metrics.jsonl").write_text("not json\n")
    for fmt in ("text", "github"):
        result = invoke("check", tmp_path, "--format", fmt, "-j", "1")
        assert result.exit_code == 2
        for line in (result.stdout + result.stderr).splitlines():
            assert not line.startswith("::") or fmt == "github" and line.startswith(("::error ", "::warning ",
                                                                                      "::notice ")), line
            assert "\x1b" not in line and "\x07" not in line and "\u2028" not in line and "\u202e" not in line
        if fmt == "github":
            assert all(line.startswith("::") for line in result.stdout.splitlines()[:-1])
    result = invoke("show", tmp_path)
    for line in (result.stdout + result.stderr).splitlines():
        assert not line.startswith("::") and "\x1b" not in line


def test_wandb_chart_label_with_a_newline_is_escaped(tmp_path):
    healthy(tmp_path)
    export = tmp_path / "wandb_export.csv"
    rows = ['"Step","run - loss\n::error::injected"'] + [f'"{s}","{1.0 / (s + 1)}"' for s in range(30)]
    export.write_text("\n".join(rows) + "\n")
    result = invoke("check", tmp_path, "--format", "text", "-j", "1")
    assert "\\n::error::injected" in result.stdout
    assert not any(line.startswith("::") for line in result.stdout.splitlines())


# == 6. configuration from the tree ================================================================================
def test_config_in_the_checked_tree_cannot_change_the_gate(tmp_path, monkeypatch):
    sc.write_jsonl(sc.make_run("overfitting", 1, n_train=200), tmp_path / "runs" / "a" / "metrics.jsonl")
    (tmp_path / "runs" / "losslint.toml").write_text('ignore = ["O", "I", "U", "D"]\nfail-on = "error"\n')
    (tmp_path / "runs" / "a" / "pyproject.toml").write_text('[tool.losslint]\nextends = "/etc/passwd"\n')
    (tmp_path / "runs" / "a" / "losslint.toml").write_text("not [ toml")
    monkeypatch.chdir(tmp_path)
    result = invoke("check", "runs", "-j", "1")
    assert result.exit_code == 1 and "O101" in result.stdout, result.stdout + result.stderr


# == 7. silent data loss ==========================================================================================
def test_impossible_tensorboard_length_mid_file_is_an_error_with_the_offset(tmp_path):
    healthy(tmp_path)
    data = event_bytes(points=60)
    offsets = [0]
    while offsets[-1] < len(data):
        offsets.append(offsets[-1] + 16 + struct.unpack_from("<Q", data, offsets[-1])[0])
    cut = offsets[30]
    length = struct.pack("<Q", 1 << 62)
    bad_header = length + struct.pack("<I", tfrecord.masked_crc32c(length))
    broken = data[:cut] + bad_header + data[cut + 12:]
    run_dir = tmp_path / "tb"
    run_dir.mkdir()
    (run_dir / "events.out.tfevents.1").write_bytes(broken)
    document = check_all_formats(tmp_path, "events.out.tfevents.1")
    error = next(e for e in document["errors"] if "tfevents" in e["path"])
    assert f"offset {cut}" in error["message"] and "length" in error["message"]
    tb = next(r for r in document["runs"] if r["run"] == "tb")  # the records before it are kept
    assert tb["verdict"]
    result = invoke("show", run_dir, "--format", "json")
    assert json.loads(result.stdout)[0]["metrics"]["train/loss"]["points"] == 29


def test_truncated_final_tensorboard_record_is_still_a_note(tmp_path):
    data = event_bytes(points=60)
    (tmp_path / "events.out.tfevents.1").write_bytes(data[:-7])
    result = invoke("show", tmp_path)
    assert result.exit_code == 0 and "still being written" in result.stdout


@pytest.mark.parametrize("content, expect", [
    (b"step,loss\n1,0.5\n2,0.4\x00\n3,0.3\n", "NUL"),
    (b"st\x00ep,loss\n1,0.5\n2,0.4\n", "NUL"),
    (b"\x00\x00\x00\x00", "NUL"),
])
def test_csv_that_cannot_be_decoded_is_an_error_not_a_skip(tmp_path, content, expect):
    healthy(tmp_path)
    bad = tmp_path / "lightning" / "metrics.csv"
    bad.parent.mkdir()
    bad.write_bytes(content)
    document = check_all_formats(tmp_path, "lightning/metrics.csv")
    assert expect in json.dumps(document["errors"])


def test_utf16_csv_with_a_bom_is_read(tmp_path):
    healthy(tmp_path)
    rows = ["step,train_loss,val_loss"] + [f"{s},{2.0 / (s + 1)},{2.1 / (s + 1)}" for s in range(1, 40)]
    bad = tmp_path / "keras" / "metrics.csv"
    bad.parent.mkdir()
    bad.write_bytes("\n".join(rows).encode("utf-16"))
    result = invoke("show", tmp_path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    shown = {r["run"]: r for r in json.loads(result.stdout)}
    assert shown["keras"]["metrics"]["train/loss"]["points"] == 39


@pytest.mark.parametrize("step", ["1e300", "-1e19", "9223372036854775808", "nan"])
def test_mlflow_step_outside_int64_is_an_error(tmp_path, step):
    healthy(tmp_path)
    mlflow_run(tmp_path, "".join(f"{1000 + s} {1.0 / (s + 1)} {s}\n" for s in range(10)) + f"2000 0.1 {step}\n")
    document = check_all_formats(tmp_path, "metrics/loss")
    assert "step" in json.dumps(document["errors"])


@pytest.mark.parametrize("reader_file, text", [
    ("metrics.jsonl", '{"step": 1, "loss": 1}\n{"step": 1e300, "loss": 2}\n'),
    ("metrics.csv", "step,loss\n1,1\n1e300,2\n"),
    ("trainer_state.json", '{"log_history": [{"step": 1, "loss": 1}, {"step": 1e300, "loss": 2}]}'),
    ("wandb_export.csv", '"Step","r - loss"\n"1","1"\n"1e300","2"\n'),
])
def test_step_outside_int64_is_an_error_in_every_reader(tmp_path, reader_file, text):
    healthy(tmp_path)
    bad = tmp_path / "bad" / reader_file
    bad.parent.mkdir()
    bad.write_text(text)
    document = check_all_formats(tmp_path, f"bad/{reader_file}")
    assert "range" in json.dumps(document["errors"])


# == 8. smaller ==================================================================================================
@pytest.mark.parametrize("summary", [b"{not json", b"[1, 2]", b"[" * 5000 + b"]" * 5000, b"\xff\xfe\x00",
                                     b"version https://git-lfs.github.com/spec/v1\noid sha256:0\n"])
def test_bad_wandb_summary_is_a_note_not_a_dropped_run(tmp_path, summary):
    import shutil

    source = next((FIXTURES / "good-fit" / "wandb").rglob("*.wandb"))
    folder = tmp_path / "wandb" / source.parent.name
    (folder / "files").mkdir(parents=True)
    shutil.copy(source, folder / source.name)
    (folder / "files" / "wandb-summary.json").write_bytes(summary)
    result = invoke("check", tmp_path, "--format", "json", "-j", "1")
    assert result.exit_code in (0, 1), result.stderr
    run = json.loads(result.stdout)["runs"][0]
    assert any("wandb-summary.json" in note for note in run["notes"]), run["notes"]


def test_jsonl_step_messages_are_readable(tmp_path):
    healthy(tmp_path)
    for name, text in [("nan", '{"step": NaN, "loss": 1}\n'), ("big", f'{{"step": {2**70}, "loss": 1}}\n')]:
        bad = tmp_path / name / "metrics.jsonl"
        bad.parent.mkdir()
        bad.write_text(text * 3)
    document = check_all_formats(tmp_path, "nan/metrics.jsonl")
    messages = {e["path"].split("/")[-2]: e["message"] for e in document["errors"]}
    assert "`step` NaN is not a whole number" in messages["nan"], messages
    assert "out of the int64 range" in messages["big"] and "whole number" not in messages["big"], messages


def test_no_numpy_warnings_on_stderr(tmp_path):
    rows = [json.dumps({"step": s, "train/loss": 1e308 * (1 if s % 2 else -1), "eval/loss": 1e308}) for s in range(300)]
    (tmp_path / "huge").mkdir()
    (tmp_path / "huge" / "metrics.jsonl").write_text("\n".join(rows) + "\n")
    proc = run_cli("check", tmp_path, "--format", "json", "--report", tmp_path.parent / "rep")
    assert "Warning" not in proc.stderr.decode(), proc.stderr.decode()


def test_bad_parquet_is_a_one_line_error(tmp_path):
    import pandas as pd

    healthy(tmp_path)
    path = tmp_path / "export" / "history.parquet"
    path.parent.mkdir()
    pd.DataFrame({"_step": np.arange(200), "loss": np.linspace(2, 1, 200)}).to_parquet(path)
    data = bytearray(path.read_bytes())
    data[8:len(data) // 2] = b"A" * (len(data) // 2 - 8)  # the body broken, the footer (schema) intact
    path.write_bytes(bytes(data))
    document = check_all_formats(tmp_path, "history.parquet")
    message = next(e["message"] for e in document["errors"] if e["path"].endswith("history.parquet"))
    assert message.startswith("not a readable parquet file") and "\n" not in message


# == fuzz =========================================================================================================
def seed_files() -> dict[str, bytes]:
    """One small valid file per format, as (relative path -> bytes)."""
    lines = sc.jsonl_lines(sc.make_run("good-fit", 5, n_train=60))
    trainer = {"log_history": [{"step": s, "loss": 1.0 / (s + 1), "epoch": s / 10} for s in range(1, 30)]
               + [{"step": s, "eval_loss": 1.1 / (s + 1)} for s in range(5, 30, 5)], "global_step": 29}
    return {
        "jsonl/metrics.jsonl": ("\n".join(lines) + "\n").encode(),
        "csv/metrics.csv": ("step,epoch,train_loss,val_loss\n" + "".join(
            f"{s},{s // 10},{1.0 / (s + 1)},{1.1 / (s + 1) if s % 5 == 0 else ''}\n" for s in range(40))).encode(),
        "hf/trainer_state.json": json.dumps(trainer).encode(),
        "tb/events.out.tfevents.1": event_bytes(points=40),
        "chart/wandb_export.csv": ('"Step","r - train/loss"\n' + "".join(
            f'"{s}","{1.0 / (s + 1)}"\n' for s in range(40))).encode(),
        "mlruns/1/0123456789abcdef0123456789abcdef/metrics/loss": "".join(
            f"{1000 + s} {1.0 / (s + 1)} {s}\n" for s in range(40)).encode(),
        "wandb/run-20260101_000000-abc/wandb-history.jsonl": "".join(
            json.dumps({"_step": s, "loss": 1.0 / (s + 1), "_timestamp": 1e9 + s}) + "\n" for s in range(40)).encode(),
        "wandb/offline-run-20261129_153150-mosukj2l/run-mosukj2l.wandb":
            next((FIXTURES / "good-fit" / "wandb").rglob("*.wandb")).read_bytes()[:20_000],
    }


@st.composite
def damaged(draw, seeds: dict[str, bytes]):
    name = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[name])
    kind = draw(st.sampled_from(["truncate", "splice", "flip", "nest"]))
    if kind == "truncate":
        data = data[:draw(st.integers(0, len(data)))]
    elif kind == "splice":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=64))
    elif kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, max(len(data) - 1, 0)))
            if data:
                data[at] ^= 1 << draw(st.integers(0, 7))
    else:
        at = draw(st.integers(0, len(data)))
        depth = draw(st.integers(100, 30_000))
        data[at:at] = b"[" * depth + b"]" * depth
    return name, bytes(data)


SEEDS = seed_files()


@settings(max_examples=int(os.environ.get("LOSSLINT_FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=damaged(SEEDS))
def test_fuzz_damaged_files_keep_the_contract(tmp_path_factory, case):
    name, data = case
    root = tmp_path_factory.mktemp("fuzz")
    healthy(root)
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if name.startswith("mlruns"):
        run = path.parent.parent
        (run / "meta.yaml").write_text("run_id: abc\nstatus: 3\n")
        (run.parent / "meta.yaml").write_text("experiment_id: '1'\n")
    before = digest(root)
    result = invoke("check", root, "--format", "json", "-j", "1")
    assert result.exit_code in (0, 1, 2), result.stderr
    assert "Traceback" not in result.stderr
    document = json.loads(result.stdout)
    assert {r["run"]: r["verdict"] for r in document["runs"]}["healthy"] == "good-fit"
    assert (result.exit_code == 2) == bool(document["errors"])
    for error in document["errors"]:  # each names a file (or run folder) of the damaged run, in one line
        assert error["path"].startswith(str(root / name.split("/")[0])), error
        assert "\n" not in error["message"] and "Traceback" not in error["message"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == len(document["errors"])
    assert digest(root) == before
