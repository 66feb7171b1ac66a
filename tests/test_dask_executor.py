"""`losslint check --executor dask` on a real `LocalCluster` of two worker processes: the same JSON as `--jobs 1`,
a worker killed while it checks (Dask runs its task again elsewhere: the result is still complete), and a run
that kills its worker every time (an error naming it; the other runs still checked)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

distributed = pytest.importorskip("distributed")
import cloudpickle  # noqa: E402 - dask[distributed] brings it
import dask  # noqa: E402

from cli_support import invoke  # noqa: E402
from losslint.dask_executor import DaskExecutor  # noqa: E402
from losslint.engine import check_paths  # noqa: E402
from losslint.report import ReportOptions, render  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "runs"
# the worker plugins below are defined here; the workers cannot import this file, so they travel by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@contextmanager
def local_cluster(allowed_failures: int = 1) -> Iterator[distributed.LocalCluster]:
    """Two worker processes, one thread each. A task whose worker dies `allowed_failures + 1` times is given up
    (KilledWorker), instead of after Dask's default of four deaths, so that the tests stay short (the scheduler
    reads the setting at its start)."""
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address=None,
                                           scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def cluster():
    with local_cluster() as started:
        yield started


@pytest.fixture(scope="module")
def baseline():
    results, errors = check_paths([FIXTURES], jobs=1, annotate=False)
    return render("json", results, errors, ReportOptions())


def test_same_json_and_exit_code_as_jobs_1(cluster):
    local = invoke("check", FIXTURES, "--format", "json", "-j", "1")
    remote = invoke("check", FIXTURES, "--format", "json", "--executor", "dask", "--scheduler",
                    cluster.scheduler_address)
    assert remote.exit_code == local.exit_code == 1
    assert remote.stdout == local.stdout
    assert len(json.loads(remote.stdout)["runs"]) == 35


def test_scheduler_without_dask_executor_is_a_usage_error():
    result = invoke("check", FIXTURES, "--scheduler", "tcp://127.0.0.1:1")
    assert result.exit_code == 2 and "--scheduler needs --executor dask" in result.output


def test_unreachable_scheduler_is_one_line_and_exit_2():
    result = invoke("check", FIXTURES, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: tcp://127.0.0.1:9: cannot start or reach")


class SlowReads(distributed.WorkerPlugin):
    """Each group's read sleeps first, after leaving `<pid>` in `folder` (so that the test kills a worker that is
    inside a read)."""

    name = "losslint-test-slow-reads"

    def __init__(self, seconds: float, folder: str):
        self.seconds = seconds
        self.folder = folder

    def setup(self, worker):
        import losslint.discover as discover

        original = discover.read_group

        def slow(group, *args, **kwargs):
            Path(self.folder, str(os.getpid())).touch()
            time.sleep(self.seconds)
            return original(group, *args, **kwargs)

        discover.read_group = slow


class CrashOn(distributed.WorkerPlugin):
    """Reading the run named `name` ends its worker process (as a parser's segfault would), every time: the
    plugin is installed again on each restarted worker."""

    name = "losslint-test-crash"

    def __init__(self, run_name: str):
        self.run_name = run_name

    def setup(self, worker):
        import losslint.discover as discover

        original = discover.read_group

        def crash(group, *args, **kwargs):
            if group.name == self.run_name:
                os._exit(1)
            return original(group, *args, **kwargs)

        discover.read_group = crash


def _pids(client) -> dict[str, int]:
    return client.run(os.getpid)


def test_a_worker_killed_mid_check_still_gives_the_full_result(baseline, tmp_path):
    # a cluster of its own (its workers read slowly); the test holds no client while the check runs: the check's
    # own client is the only one, as for a user
    with local_cluster() as cluster:
        with distributed.Client(cluster) as client:
            client.register_plugin(SlowReads(0.2, str(tmp_path)))
            before = set(client.run(os.getpid).values())
        outcome: dict = {}

        def check():
            with DaskExecutor(scheduler=cluster.scheduler_address) as executor:
                outcome["result"] = check_paths([FIXTURES], annotate=False, executor=executor)

        runner = threading.Thread(target=check)
        runner.start()
        deadline = time.monotonic() + 20
        while not list(tmp_path.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.02)
        victim = int(sorted(tmp_path.iterdir())[0].name)
        assert victim in before
        os.kill(victim, signal.SIGKILL)  # a worker lost while it reads a run
        runner.join(timeout=60)
        assert not runner.is_alive()
        with distributed.Client(cluster) as client:
            client.wait_for_workers(2, timeout=30)
            after = set(client.run(os.getpid).values())
    results, errors = outcome["result"]
    assert not errors
    assert render("json", results, errors, ReportOptions()) == baseline
    assert victim not in after  # it did die: the result came through Dask running its task again


def test_a_run_that_kills_its_worker_twice_is_an_error_naming_it(tmp_path):
    tree = tmp_path / "runs"
    for fmt in ("hf", "jsonl"):
        shutil.copytree(FIXTURES / "overfit" / fmt, tree / "overfit" / fmt)
    shutil.copytree(FIXTURES / "good-fit" / "hf", tree / "crash-me")
    # a cluster of its own (its workers keep crashing on that run) that gives a task up at its first lost worker:
    # the run then fails once in its batch and once alone, the engine's second try
    with local_cluster(allowed_failures=0) as cluster:
        with distributed.Client(cluster) as client:
            client.register_plugin(CrashOn("crash-me"))
        with DaskExecutor(scheduler=cluster.scheduler_address) as executor:
            results, errors = check_paths([tree], annotate=False, executor=executor)
    assert len(errors) == 1, [e.text for e in errors]
    assert sorted(r.run.name for r in results) == ["overfit/hf", "overfit/jsonl"]
    assert all(r.verdict == "overfitting" for r in results)
    (error,) = errors
    assert error.path.endswith("crash-me/trainer_state.json")
    assert "failed twice on the executor" in error.message
