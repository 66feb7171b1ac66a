"""Following logs that are still being written: each poll reads only the bytes that are new.

A `Follower` holds one file's bytes read so far. `poll()` looks at the file with one `os.stat` (inode, size, mtime)
and reads nothing when they are unchanged. When they changed:

- an append-only log (JSON lines, CSV/TSV, TensorBoard event files, a W&B `.wandb` record log, MLflow metric files:
  `Follow.APPEND`) is read from the last offset to its end. The `GUARD_BYTES` before that offset are read again
  and compared: a file rewritten in place (Lightning's CSVLogger writes the whole file again when a new column
  appears) no longer ends the way it did, and is read again from 0. So is a file that shrank (truncated) or that
  is another file under the same name (another inode: rotated, re-created);
- a file its writer rewrites whole (`trainer_state.json` at each checkpoint save, YAML/JSON metadata:
  `Follow.REWRITE`) is read whole again;
- an SQLite store (`mlflow.db`: `Follow.EXTERNAL`) is only watched: its reader opens it with sqlite3 when it
  changed (the database file or its `-wal` file).

A follower holds the file's bytes in memory (a 1 GiB event file: 1 GiB, plus the copy a reader parses), the price
of reading each byte once. `bytes_read` counts every byte that came from disk, so a test (and a curious user) can
see that a follower reads a growing file about once, not once per poll.

Readers keep owning the formats. `serving(followers)` makes `base.read_log_bytes`, where every reader takes a
log's bytes, answer from the followers instead of opening the file: a run is rebuilt by the same reader code that
`losslint check` runs, on bytes already in memory. A reader may also keep what it parsed of a file in the
follower's `memo` (`base.served_memo`), cleared whenever the file is read again from 0, and parse only the new
bytes: the JSONL reader does (`jsonl.parse_appended`); the others parse the bytes in memory again, a cost of the
order of re-checking the run, which a poll that saw new points does anyway (`benchmarks/watch.py`).

`settled=True` (the watch loop while files grow) serves each log only up to its last complete record: a line
without its newline yet, or a TensorBoard record whose payload is still being written, is held back until it is
whole, so that a half-written number never becomes a point (and a finding that is printed once and cannot be taken
back). `settled=False` (`watch --once`, the same as `check`) serves every byte.
"""
from __future__ import annotations

import os
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from .base import SERVED

# Bytes before the last offset read again on each growth to tell an append from a rewrite: 16 bytes of a log line
# or an event record differ between two writes unless the rewrite repeats them byte for byte (it then only adds
# at the end, which is what an append does).
GUARD_BYTES = 16

_TEXT_SUFFIXES = (".jsonl", ".ndjson", ".csv", ".tsv", ".txt", ".log")
_TFRECORD_HEADER = struct.Struct("<Q")  # the record's payload length; then its CRC (4), payload, payload CRC (4)
_TFRECORD_OVERHEAD = 8 + 4 + 4


class Follow:
    """How a file is followed (see the module docstring)."""

    APPEND = "append"
    REWRITE = "rewrite"
    EXTERNAL = "external"


def follow_mode(path: str | os.PathLike, fmt: str) -> str:
    """How to follow one file of a run read as `fmt` (a reader's `format`)."""
    p = Path(path)
    name = p.name.lower()
    if fmt == "trainer_state":
        return Follow.REWRITE
    if name.endswith((".db", ".sqlite", ".sqlite3")):
        return Follow.EXTERNAL
    if "tfevents" in name or name.endswith(_TEXT_SUFFIXES + (".wandb",)):
        return Follow.APPEND
    if fmt == "mlflow" and "metrics" in p.parent.parts:
        return Follow.APPEND  # mlflow's file store appends `timestamp value step` lines to metrics/<name>
    if fmt == "jsonl" and name == "metrics.json":
        return Follow.APPEND  # detectron2 appends JSON lines to its metrics.json
    return Follow.REWRITE


def _complete_lines(data: bytearray) -> int:
    return data.rfind(b"\n") + 1


class Follower:
    """One file's bytes so far, brought up to date by `poll()` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, mode: str = Follow.APPEND):
        self.path = os.fspath(path)
        self.mode = mode
        self.bytes_read = 0  # every byte read from disk
        self.full_reads = 0  # reads from offset 0 (the first one included)
        self._data = bytearray()
        self._seen: tuple[int, int, int] | None = None  # (inode, size, mtime) at the last poll; None: not there
        self._extra: list[str] = [self.path + "-wal"] if mode == Follow.EXTERNAL else []
        self._extra_seen: list[tuple[int, int] | None] = [None] * len(self._extra)
        self._walked_to = 0  # end of the last complete record found so far (TensorBoard framing walk)
        # a reader's scratch space while the file only grows (`base.ServedLogs.memo_of`): cleared on a re-read from 0
        self.memo: dict[str, Any] = {}

    @property
    def served(self) -> bool:
        """Whether readers take this file's bytes from the follower (not from disk)."""
        return self.mode != Follow.EXTERNAL

    @property
    def size(self) -> int:
        return len(self._data)

    @property
    def present(self) -> bool:
        """The file was there at the last poll."""
        return self._seen is not None

    def poll(self) -> bool:
        """Look at the file (stat only) and read what is new; True when its content may have changed."""
        try:
            st = os.stat(self.path)
            seen: tuple[int, int, int] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            seen = None
        changed = self._poll_extra()
        if seen == self._seen:
            return changed
        before, self._seen = self._seen, seen
        if seen is None:  # gone: the reader will say so
            self._reset()
            return True
        if self.mode == Follow.EXTERNAL:
            return True
        appended = (self.mode == Follow.APPEND and before is not None and before[0] == seen[0]
                    and seen[1] >= len(self._data) and len(self._data) > 0)
        try:
            with open(self.path, "rb") as handle:
                if appended and self._read_on(handle):
                    return True
                self._reset()
                handle.seek(0)
                self._take(handle.read())
                self.full_reads += 1
        except OSError:
            self._reset()
        return True

    def _poll_extra(self) -> bool:
        changed = False
        for i, extra in enumerate(self._extra):
            try:
                st = os.stat(extra)
                seen: tuple[int, int] | None = (st.st_size, st.st_mtime_ns)
            except OSError:
                seen = None
            if seen != self._extra_seen[i]:
                self._extra_seen[i] = seen
                changed = True
        return changed

    def _read_on(self, handle) -> bool:
        """Append what follows the last offset; False when the bytes before it changed (a rewrite)."""
        guard = min(GUARD_BYTES, len(self._data))
        handle.seek(len(self._data) - guard)
        more = handle.read()
        self.bytes_read += len(more)
        if len(more) < guard or more[:guard] != self._data[len(self._data) - guard:]:
            return False
        self._data += more[guard:]
        return True

    def _take(self, data: bytes) -> None:
        self.bytes_read += len(data)
        self._data += data

    def _reset(self) -> None:
        self._data = bytearray()
        self._walked_to = 0
        self.memo = {}

    def contents(self, settled: bool = False) -> bytes:
        """The bytes read so far; `settled`: only up to the last complete record (a line, a TensorBoard record)."""
        if not settled or self.mode != Follow.APPEND:
            return bytes(self._data)
        name = os.path.basename(self.path).lower()
        if "tfevents" in name:
            end = self._complete_records()
        elif name.endswith(".wandb"):
            end = len(self._data)  # the W&B reader reads the complete records of a log still being written
        else:
            end = _complete_lines(self._data)
        return bytes(memoryview(self._data)[:end])

    def _complete_records(self) -> int:
        """The end of the last whole TFRecord, walking on from where the last walk stopped."""
        data, pos = self._data, self._walked_to
        while pos + 8 <= len(data):
            (length,) = _TFRECORD_HEADER.unpack_from(data, pos)
            end = pos + _TFRECORD_OVERHEAD + length
            if end > len(data):
                break
            pos = end
        self._walked_to = pos
        return pos


def _key(path: str | os.PathLike) -> str:
    return os.path.abspath(os.fspath(path))


class Followers:
    """The followers of every watched file, by absolute path."""

    def __init__(self) -> None:
        self._by_path: dict[str, Follower] = {}

    def get(self, path: str | os.PathLike, mode: str) -> Follower:
        key = _key(path)
        follower = self._by_path.get(key)
        if follower is None or follower.mode != mode:
            follower = self._by_path[key] = Follower(key, mode)
        return follower

    def find(self, path: str | os.PathLike) -> Follower | None:
        return self._by_path.get(_key(path))

    def keep_only(self, paths: Mapping[str, object] | set[str]) -> None:
        """Forget the files no run holds any more."""
        wanted = {_key(p) for p in paths}
        for key in [k for k in self._by_path if k not in wanted]:
            del self._by_path[key]

    @property
    def bytes_read(self) -> int:
        return sum(f.bytes_read for f in self._by_path.values())

    def __iter__(self) -> Iterator[Follower]:
        return iter(self._by_path.values())


class _Served:
    """`base.ServedLogs` over the followers."""

    def __init__(self, followers: Followers, settled: bool):
        self.followers, self.settled = followers, settled

    def _follower(self, path: Path) -> Follower | None:
        follower = self.followers.find(path)
        return follower if follower is not None and follower.served and follower.present else None

    def bytes_of(self, path: Path) -> bytes | None:
        follower = self._follower(path)
        return follower.contents(self.settled) if follower is not None else None

    def memo_of(self, path: Path) -> dict[str, Any] | None:
        follower = self._follower(path)
        return follower.memo if follower is not None and follower.mode == Follow.APPEND else None


@contextmanager
def serving(followers: Followers, settled: bool = False) -> Iterator[None]:
    """While inside, `read_log_bytes` answers from `followers` for the files they hold (see the module docstring)."""
    token = SERVED.set(_Served(followers, settled))
    try:
        yield
    finally:
        SERVED.reset(token)
