"""The callbacks import their frameworks lazily: `import losslint` (and the CLI) never imports one, and a callback
module whose framework is missing says which extra to install."""
from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys

import pytest

FRAMEWORKS = ("transformers", "lightning", "pytorch_lightning", "keras", "torch")


def test_importing_losslint_imports_no_framework():
    code = ("import sys, losslint, losslint.engine, losslint.cli, losslint.integrations\n"
            f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("module, extra, framework", [("hf", "hf", "transformers"),
                                                      ("lightning", "lightning", "lightning"),
                                                      ("keras", "keras", "keras")])
def test_a_missing_framework_names_the_extra(monkeypatch, module, extra, framework):
    real = importlib.util.find_spec
    hidden = {framework, "pytorch_lightning"} if framework == "lightning" else {framework}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in hidden else real(name, *a))
    monkeypatch.delitem(sys.modules, f"losslint.integrations.{module}", raising=False)
    with pytest.raises(ImportError, match=rf"`{extra}` extra, pip install \"losslint\[{extra}\] @ git\+"):
        importlib.import_module(f"losslint.integrations.{module}")
    monkeypatch.delitem(sys.modules, f"losslint.integrations.{module}", raising=False)


def test_stop_on_is_checked():
    from losslint.errors import ConfigError
    from losslint.integrations._live import LiveCheck

    with pytest.raises(ConfigError, match="stop_on"):
        LiveCheck(stop_on="warn")
