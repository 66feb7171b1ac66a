"""report.md / --format markdown: content, rule links, and escaping of everything that comes from a log."""
from __future__ import annotations

import re
from dataclasses import replace

import pytest

from losslint.errors import ReadError
from losslint.report import MARKDOWN_LIMITS, ReportOptions, available_formats, render
from losslint.report.markdown import GITHUB_COMMENT_LIMIT, LIMITS, Limit, document, escape
from report_support import descending, finding, load_runs, realworld, result_for, write_jsonl_run

HOSTILE = "a|b<script>`c"
OPTIONS = ReportOptions(rule_doc_base="https://example.org/rules/")
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def _run(tmp_path, name="clean"):
    write_jsonl_run(tmp_path, name, descending(60), val=descending(6, seed=1))
    runs, errors = load_runs(tmp_path / name)
    assert not errors
    run = runs[0]
    run.name = name
    return run


def _table_rows(md: str) -> list[str]:
    """The summary table (the per-run sections hold other tables)."""
    return [line for line in md.split("## Runs", 1)[0].splitlines() if line.startswith("|")]


def test_every_format_the_cli_can_offer_is_importable():
    assert set(available_formats()) >= {"text", "json", "markdown", "github", "junit", "sarif"}


def test_summary_table_has_one_row_per_run_with_the_early_stop_numbers(tmp_path):
    run = _run(tmp_path)
    steps = sorted(run.data["step"].unique())
    result = result_for(run, "overfitting", [finding(step=300), finding(code="D004", severity="info", name="too-few")],
                        best=200, stop=300)
    md = render("markdown", [result], [], OPTIONS)
    rows = _table_rows(md)
    assert len(rows) == 3  # header, separator, the run
    cells = [c.strip() for c in UNESCAPED_PIPE.split(rows[2])[1:-1]]
    assert cells[0].endswith("clean](#run-1)")
    assert "overfitting" in cells[1]
    assert cells[2:4] == ["200", "300"]
    saved = sum(s > 300 for s in steps) / len(steps)
    assert cells[4] == f"{saved:.0%}"
    assert cells[5:] == ["0", "1", "1"]  # errors, warnings, info


def test_findings_link_their_rule_documentation(tmp_path):
    result = result_for(_run(tmp_path), "overfitting", [finding(code="O101", step=120)])
    md = render("markdown", [result], [], OPTIONS)
    assert "[O101](https://example.org/rules/O101.md)" in md
    assert "step 120" in md


def test_hostile_run_name_cannot_break_the_table_or_inject_html(tmp_path):
    run = _run(tmp_path)
    run.name = HOSTILE
    hostile_message = "bad | value\n<img src=x onerror=alert(1)> [x](http://evil)"
    result = result_for(run, "diverged", [finding(message=hostile_message)])
    md = render("markdown", [result], [ReadError(f"{HOSTILE}/x.jsonl", "broken `line`\n| x |", line=2)], OPTIONS)
    header, _sep, row = _table_rows(md)
    assert len(UNESCAPED_PIPE.findall(row)) == len(UNESCAPED_PIPE.findall(header)) == 9
    assert "<script" not in md and "<img" not in md
    assert not re.search(r"(?<!\\)\]\(http://evil", md), "a message must not become a link"
    assert not re.search(r"(?<!\\)`", md.replace("`warning`", "")), "no code span may open from log text"
    # the message's newline must not start a new Markdown line (a new table row or list item)
    assert not any(line.startswith("<img") or line.startswith("| x |") for line in md.splitlines())


def test_hostile_text_renders_as_the_literal_text(tmp_path):
    markdown_it = pytest.importorskip("markdown_it")
    run = _run(tmp_path)
    run.name = HOSTILE
    result = result_for(run, "diverged", [finding(message="x <b>bold</b> *em* [l](http://evil) | y")])
    md = render("markdown", [result], [], OPTIONS)
    parser = markdown_it.MarkdownIt("commonmark").enable("table")
    tokens = parser.parse(md)
    html_tokens = [t for t in tokens if t.type.startswith("html")]
    inline_html = [c for t in tokens if t.children for c in t.children if c.type.startswith("html")]
    # the only raw HTML is the report's own: section anchors and the collapsible baselines table
    own = re.compile(r'^(?:<a id="run-\d+">|</a>|<details>|<summary>[^<]*|</summary>|</details>|\s)+$')
    assert all(own.match(t.content) for t in html_tokens + inline_html), [t.content for t in html_tokens + inline_html]
    links = [c.attrs.get("href") for t in tokens if t.children for c in t.children if c.type == "link_open"]
    assert "http://evil" not in links
    cells = [t for t in tokens if t.type == "td_open"]
    assert len(cells) == 8  # one body row of eight columns
    html = parser.render(md)
    assert "a|b&lt;script&gt;`c" in html
    assert "x &lt;b&gt;bold&lt;/b&gt; *em* [l](http://evil) | y" in html


@pytest.mark.parametrize("text", ["a|b", "x\ny", "`rm -rf`", "[a](b)", "<b>", "50%", "tab\there", "\\|"])
def test_escape_never_leaves_an_active_character(text):
    out = escape(text)
    assert "\n" not in out and "<" not in out and ">" not in out
    assert not UNESCAPED_PIPE.search(out)
    assert not re.search(r"(?<!\\)[`\[\]]", out)


def test_an_at_sign_in_a_run_name_mentions_nobody():
    out = escape("sweeps/@ml-team run")
    assert "@ml-team" not in out and "@&#8203;ml-team" in out
    markdown_it = pytest.importorskip("markdown_it")
    assert "sweeps/@\u200bml-team run" in markdown_it.MarkdownIt().render(out)  # reads as the name, mentions nobody


def test_unreadable_inputs_are_listed_in_an_errors_section(tmp_path):
    md = document([result_for(_run(tmp_path))], [ReadError("logs/bad.jsonl", "not JSON", line=7)], OPTIONS)
    section = md.split("## Errors", 1)[1]
    assert "logs/bad.jsonl:7: not JSON" in section


def test_real_runs_with_task_metrics(tmp_path):
    runs, errors = load_runs(realworld("trainer_state/cpt-rouge-summarization"),
                             realworld("trainer_state/whisper-tiny-nob-resumed"))
    assert not errors and len(runs) == 2
    results = [result_for(r, "good-fit") for r in runs]
    md = render("markdown", results, [], OPTIONS)
    assert len(_table_rows(md)) == 4
    for run in runs:
        assert f"### {escape(run.name)}" in md


def test_a_huge_report_is_cut_to_fit_a_github_job_summary(tmp_path):
    run = _run(tmp_path)
    many = [result_for(run, "good-fit", [finding(severity="info", message="x" * 400)] * 5) for _ in range(30)]
    many[17] = result_for(run, "diverged", [finding(severity="error", message="the one that matters")])
    full = document(many, [ReadError("bad.jsonl", "not JSON")], OPTIONS)
    limit = len(full.encode("utf-8")) // 3
    summary = Limit(limit, "bytes", "a GitHub job summary")
    cut = document(many, [ReadError("bad.jsonl", "not JSON")], OPTIONS, limit=summary)
    assert len(cut.encode("utf-8")) <= limit
    assert len(_table_rows(cut)) == len(many) + 2  # the table stays whole
    assert "the one that matters" in cut  # the failing run's section is kept first
    assert "run section(s) left out to fit a GitHub job summary" in cut
    assert "## Errors" in cut and "bad.jsonl" in cut
    tiny = document(many, [], OPTIONS, limit=replace(summary, size=2000))
    assert len(tiny.encode("utf-8")) <= 2000 and "to fit a GitHub job summary" in tiny
    assert re.search(r"Table cut to \d+ of 30 runs", tiny)


def test_run_section_lists_where_baseline_callbacks_would_stop(tmp_path):
    result = result_for(_run(tmp_path), "overfitting", [finding(step=300)], best=200, stop=300)
    result.early_stop.baselines["hf_patience_1"] = {"stop_step": 250, "saved_fraction": 0.5}
    result.early_stop.trigger = "rise"
    md = render("markdown", [result], [], OPTIONS)
    assert "recommended stop at step 300** (the metric rose after its best and stayed up)" in md
    assert "| hf\\_patience\\_3 | 300 | — |" in md
    assert "| keras\\_patience\\_5 | end of run | — |" in md
    assert "| hf\\_patience\\_1 | 250 | 50% |" in md


# --- fitting a GitHub PR comment (65,536 characters, not bytes) -------------------------------------------------

# 'é' is two UTF-8 bytes, '🚀' four bytes and two UTF-16 units: a report of such names has bytes != characters
NAME = "sweep/lr-é-{i:03d}-🚀"


def _sweep(tmp_path, n=80, failing=(57, 71)):
    """`n` runs of one real (JSONL-read) log under distinct non-ASCII names, each with five long info findings;
    the runs in `failing` diverged with an error besides. Sized so the whole report is well over 65,536
    characters, and every section about the same size (a failing run's is not small enough to slip in anyway)."""
    base = _run(tmp_path)
    chatty = [finding(severity="info", message="ü" * 300)] * 5
    results = []
    for i in range(n):
        run = replace(base, name=NAME.format(i=i))
        if i in failing:
            results.append(result_for(run, "diverged", [finding(code="I301", severity="error", step=100,
                                                                message=f"loss became NaN in run {i} ⚠")] + chatty))
        else:
            results.append(result_for(run, "good-fit", chatty, best=200, stop=300))
    return results


def _sections(md: str) -> list[str]:
    return re.findall(r"^### (.+)$", md, flags=re.MULTILINE)


def test_the_markdown_limit_choices_are_the_ones_the_reporter_knows():
    assert set(MARKDOWN_LIMITS) == set(LIMITS)
    assert LIMITS["comment"].unit == "characters" and LIMITS["comment"].size <= GITHUB_COMMENT_LIMIT == 65_536
    assert LIMITS["summary"].unit == "bytes" and LIMITS["none"] is None


def test_characters_are_counted_as_utf16_units_so_an_emoji_counts_twice():
    comment = LIMITS["comment"]
    assert comment.measure("abc") == 3
    assert comment.measure("é") == 1  # one code point, one unit (two UTF-8 bytes)
    assert comment.measure("🚀") == 2  # one code point, two UTF-16 units: fits either way GitHub counts
    assert LIMITS["summary"].measure("🚀") == 4


def test_a_sweep_report_is_cut_to_fit_a_github_pr_comment(tmp_path):
    results = _sweep(tmp_path)
    errors = [ReadError("runs/bad/metrics.jsonl", "not JSON", line=3)]
    full = document(results, errors, OPTIONS)
    assert len(full) > 2 * GITHUB_COMMENT_LIMIT  # the problem: GitHub would refuse this as a comment
    assert len(full.encode("utf-8")) > len(full)  # multi-byte text: bytes are not characters here

    cut = render("markdown", results, errors, replace(OPTIONS, markdown_limit="comment"))
    assert len(cut) <= GITHUB_COMMENT_LIMIT
    assert len(cut.encode("utf-16-le")) // 2 <= GITHUB_COMMENT_LIMIT
    # fitted in characters, not bytes: a byte budget of 65,536 would have kept less than this
    assert len(cut.encode("utf-8")) > GITHUB_COMMENT_LIMIT
    assert len(_table_rows(cut)) == len(results) + 2  # every run keeps its table row
    shown = _sections(cut)
    assert 2 < len(shown) < len(results)
    # the failing runs' sections come first, though they are late in the sweep; the rest in the original order
    assert escape(NAME.format(i=57)) in shown and escape(NAME.format(i=71)) in shown
    assert "loss became NaN in run 57 ⚠" in cut and "loss became NaN in run 71 ⚠" in cut
    assert shown == [s for s in _sections(full) if s in shown]
    assert f"_{len(results) - len(shown)} run section(s) left out to fit a GitHub PR comment;" in cut
    assert "job summary" not in cut
    assert "## Errors" in cut and "runs/bad/metrics.jsonl:3: not JSON" in cut


def test_the_job_summary_limit_keeps_todays_behaviour(tmp_path):
    results = _sweep(tmp_path, n=40)
    full = document(results, [], OPTIONS)
    assert GITHUB_COMMENT_LIMIT < len(full.encode("utf-8")) < LIMITS["summary"].size
    assert render("markdown", results, [], OPTIONS) == full  # the default: under 1 MiB, nothing is cut


def test_markdown_limit_none_gives_the_uncut_document(tmp_path):
    results = _sweep(tmp_path)
    uncut = render("markdown", results, [], replace(OPTIONS, markdown_limit="none"))
    assert uncut == document(results, [], OPTIONS)
    assert len(_sections(uncut)) == len(results) and "left out" not in uncut


def test_a_table_too_long_for_a_comment_is_cut_with_a_note(tmp_path):
    base = _run(tmp_path)
    long_name = "ablation-é-" + "🚀" * 60 + "-{i}"  # each table row ~ 200 characters
    failing = {450, 590}  # late in the table: kept only if failing runs go first
    results = [result_for(replace(base, name=long_name.format(i=i)), "good-fit") if i not in failing else
               result_for(replace(base, name=long_name.format(i=i)), "diverged",
                          [finding(code="I303", severity="error", step=100)]) for i in range(600)]
    cut = render("markdown", results, [], replace(OPTIONS, markdown_limit="comment"))
    assert len(cut) <= GITHUB_COMMENT_LIMIT and len(cut.encode("utf-16-le")) // 2 <= GITHUB_COMMENT_LIMIT
    kept = len(_table_rows(cut)) - 2
    assert 0 < kept < len(results)
    assert f"_Table cut to {kept} of {len(results)} runs (failing runs first) to fit a GitHub PR comment;" in cut
    assert all(f"-{i} |" in cut for i in failing)
    # no run section is left, so no row links to one
    assert not _sections(cut) and "](#run-" not in cut


def test_rows_link_only_to_the_sections_that_were_kept(tmp_path):
    results = _sweep(tmp_path)
    cut = render("markdown", results, [], replace(OPTIONS, markdown_limit="comment"))
    anchors = set(re.findall(r'<a id="(run-\d+)"></a>', cut))
    links = set(re.findall(r"\]\(#(run-\d+)\)", cut))
    assert 0 < len(anchors) < len(results)
    assert links == anchors  # every kept section is linked, and no row links to a section left out


def test_thousands_of_unreadable_inputs_still_fit_a_comment(tmp_path):
    errors = [ReadError(f"runs/é-{i}/events.out.tfevents.{i}", "this is a Git LFS pointer 🚫") for i in range(3000)]
    cut = render("markdown", [result_for(_run(tmp_path))], errors, replace(OPTIONS, markdown_limit="comment"))
    assert len(cut) <= GITHUB_COMMENT_LIMIT
    listed = re.findall(r"^- runs/é-\d+/", cut, flags=re.MULTILINE)
    assert 0 < len(listed) < len(errors)
    assert f"_{len(errors) - len(listed)} more unreadable input(s) left out to fit a GitHub PR comment;" in cut
    assert "**3000** unreadable input(s)" in cut  # the summary line still counts them all


def test_check_markdown_limit_option(tmp_path, monkeypatch):
    """`losslint check --format markdown --markdown-limit ...` through click, on the results of a big sweep (the
    engine's results replaced by the sweep: checking 80 real runs would take the engine far longer)."""
    from click.testing import CliRunner

    import losslint.engine
    from losslint.cli import main

    results = _sweep(tmp_path)
    monkeypatch.setattr(losslint.engine, "check_paths", lambda *args, **kwargs: (results, []))

    def check(*extra):
        out = CliRunner().invoke(main, ["check", str(tmp_path), "--format", "markdown", "-j", "1", *extra])
        assert out.exception is None or isinstance(out.exception, SystemExit), out.output
        assert out.exit_code == 1, out.output  # two runs of the sweep failed
        assert "Traceback" not in out.output
        return out.stdout

    comment = check("--markdown-limit", "comment")
    assert len(comment) <= GITHUB_COMMENT_LIMIT and "to fit a GitHub PR comment" in comment
    uncut = check("--markdown-limit", "none")
    assert len(uncut) > GITHUB_COMMENT_LIMIT and len(_sections(uncut)) == len(results)
    assert check() == uncut  # the default, the job summary's limit: this sweep is under 1 MiB
    bad = CliRunner().invoke(main, ["check", str(tmp_path), "--markdown-limit", "tweet"])
    assert bad.exit_code == 2 and "tweet" in bad.output


def test_any_limit_from_a_few_kilobytes_up_is_kept(tmp_path):
    """Whatever the size, whatever mix of failing runs, table rows and errors: the fitted text is within it."""
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    results = _sweep(tmp_path, n=30, failing=(3, 29))
    errors = [ReadError(f"runs/é-{i}/x.jsonl", "not JSON 🚫", line=i + 1) for i in range(60)]
    full = document(results, errors, OPTIONS)

    @hypothesis.settings(max_examples=60, deadline=None)
    @hypothesis.given(size=st.integers(min_value=1500, max_value=len(full) + 10),
                      unit=st.sampled_from(["bytes", "characters"]))
    def fits(size, unit):
        limit = Limit(size, unit, "a test limit")
        cut = document(results, errors, OPTIONS, limit=limit)
        assert limit.measure(cut) <= size
        if limit.measure(full) <= size:
            assert cut == full
        else:
            assert "to fit a test limit" in cut

    fits()


def test_a_convergence_stop_says_so(tmp_path):
    result = result_for(_run(tmp_path), "good-fit", [], best=200, stop=200)
    result.early_stop.trigger = "converged"
    assert "(converged: the later steps improved the metric by less than the tolerance)" in render(
        "markdown", [result], [], OPTIONS)
    assert "saves" in render("text", [result], [], OPTIONS) and "converged" in render("text", [result], [], OPTIONS)
