"""The wheel ships what an installed losslint needs: the presets of rules/ (as package data) and the console script."""
from __future__ import annotations

import re
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
        for source in sorted((ROOT / "losslint").rglob("*.py")):  # every module, sub-packages included
            shipped = source.relative_to(ROOT).as_posix()
            assert shipped in names, shipped
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "losslint = losslint.cli:main" in archive.read(entry_points).decode()
    assert {"default.toml", "strict.toml", "relaxed.toml"} <= {p.name for p in (ROOT / "rules").glob("*.toml")}


def test_every_package_directory_is_listed_for_the_wheel():
    """`[tool.setuptools] packages` is an explicit list: a sub-package missing from it (say `losslint.io.wandb`)
    works from a checkout and is absent from the installed wheel."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "losslint").rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)
    assert listed - found == {"losslint._rules"}  # presets, mapped from rules/ by package-dir


# --- install docs: a real tag, never the unrelated PyPI project ----------------------------------------------------

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / ".pre-commit-hooks.yaml"]


def _pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def project_version() -> str:
    return _pyproject()["project"]["version"]


def test_the_package_version_is_the_project_version():
    import losslint

    assert losslint.__version__ == project_version()


def test_documented_rev_and_install_tag_are_v_plus_the_version():
    """The pre-commit `rev:` and the `git+...@<tag>` install lines name the tag of the current version, `v<version>`
    (an annotated tag the release commit gets); bump them with the version."""
    tag = "v" + project_version()
    revs, refs = [], []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        revs += [(doc.name, rev) for rev in re.findall(r"^\s*#?\s*rev:\s*(\S+)", text, re.MULTILINE)]
        refs += [(doc.name, ref) for ref in re.findall(r"losslint @ git\+\S+?@([\w.+-]+)", text)]
    assert {name for name, _ in revs} >= {"README.md", "ci.md", ".pre-commit-hooks.yaml"}
    assert {name for name, _ in refs} >= {"README.md", "ci.md"}
    assert [(name, rev) for name, rev in revs if rev != tag] == []
    assert [(name, ref) for name, ref in refs if ref != tag] == []


def test_docs_never_install_the_unrelated_pypi_project():
    # `losslint @ git+...` and `losslint[s3] @ git+...` (extras, then a direct reference) are the repository
    bare = re.compile(r"pip install\s+[\"']?losslint(?!(?:\[[\w,-]*\])?[\w-]*\s*@)(?=[\s\"'\[=<>~]|$)",
                      re.MULTILINE)
    for doc in DOCS:
        assert not bare.search(doc.read_text(encoding="utf-8")), doc.name


def test_the_readme_first_screen_says_how_to_point_it_at_your_own_logs():
    first_screen = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:40])
    for where in ("output_dir", "wandb/", "TensorBoard logdir", "mlruns/", "mlflow.db", "git+"):
        assert where in first_screen, where
