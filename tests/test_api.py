"""The Python API: `losslint.load`, `losslint.check`, what they return and how it prints."""
from __future__ import annotations

from pathlib import Path

import pytest

import losslint
from losslint.errors import ReadError
from report_support import descending, write_jsonl_run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runs"


def test_a_missing_path_raises_file_not_found(tmp_path):
    for call in (losslint.load, losslint.check):
        with pytest.raises(FileNotFoundError) as info:
            call(tmp_path / "no" / "such" / "path")
        assert info.value.filename == str(tmp_path / "no" / "such" / "path")
        with pytest.raises(FileNotFoundError):
            call([FIXTURES / "overfit" / "hf", tmp_path / "typo"])


def test_check_returns_a_report_that_still_works_as_a_list(tmp_path):
    write_jsonl_run(tmp_path / "runs", "clean", descending(60), val=descending(6, seed=1))
    bad = tmp_path / "runs" / "broken" / "metrics.jsonl"
    bad.parent.mkdir()
    bad.write_text('{"step": 1, "loss": 1.0}\nnot json\n{"step": 3, "loss": 0.5}\n')
    report = losslint.check(tmp_path / "runs")
    assert isinstance(report, losslint.Report) and isinstance(report, list)
    assert len(report) == 1 and report[0] is report.results[0] and [r for r in report] == report.results
    assert report[0].run.name == "clean" and report[0].verdict in {"good-fit", "underfitting"}
    assert len(report.errors) == 1 and isinstance(report.errors[0], ReadError)
    assert "broken" in report.errors[0].path and report.ok is False
    assert repr(report).startswith("Report(1 run(s): ") and "1 error(s)" in repr(report)


def test_load_returns_runs_with_their_errors(tmp_path):
    write_jsonl_run(tmp_path / "runs", "clean", descending(20))
    (tmp_path / "runs" / "x.jsonl").write_text("{bad\n{\"step\": 1}\n")
    runs = losslint.load(tmp_path / "runs")
    assert isinstance(runs, list) and [r.name for r in runs] == ["clean"]
    assert len(runs.errors) == 1 and runs.errors[0].line == 1


def test_reprs_are_one_short_line():
    report = losslint.check(FIXTURES / "overfit" / "hf")
    result, run = report[0], report[0].run
    for text in (repr(report), repr(result), repr(run), repr(losslint.load(FIXTURES / "overfit" / "hf"))):
        assert "\n" not in text and len(text) < 200, text
    assert repr(result) == (f"Result(run='hf', verdict='overfitting', findings={len(result.findings)}, stop=48, "
                            f"saved_fraction={round(result.saved_fraction, 3)})")
    assert repr(run).startswith("Run(name='hf', format='trainer_state', path=") and "points=" in repr(run)


def test_the_package_exports_only_its_api():
    assert set(losslint.__all__) == {"load", "check", "Run", "Runs", "Result", "Report", "Finding", "ReadError",
                                     "ConfigError", "__version__"}
    for name in losslint.__all__:
        assert hasattr(losslint, name), name
    import types

    # submodules, once imported, are attributes too; nothing else: no stray `os`, `Sequence` or `annotations`
    stray = [name for name in dir(losslint) if not name.startswith("_") and name not in losslint.__all__
             and not (isinstance(getattr(losslint, name), types.ModuleType)
                      and getattr(losslint, name).__name__ == f"losslint.{name}")]
    assert stray == []
