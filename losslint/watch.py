"""Watch runs while they are written: follow the logs, re-check what changed, report what is new.

`Watcher(paths, config).poll()` is one pass; `losslint watch` calls it every `--interval` seconds. A pass:

1. Looks for new runs: discovery runs again on the first pass, when a folder under the watched paths changed (its
   mtime: a file or folder was created, renamed or deleted there), when a small file no reader claimed yet grew
   (a log whose first line was not written at the last look), and every `rediscover_every` passes as a safety net
   (file systems whose folder mtimes lag, NFS).
2. Polls each run's files with `os.stat` only (`io.follow.Follower`): a file that did not change is not read, and a
   run none of whose files changed is not read or checked again. A file that grew is read from where the last read
   ended (append-only logs), a file its writer rewrites (`trainer_state.json`) is read whole, a file that shrank or
   was replaced is read again from 0.
3. Re-reads a changed run with the same readers `check` uses, on the bytes the followers hold (`follow.serving`),
   checks it with `engine.check_run`, and compares with what it found before: a finding is new the first time its
   (run, code, metric) is seen (not its message: the numbers in it change at every poll), and is reported once,
   with the run's last step at that moment (`WatchEvent.step`: how far training had gone when it was seen). A
   verdict is reported when it changes. A run is re-checked at most once per `1 / check_share` times its last
   check's duration (`CHECK_SHARE`): on a long run that logs every step, watching takes a bounded share of a core.

A read error is reported once. While files are growing it is reported only when it is still there at the next
look (the run is checked again even if unchanged): a `trainer_state.json` caught half-written is not an error.
Logs are served up to their last complete record while watching (`settled`); `finish()` reads every byte, as
`check` does, for the final summary.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from . import discover
from .config import Config, coerce
from .engine import check_run
from .errors import ReadError
from .findings import Finding, Result, family_pattern
from .io.base import ReadOptions
from .io.follow import Follower, Followers, follow_mode, serving

# A full discovery every this many polls even when no folder changed (2 s interval: every 100 s). Discovery walks
# the tree and sniffs the files no reader claimed: cheap for a run folder, and a safety net where mtimes lag.
REDISCOVER_EVERY = 50
# Files no reader claimed that are smaller than this are watched for growth: a log created empty, or with a first
# line not yet written, is claimed once it holds enough to sniff. Past the largest sniff (W&B reads 64 KiB of the
# head) growing cannot change a reader's mind.
LOOSE_FILE_BYTES = 1 << 16
# ... and an SQLite file of any size: `mlflow.db` is claimed once MLflow has created its tables.
STORE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
# Files watched that way, at most (a checkpoint folder with thousands of shards must not make each poll slow).
LOOSE_FILES_MAX = 2000

# A run is checked again at most once per (its last check's duration / CHECK_SHARE): re-reading and re-checking a
# run costs about one `check` of it (benchmarks/watch.py), so a 1M-step run logging every step would keep a core busy
# if checked at every 2 s poll; at 0.2 watch uses at most a fifth of a core on it (a 50 ms check: every 0.25 s).
# New bytes are still read at every poll; only the re-check waits.
CHECK_SHARE = 0.2

# `finish()`: a run whose last read failed is looked at again, this far apart, while its files still change (a file
# rewritten whole can be caught half-written; HF Trainer writes its state in ~1 ms), at most this many times (2 s).
FINISH_RETRIES = 20
FINISH_RETRY_SECONDS = 0.1

GroupKey = tuple[str, str]  # (format, run key)


@dataclass
class WatchEvent:
    """Something new to report. `kind`: `run` (a run seen for the first time, with its first verdict), `finding`
    (a finding seen for the first time), `verdict` (a run's verdict changed from `previous`), `error` (a read
    error), `waiting` (a watched path that is not there yet). `step`: the run's last step when it was seen."""

    kind: str
    result: Result | None = None
    finding: Finding | None = None
    step: int | None = None
    previous: str | None = None
    error: ReadError | None = None


def _subject(finding: Finding) -> str | None:
    """What a finding is about, stable from poll to poll: its metric, or for a family of metrics merged into one
    finding (`findings.group_findings`) the family's pattern (`eval/*_f1`), not the member shown, which can change."""
    if finding.members:
        return family_pattern(finding.members) or finding.metric
    return finding.metric


def _last_step(result: Result) -> int | None:
    steps = result.run.data["step"]
    return int(steps.max()) if len(steps) else None


class Watcher:
    """Follows the runs under `paths` (see the module docstring). `settled`: serve logs only up to their last
    complete record (while watching); `annotate`: compute the plot marks (for `--report`); `check_share`: the
    share of a core re-checking one run may take (`CHECK_SHARE`; None: no limit); `clock`: seconds, for tests."""

    def __init__(self, paths: Sequence[str | os.PathLike], config: Config | str | os.PathLike | None = None, *,
                 read_options: ReadOptions | None = None, settled: bool = True, annotate: bool = False,
                 rediscover_every: int = REDISCOVER_EVERY, check_share: float | None = CHECK_SHARE,
                 clock: Callable[[], float] = time.monotonic):
        self.paths = [os.fspath(p) for p in paths]
        self.config = coerce(config, self.paths)
        self.read_options = read_options if read_options is not None else ReadOptions()
        self.settled = settled
        self.annotate = annotate
        self.rediscover_every = rediscover_every
        self.check_share = check_share  # None: re-check at every poll that saw a change
        self.clock = clock
        self._next_check: dict[GroupKey, float] = {}
        self.followers = Followers()
        self.polls = 0
        self.checks = 0  # runs read and checked again (none while nothing changes)
        self.discoveries = 0
        self.notes: list[str] = []
        self._groups: dict[GroupKey, discover.RunGroup] = {}
        self._group_followers: dict[GroupKey, list[Follower]] = {}
        self._results: dict[GroupKey, list[Result]] = {}
        self._errors: dict[GroupKey, list[ReadError]] = {}
        self._discovery_errors: list[ReadError] = []
        self._dirty: set[GroupKey] = set()
        self._dirs: dict[str, int | None] = {}
        self._loose: dict[str, tuple[int, int] | None] = {}
        self._found: set[tuple] = set()
        self._verdicts: dict[tuple, str] = {}
        self._reported: set[str] = set()

    # -- one pass -----------------------------------------------------------------------------------------------
    def poll(self) -> list[WatchEvent]:
        """One pass: new runs, changed files, new findings and verdicts (see the module docstring)."""
        self.polls += 1
        events: list[WatchEvent] = []
        if self.polls == 1 or self._tree_changed() or (
                self.rediscover_every > 0 and self.polls % self.rediscover_every == 0):
            self._rediscover(events)
        for key, group in self._groups.items():
            changed = False
            for follower in self._followers_of(group):
                changed = follower.poll() or changed  # every file polled: each keeps its own offset
            if not (changed or key in self._dirty):
                continue
            start = self.clock()
            if start < self._next_check.get(key, start):
                self._dirty.add(key)  # checked very recently: the new points wait for a later poll
                continue
            self._dirty.discard(key)
            self._check(key, group, events)
            if self.check_share:
                self._next_check[key] = start + (self.clock() - start) / self.check_share
        return events

    def finish(self, events: list[WatchEvent] | None = None) -> tuple[list[Result], list[ReadError]]:
        """Every run read again from every byte (as `check` reads it) and checked: the final results and errors;
        what is new since the last poll goes to `events`."""
        events = events if events is not None else []
        settled, self.settled = self.settled, False
        try:
            for key, group in self._groups.items():
                for follower in self._followers_of(group):
                    follower.poll()
                self._check(key, group, events)
            # a run that failed to read may have been caught mid-write (a trainer_state.json being saved): look
            # again a few times, a moment apart, while its files still change
            for _ in range(FINISH_RETRIES):
                failing = [key for key in self._groups if self._errors.get(key)]
                if not failing:
                    break
                time.sleep(FINISH_RETRY_SECONDS)
                changed = [key for key in failing
                           if any([f.poll() for f in self._followers_of(self._groups[key])])]
                if not changed:
                    break
                for key in changed:
                    self._check(key, self._groups[key], events)
        finally:
            self.settled = settled
        return self.results, self.errors

    @property
    def results(self) -> list[Result]:
        """The latest result of every run, in discovery order (run names made unique as `check` does)."""
        results = [result for key in self._groups for result in self._results.get(key, [])]
        discover.unique_run_names([result.run for result in results])
        return results

    @property
    def errors(self) -> list[ReadError]:
        return [*self._discovery_errors, *(e for key in self._groups for e in self._errors.get(key, []))]

    @property
    def bytes_read(self) -> int:
        return self.followers.bytes_read

    # -- runs -----------------------------------------------------------------------------------------------
    def _followers_of(self, group: discover.RunGroup) -> list[Follower]:
        key = (group.format, group.key)
        followers = self._group_followers.get(key)
        if followers is None:
            followers = self._group_followers[key] = [self.followers.get(path, follow_mode(path, group.format))
                                                      for path in group.files]
        return followers

    def _check(self, key: GroupKey, group: discover.RunGroup, events: list[WatchEvent]) -> None:
        """Read and check one run. While watching, a read error is believed when the next look finds it again
        (the run is looked at again even if unchanged): a file caught half-written is not an error."""
        with serving(self.followers, settled=self.settled):
            runs, errors = discover.read_group(group, self.config.aliases, self.read_options)
        results = [check_run(run, self.config, annotate=self.annotate) for run in runs]
        self.checks += 1
        before = {error.text for error in self._errors.get(key, [])}
        self._results[key], self._errors[key] = results, errors
        for result in results:
            run_id = (key, result.run.name)
            step = _last_step(result)
            previous = self._verdicts.get(run_id)
            if previous is None:
                events.append(WatchEvent("run", result, step=step))
            for finding in result.findings:
                finding_id = (run_id, finding.code, _subject(finding))
                if finding_id not in self._found:
                    self._found.add(finding_id)
                    events.append(WatchEvent("finding", result, finding, step=step))
            if previous is not None and previous != result.verdict:
                events.append(WatchEvent("verdict", result, step=step, previous=previous))
            self._verdicts[run_id] = result.verdict
        for error in errors:
            if error.text in self._reported:
                continue
            if self.settled and error.text not in before:
                self._dirty.add(key)  # caught mid-write? look again at the next poll before saying so
                continue
            self._reported.add(error.text)
            events.append(WatchEvent("error", error=error))

    # -- discovery ------------------------------------------------------------------------------------------
    def _rediscover(self, events: list[WatchEvent]) -> None:
        self.discoveries += 1
        notes: list[str] = []
        found = discover.discover(self.paths)
        notes.extend(found.notes)
        self.notes = notes
        self._discovery_errors = list(found.errors)
        missing = {os.path.normpath(p) for p in self.paths if not os.path.lexists(p)}
        for error in found.errors:
            if error.text not in self._reported:
                self._reported.add(error.text)
                # a folder the training job has not created yet: waited for (still an error if it never comes)
                kind = "waiting" if os.path.normpath(error.path) in missing else "error"
                events.append(WatchEvent(kind, error=error))
        groups = {(group.format, group.key): group for group in found.groups}
        for key, group in groups.items():
            old = self._groups.get(key)
            if old is None or old.files != group.files or old.name != group.name:
                self._dirty.add(key)
        for key in set(self._groups) - set(groups):  # the run's files are gone
            self._results.pop(key, None)
            self._errors.pop(key, None)
        self._groups = groups
        self._group_followers = {}
        files = {path for group in groups.values() for path in group.files}
        self.followers.keep_only(files)
        self._scan_tree({os.path.abspath(path) for path in files})

    def _scan_tree(self, claimed: set[str]) -> None:
        """The folders under the watched paths, and the small files no reader claimed, with their stat now."""
        # the watched paths themselves, so that one that does not exist yet is noticed when it appears (a file
        # given as PATH is followed as a log, not watched as a folder: its mtime changes at every write)
        dirs: dict[str, int | None] = {path: _mtime(path) for path in self.paths if not os.path.isfile(path)}
        loose: dict[str, tuple[int, int] | None] = {}
        roots = [os.path.abspath(p) for p in self.paths if os.path.isdir(p)]
        roots += [os.path.abspath(group.key) for group in self._groups.values() if os.path.isdir(group.key)]
        for root in roots:
            for folder, subfolders, names in os.walk(root):
                subfolders[:] = [name for name in subfolders if name not in discover.SKIP_DIRS]
                if folder in dirs and folder not in self.paths:
                    continue
                dirs[folder] = _mtime(folder)
                for name in names:
                    path = os.path.join(folder, name)
                    if len(loose) >= LOOSE_FILES_MAX or os.path.abspath(path) in claimed:
                        continue
                    seen = _size_mtime(path)
                    if seen is not None and (seen[0] < LOOSE_FILE_BYTES or name.endswith(STORE_SUFFIXES)):
                        loose[path] = seen
        self._dirs, self._loose = dirs, loose

    def _tree_changed(self) -> bool:
        return (any(_mtime(folder) != seen for folder, seen in self._dirs.items())
                or any(_size_mtime(path) != seen for path, seen in self._loose.items()))


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _size_mtime(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns

