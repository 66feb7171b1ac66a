"""Walk paths, group files into runs, and read them.

- Every file is offered to the readers in registry order; the first that can read it claims it.
- Files of one reader with the same `run_key` are one run. Run name = that directory relative to the argument
  (POSIX separators); for a file argument (pre-commit passes file names), relative to the working directory, and the
  whole run that contains the file is read, not just the file.
- One run directory logged in two formats is read once, in the format with the lowest priority number; the other
  formats are named in the run's notes. HF Trainer output directories count as one run with the TensorBoard logs
  that `report_to="tensorboard"` writes below them in `runs/`.
- A run resumed into sibling folders (W&B: one `run-<date>_<time>-<id>/` per session) is one group: its `parts`
  are read one by one and joined by the reader, so an unreadable session is its own error and the others still
  form the run.
- Unreadable files and directory loops become one-line errors; the other runs are still read.
- Hostile trees: only regular files are opened and only directories walked (a FIFO, device or socket given as an
  argument is refused with one line; inside a tree it is skipped). A symbolic link to a folder outside the given
  trees is not followed (a note says so), and `/proc`, `/sys` and `/dev` are never walked. Every sniff and every
  reader runs behind one guard (`guarded`) that turns any exception into a one-line `ReadError` naming the file.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, cast

from .errors import PartialReadError, ReadError, describe, reraise_if_debugging
from .io import fs, reader_for_format, readers
from .io.base import Reader, ReadOptions
from .io.fs import RemotePath, as_path
from .io.hparams import hparams_beside
from .schema import Run
from .textsafe import clean_run, unicode_clean

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", ".tox", ".mypy_cache", ".pytest_cache"}
# Pseudo file systems: walking them reads the whole machine (and blocks on some files); never entered.
SYSTEM_DIRS = tuple(Path(p) for p in ("/proc", "/sys", "/dev"))
_SYSTEM_NAMES = frozenset(p.name for p in SYSTEM_DIRS)
_SPECIAL_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                  (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def special_kind(mode: int) -> str | None:
    """What a file that is neither a regular file nor a directory is ("a named pipe (FIFO)", ...), else None."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return next((what for test, what in _SPECIAL_KINDS if test(mode)), "not a regular file")


def is_system_dir(real: Path) -> bool:
    return any(real == top or top in real.parents for top in SYSTEM_DIRS)


def _inside(real: Path, trees: Sequence[Path]) -> bool:
    return any(real == tree or tree in real.parents for tree in trees)


def guarded(where: str | os.PathLike, what: str, action, *args,
            passing: tuple[type[BaseException], ...] = (ReadError,)):
    """Run `action(*args)`; any exception but a `ReadError` (and the `passing` types) becomes one (a reader or
    sniff bug, a RecursionError on deep nesting, a MemoryError, ...), naming `where`. LOSSLINT_DEBUG=1 lets it
    through with its traceback."""
    try:
        return action(*args)
    except passing:
        raise
    except Exception as exc:  # noqa: BLE001 - the one guard: a bad file must not hide the other runs
        reraise_if_debugging()
        raise ReadError(os.fspath(where), f"{what}: {describe(exc)}") from None


@dataclass
class RunGroup:
    """The files of one run in one format, before reading. Plain data, so it crosses process boundaries."""

    name: str
    format: str
    key: str
    files: list[str]
    also: dict[str, list[str]] = field(default_factory=dict)  # other formats of the same run, not read
    parts: list[RunGroup] = field(default_factory=list)  # sessions of a resumed run, in start order; [] = one
    # On an object store: what discovery listed in the run's folders (`fs.listing_of`), so that a worker in another
    # process answers "is there a config.json beside it?" without asking the store again. None for local runs.
    listing: dict[str, Any] | None = None


@dataclass
class Discovery:
    groups: list[RunGroup]
    errors: list[ReadError]
    notes: list[str] = field(default_factory=list)  # `path: what was left out and why` (links not followed)


def _walk_files(root: Path, errors: list[ReadError], notes: list[str] | None = None,
                trees: Sequence[Path] = ()) -> Iterable[Path]:
    """Every regular file below root, following directory links once; loops and unreadable folders become errors.

    A link back to a folder above itself is a loop (one error). A second link to a folder already walked (W&B's
    `wandb/latest-run`) is not: it is skipped silently. Linked folders are walked after the real ones, so that a run
    is found, and named, by its real path. A link to a folder outside `root` and `trees` (the other checked
    folders) is not followed, with a note; `/proc`, `/sys` and `/dev` are never entered.
    """
    allowed = [root.resolve(), *trees]
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Path, frozenset]] = [(root, frozenset())]
    links: list[tuple[Path, frozenset]] = []
    while stack or links:
        directory, ancestors = stack.pop() if stack else links.pop(0)
        try:
            st = directory.stat()
        except OSError as exc:
            errors.append(ReadError(directory, f"cannot open directory: {exc.strerror or exc}"))
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in ancestors:
            errors.append(ReadError(directory, "directory symlink loop (links to a folder above it), skipped"))
            continue
        if ident in seen:
            continue
        seen.add(ident)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            errors.append(ReadError(directory, f"cannot list directory: {exc.strerror or exc}"))
            continue
        below = ancestors | {ident}
        subdirs = []
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                if entry.name in SKIP_DIRS:
                    pass
                elif entry.is_symlink():
                    target = path.resolve()
                    if not _inside(target, allowed) or is_system_dir(target):
                        if notes is not None:
                            notes.append(f"{unicode_clean(str(path))}: symbolic link to {unicode_clean(str(target))}, "
                                         "a folder outside the checked tree; not followed")
                    else:
                        links.append((path, below))
                elif entry.name in _SYSTEM_NAMES and is_system_dir(path.resolve()):  # only from `/`
                    if notes is not None:
                        notes.append(f"{unicode_clean(str(path))}: a system folder; not walked")
                else:
                    subdirs.append((path, below))
                continue
            try:
                if not entry.is_file(follow_symlinks=True):
                    # is_file() answers False, not OSError, for a link whose target is gone
                    if entry.is_symlink() and not os.path.exists(entry.path):
                        errors.append(ReadError(path, "broken symbolic link"))
                    continue
            except OSError:
                if entry.is_symlink():
                    errors.append(ReadError(path, "broken symbolic link"))
                continue
            yield path
        stack.extend(reversed(subdirs))


def _claim(path: Path, all_readers: Sequence[Reader]) -> Reader | None:
    """The first reader whose sniff wants `path`, or else the first that recognises its content under another
    name (`Reader.claims_by_content`); a sniff that fails on the file's content (deep nesting, say) is a
    `ReadError` for the file, an unreadable file (OSError) is left to the next reader."""
    sniffs = [(r, r.can_read) for r in all_readers] + [(r, r.claims_by_content) for r in all_readers]
    for reader, sniff in sniffs:
        try:
            if guarded(path, f"cannot tell whether this is a {reader.format} log", sniff, path,
                       passing=(ReadError, OSError)):
                return reader
        except OSError:
            continue
    return None


def _claim_recorded(path: Path, all_readers: Sequence[Reader], errors: list[ReadError]) -> Reader | None:
    """`_claim`, with a sniff that failed on the file's content recorded in `errors` (None then)."""
    try:
        return _claim(path, all_readers)
    except ReadError as exc:
        errors.append(exc)
        return None


def _claim_argument(path: Path, all_readers: Sequence[Reader], errors: list[ReadError]) -> Reader | None:
    """The reader of a file given as an argument (local or an object's URL); None, with the error recorded, when it
    cannot be sniffed or no reader wants it."""
    before = len(errors)
    reader = _claim_recorded(path, all_readers, errors)
    if reader is None and len(errors) == before:
        errors.append(ReadError(str(path), "not a training log losslint can read"))
    return reader


def _run_name(key: Path, base: Path, fallback: str, prefix: str | None = None) -> str:
    """The run's directory relative to `base` (`fallback` when it is `base` itself), after `prefix/` (the argument
    as given, when several were: two `hf` runs below `a/` and `b/` are `a/hf` and `b/hf`, as a linter prints paths)."""
    try:
        rel = key.resolve().relative_to(base.resolve())
    except ValueError:
        return key.as_posix()
    except TypeError:  # a URL against a local folder: different kinds of path
        return key.as_posix()
    text = rel.as_posix()
    if text in ("", "."):
        return fallback
    return f"{prefix}/{text}" if prefix else text


def _unique_group_names(groups: list[RunGroup]) -> list[RunGroup]:
    """Two groups with one name (the same leaf reached through two arguments, a file and a folder) are named by
    their directory relative to the working directory instead, then numbered if that still collides."""
    counts: dict[str, int] = {}
    for group in groups:
        counts[group.name] = counts.get(group.name, 0) + 1
    if all(count == 1 for count in counts.values()):
        return groups
    taken = {group.name for group in groups if counts[group.name] == 1}
    renamed = []
    for group in groups:
        if counts[group.name] > 1:
            name = _relative_or_absolute(as_path(group.key))
            candidate, n = name, 2
            while candidate in taken:
                candidate, n = f"{name}#{n}", n + 1
            group = replace(group, name=candidate)
        taken.add(group.name)
        renamed.append(group)
    return renamed


def _relative_or_absolute(path: Path | RemotePath) -> str:
    if isinstance(path, RemotePath):
        return str(path)  # a run in a store keeps its URL
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return path.as_posix()


def unique_run_names(runs: list[Run]) -> list[Run]:
    """Runs named by a display name (W&B) that two runs share go back to their folder name; then the runs that still
    share a name are numbered (`name#2`, ...), so that every reporter can tell them apart; the first keeps its name."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.name] = counts.get(run.name, 0) + 1
    for run in runs:
        fallback = run.metadata.get("folder_name") if isinstance(run.metadata, dict) else None
        if counts[run.name] > 1 and fallback:
            run.name = str(fallback)
    seen: set[str] = set()
    names = {run.name for run in runs}
    for run in runs:
        if run.name in seen:
            n = 2
            while f"{run.name}#{n}" in names or f"{run.name}#{n}" in seen:
                n += 1
            run.name = f"{run.name}#{n}"
        seen.add(run.name)
    return runs


def run_path(group: RunGroup) -> str:
    """Where a run lives, for reports: its directory (or, for a file that is a run of its own, the file) relative
    to the working directory, or absolute outside it."""
    return _relative_or_absolute(as_path(group.key))


def discover(paths: Sequence[str | os.PathLike], exclude: Iterable[str | os.PathLike] = ()) -> Discovery:
    """Group the files under `paths` into runs (no file is read beyond a reader's cheap sniff); files in `exclude`
    (an export's own output file, say) are never taken."""
    all_readers = readers()
    errors: list[ReadError] = []
    notes: list[str] = []
    trees: list[Path] = []
    for raw in paths:
        if fs.is_url(raw):
            continue
        try:
            if as_path(raw).is_dir():
                trees.append(as_path(raw).resolve())
        except OSError:
            pass
    # (format, key) -> files; insertion order keeps output stable
    claimed: dict[tuple[str, Path], list[Path]] = {}
    names: dict[tuple[str, Path], str] = {}
    seen_files: set[Path] = {Path(p).resolve() for p in exclude}
    several = len(paths) > 1

    def take(path: Path, base: Path, fallback: str, prefix: str | None = None) -> Path | None:
        """Claim one file for its run; returns the run key, None when no reader wants it or it was seen."""
        real = path.resolve()
        if real in seen_files:  # one file reached twice (two arguments, a linked folder): read it once
            return None
        seen_files.add(real)
        reader = _claim_recorded(path, all_readers, errors)
        if reader is None:
            return None
        key = reader.run_key(path).resolve()
        slot = (reader.format, key)
        files = claimed.setdefault(slot, [])
        if path not in files:
            files.append(path)
        names.setdefault(slot, _run_name(reader.run_key(path), base, fallback, prefix))
        return key

    for raw in paths:
        if fs.is_url(raw):
            _discover_remote(as_path(raw), several, errors, notes, take, all_readers)
            continue
        root = as_path(raw)  # `file://` URLs are local paths
        try:
            mode = root.stat().st_mode
        except OSError as exc:
            errors.append(ReadError(root, f"cannot open: {exc.strerror or exc}"))
            continue
        kind = special_kind(mode)
        if kind is not None:
            # opening a FIFO blocks until a writer comes; a device never ends (/dev/zero)
            errors.append(ReadError(root, f"{kind}, not a regular file or folder; refused"))
            continue
        if stat.S_ISDIR(mode) and is_system_dir(root.resolve()):
            errors.append(ReadError(root, "a system folder (/proc, /sys, /dev); not walked"))
            continue
        if stat.S_ISDIR(mode):
            real_root = root.resolve()
            wider: dict[Path, None] = {}
            # a folder that is itself one run is named as the user wrote it (`runs/exp1`, not `exp1`) when that
            # is a relative path; an absolute one or `.` is named after the folder
            as_given = root.as_posix().rstrip("/")
            # is that when several arguments were given (two absolute `.../hf` folders must not both be `hf`)
            own_name = real_root.name if (root.is_absolute() and not several) or as_given in ("", ".", "..") \
                else as_given
            # runs below it are named relative to it; with several arguments, after the argument as given
            prefix = as_given if several and as_given not in ("", ".") else None
            for path in _walk_files(root, errors, notes, trees):
                key = take(path, root, own_name, prefix)
                # a folder inside one run (Keras `validation/`): the whole run is read, as for a file argument
                if key is not None and key != real_root and key in real_root.parents:
                    wider.setdefault(key)
            for key in wider:
                for path in _walk_files(key, errors, notes, trees):
                    take(path, Path.cwd(), key.name)
        else:
            reader = _claim_argument(root, all_readers, errors)
            if reader is None:
                continue
            key_dir = reader.run_key(root)
            # the whole run that holds the file, not the file alone
            candidates = list(_walk_files(key_dir, errors, notes, trees)) if key_dir.is_dir() else [root]
            for path in candidates:
                take(path, Path.cwd(), key_dir.resolve().name)

    by_format = {r.format: r for r in all_readers}
    groups = _unique_group_names(_join_sessions(_merge_formats(claimed, names, by_format), by_format))
    for group in groups:
        for one in group.parts or [group]:
            if isinstance(as_path(one.key), RemotePath):
                one.listing = fs.listing_of(_sidecar_folders(one))
    return Discovery(groups=groups, errors=errors, notes=notes)


def _discover_remote(root: Path, several: bool, errors: list[ReadError], notes: list[str], take,
                     all_readers: Sequence[Reader]) -> None:
    """A URL argument: one listing of the prefix (`fs.walk`, nothing downloaded), then each object claimed as a
    local file is (by name, or by a ranged read of its head). An object given by its URL is read with the whole run
    that holds it, as a local file argument is. A store's failure is one line naming the URL."""
    try:
        listed = fs.walk(root)
    except OSError as exc:
        errors.append(ReadError(str(root), f"cannot open: {exc.strerror or exc}"))
        return
    if len(listed) == 1 and listed[0][0] == root:  # the URL of one object
        reader = _claim_argument(root, all_readers, errors)
        if reader is None:
            return
        key_dir = reader.run_key(root)
        candidates = [root]
        if key_dir != root:
            try:
                candidates = [path for path, _ in fs.walk(key_dir)]
            except OSError as exc:
                errors.append(ReadError(str(key_dir), f"cannot open: {exc.strerror or exc}"))
        for path in candidates:
            take(path, key_dir, str(key_dir))
        return
    as_given = str(root)
    prefix = as_given if several else None
    wider: dict[Path, None] = {}
    for path, _size in listed:
        if any(part in SKIP_DIRS for part in path.relative_to(root).parts[:-1]):
            continue
        key = take(path, root, as_given, prefix)
        # a prefix inside one run (Keras `validation/`): the whole run is read, as for a local folder
        if key is not None and key != root and key in root.parents:
            wider.setdefault(key)
    for key in wider:
        try:
            above = fs.walk(key)
        except OSError as exc:
            errors.append(ReadError(str(key), f"cannot open: {exc.strerror or exc}"))
            continue
        for path, _size in above:
            take(path, key, str(key))


def _join_sessions(groups: list[RunGroup], by_format: Mapping[str, Reader]) -> list[RunGroup]:
    """Sibling folders that a reader calls sessions of one run become one group, named after the first session.

    A reader opts in with `session_of(key, files) -> (run id, start order) | None` and joins what was read with
    `join_sessions(runs) -> runs`. Only siblings join: two copies of a run in different folders stay two runs.
    """
    slots: dict[object, list[tuple[object, RunGroup]]] = {}
    for index, group in enumerate(groups):
        try:
            session = by_format[group.format].session_of(as_path(group.key), group.files)
        except Exception:  # noqa: BLE001 - not joinable: read alone, where the reader's guard names any fault
            reraise_if_debugging()
            session = None
        slot = (group.format, str(as_path(group.key).parent), session[0]) if session else index
        slots.setdefault(slot, []).append((session[1] if session else None, group))
    joined = []
    for members in slots.values():
        if len(members) == 1:
            joined.append(members[0][1])
            continue
        parts = [group for _, group in sorted(members, key=lambda member: cast(Any, member[0]))]
        also: dict[str, list[str]] = {}
        for part in parts:
            for fmt, files in part.also.items():
                also.setdefault(fmt, []).extend(files)
        joined.append(RunGroup(name=parts[0].name, format=parts[0].format, key=parts[0].key,
                               files=[f for part in parts for f in part.files], also=also,
                               parts=[replace(part, also={}) for part in parts]))
    return joined


def _merge_formats(claimed: Mapping[tuple[str, Path], list[Path]], names: Mapping[tuple[str, Path], str],
                   by_format: Mapping[str, Reader]) -> list[RunGroup]:
    formats_at: dict[Path, list[str]] = {}
    for fmt, key in claimed:
        formats_at.setdefault(key, []).append(fmt)

    def owner(key: Path) -> Path:
        # the nearest run above `key` whose format owns it (Reader.owns), else the run itself
        for parent in key.parents:
            if any(by_format[fmt].owns(parent, key) for fmt in formats_at.get(parent, ())):
                return parent
        return key

    by_key: dict[Path, list[tuple[str, Path]]] = {}
    for fmt, key in claimed:
        by_key.setdefault(owner(key), []).append((fmt, key))

    groups = []
    for key, slots in by_key.items():
        slots.sort(key=lambda s: by_format[s[0]].priority)
        fmt, own_key = slots[0]
        if own_key != key and (fmt, key) in claimed:
            own_key = key
        files = claimed[(fmt, own_key)]
        also: dict[str, list[str]] = {}
        for other_fmt, other_key in slots[1:]:
            also.setdefault(other_fmt, []).extend(str(p) for p in claimed[(other_fmt, other_key)])
        name = names.get((fmt, key)) or names[(fmt, own_key)]
        groups.append(RunGroup(name=name, format=fmt, key=str(key), files=[str(p) for p in files], also=also))
    return groups


def read_group(group: RunGroup, aliases: Mapping[str, str] | None = None, options: ReadOptions | None = None
               ) -> tuple[list[Run], list[ReadError]]:
    """Read one group; any failure becomes a `ReadError` (never a traceback, unless LOSSLINT_DEBUG is set).

    The runs come back with their text cleaned for output (`textsafe.clean_run`: no lone surrogates from file
    names that are not UTF-8)."""
    fs.remember(group.listing)
    for part in group.parts:
        fs.remember(part.listing)
    runs, errors = _read_group(group, aliases, options)
    for run in runs:
        clean_run(run)
    return runs, errors


def _read_group(group: RunGroup, aliases: Mapping[str, str] | None, options: ReadOptions | None
                ) -> tuple[list[Run], list[ReadError]]:
    if group.parts:
        return _read_sessions(group, aliases, options)
    reader = reader_for_format(group.format)
    where = group.files[0] if len(group.files) == 1 else group.key
    try:
        runs = guarded(where, f"cannot read as {group.format}", partial(reader.read, options=options),
                       [as_path(p) for p in group.files], group.name, aliases)
        errors: list[ReadError] = []
    except PartialReadError as exc:  # a fault after a readable part: the part is checked, the fault reported
        runs, errors = list(exc.runs), [exc]
    except ReadError as exc:
        return [], [exc]
    for run in runs:
        run.path = run.path or run_path(group)
        for other_fmt, files in group.also.items():
            run.notes.append(f"also logged as {other_fmt} ({len(files)} file(s)); read once, as {group.format}")
        if not run.hparams:
            # Ray Tune's params.json, HF's config.json / training_args.json: beside the logs, not in them
            run.hparams, hparam_notes = hparams_beside(_sidecar_folders(group))
            run.notes.extend(hparam_notes)
    return runs, errors


def _sidecar_folders(group: RunGroup) -> list[Path]:
    """Where a run's settings files may sit: its run folder, then the folders of its log files below it (an HF
    `checkpoint-N/` holds the config of the state read from it)."""
    key = as_path(group.key)
    folders = [key] if fs.is_dir(key) else [key.parent]
    folders += sorted({as_path(f).parent for f in group.files} - set(folders), key=str)
    return folders


def _read_sessions(group: RunGroup, aliases: Mapping[str, str] | None, options: ReadOptions | None
                   ) -> tuple[list[Run], list[ReadError]]:
    """Each session of a resumed run read alone (an unreadable one is its own error), the readable ones joined."""
    runs: list[Run] = []
    errors: list[ReadError] = []
    for part in group.parts:
        got, errs = _read_group(part, aliases, options)
        runs.extend(got)
        errors.extend(errs)
    if len(runs) > 1:
        try:
            runs = reader_for_format(group.format).join_sessions(runs)
        except Exception as exc:  # noqa: BLE001 - a reader bug must not hide the other runs
            reraise_if_debugging()
            return [], errors + [ReadError(group.key, f"cannot join the sessions of this {group.format} run: "
                                                     f"{describe(exc)}")]
    for run in runs:
        run.path = run.path or run_path(group)
        for other_fmt, files in group.also.items():
            run.notes.append(f"also logged as {other_fmt} ({len(files)} file(s)); read once, as {group.format}")
    return runs, errors


def load(paths: str | os.PathLike | Sequence[str | os.PathLike], aliases: Mapping[str, str] | None = None,
         exclude: Iterable[str | os.PathLike] = (), notes: list[str] | None = None
         ) -> tuple[list[Run], list[ReadError]]:
    """Discover and read every run under `paths`; `notes`, when given, receives discovery's notes."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found = discover(paths, exclude)
    if notes is not None:
        notes.extend(found.notes)
    runs: list[Run] = []
    errors = list(found.errors)
    for group in found.groups:
        got, errs = read_group(group, aliases)
        runs.extend(got)
        errors.extend(errs)
    return unique_run_names(runs), errors
