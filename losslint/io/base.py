"""The reader contract. One module per format; each exposes a `Reader` instance named `READER`.

A reader knows nothing of rules. It answers three questions:

- `can_read(path)`: is this file one of mine? Cheap: a name pattern, at most a peek at the first bytes.
- `run_key(path)`: the directory that identifies the run this file belongs to. Files of one reader with the same key
  are read together (Keras `train/` + `validation/` event files, restarts in one folder, `checkpoint-*/` copies).
- `read(paths, name)`: the `Run`s in those files. Usually one; a W&B chart export or a Keras CSV with appended fits
  may hold several, named `<name>/<sub-run>`. Bad input raises `ReadError`; recoverable oddities go to `Run.notes`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol, Sequence

from ..schema import Run


@dataclass(frozen=True)
class ReadOptions:
    """How to read, passed explicitly from the command line down to the readers (picklable, for worker processes)."""

    # Check TensorBoard record checksums: True always, False never, None when a C CRC-32C is installed (or as
    # `LOSSLINT_VERIFY_CRC` says; see io/tfrecord.py).
    verify: bool | None = None


class Reader(Protocol):
    format: str
    # When one run directory holds the same run in two formats, the lowest priority number is read and the others
    # are listed in the run's notes (never double-counted).
    priority: int

    def can_read(self, path: Path) -> bool: ...

    def run_key(self, path: Path) -> Path: ...

    def read(self, paths: Sequence[Path], name: str, aliases: Mapping[str, str] | None = None, *,
             options: ReadOptions | None = None) -> list[Run]: ...


LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"


def check_lfs_pointer(path: Path, head: bytes) -> None:
    """Raise the one helpful error for a Git LFS pointer checked out in place of the real file."""
    from ..errors import ReadError

    if head.startswith(LFS_POINTER_PREFIX):
        raise ReadError(path, "this is a Git LFS pointer, not the log itself; run `git lfs pull`")


def read_log_bytes(path: Path) -> bytes:
    """A log file's bytes; an unreadable file or a Git LFS pointer is a `ReadError` (one line, the file named)."""
    from ..errors import ReadError

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReadError(path, f"cannot read: {exc.strerror or exc}") from None
    check_lfs_pointer(path, data[:64])
    return data
