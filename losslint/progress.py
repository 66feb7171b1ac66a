"""A progress bar on stderr for long scans, and nothing at all where nobody is watching.

Shown only when stderr is a terminal, the `CI` environment variable is unset (GitHub Actions, GitLab CI and most
other CI services set it) and there are more than `MIN_RUNS` runs: a check of a few runs finishes before a bar
would help, and a bar in a CI log or a redirected file is just noise.

Usage from the engine::

    with Progress(total=len(groups)) as progress:
        for group in groups:
            ...                      # read and check one run
            progress.on_run_done()

or, around results that arrive one by one (a process pool's `map`)::

    outcomes = list(track(pool.map(check_group, groups), total=len(groups)))
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Iterable, Iterator, TextIO, TypeVar

T = TypeVar("T")

MIN_RUNS = 20
BAR_WIDTH = 30
REDRAW_SECONDS = 0.1  # at most ~10 redraws a second: a 1000-run scan must not spend its time on the terminal


def should_show(total: int, stream: TextIO, environ: dict[str, str] | None = None, min_runs: int = MIN_RUNS) -> bool:
    env = os.environ if environ is None else environ
    if env.get("CI") or total <= min_runs:
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed stream
        return False


def bar_text(done: int, total: int, label: str, width: int = BAR_WIDTH) -> str:
    total = max(total, 1)
    done = min(max(done, 0), total)
    filled = done * width // total
    return f"{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} ({done / total:.0%})"


class Progress:
    """Counts finished runs; `on_run_done` may be called from worker threads."""

    def __init__(self, total: int, label: str = "checking runs", stream: TextIO | None = None,
                 enabled: bool | None = None, min_runs: int = MIN_RUNS):
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = should_show(total, self.stream, min_runs=min_runs) if enabled is None else enabled
        self.done = 0
        self._lock = threading.Lock()
        self._last_draw = 0.0
        self._width = 0

    def on_run_done(self, count: int = 1) -> None:
        with self._lock:
            self.done += count
            if not self.enabled:
                return
            now = time.monotonic()
            if self.done < self.total and now - self._last_draw < REDRAW_SECONDS:
                return
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        text = bar_text(self.done, self.total, self.label)
        pad = " " * max(self._width - len(text), 0)
        self._width = len(text)
        self.stream.write("\r" + text + pad)
        self.stream.flush()

    def close(self) -> None:
        """Erase the bar so the report that follows starts on a clean line."""
        with self._lock:
            if self.enabled and self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
                self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def track(items: Iterable[T], total: int, label: str = "checking runs", stream: TextIO | None = None) -> Iterator[T]:
    """Yield `items` unchanged, counting each as one finished run."""
    with Progress(total=total, label=label, stream=stream) as progress:
        for item in items:
            yield item
            progress.on_run_done()
