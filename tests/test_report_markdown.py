"""report.md / --format markdown: content, rule links, and escaping of everything that comes from a log."""
from __future__ import annotations

import re

import pytest

from losslint.errors import ReadError
from losslint.report import ReportOptions, available_formats, render
from losslint.report.markdown import document, escape

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
    cut = document(many, [ReadError("bad.jsonl", "not JSON")], OPTIONS, max_bytes=limit)
    assert len(cut.encode("utf-8")) <= limit
    assert len(_table_rows(cut)) == len(many) + 2  # the table stays whole
    assert "the one that matters" in cut  # the failing run's section is kept first
    assert "run section(s) left out" in cut
    assert "## Errors" in cut and "bad.jsonl" in cut
    tiny = document(many, [], OPTIONS, max_bytes=2000)
    assert len(tiny.encode("utf-8")) <= 2000 and "Table cut to" in tiny


def test_run_section_lists_where_baseline_callbacks_would_stop(tmp_path):
    result = result_for(_run(tmp_path), "overfitting", [finding(step=300)], best=200, stop=300)
    result.early_stop.baselines["hf_patience_1"] = {"stop_step": 250, "saved_fraction": 0.5}
    md = render("markdown", [result], [], OPTIONS)
    assert "recommended stop at step 300" in md
    assert "| hf\\_patience\\_3 | 300 | — |" in md
    assert "| keras\\_patience\\_5 | end of run | — |" in md
    assert "| hf\\_patience\\_1 | 250 | 50% |" in md
