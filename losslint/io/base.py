"""The reader contract. One module per format; each defines a subclass of `Reader` and exposes an instance of it
named `READER`.

A reader knows nothing of rules. It answers three questions:

- `can_read(path)`: is this file one of mine? Cheap: a name pattern, at most a peek at the first bytes.
- `run_key(path)`: the directory that identifies the run this file belongs to. Files of one reader with the same key
  are read together (Keras `train/` + `validation/` event files, restarts in one folder, `checkpoint-*/` copies).
- `read(paths, name)`: the `Run`s in those files. Usually one; a W&B chart export or a Keras CSV with appended fits
  may hold several, named `<name>/<sub-run>`. Bad input raises `ReadError`; recoverable oddities go to `Run.notes`.

and may override three optional hooks, whose defaults do nothing:

- `session_of(key, files)` / `join_sessions(runs)`: sibling folders that are sessions of one resumed run (W&B).
- `owns(key, other)`: this format's run at `key` also owns another format's run at `other` (HF Trainer: the
  TensorBoard logs `report_to="tensorboard"` writes under `<output_dir>/runs/`).
- `claims_by_content(path)`: asked only when no reader's `can_read` wanted the file: is it one of mine saved under
  a name of another kind (a `trainer_state.json` committed as `__init__.py`)? Every reader's name-based claim is
  tried first, so a file of a known kind is opened once at most for this.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, Protocol, Sequence

from ..schema import Run
from . import fs

# Names that are surely not text: media, archives, weights, compiled code, databases. No reader sniffs their
# content for a log saved under another name (a JSON log is text; opening every checkpoint would cost a read each).
BINARY_SUFFIXES = frozenset(
    ".png .jpg .jpeg .gif .bmp .tif .tiff .webp .svg .pdf .ico .mp3 .mp4 .wav .flac .avi .mov .mkv "
    ".zip .gz .tgz .bz2 .xz .zst .tar .7z .rar .pt .pth .ckpt .bin .safetensors .h5 .hdf5 .keras .onnx .pb .tflite "
    ".npy .npz .pkl .pickle .joblib .parquet .arrow .feather .db .sqlite .sqlite3 .so .dll .dylib .o .a .pyc .whl "
    ".wandb".split())


@dataclass(frozen=True)
class ReadOptions:
    """How to read, passed explicitly from the command line down to the readers (picklable, for worker processes)."""

    # Check TensorBoard record checksums: True always, False never, None when a C CRC-32C is installed (or as
    # `LOSSLINT_VERIFY_CRC` says; see io/tensorboard/records.py).
    verify: bool | None = None


class Reader(ABC):
    format: ClassVar[str]
    # Which reader is offered a file first is the registry's order (io/__init__.py: READER_MODULES). When one run
    # directory holds the same run in two formats, the lowest priority number is read and the others are listed in
    # the run's notes (never double-counted).
    priority: ClassVar[int]

    @abstractmethod
    def can_read(self, path: Path) -> bool: ...

    @abstractmethod
    def run_key(self, path: Path) -> Path: ...

    @abstractmethod
    def read(self, paths: Sequence[Path], name: str, aliases: Mapping[str, str] | None = None, *,
             options: ReadOptions | None = None) -> list[Run]: ...

    # -- optional hooks ------------------------------------------------------------------------------------
    def claims_by_content(self, path: Path) -> bool:
        """A file no reader claimed by `can_read`: is it this format's log under another name? Default: no."""
        return False

    def session_of(self, key: Path, files: Sequence[str]) -> tuple[str, Any] | None:
        """The run id and a start-order key when the run folder `key` is one session of a resumed run (sibling
        folders with the same id are read as one run, sessions joined by `join_sessions`); None: a run of its own."""
        return None

    def join_sessions(self, runs: Sequence[Run]) -> list[Run]:
        """The sessions of one resumed run (in start order), as read one by one, joined into the run."""
        return list(runs)

    def owns(self, key: Path, other: Path) -> bool:
        """Whether this format's run at `key` also owns another format's run at `other` (a folder below `key`):
        the other one is then read as this run's other format, not as a run of its own."""
        return False


LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"


def check_lfs_pointer(path: Path, head: bytes) -> None:
    """Raise the one helpful error for a Git LFS pointer checked out in place of the real file."""
    from ..errors import ReadError

    if head.startswith(LFS_POINTER_PREFIX):
        raise ReadError(path, "this is a Git LFS pointer, not the log itself; run `git lfs pull`")


class ServedLogs(Protocol):
    """Log bytes already in memory: `losslint watch` follows growing logs and reads only what is new
    (`io/follow.py`); while it re-reads a run (`follow.serving`) the readers take the bytes from here."""

    def bytes_of(self, path: Path) -> bytes | None:
        """The file's bytes, or None: read it from disk."""

    def memo_of(self, path: Path) -> dict[str, Any] | None:
        """A reader's scratch space for this file, kept while the file only grows (cleared when it is rewritten,
        truncated or replaced), so that a reader may parse only the bytes after what it parsed before; None when
        the file is not served."""


SERVED: ContextVar[ServedLogs | None] = ContextVar("losslint_served_logs", default=None)


def served_bytes(path: Path) -> bytes | None:
    """The bytes `SERVED` holds for `path` (None: read it from disk)."""
    source = SERVED.get()
    return source.bytes_of(path) if source is not None else None


def served_memo(path: Path) -> dict[str, Any] | None:
    """The scratch space `SERVED` keeps for `path` while it only grows (None: not served)."""
    source = SERVED.get()
    return source.memo_of(path) if source is not None else None


def read_log_bytes(path: Path) -> bytes:
    """A log file's bytes; an unreadable file or a Git LFS pointer is a `ReadError` (one line, the file named)."""
    from ..errors import ReadError

    data = served_bytes(path)
    if data is None:
        try:
            data = fs.read_bytes(path)
        except OSError as exc:
            raise ReadError(path, f"cannot read: {exc.strerror or exc}") from None
    check_lfs_pointer(path, data[:64])
    return data
