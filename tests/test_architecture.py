"""ARCHITECTURE.md stays true: the import table between rooms, and the steps for adding a rule or a reader
(every module registered and documented; a new rule or reader needs nothing beyond the listed places)."""
from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
import types
import typing
from pathlib import Path

import numpy as np
import pytest

import losslint
from losslint import checks, io
from losslint.checks import RULE_MODULES, all_rules
from losslint.checks._common import emit
from losslint.config import Config
from losslint.engine import check_paths, check_runs
from losslint.io.base import Reader
from losslint.metrics import TRAIN_LOSS
from losslint.schema import Run, frame_from_columns
from losslint.view import RunView

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "losslint"

EVERYTHING = {"metrics", "errors", "textsafe", "schema", "findings", "analysis", "io", "discover", "view", "checks",
              "early_stop", "verdict", "config", "progress", "engine", "watch", "report", "cli"}
# room -> the rooms its modules may import (ARCHITECTURE.md, "The rooms and what each may import")
ALLOWED = {
    "metrics": set(),
    "errors": {"textsafe"},
    "textsafe": set(),
    "schema": {"metrics"},
    "findings": {"schema"},
    "analysis": set(),
    "io": {"errors", "metrics", "schema"},
    "discover": {"errors", "io", "schema", "textsafe"},
    "view": {"analysis", "metrics", "schema"},
    "checks": {"analysis", "findings", "metrics", "schema", "view"},
    "early_stop": {"analysis", "findings", "metrics", "view"},
    "verdict": {"findings"},
    "config": {"checks", "early_stop", "errors", "findings", "metrics", "losslint"},  # `losslint`: presets_dir
    "progress": set(),
    "engine": EVERYTHING - {"report", "cli", "engine", "watch"},
    "watch": EVERYTHING - {"report", "cli", "watch"},
    "report": {"analysis", "errors", "findings", "metrics", "progress", "schema", "textsafe", "checks"},
    "cli": EVERYTHING,
    "losslint": {"discover", "engine", "errors", "findings", "schema"},  # the package's own __init__ (the Python API)
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported losslint module, names imported from it) for every import in the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            if not node.module:  # `from . import x`: x may be a module
                found.extend((f"{target}.{n}", []) for n in names)
            else:
                found.append((target, names))
        elif isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names)
    return [(t, n) for t, n in found if t == "losslint" or t.startswith("losslint.")]


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "losslint"


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_listed_room():
    assert {_room(_module_name(p)) for p in SOURCES} <= set(ALLOWED)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_room_table(path):
    room = _room(_module_name(path))
    for target, names in _imports(path):
        other = _room(target)
        if other == room or target == "losslint._rules":
            continue
        assert other in ALLOWED[room], f"{path.relative_to(ROOT)} imports {target}: {room} may not import {other}"
        if room == "report" and other == "checks":
            # reporters read the registry's rule metadata; they never import a rule module or run rules
            assert target == "losslint.checks" and names == ["all_rules"], (path, target, names)


def test_the_table_in_architecture_md_is_the_tested_one():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for room in ALLOWED:
        if room != "losslint":
            assert re.search(rf"^\| `{room}(\.py|/)` \|", text, re.M), room


# -- adding a rule --------------------------------------------------------------------------------------------
RULE_FILE = re.compile(r"^[a-z]\d{3}_[a-z0-9_]+\.py$")


def test_every_rule_module_is_registered_documented_and_annotated():
    files = sorted(p.stem for p in (PACKAGE / "checks").glob("*.py") if RULE_FILE.match(p.name))
    assert sorted(RULE_MODULES) == files  # step 2: registered (and nothing registered that is not there)
    index = (ROOT / "docs" / "rules" / "README.md").read_text(encoding="utf-8")
    for module_name in RULE_MODULES:
        module = importlib.import_module(f"losslint.checks.{module_name}")
        assert module_name.startswith(module.CODE.lower() + "_")  # step 1: the file is named after its code
        assert (module.__doc__ or "").strip(), module_name
        hints = typing.get_type_hints(module.check)
        assert set(hints) == {"view", "params", "return"}, module_name
        assert hints["view"] is RunView
        assert (ROOT / "docs" / "rules" / f"{module.CODE}.md").is_file()  # step 3
        assert f"[{module.CODE}]({module.CODE}.md)" in index


def test_a_new_rule_needs_only_its_module_and_the_registry(monkeypatch):
    """Steps 1 and 2 are all the engine needs: a rule module registered in RULE_MODULES runs."""
    module = types.ModuleType("losslint.checks.d901_example")
    module.__doc__ = "Example: fires once on any training loss."
    module.CODE, module.NAME, module.CATEGORY = "D901", "example", "integrity"
    module.DEFAULT_SEVERITY, module.DEFAULTS = "info", {}

    def check(view, params):
        if view.train_loss is not None:
            yield emit(module.__name__, params, view.train_loss.metric, None, "seen")

    module.check = check
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(checks, "RULE_MODULES", (*RULE_MODULES, "d901_example"))
    monkeypatch.setattr(checks, "_RULES", None)
    steps = np.arange(20)
    run = Run(name="r", format="jsonl", sources=[], data=frame_from_columns(
        np.full(20, TRAIN_LOSS, dtype=object), steps, np.linspace(2.0, 1.0, 20), np.full(20, np.nan),
        np.full(20, np.nan), np.full(20, "loss", dtype=object)))
    (result,) = check_runs([run], Config())  # select = ALL
    assert [f.code for f in result.findings if f.code == "D901"] == ["D901"]
    monkeypatch.setattr(checks, "_RULES", None)


def test_a_missing_registered_module_is_an_import_error(monkeypatch):
    monkeypatch.setattr(io, "READER_MODULES", (*io.READER_MODULES, "no_such_format"))
    with pytest.raises(ImportError):
        io.readers()
    monkeypatch.setattr(checks, "RULE_MODULES", (*RULE_MODULES, "x999_no_such_rule"))
    monkeypatch.setattr(checks, "_RULES", None)
    with pytest.raises(ImportError):
        all_rules()
    monkeypatch.setattr(checks, "_RULES", None)


# -- adding a reader ------------------------------------------------------------------------------------------
def _defines_reader(path: Path) -> bool:
    return bool(re.search(r"^READER = ", path.read_text(encoding="utf-8"), re.M))


def test_every_reader_module_is_registered_and_a_reader():
    # step 1: `io/<format>.py`, or a sub-package `io/<format>/` whose `reader.py` defines READER (decoder beside it)
    modules = [p.stem for p in (PACKAGE / "io").glob("*.py") if _defines_reader(p)]
    packages = [p.parent.name for p in (PACKAGE / "io").glob("*/reader.py") if _defines_reader(p)]
    assert sorted(io.READER_MODULES) == sorted(modules + packages)
    for name in packages:  # the package exports its reader module's READER, which the registry imports
        package = importlib.import_module(f"losslint.io.{name}")
        assert package.READER is importlib.import_module(f"losslint.io.{name}.reader").READER, name
    readers = io.readers()
    assert all(isinstance(r, Reader) for r in readers)
    assert len({r.format for r in readers}) == len(readers)
    assert len({r.priority for r in readers}) == len(readers)
    for reader in readers:
        assert "options" in inspect.signature(reader.read).parameters, reader.format


class _ToyReader(Reader):
    """`*.toy` files: one `step value` pair a line, the training loss."""

    format = "toy"
    priority = 90

    def can_read(self, path: Path) -> bool:
        return path.suffix == ".toy"

    def run_key(self, path: Path) -> Path:
        return path.parent

    def read(self, paths, name, aliases=None, *, options=None):
        rows = [line.split() for p in paths for line in Path(p).read_text().splitlines() if line.strip()]
        steps = np.array([int(s) for s, _ in rows])
        n = len(rows)
        data = frame_from_columns(np.full(n, TRAIN_LOSS, dtype=object), steps, np.array([float(v) for _, v in rows]),
                                  np.full(n, np.nan), np.full(n, np.nan), np.full(n, "loss", dtype=object))
        return [Run(name=name, format=self.format, sources=[str(p) for p in paths], data=data)]


def test_a_new_reader_needs_only_its_module_and_the_registry(tmp_path, monkeypatch):
    """Steps 1 and 2 are all discovery and the engine need: the optional hooks have working defaults."""
    module = types.ModuleType("losslint.io.toy")
    module.READER = _ToyReader()
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(io, "READER_MODULES", (*io.READER_MODULES, "toy"))
    (tmp_path / "run1").mkdir()
    (tmp_path / "run1" / "log.toy").write_text("".join(f"{i} {2.0 / (i + 1)}\n" for i in range(30)))
    results, errors = check_paths(tmp_path, jobs=1)
    assert errors == [] and [(r.run.name, r.run.format) for r in results] == [("run1", "toy")]


def test_the_package_exports_still_import():
    assert losslint.check and losslint.load
