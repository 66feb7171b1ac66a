"""Where logs are stored: the one seam between discovery/readers and storage.

- A local path (or a `file://` URL) is a `pathlib.Path` and every call below is the plain `os`/`open` call it
  always was: no fsspec import, no extra cost.
- An object-store URL (`s3://bucket/prefix`, `gs://`, `gcs://`, `az://`, `abfs://`, any protocol fsspec knows) is
  a `RemotePath`: a `PurePosixPath` whose `str()` is the URL, so that readers keep using `.name`, `.parent`,
  `.suffix`, `/` and `relative_to` on it. Its bytes come through `fsspec`, imported lazily on the first URL; the
  file system of the protocol comes from an extra (`losslint[s3]` s3fs, `[gcs]` gcsfs, `[azure]` adlfs).
- Credentials and endpoints come from the environment the store's own library reads (`AWS_ENDPOINT_URL`,
  `AWS_PROFILE`, `AWS_ACCESS_KEY_ID`, ..., `GOOGLE_APPLICATION_CREDENTIALS`, `AZURE_STORAGE_CONNECTION_STRING`),
  never from a file inside a checked tree.
- Discovery lists a prefix once (`walk`: one recursive listing, sizes included); what it listed answers later
  `is_file`/`is_dir` questions in this process without another request. Sniffs read the head of an object with one
  ranged GET (`open_binary` with a small block); readers that need the whole object read it in ranges
  (`read_bytes`: one GET for most logs, concurrent range GETs of 16 MiB for a large event file or `.wandb` log);
  an SQLite store is copied to a temporary file (`local_copy`), since SQLite reads only files.
- Every failure of a store (no such bucket or key, access denied, no credentials, endpoint unreachable, extra
  not installed) is an `OSError` whose `strerror` is one line saying which; callers already turn OSErrors into
  one-line `ReadError`s naming the path.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path, PurePath, PurePosixPath
from typing import IO, Any, Iterator, Sequence, Union, cast
from urllib.parse import unquote

URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# which extra installs the file system of a protocol (named in the error when it is missing)
EXTRAS = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs"),
          "az": ("adlfs", "azure"), "abfs": ("adlfs", "azure"), "abfss": ("adlfs", "azure")}
# A sniff reads at most 64 KiB of a file's head (a wide CSV header, W&B's 64 KiB peek): one ranged GET of this
# many bytes answers it, instead of the store file system's default read-ahead block (5 to 50 MiB).
SNIFF_BLOCK = 1 << 16
# A whole object is read in ranges of this size, fetched concurrently after the first (one GET for most logs; a
# 1 GB event file in 64 requests, which a store serves in parallel, where one stream is limited to one connection).
RANGE_CHUNK = 16 << 20


class RemotePath(PurePosixPath):
    """An object in a store, `protocol://bucket/key`. Its parts are `("s3:", "bucket", "key", ...)`, so `.name`,
    `.parent`, `/`, `.parents` and `relative_to` work as for a folder tree, and `str()` is the URL again."""

    def __str__(self) -> str:
        parts = self.parts
        if parts and parts[0].endswith(":"):
            return parts[0] + "//" + "/".join(parts[1:])
        return super().__str__()

    def __fspath__(self) -> str:
        return str(self)

    def as_posix(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    def __reduce__(self):
        return (RemotePath, (str(self),))

    @property
    def protocol(self) -> str:
        return self.parts[0][:-1].lower() if self.parts else ""

    def resolve(self) -> RemotePath:
        """No links in a store: a URL is its own real path (so that discovery treats both kinds alike)."""
        return self


# What the calls below take: a local `Path` or a `RemotePath`. `as_path` is typed as returning `Path` so that the
# readers' `Path` annotations hold for both: they use only the pure-path side of it and do all I/O through here.
AnyPath = Union[Path, RemotePath, PurePath]  # noqa: UP007 - a runtime alias (`X | Y` of classes is 3.10+ at runtime)


def is_url(raw: str | os.PathLike) -> bool:
    """An object-store URL (not `file://`, which is a local path)."""
    if isinstance(raw, RemotePath):
        return True
    if isinstance(raw, PurePosixPath) or isinstance(raw, Path):
        return False
    match = URL.match(os.fspath(raw))
    return match is not None and match.group(1).lower() != "file"


def as_path(raw: str | os.PathLike) -> Path:
    """A `Path` for a local path or `file://` URL, a `RemotePath` for an object-store URL (idempotent; typed
    `Path`, see `AnyPath`)."""
    if isinstance(raw, (RemotePath, Path)):
        return cast(Path, raw)
    text = os.fspath(raw)
    match = URL.match(text)
    if match is None:
        return Path(text)
    if match.group(1).lower() == "file":
        rest = text[match.end():]
        # file:///abs/path (empty host) or file://localhost/abs/path
        if rest.startswith("localhost/"):
            rest = rest[len("localhost"):]
        return Path(unquote(rest) or "/")
    return cast(Path, RemotePath(text))


def _missing_extra(protocol: str) -> OSError:
    package, extra = EXTRAS.get(protocol, (None, None))
    if package is None:
        return OSError(0, f"no file system for {protocol}:// URLs (fsspec does not know it or its package is "
                          "not installed)")
    # the package itself, not `losslint[...]` by name: `losslint` on PyPI is an unrelated project
    return OSError(0, f"reading {protocol}:// URLs needs {package} (losslint's [{extra}] extra): "
                      f"pip install fsspec {package}")


def filesystem(path: RemotePath) -> Any:
    """The fsspec file system of the URL's protocol (fsspec caches one per process and per settings)."""
    try:
        import fsspec
    except ImportError:
        raise _missing_extra(path.protocol) from None
    try:
        store = fsspec.filesystem(path.protocol)
    except (ImportError, ValueError):
        raise _missing_extra(path.protocol) from None
    _quiet_unless_configured(type(store).__module__.split(".")[0])
    return store


_quieted: set[str] = set()


def _quiet_unless_configured(package: str) -> None:
    """A store library's log records go where the program's logging sends them, and nowhere when it sends them
    nowhere: a `NullHandler` on the library's logger, as the logging HOWTO asks of libraries. Without one, Python
    prints every WARNING of a library that has no handler on stderr. gcsfs (2026.x) logs one for every request to a
    bucket whose layout it cannot look up (a read-only principal, an emulator): dozens of lines around `check`'s
    one line per error. Records still propagate to any handler the program configures (`logging.basicConfig`)."""
    if package in _quieted:
        return
    logging.getLogger(package).addHandler(logging.NullHandler())
    _quieted.add(package)


def _storage_error(path: RemotePath, exc: BaseException) -> OSError:
    """One line for what went wrong with a store (the callers name the URL)."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if isinstance(exc, FileNotFoundError):
        return FileNotFoundError(2, f"no such bucket, object or prefix ({text})")
    if isinstance(exc, PermissionError):
        return PermissionError(13, f"access denied ({text})")
    if name in ("NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError"):
        return PermissionError(13, f"no credentials for this store ({text}); set them in the environment "
                                   "(AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ...)")
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError", "ConnectionError"):
        return ConnectionError(0, f"cannot reach the store ({text})")
    if isinstance(exc, OSError) and exc.strerror:
        return exc
    return OSError(0, f"{name}: {text}")


@contextlib.contextmanager
def _remote(path: RemotePath) -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - every store failure becomes one OSError line (see module docstring)
        raise _storage_error(path, exc) from None


# -- what discovery listed in this process: answers is_file / is_dir without another request ---------------------
_listed_roots: set[str] = set()
_listed_files: dict[str, int] = {}  # URL -> size
_listed_dirs: set[str] = set()
# folder URL -> the files directly in it (URL -> size) and its direct subfolders: what `listing_of` hands on
_files_in: dict[str, dict[str, int]] = {}
_dirs_in: dict[str, set[str]] = {}
# folders whose direct contents another process listed and handed on (`remember`): known one level deep
_listed_folders: set[str] = set()


def _under_listed_root(text: str) -> bool:
    return any(text == root or text.startswith(root + "/") for root in _listed_roots)


def _known(path: RemotePath) -> bool:
    text = str(path)
    return _under_listed_root(text) or text in _listed_folders or str(path.parent) in _listed_folders


def _forget(root: str) -> None:
    for key in [key for key in _listed_files if key.startswith(root + "/")]:
        del _listed_files[key]
    _listed_dirs.difference_update([key for key in _listed_dirs if key.startswith(root + "/")])
    for index in (_files_in, _dirs_in):
        for key in [key for key in index if key == root or key.startswith(root + "/")]:
            del index[key]


def listing_of(folders: Sequence[AnyPath]) -> dict[str, Any] | None:
    """What this process's listings say is directly in `folders` (remote folders at or below a listed root; others
    are left out): `{"folders": [...], "files": {URL: size}, "dirs": [...]}`, plain data for a task that runs in
    another process (a `--jobs` worker, a Dask worker) and would otherwise ask the store again what discovery
    already knows (`remember`). None when no folder qualifies."""
    known = [str(f) for f in folders if isinstance(f, RemotePath) and _under_listed_root(str(f))]
    if not known:
        return None
    files: dict[str, int] = {}
    dirs: set[str] = set()
    for folder in known:
        files.update(_files_in.get(folder, {}))
        dirs.update(_dirs_in.get(folder, set()))
        if folder in _listed_dirs or folder in _listed_roots:
            dirs.add(folder)
    return {"folders": known, "files": files, "dirs": sorted(dirs)}


def remember(listing: dict[str, Any] | None) -> None:
    """Take on what another process listed (`listing_of`): later `is_file`/`is_dir`/`size` calls on those folders'
    direct contents are answered without a request."""
    if not listing:
        return
    _listed_files.update(listing["files"])
    _listed_dirs.update(listing["dirs"])
    _listed_folders.update(listing["folders"])


def walk(root: AnyPath) -> list[tuple[Path, int]]:
    """Every object at or below `root` (sorted, with its size), from one recursive listing; a missing bucket,
    prefix or object is FileNotFoundError."""
    if not isinstance(root, RemotePath):
        raise TypeError(f"walk lists object stores, not local folders: {root}")
    fs = filesystem(root)
    with _remote(root):
        found = fs.find(str(root), detail=True)
    if not found:
        raise FileNotFoundError(2, "no such bucket, object or prefix")
    protocol = root.parts[0]
    _forget(str(root))  # a second listing of the same prefix replaces the first (objects come and go)
    files = []
    for key, info in sorted(found.items()):
        if info.get("type", "file") != "file":
            continue
        url = RemotePath(f"{protocol}//{key}")
        files.append((cast(Path, url), int(info.get("size") or 0)))
        _listed_files[str(url)] = int(info.get("size") or 0)
        _files_in.setdefault(str(url.parent), {})[str(url)] = int(info.get("size") or 0)
        for parent in url.parents:
            if len(parent.parts) <= 1 or str(parent) in _listed_dirs:
                break
            _listed_dirs.add(str(parent))
            _dirs_in.setdefault(str(parent.parent), set()).add(str(parent))
    _listed_roots.add(str(root))
    return files


# -- the calls readers and discovery make; a local Path takes today's code path --------------------------------
def open_binary(path: AnyPath, *, block_size: int = SNIFF_BLOCK) -> IO[bytes]:
    """The file opened for reading bytes; remote: read ahead `block_size` bytes per ranged GET."""
    if not isinstance(path, RemotePath):
        return open(path, "rb")
    fs = filesystem(path)
    with _remote(path):
        handle = fs.open(str(path), "rb", block_size=block_size, cache_type="readahead")
    # buffered: `readline(limit)` and `peek` as a local file has them (fsspec's file has neither)
    return io.BufferedReader(handle, buffer_size=block_size)


def read_bytes(path: AnyPath) -> bytes:
    """The whole file. Remote: one ranged GET of the first `RANGE_CHUNK` bytes, which is the whole of most logs;
    a larger object (a long run's event file or `.wandb` log) is fetched as the rest of its ranges, concurrently."""
    if not isinstance(path, RemotePath):
        return Path(path).read_bytes()
    url = str(path)
    if _listed_files.get(url) == 0:
        return b""
    fs = filesystem(path)
    with _remote(path):
        try:
            head = fs.cat_file(url, start=0, end=RANGE_CHUNK)
        except Exception:  # noqa: BLE001 - an empty object has no range 0-N (HTTP 416: s3fs raises an OSError,
            # adlfs azure-core's HttpResponseError); any other fault, the plain GET raises again
            return fs.cat_file(url)
        if len(head) < RANGE_CHUNK:
            return head
        total = _listed_files.get(url) or int(fs.size(url))
        starts = list(range(RANGE_CHUNK, total, RANGE_CHUNK))
        rest = fs.cat_ranges([url] * len(starts), starts, [min(start + RANGE_CHUNK, total) for start in starts],
                             on_error="raise") if starts else []
    return b"".join([head, *rest])


def read_range(path: AnyPath, start: int, end: int) -> bytes:
    """Bytes `start` up to `end` (exclusive) of the file (remote: one ranged GET)."""
    if not isinstance(path, RemotePath):
        with open(path, "rb") as handle:
            handle.seek(start)
            return handle.read(max(0, end - start))
    fs = filesystem(path)
    with _remote(path):
        return fs.cat_file(str(path), start=start, end=end)


def is_file(path: AnyPath) -> bool:
    if not isinstance(path, RemotePath):
        return Path(path).is_file()
    if _known(path):
        return str(path) in _listed_files
    try:
        with _remote(path):
            return bool(filesystem(path).isfile(str(path)))
    except OSError:
        return False


def is_dir(path: AnyPath) -> bool:
    if not isinstance(path, RemotePath):
        return Path(path).is_dir()
    if _known(path):
        return str(path) in _listed_dirs or str(path) in _listed_roots
    try:
        with _remote(path):
            return bool(filesystem(path).isdir(str(path)))
    except OSError:
        return False


def size(path: AnyPath) -> int:
    """The file's size in bytes (OSError when it cannot be told)."""
    if not isinstance(path, RemotePath):
        return Path(path).stat().st_size
    if str(path) in _listed_files:
        return _listed_files[str(path)]
    fs = filesystem(path)
    with _remote(path):
        return int(fs.size(str(path)))


@contextlib.contextmanager
def local_copy(path: AnyPath) -> Iterator[Path]:
    """A local file with the file's bytes, for libraries that read only files (SQLite); removed afterwards."""
    if not isinstance(path, RemotePath):
        yield Path(path)
        return
    folder = tempfile.mkdtemp(prefix="losslint-")
    try:
        target = Path(folder) / (path.name or "object")
        fs = filesystem(path)
        with _remote(path):
            fs.get_file(str(path), str(target))
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def readable(path: AnyPath) -> Path | io.BytesIO:
    """What a library that opens files itself (pandas, pyarrow) is given: the local path as before, or the remote
    object's bytes (one GET) in a buffer."""
    if not isinstance(path, RemotePath):
        return Path(path)
    return io.BytesIO(read_bytes(path))
