"""`losslint watch`: runs followed while a writer appends to them, in every format a training job writes as it goes.

Each format has a writer that appends a run the way its logger does (JSON lines and CSV rows appended, TensorBoard
records appended, `trainer_state.json` rewritten at each save, a `.wandb` record log growing, MLflow metric files
appended). The oracle is `losslint check` itself: the step at which watch first prints O101 is the first written
step at which `check` on the same files finds it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from losslint.cli import main
from losslint.engine import check_paths
from losslint.io.base import read_log_bytes
from losslint.io.follow import Follow, Follower, Followers, serving
from losslint.io.tensorboard.records import frame
from losslint.watch import Watcher
from test_wandb_reader import _history_record, _write_log

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "runs"
ROWS = 60  # logged every 10 steps; eval loss on every second row


def curves(overfit: bool) -> list[tuple[int, float, float | None]]:
    """(step, train loss, eval loss or None): the eval loss falls, then (overfit) rises from step 250 while the train
    loss keeps falling. Checked on every prefix, only info-level findings come before O101 (a warning at ~320)."""
    steps = np.arange(1, ROWS + 1) * 10
    rng = np.random.default_rng(3)
    train = 0.1 + 2.0 * np.exp(-steps / 120.0) * (1 + 0.02 * rng.standard_normal(ROWS))
    evals = 0.6 + 1.6 * np.exp(-steps / 100.0) + 0.005 * rng.standard_normal(ROWS)
    if overfit:
        evals = evals + np.maximum(0, steps - 250) * 0.003
    return [(int(s), float(t), float(e) if i % 2 else None) for i, (s, t, e) in enumerate(zip(steps, train, evals))]


def first_o101_step() -> int:
    """The first chunk end at which `check` on the rows written so far finds O101 (in memory, format-free)."""
    from checks_support import make_run
    from losslint.engine import check_runs

    rows = curves(overfit=True)
    for end in range(CHUNK, len(rows) + 1, CHUNK):
        part = rows[:end]
        run = make_run({"train/loss": ([r[0] for r in part], [r[1] for r in part]),
                        "eval/loss": ([r[0] for r in part if r[2] is not None], [r[2] for r in part if r[2]])})
        if any(f.code == "O101" for f in check_runs([run])[0].findings):
            return part[-1][0]
    raise AssertionError("the overfitting curves never fire O101")


# -- writers: each appends rows the way its logger does ------------------------------------------------------------
class JsonlWriter:
    def __init__(self, root: Path):
        self.path = root / "run" / "metrics.jsonl"
        self.path.parent.mkdir(parents=True)

    def append(self, rows) -> None:
        with open(self.path, "a") as out:
            for step, train, evals in rows:
                out.write(json.dumps({"step": step, "train/loss": train, **({} if evals is None else
                                                                          {"eval/loss": evals})}) + "\n")


class CsvWriter:
    """Lightning's / Keras' CSV loggers: a header, then one row per log call, an empty cell where not logged."""

    def __init__(self, root: Path):
        self.path = root / "run" / "metrics.csv"
        self.path.parent.mkdir(parents=True)
        self.path.write_text("step,train_loss,val_loss\n")

    def append(self, rows) -> None:
        with open(self.path, "a") as out:
            for step, train, evals in rows:
                out.write(f"{step},{train!r},{'' if evals is None else repr(evals)}\n")


class TensorBoardWriter:
    def __init__(self, root: Path, name: str = "events.out.tfevents.1700000000.host.1.0"):
        from tensorboard.compat.proto import event_pb2

        self.event = event_pb2.Event
        self.path = root / "run" / name
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(frame(self.event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString()))

    def _scalar(self, tag: str, value: float, step: int) -> bytes:
        from tensorboard.compat.proto import summary_pb2

        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        return frame(self.event(wall_time=1.7e9 + step, step=step, summary=summary).SerializeToString())

    def append(self, rows) -> None:
        with open(self.path, "ab") as out:
            for step, train, evals in rows:
                out.write(self._scalar("train/loss", train, step))
                if evals is not None:
                    out.write(self._scalar("eval/loss", evals, step))


class TrainerStateWriter:
    """HF Trainer: `trainer_state.json` written whole again at each save."""

    def __init__(self, root: Path):
        self.path = root / "run" / "trainer_state.json"
        self.path.parent.mkdir(parents=True)
        self.history: list[dict] = []

    def append(self, rows) -> None:
        for step, train, evals in rows:
            self.history.append({"step": step, "epoch": step / 100, "loss": train})
            if evals is not None:
                self.history.append({"step": step, "epoch": step / 100, "eval_loss": evals})
        state = {"global_step": rows[-1][0], "log_history": self.history}
        self.path.write_text(json.dumps(state, indent=2))


class WandbWriter:
    """A `.wandb` record log still open: the bytes W&B's writer would have written so far (block framing and all)."""

    def __init__(self, root: Path):
        folder = root / "wandb" / "run-20250101_000000-watch123"
        folder.mkdir(parents=True)
        self.path = folder / "run-watch123.wandb"
        self.records: list[bytes] = []
        self.written = 0

    def append(self, rows) -> None:
        for step, train, evals in rows:
            items = {"loss": json.dumps(train), "_step": str(step)}
            if evals is not None:
                items["val_loss"] = json.dumps(evals)
            self.records.append(_history_record(step, items))
        data = _write_log(self.records)
        with open(self.path, "ab") as out:
            out.write(data[self.written:])
        self.written = len(data)


class MlflowWriter:
    """MLflow's file store: one file per metric under `metrics/`, a `timestamp value step` line appended per call."""

    def __init__(self, root: Path):
        experiment = root / "mlruns" / "0"
        self.run = experiment / "0123456789abcdef0123456789abcdef"
        (self.run / "metrics").mkdir(parents=True)
        (experiment / "meta.yaml").write_text("experiment_id: '0'\nname: Default\nlifecycle_stage: active\n")
        (self.run / "meta.yaml").write_text("run_id: 0123456789abcdef0123456789abcdef\nrun_name: watched\n"
                                            "status: 1\nlifecycle_stage: active\n")

    def append(self, rows) -> None:
        for step, train, evals in rows:
            for name, value in (("train_loss", train), ("val_loss", evals)):
                if value is not None:
                    with open(self.run / "metrics" / name, "a") as out:
                        out.write(f"{1700000000000 + step} {value!r} {step}\n")


WRITERS = {"jsonl": JsonlWriter, "csv": CsvWriter, "tensorboard": TensorBoardWriter,
           "trainer_state": TrainerStateWriter, "wandb": WandbWriter, "mlflow": MlflowWriter}
CHUNK = 4  # rows per write


def chunks(rows, size: int = CHUNK):
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def has_o101(root: Path) -> bool:
    results, errors = check_paths([root], annotate=False)
    assert not errors, [e.text for e in errors]
    return any(f.code == "O101" for r in results for f in r.findings)


# -- each format: found once, at the step check first finds it ----------------------------------------------------
@pytest.mark.parametrize("fmt", list(WRITERS))
def test_finding_printed_once_at_the_step_check_first_finds_it(tmp_path, fmt):
    writer = WRITERS[fmt](tmp_path)
    watcher = Watcher([tmp_path], check_share=None)
    first_step = None  # the first step written after which `check` finds O101
    printed = []
    for rows in chunks(curves(overfit=True)):
        writer.append(rows)
        events = watcher.poll()
        printed += [e for e in events if e.kind == "finding" and e.finding.code == "O101"]
        assert not [e for e in events if e.kind == "error"], [e.error.text for e in events if e.kind == "error"]
        if first_step is None and has_o101(tmp_path):
            first_step = rows[-1][0]
    assert first_step is not None
    assert len(printed) == 1, [e.step for e in printed]
    assert printed[0].step == first_step == first_o101_step()
    assert printed[0].result.run.format == fmt
    # and the final results are what check says on the finished files
    results, errors = watcher.finish()
    checked, _ = check_paths([tmp_path], annotate=False)
    assert [r.verdict for r in results] == [r.verdict for r in checked] == ["overfitting"]
    assert [f.code for f in results[0].findings] == [f.code for f in checked[0].findings]


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_healthy_run_never_triggers(tmp_path, fmt):
    writer = WRITERS[fmt](tmp_path)
    watcher = Watcher([tmp_path])
    for rows in chunks(curves(overfit=False), size=6):
        writer.append(rows)
        events = watcher.poll()
        assert not [e for e in events if e.kind == "error"]
        assert not [e.finding.code for e in events if e.kind == "finding" and e.finding.severity != "info"]
    assert watcher.finish()[0][0].verdict == "good-fit"


def _background(writer, rows, pause: float = 0.01) -> threading.Thread:
    def run() -> None:
        for chunk in chunks(rows):
            writer.append(chunk)
            time.sleep(pause)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def invoke_watch(args: list[str], limit: float = 60.0):
    """`losslint watch ARGS` in this process; a Ctrl-C after `limit` seconds, so that a watch that never meets its
    --exit-on fails the test instead of hanging it."""
    timer = threading.Timer(limit, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    timer.start()
    try:
        return CliRunner().invoke(main, ["watch", *args])
    finally:
        timer.cancel()


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_exit_on_warning_while_a_writer_appends(tmp_path, fmt):
    """The command, with a writer thread appending: exit 1 at O101, printed once, not before check could see it."""
    writer = WRITERS[fmt](tmp_path)
    rows = curves(overfit=True)
    thread = _background(writer, rows)
    result = invoke_watch([str(tmp_path), "--interval", "0.02", "--exit-on", "warning"])
    thread.join()
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if " O101 " in line]
    assert len(lines) == 1, result.output
    step = int(lines[0].split("]")[0].removeprefix("[step "))
    assert first_o101_step() <= step <= rows[-1][0]  # not before check could see it
    assert result.output.splitlines()[-1].startswith("1 run(s) checked: 1 overfitting;")


MLFLOW_WRITER = """
import json, sys, time
import mlflow

mlflow.set_tracking_uri("sqlite:///mlflow.db")
mlflow.set_experiment("watch")
with mlflow.start_run(run_name="overfit"):
    for step, train, evals in json.loads(sys.argv[1]):
        mlflow.log_metric("train_loss", train, step=step)
        if evals is not None:
            mlflow.log_metric("val_loss", evals, step=step)
        time.sleep(0.005)
"""


@pytest.mark.slow  # ~20 s: MLflow creates its schema (Alembic migrations) and commits each point
def test_mlflow_sqlite_store_written_by_mlflow(tmp_path):
    """`mlflow.db` while the real MLflow writes to it: re-read (by sqlite3) when the database changes."""
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    rows = curves(overfit=True)
    env = {**os.environ, "GIT_PYTHON_REFRESH": "quiet"}
    env.pop("MLFLOW_TRACKING_URI", None)
    writer = subprocess.Popen([sys.executable, "-c", MLFLOW_WRITER, json.dumps(rows)], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watcher = Watcher([tmp_path])
    printed = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            done = writer.poll() is not None
            events = watcher.poll()
            printed += [e for e in events if e.kind == "finding" and e.finding.code == "O101"]
            if done:
                break
            time.sleep(0.05)
    finally:
        if writer.poll() is None:
            writer.kill()
        _, err = writer.communicate()
    assert writer.returncode == 0, err[-2000:]
    assert watcher.discoveries >= 2  # the store was picked up once MLflow had created it
    assert len(printed) == 1 and first_o101_step() <= printed[0].step <= rows[-1][0]
    results, errors = watcher.finish()
    assert not errors and [r.verdict for r in results] == ["overfitting"]
    assert results[0].run.format == "mlflow"


# -- reading only what is new ---------------------------------------------------------------------------------------
def test_bytes_read_are_the_file_size_not_polls_times_size(tmp_path):
    writer = JsonlWriter(tmp_path)
    watcher = Watcher([tmp_path], check_share=None)
    rows = curves(overfit=False) * 4
    for chunk in chunks(rows, size=2):
        writer.append(chunk)
        watcher.poll()
        watcher.poll()  # nothing new: nothing read
    size = writer.path.stat().st_size
    polls = watcher.polls
    assert polls >= 200
    # each growth reads the new bytes and 16 guard bytes before them; a whole re-read per poll would be ~polls/2 x size
    assert size <= watcher.bytes_read <= size + polls * 16
    assert watcher.bytes_read < 2 * size
    assert watcher.checks == len(chunks(rows, size=2))  # idle polls check nothing


def test_rechecks_wait_so_that_watching_takes_a_bounded_share_of_a_core(tmp_path):
    now = [0.0]

    def clock() -> float:
        now[0] += 0.05  # every check (two clock readings) takes 50 ms
        return now[0]

    writer = JsonlWriter(tmp_path)
    rows = curves(overfit=False)
    writer.append(rows[:10])
    watcher = Watcher([tmp_path], check_share=0.2, clock=clock)
    watcher.poll()
    assert watcher.checks == 1
    writer.append(rows[10:12])
    watcher.poll()  # 50 ms after a 50 ms check: too soon at a fifth of a core
    assert watcher.checks == 1
    start = watcher.bytes_read
    now[0] += 1.0
    watcher.poll()  # later: the points read meanwhile are checked now, with nothing read twice
    assert watcher.checks == 2 and watcher.bytes_read == start
    assert len(watcher.results[0].run.series("train/loss")) == 12


def test_follower_appends_rereads_rotation_and_rewrites(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("step,loss\n1,2.0\n")
    follower = Follower(path, Follow.APPEND)
    assert follower.poll() and follower.contents() == b"step,loss\n1,2.0\n"
    assert not follower.poll()
    with open(path, "a") as out:
        out.write("2,1.5\n3,1.")  # the last row half-written
    assert follower.poll()
    assert follower.contents(settled=True) == b"step,loss\n1,2.0\n2,1.5\n"
    assert follower.full_reads == 1
    # truncated and written again, smaller: read from 0
    path.write_text("step,loss\n1,9.0\n")
    assert follower.poll() and follower.contents() == b"step,loss\n1,9.0\n" and follower.full_reads == 2
    # rewritten in place with a new column (Lightning's CSVLogger): the bytes before the offset changed
    path.write_text("step,loss,val_loss\n1,9.0,\n2,8.0,7.0\n")
    assert follower.poll() and follower.contents().startswith(b"step,loss,val_loss\n") and follower.full_reads == 3
    # rotated: another file under the same name
    path.rename(tmp_path / "old.csv")
    path.write_text("step,loss\n5,1.0\n5,1.0\n5,1.0\n5,1.0\n")
    assert follower.poll() and follower.contents() == path.read_bytes() and follower.full_reads == 4


def test_trainer_state_is_read_whole_when_rewritten(tmp_path):
    writer = TrainerStateWriter(tmp_path)
    followers = Followers()
    rows = curves(overfit=False)
    writer.append(rows[:4])
    follower = followers.get(writer.path, Follow.REWRITE)
    assert follower.poll() and not follower.poll()
    writer.append(rows[4:8])
    assert follower.poll()
    assert follower.full_reads == 2 and follower.contents() == writer.path.read_bytes()
    held = follower.contents()
    writer.path.write_text("{}")  # changed on disk, not polled yet
    with serving(followers):  # the readers take the follower's bytes, not the file's
        assert read_log_bytes(writer.path) == held
    assert read_log_bytes(writer.path) == b"{}"


def test_tensorboard_rotation_new_event_file_is_picked_up(tmp_path):
    writer = TensorBoardWriter(tmp_path)
    rows = curves(overfit=True)
    watcher = Watcher([tmp_path], check_share=None)
    writer.append(rows[:30])
    watcher.poll()
    # the writer restarts: a new event file in the same folder, the old one left as it is
    second = TensorBoardWriter(tmp_path, "events.out.tfevents.1700000999.host.2.0")
    second.append(rows[30:])
    events = watcher.poll()
    assert [e.step for e in events if e.kind == "finding" and e.finding.code == "O101"] == [rows[-1][0]]
    assert len(watcher.results) == 1


def test_new_run_under_the_watched_folder_is_picked_up(tmp_path):
    first = JsonlWriter(tmp_path / "a")
    first.append(curves(overfit=False)[:10])
    watcher = Watcher([tmp_path])
    assert [e.kind for e in watcher.poll() if e.kind != "finding"] == ["run"]
    assert watcher.poll() == []
    second = CsvWriter(tmp_path / "b" / "deeper")
    second.append(curves(overfit=True))
    events = watcher.poll()
    assert [e.result.run.name for e in events if e.kind == "run"] == ["b/deeper/run"]
    assert "O101" in [e.finding.code for e in events if e.kind == "finding"]


def test_a_family_finding_is_one_finding_whichever_member_is_shown(tmp_path):
    """Per-class metrics merged into one finding: a new member, or another member shown, is not a new finding."""
    path = tmp_path / "run" / "metrics.jsonl"
    path.parent.mkdir()
    watcher = Watcher([tmp_path], check_share=None)
    printed, shown = [], []
    steps = np.arange(1, 41) * 10
    for end in range(20, 41, 5):
        lines = []
        for i, step in enumerate(steps[:end]):
            row = {"step": int(step), "train/loss": float(2.0 * np.exp(-step / 100) + 0.1)}
            if i % 2:
                row["eval/loss"] = float(0.6 + np.exp(-step / 80))
                # dog, emu and fox degrade from step 150 on; cat, the member shown once it degrades too, at 250
                for name, onset in (("cat", 250), ("dog", 150), ("emu", 160), ("fox", 170)):
                    row[f"eval/{name}_f1"] = float(0.9 - 0.4 * np.exp(-step / 60) - max(0, step - onset) * 0.004)
            lines.append(json.dumps(row))
        path.write_text("\n".join(lines) + "\n")
        printed += [e for e in watcher.poll() if e.kind == "finding" and e.finding.code == "O103"]
        shown += [f.metric for f in watcher.results[0].findings if f.code == "O103"]
    assert shown[0] != shown[-1] == "eval/cat_f1"  # the member shown changed
    final = [f for f in watcher.results[0].findings if f.code == "O103"]
    assert len(final) == 1 and len(final[0].members) == 4
    assert len(printed) == 1


def test_a_file_given_as_path_is_followed_without_rediscovery(tmp_path):
    writer = JsonlWriter(tmp_path)
    rows = curves(overfit=True)
    writer.append(rows[:8])
    watcher = Watcher([writer.path], check_share=None)
    watcher.poll()
    for chunk in chunks(rows[8:]):
        writer.append(chunk)
        watcher.poll()
    assert watcher.discoveries == 1 and watcher.checks == 1 + len(chunks(rows[8:]))
    assert watcher.results[0].verdict == "overfitting"


def test_a_folder_created_after_watch_started_is_waited_for(tmp_path):
    runs = tmp_path / "runs"
    watcher = Watcher([runs])
    assert [e.kind for e in watcher.poll()] == ["waiting"]
    assert watcher.poll() == [] and watcher.discoveries == 1
    JsonlWriter(runs).append(curves(overfit=True))
    events = watcher.poll()
    assert watcher.discoveries == 2 and "run" in [e.kind for e in events]
    assert [e.finding.code for e in events if e.kind == "finding" and e.finding.severity != "info"] == ["O101"]
    assert watcher.errors == []


def test_bad_input_is_one_line_and_the_other_runs_are_watched(tmp_path):
    good = JsonlWriter(tmp_path / "good")
    bad = tmp_path / "bad" / "metrics.jsonl"
    bad.parent.mkdir()
    bad.write_text('{"step": 1, "loss": 1.0}\n{"step": "x", "loss": 2.0}\n{"step": 3, "loss": 1.0}\n')
    rows = curves(overfit=True)
    thread = _background(good, rows)
    result = invoke_watch([str(tmp_path), "--interval", "0.02", "--exit-on", "warning"])
    thread.join()
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "bad/metrics.jsonl" in errors[0] and "metrics.jsonl:2:" in errors[0]
    assert len([line for line in result.stdout.splitlines() if " O101 " in line]) == 1


# -- --once is check -----------------------------------------------------------------------------------------------
def test_once_on_the_fixtures_is_check():
    runner = CliRunner()
    checked = runner.invoke(main, ["check", str(FIXTURES), "-j", "1"])
    watched = runner.invoke(main, ["watch", "--once", str(FIXTURES)])
    assert watched.exit_code == checked.exit_code == 1
    assert watched.stdout == checked.stdout


@pytest.mark.parametrize("corpus", ["realworld", "realworld-labeled"])
def test_once_on_the_real_world_corpora_is_check(corpus):
    folder = ROOT.parent / "shared" / corpus
    if not folder.is_dir():
        pytest.skip(f"../shared/{corpus} not present")
    runner = CliRunner()
    checked = runner.invoke(main, ["check", str(folder), "-j", "1"])
    watched = runner.invoke(main, ["watch", "--once", str(folder)])
    assert checked.exit_code in (1, 2) and watched.exit_code == checked.exit_code
    assert watched.stdout == checked.stdout and watched.stderr == checked.stderr


def test_once_exit_codes_follow_check(tmp_path):
    writer = JsonlWriter(tmp_path / "healthy")
    writer.append(curves(overfit=False))
    runner = CliRunner()
    assert runner.invoke(main, ["watch", "--once", str(tmp_path)]).exit_code == 0
    (tmp_path / "bad.jsonl").write_text("not json\n{}\n")
    result = runner.invoke(main, ["watch", "--once", str(tmp_path)])
    assert result.exit_code == runner.invoke(main, ["check", str(tmp_path)]).exit_code == 2


def test_report_bundle_at_the_end(tmp_path):
    JsonlWriter(tmp_path / "logs").append(curves(overfit=True))
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["watch", "--once", str(tmp_path / "logs"), "--report", str(out)])
    assert result.exit_code == 1
    assert (out / "report.md").is_file() and list(out.glob("*.png"))


# -- a real process: Ctrl-C and idle CPU ---------------------------------------------------------------------------
def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc/<pid>/stat")
def test_idle_watch_uses_almost_no_cpu_and_ctrl_c_prints_the_summary(tmp_path):
    JsonlWriter(tmp_path / "run-a").append(curves(overfit=True))
    CsvWriter(tmp_path / "run-b").append(curves(overfit=False))
    process = subprocess.Popen([sys.executable, "-m", "losslint.cli", "watch", str(tmp_path), "--interval", "0.1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the first run seen: start-up and the first check are done
        assert "watching" in first
        time.sleep(0.5)  # the rest of the first pass
        before = _cpu_seconds(process.pid)
        time.sleep(3.0)  # ~30 polls with nothing new
        idle = _cpu_seconds(process.pid) - before
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # a stat per file and folder every 0.1 s; generous: a re-read and re-check of both runs would cost more
    assert idle < 0.3, idle
    assert process.returncode == 1  # as check: an O101 warning
    lines = (first + out).splitlines()
    assert len([line for line in lines if " O101 " in line]) == 1
    checked = CliRunner().invoke(main, ["check", str(tmp_path), "-j", "1"])
    assert lines[-1] == checked.stdout.splitlines()[-1]
    assert lines[-3:-1] == [line for line in checked.stdout.splitlines() if ": verdict " in line]
    assert "Traceback" not in err


# -- JSON lines: only the new lines are parsed, and the run is the one `check` reads --------------------------------
JSONL_GROWTH = [
    b'{"step": 1, "train/loss": 2.0, "epoch": 0}\n{"step": 2, "train/loss": 1.9}\n',
    b'{"step": 3, "train/loss": NaN, "eval": {"loss": 1.5}}\n{"step": 4, "train/lo',  # a line cut mid-write
    b'ss": 1.7, "note": "text"}\n',
    b'{"step": 5, "train/loss": Infinity, "lr": 0.1}\n\n{"step": 6, "train/loss": 1.5}',  # complete, no newline
    b'\n{"step": 7, "train/loss": 1.4, "eval": {"loss": 1.2, "acc": 0.5}}\n',
    b'{"train/loss": 1.3}\n{"step": 9, "train/loss": "oops"}\n{"step": 10, "train/loss": 1.1}\n',
    b'{"step": 11, "train/loss": [1]}\n{"step": 12, "train/loss": 1.0}\n',
    b'not json\n{"step": 13, "train/loss": 0.9}\n',  # a bad line: an error, with its line number in the file
]


def _read(path: Path):
    from losslint.errors import ReadError
    from losslint.io.jsonl import READER as JSONL

    try:
        (run,) = JSONL.read([path], "run")
    except ReadError as exc:
        return exc.text
    frame = run.data.sort_values(["metric", "step", "tag"], kind="stable").reset_index(drop=True)
    return frame.astype({"metric": str, "tag": str}).to_csv(na_rep="NaN"), run.notes


def test_jsonl_parses_only_new_lines_and_reads_as_check(tmp_path, monkeypatch):
    from losslint.io import jsonl

    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b"")
    followers = Followers()
    follower = followers.get(path, Follow.APPEND)
    parsed_bytes = []
    real_parse = jsonl.parse
    monkeypatch.setattr(jsonl, "parse", lambda p, data: parsed_bytes.append(len(data)) or real_parse(p, data))
    for piece in JSONL_GROWTH:
        with open(path, "ab") as out:
            out.write(piece)
        follower.poll()
        parsed_bytes.clear()
        with serving(followers):
            watched = _read(path)
        parsed = sum(parsed_bytes)
        assert watched == _read(path)  # the same run (or the same error) as reading the whole file
        if not isinstance(watched, str) and piece is not JSONL_GROWTH[0]:
            assert parsed <= len(piece) + 64, parsed_bytes  # only the new lines were parsed
    assert isinstance(watched, str) and "metrics.jsonl:14:" in watched


def test_the_watch_benchmark_runs_and_reads_each_byte_once():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_watch", ROOT / "benchmarks" / "watch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for fmt in ("jsonl", "tb"):
        measured = module.measure(fmt, 2000, 2)
        assert measured["bytes read / file size"] == pytest.approx(1.0, abs=1e-3)  # + 16 guard bytes an append
        assert measured["checks"] == 3  # the first poll and one per append; none for the 200 idle polls


def test_a_tensorboard_record_still_being_written_is_held_back(tmp_path):
    writer = TensorBoardWriter(tmp_path)
    writer.append(curves(overfit=False)[:5])
    whole = writer.path.read_bytes()
    record = writer._scalar("train/loss", 0.5, 60)
    with open(writer.path, "ab") as out:
        out.write(record[:len(record) // 2])
    follower = Follower(writer.path, Follow.APPEND)
    follower.poll()
    assert follower.contents(settled=True) == whole
    assert follower.contents(settled=False) == whole + record[:len(record) // 2]
    with open(writer.path, "ab") as out:
        out.write(record[len(record) // 2:])
    follower.poll()
    assert follower.contents(settled=True) == whole + record


def test_torch_summary_writer_flushed_as_it_trains(tmp_path):
    """PyTorch's own SummaryWriter (what PyTorch, Lightning and HF write), flushed after each chunk of steps."""
    pytest.importorskip("torch.utils.tensorboard")
    from tb_fixtures import _torch_writer

    writer = _torch_writer(tmp_path / "run")
    watcher = Watcher([tmp_path], check_share=None)
    printed = []
    try:
        for rows in chunks(curves(overfit=True)):
            for step, train, evals in rows:
                writer.add_scalar("train/loss", train, step)
                if evals is not None:
                    writer.add_scalar("eval/loss", evals, step)
            writer.flush()
            printed += [e.step for e in watcher.poll() if e.kind == "finding" and e.finding.code == "O101"]
    finally:
        writer.close()
    assert printed == [first_o101_step()]
    assert watcher.finish()[0][0].verdict == "overfitting"


def test_hf_checkpoint_folders_saved_and_rotated(tmp_path):
    """HF Trainer during training: `checkpoint-N/trainer_state.json` at each save, the oldest checkpoints deleted
    (`save_total_limit=2`); the top-level `trainer_state.json` comes only at the end."""
    import shutil

    output = tmp_path / "out"
    output.mkdir()
    watcher = Watcher([tmp_path], check_share=None)
    history: list[dict] = []
    printed, saved = [], []
    for rows in chunks(curves(overfit=True)):
        for step, train, evals in rows:
            history.append({"step": step, "loss": train})
            if evals is not None:
                history.append({"step": step, "eval_loss": evals})
        folder = output / f"checkpoint-{rows[-1][0]}"
        folder.mkdir()
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": rows[-1][0], "log_history": history}))
        saved.append(folder)
        if len(saved) > 2:
            shutil.rmtree(saved.pop(0))
        events = watcher.poll()
        assert not [e for e in events if e.kind == "error"]
        printed += [e.step for e in events if e.kind == "finding" and e.finding.code == "O101"]
    assert printed == [first_o101_step()]
    (output / "trainer_state.json").write_text(json.dumps({"global_step": 600, "log_history": history}))
    watcher.poll()
    (result,), errors = watcher.finish()
    assert not errors and result.run.sources == [str(output / "trainer_state.json")]
    assert result.verdict == "overfitting" and len(watcher.results) == 1


def test_sigterm_ends_with_the_summary_and_the_report(tmp_path):
    """A job scheduler's SIGTERM ends watch as Ctrl-C does; --report writes the bundle of the final results."""
    JsonlWriter(tmp_path / "logs").append(curves(overfit=True))
    report = tmp_path / "report"
    process = subprocess.Popen([sys.executable, "-m", "losslint.cli", "watch", str(tmp_path / "logs"),
                                "--interval", "0.1", "--report", str(report)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and "watching" in process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 1 and "Traceback" not in err
    assert out.splitlines()[-1].startswith("1 run(s) checked: 1 overfitting;")
    assert (report / "report.md").is_file() and (report / "run.png").is_file()
