"""The report directory: report.md + one PNG per run + overview.png, links that resolve, names that cannot escape."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from losslint.errors import ReadError
from losslint.report import ReportOptions, write_report
from losslint.report.bundle import MAX_STEM, safe_stem, unique_stems
from losslint.report.markdown import GITHUB_COMMENT_LIMIT
from report_support import descending, finding, load_runs, realworld, result_for, write_jsonl_run

SAFE_FILE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
MD_LINK = re.compile(r"\]\(([^)\s]+)\)")


def local_links(md: str) -> list[str]:
    return [t for t in MD_LINK.findall(md) if not re.match(r"^[a-z]+://|^#", t)]


def _small_run(tmp_path, name):
    write_jsonl_run(tmp_path / "logs", name, descending(40), val=descending(4, seed=4))
    run = load_runs(tmp_path / "logs" / name)[0][0]
    return run


def test_report_for_real_runs_links_only_files_that_exist(tmp_path):
    runs, errors = load_runs(realworld("trainer_state/cpt-rouge-summarization"),
                             realworld("keras_csv/tomato-leaf-cnn"), realworld("jsonl/detectron2-fruit"))
    assert len(runs) == 3 and not errors
    results = [result_for(r, "good-fit") for r in runs]
    results[0] = result_for(runs[0], "overfitting", [finding(step=int(runs[0].data["step"].max()))],
                            best=int(runs[0].data["step"].median()), stop=int(runs[0].data["step"].quantile(0.7)))
    out = tmp_path / "report"
    report = write_report(results, [ReadError("logs/broken.jsonl", "not JSON", line=3)], out, ReportOptions())
    assert report == out / "report.md"
    md = report.read_text(encoding="utf-8")
    links = local_links(md)
    images = [p for p in links if p.endswith(".png")]
    assert len(images) == len(results) + 1  # one per run + the overview
    for link in links:
        target = (out / link).resolve()
        assert target.is_file(), link
        assert target.parent == out.resolve()
    assert sorted(p.name for p in out.iterdir()) == sorted({*images, "report.md", "comment.md"})
    assert "## Errors" in md and "logs/broken.jsonl:3" in md
    # under the limit, comment.md is report.md less the images, with one line saying where the plots are
    comment = (out / "comment.md").read_text(encoding="utf-8")
    assert not local_links(comment) and "![" not in comment
    assert "PNGs next to report.md in the report directory (the CI artifact)" in comment
    image_lines = [line for line in md.splitlines() if line.startswith("![")]
    assert len(image_lines) == len(images)
    assert [ln for ln in md.splitlines() if ln and ln not in image_lines] == \
        [ln for ln in comment.splitlines() if ln and "the CI artifact" not in ln]


def test_a_single_run_gets_its_png_and_no_overview(tmp_path):
    out = tmp_path / "r"
    write_report([result_for(_small_run(tmp_path, "only"))], [], out, ReportOptions())
    assert sorted(p.name for p in out.iterdir()) == ["comment.md", "only.png", "report.md"]


def test_run_names_cannot_write_outside_the_report_directory(tmp_path):
    hostile = ["../../etc/x", "/etc/passwd", "..", ".", "a/../../b", "C:\\Windows\\x", "a|b<script>`c", "", "\x00x"]
    base = _small_run(tmp_path, "base")
    results = []
    for name in hostile:
        r = result_for(base)
        r.run = type(base)(name=name, format=base.format, sources=base.sources, data=base.data)
        results.append(r)
    out = tmp_path / "deep" / "report"
    before = {p for p in tmp_path.rglob("*")}
    write_report(results, [], out, ReportOptions())
    created = {p for p in tmp_path.rglob("*")} - before
    assert all(out.resolve() in (p.resolve(), *p.resolve().parents) or p.resolve() in out.resolve().parents
               for p in created), created
    pngs = [p for p in out.iterdir() if p.suffix == ".png" and p.name != "overview.png"]
    assert len(pngs) == len(hostile)
    assert all(SAFE_FILE.match(p.name) for p in pngs)


def test_colliding_names_get_distinct_files():
    stems = unique_stems(["a/b", "a__b", "A__B", "a?b", "a_b", "overview", "report", "comment"])
    assert len({s.lower() for s in stems}) == len(stems)
    assert stems[0] == "a__b" and stems[1] == "a__b-2"
    assert "overview" not in stems and "report" not in stems and "comment" not in stems


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=300))
def test_safe_stem_is_always_a_plain_file_name(name):
    stem = safe_stem(name)
    assert SAFE_FILE.match(stem)
    assert len(stem) <= MAX_STEM
    assert (Path("/r") / f"{stem}.png").parent == Path("/r")


def test_long_names_stay_distinct():
    a, b = "x" * 300 + "1", "x" * 300 + "2"
    assert safe_stem(a) != safe_stem(b)


def test_report_command_writes_the_directory(tmp_path):
    pytest.importorskip("losslint.engine")
    from click.testing import CliRunner

    from losslint.cli import main

    write_jsonl_run(tmp_path / "runs", "clean", descending(100), val=descending(10, seed=1))
    out = tmp_path / "rep"
    result = CliRunner().invoke(main, ["report", str(tmp_path / "runs"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "clean" in md
    assert all((out / link).is_file() for link in local_links(md))


def test_engine_results_make_a_full_report(tmp_path, monkeypatch):
    engine = pytest.importorskip("losslint.engine")
    monkeypatch.chdir(tmp_path)
    write_jsonl_run(tmp_path / "runs", "diverging", descending(150) + [float("nan")] * 5, val=descending(15, seed=2))
    viz = realworld("trainer_state/trainer-state-viz-example")
    results, errors = engine.check_paths(["runs", viz], jobs=1)
    assert not errors and len(results) == 2
    by_name = {r.run.name: r for r in results}  # two arguments: each run's name starts with its argument
    assert by_name["runs/diverging"].verdict == "diverged"  # the curve ends in NaN: any sane engine says so
    out = tmp_path / "report"
    md = write_report(results, errors, out, ReportOptions()).read_text(encoding="utf-8")
    row = next(line for line in md.splitlines() if line.startswith("| [runs/diverging]"))
    assert "diverged" in row
    for link in local_links(md):
        assert (out / link).is_file(), link
    for result in results:
        if result.recommended_stop_step is not None:
            assert f"recommended stop at step {result.recommended_stop_step}" in md


def test_check_report_option_writes_the_report_and_keeps_the_exit_code(tmp_path, monkeypatch):
    pytest.importorskip("losslint.engine")
    from click.testing import CliRunner

    from losslint.cli import main

    monkeypatch.chdir(tmp_path)
    write_jsonl_run(tmp_path / "runs", "diverging", descending(150) + [float("nan")] * 5, val=descending(15, seed=2))
    result = CliRunner().invoke(main, ["check", "runs", "--report", "rep", "--format", "github", "-j", "1"])
    assert result.exit_code == 1, result.output
    assert "::error file=runs/diverging/metrics.jsonl" in result.output
    assert (tmp_path / "rep" / "report.md").is_file() and (tmp_path / "rep" / "diverging.png").is_file()


def test_plots_drawn_in_worker_processes_are_the_same_files(tmp_path):
    runs = [_small_run(tmp_path, f"r{i}") for i in range(3)]
    results = [result_for(r, "good-fit", [finding(step=100)], best=100, stop=200) for r in runs]
    serial = write_report(results, [], tmp_path / "serial", ReportOptions()).parent
    parallel = write_report(results, [], tmp_path / "parallel", ReportOptions(), jobs=2).parent
    names = sorted(p.name for p in serial.iterdir())
    assert names == sorted(p.name for p in parallel.iterdir())
    assert (serial / "report.md").read_text() == (parallel / "report.md").read_text()
    for name in names:
        if name.endswith(".png"):
            # same drawing code, same data: the pixels match (file bytes may differ only by compression)
            import numpy as np
            from matplotlib import image as mpimg
            assert np.array_equal(mpimg.imread(serial / name), mpimg.imread(parallel / name)), name


FIXTURE_RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "runs"


def test_report_for_the_fine_tune_fixtures(tmp_path):
    """The fine-tune script's real runs (one per scenario): every plot a valid, non-blank image."""
    engine = pytest.importorskip("losslint.engine")
    if not FIXTURE_RUNS.is_dir() or not any(FIXTURE_RUNS.iterdir()):
        pytest.skip("fixtures/runs not generated yet")
    from test_report_png import assert_good_png

    results, errors = engine.check_paths([FIXTURE_RUNS], jobs=1)
    assert results and not errors
    out = tmp_path / "fixtures-report"
    md = write_report(results, errors, out, ReportOptions()).read_text(encoding="utf-8")
    images = [link for link in local_links(md) if link.endswith(".png") and link != "overview.png"]
    assert len(images) == len(results)
    for link in images:
        assert_good_png(out / link)


def test_a_report_with_only_unreadable_inputs(tmp_path):
    out = tmp_path / "r"
    report = write_report([], [ReadError("runs/x/events.out.tfevents.1", "this is a Git LFS pointer")], out,
                          ReportOptions())
    assert sorted(p.name for p in out.iterdir()) == ["comment.md", "report.md"]
    md = report.read_text(encoding="utf-8")
    assert "**0** run(s) checked" in md and "this is a Git LFS pointer" in md and "| Run |" not in md


def test_comment_md_of_a_big_report_fits_a_github_pr_comment(tmp_path):
    """Three runs whose findings make report.md far longer than GitHub takes as a comment (65,536 characters):
    report.md stays whole (a file has no limit); comment.md is cut, the failing run's section kept."""
    names = ["lr-sweep/élan-λ0.1", "lr-sweep/baseline-é", "lr-sweep/diverged-ü"]
    runs = [_small_run(tmp_path, f"r{i}") for i in range(3)]
    chatty = [finding(severity="info", step=10 * k, message=f"plateau {k} — " + "é" * 600) for k in range(60)]
    results = [result_for(type(run)(name=name, format=run.format, sources=run.sources, data=run.data),
                          "good-fit", chatty, best=100, stop=200) for run, name in zip(runs, names)]
    results[2] = result_for(results[2].run, "diverged", [finding(code="I301", severity="error", step=300,
                                                                 message="training loss became NaN 💥")] + chatty)
    out = tmp_path / "big"
    md = write_report(results, [], out, ReportOptions()).read_text(encoding="utf-8")
    assert len(md) > 2 * GITHUB_COMMENT_LIMIT and md.count("### ") == 3  # whole, three sections
    assert len(local_links(md)) == 4  # three run PNGs and the overview
    comment = (out / "comment.md").read_text(encoding="utf-8")
    assert len(comment) <= GITHUB_COMMENT_LIMIT and len(comment.encode("utf-16-le")) // 2 <= GITHUB_COMMENT_LIMIT
    assert len(comment.encode("utf-8")) > GITHUB_COMMENT_LIMIT  # counted in characters: bytes would cut more
    assert "### lr-sweep/diverged-ü" in comment and "training loss became NaN 💥" in comment
    assert comment.count("### ") < 3
    assert "run section(s) left out to fit a GitHub PR comment; report.md in the report artifact has them all" \
        in comment
    # every run keeps its table row; a row links to its section only when the section is there
    kept = [name for name in names if f"### {name}" in comment]
    assert kept and all(f"| [{name}](#run-" in comment for name in kept)
    assert all(f"| {name} |" in comment for name in names if name not in kept)
    assert not local_links(comment) and "![" not in comment


def test_check_workers_draw_the_plots_and_the_report_moves_them(tmp_path, monkeypatch):
    """`check --report --jobs N`: each run's PNG is drawn by the worker that checked it; the report only moves the
    files to their names (it draws nothing again) and leaves no temporary file behind."""
    engine = pytest.importorskip("losslint.engine")
    from losslint.report import png

    monkeypatch.chdir(tmp_path)
    for name in ("a", "b", "c"):
        write_jsonl_run(tmp_path / "runs", name, descending(80, seed=len(name)), val=descending(8, seed=2))
    out = tmp_path / "report"
    out.mkdir()
    from losslint.report.bundle import WorkerPlots

    results, errors = engine.check_paths(["runs"], jobs=2, after=WorkerPlots(str(out), 0.05))
    assert not errors and all(r.plot and Path(r.plot).is_file() for r in results)

    def no_redraw(*_args, **_kwargs):
        raise AssertionError("the report drew a plot that a worker had drawn")

    monkeypatch.setattr(png, "write_run_png", no_redraw)
    write_report(results, errors, out, ReportOptions(), jobs=1)
    assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "b.png", "c.png", "overview.png"]
    assert not list(out.glob(".losslint-plot-*"))


def test_report_and_check_take_a_smoothing_share(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from losslint.cli import main

    monkeypatch.chdir(tmp_path)
    write_jsonl_run(tmp_path / "runs", "r", descending(200, noise=0.2), val=descending(10, seed=1))
    for args in (["check", "runs", "--report", "rep1", "--smoothing", "0"],
                 ["report", "runs", "-o", "rep2", "--smoothing", "0.1", "-j", "2"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code in (0, 1), result.output
    assert (tmp_path / "rep1" / "r.png").is_file() and (tmp_path / "rep2" / "r.png").is_file()
    bad = CliRunner().invoke(main, ["report", "runs", "-o", "rep3", "--smoothing", "0.9"])
    assert bad.exit_code == 2 and "smoothing" in bad.output
