"""Helpers shared by the reader tests: read a tree the way discovery groups it, and read a damaged file."""
from __future__ import annotations

import tempfile
from pathlib import Path

from losslint.errors import ReadError


def read_grouped(reader, root: Path) -> list:
    """Claim and group the files under `root` (or `root` itself, a file) as discovery does, then read each group."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    groups: dict[Path, list[Path]] = {}
    for path in files:
        if reader.can_read(path):
            groups.setdefault(reader.run_key(path), []).append(path)
    runs = []
    for key, paths in groups.items():
        runs.extend(reader.read(paths, key.name))
    return runs


def read_damaged(reader, data: bytes, cut: int, junk: bytes, at: int, filename: str) -> list | None:
    """`data` cut at `cut` with `junk` spliced in at `at` (when before the cut), written as `filename` and read:
    the runs, or None when the reader refused it with a ReadError. Any other exception propagates (the test)."""
    damaged = data[:at] + junk + data[at:cut] if at < cut else data[:cut]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / filename
        path.write_bytes(damaged)
        try:
            return reader.read([path], "run")
        except ReadError:
            return None
