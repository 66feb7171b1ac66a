"""Shared test helpers. Where the real-world corpus lives: `../shared/realworld` beside the checkout (as on CI), or
$LOSSLINT_REALWORLD. Tests that use it skip when it is absent; the logs are never copied into the repository."""
import hashlib
import os
from pathlib import Path

import pytest

REALWORLD = Path(os.environ.get("LOSSLINT_REALWORLD", Path(__file__).resolve().parents[2] / "shared" / "realworld"))


def realworld(path: Path) -> Path:
    """`path` inside the corpus, or skip the test when it is not there."""
    if not path.exists():
        pytest.skip(f"real-world data not present: {path}")
    return path


def digests(paths) -> dict[str, str]:
    """SHA-256 of each file, to show that reading left the inputs byte-for-byte unchanged."""
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def tree_digests(root: Path) -> dict[str, str]:
    return digests(sorted(p for p in Path(root).rglob("*") if p.is_file()))
