"""The wheel ships what an installed losslint needs: the presets of rules/ (as package data) and the console script."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_the_rule_presets(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    if built.returncode != 0 and "setuptools" in built.stderr:
        pytest.skip(f"cannot build without isolation here: {built.stderr.strip().splitlines()[-1]}")
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("losslint-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for preset in sorted((ROOT / "rules").glob("*.toml")):
            shipped = f"losslint/_rules/{preset.name}"
            assert shipped in names, shipped
            assert archive.read(shipped) == preset.read_bytes()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "losslint = losslint.cli:main" in archive.read(entry_points).decode()
    assert {"default.toml", "strict.toml", "relaxed.toml"} <= {p.name for p in (ROOT / "rules").glob("*.toml")}
