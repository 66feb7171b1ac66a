"""The progress bar: drawn only for a person at a terminal, silent in CI and in pipes."""
from __future__ import annotations

import io
import threading

from losslint.progress import MIN_RUNS, Progress, bar_text, should_show, track


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_shown_only_on_a_terminal_outside_ci_for_many_runs():
    tty, pipe = FakeTerminal(), io.StringIO()
    assert should_show(MIN_RUNS + 1, tty, environ={})
    assert not should_show(MIN_RUNS + 1, pipe, environ={})
    assert not should_show(MIN_RUNS + 1, tty, environ={"CI": "true"})
    assert not should_show(MIN_RUNS, tty, environ={})


def test_bar_counts_to_the_total_and_erases_itself(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    stream = FakeTerminal()
    with Progress(total=50, stream=stream) as progress:
        for _ in range(50):
            progress.on_run_done()
        assert stream.getvalue().endswith("50/50 (100%)")
    assert stream.getvalue().endswith("\r")
    assert progress.done == 50


def test_silent_in_ci_even_on_a_terminal(monkeypatch):
    monkeypatch.setenv("CI", "true")
    stream = FakeTerminal()
    with Progress(total=500, stream=stream) as progress:
        for _ in range(500):
            progress.on_run_done()
    assert stream.getvalue() == "" and progress.done == 500


def test_counts_from_many_threads():
    progress = Progress(total=4000, stream=io.StringIO())
    threads = [threading.Thread(target=lambda: [progress.on_run_done() for _ in range(1000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert progress.done == 4000


def test_bar_text():
    assert bar_text(0, 10, "x", width=10) == "x [..........] 0/10 (0%)"
    assert bar_text(5, 10, "x", width=10) == "x [#####.....] 5/10 (50%)"
    assert bar_text(12, 10, "x", width=10) == "x [##########] 10/10 (100%)"


def test_track_passes_items_through_and_counts_them(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    stream = FakeTerminal()
    assert list(track(iter(range(30)), total=30, stream=stream)) == list(range(30))
    assert "30/30 (100%)" in stream.getvalue()
