"""`--format markdown` and the report.md of `losslint report`: a summary table, then one section per run.

Written to read well as a GitHub job summary (`$GITHUB_STEP_SUMMARY`) and as a PR comment. Everything that comes
from a log (run names, tags, messages) is escaped: it can neither break a table nor inject HTML or links.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence
from urllib.parse import quote

from ..errors import ReadError
from ..findings import SEVERITIES, Result, severity_rank
from . import ReportOptions
from .locations import finding_position

VERDICT_ICONS = {
    "good-fit": "✅",
    "overfitting": "⚠️",
    "underfitting": "⚠️",
    "unstable": "❌",
    "diverged": "❌",
    "no-signal": "➖",
}
SEVERITY_ICONS = {"error": "❌", "warning": "⚠️", "info": "ℹ️"}

# Characters with a meaning in GitHub-flavoured Markdown inline text or tables. `<`, `>`, `&` become entities
# (no HTML can open), the rest get a backslash (no link, emphasis, code span or table cell can open).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#!])")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x85]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def escape(text: object) -> str:
    """One line of literal text, safe inside a table cell, a heading, a list item or link text."""
    s = _CONTROL.sub("", _LINE_BREAKS.sub(" ", str(text)))
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # a zero-width space after `@` (as Dependabot writes release notes), added after the escaping so its `#`
    # stays an entity: a run or tag named `@team` must not notify anyone when the report is a PR comment
    return _MD_SPECIAL.sub(r"\\\1", s).replace("@", "@&#8203;")


def rule_link(code: str, base: str) -> str:
    safe_code = escape(code)
    if not base:
        return f"`{code}`" if re.fullmatch(r"[A-Za-z0-9_.-]+", code) else safe_code
    return f"[{safe_code}]({base}{quote(code, safe='')}.md)"


def _step(value: int | None) -> str:
    return "—" if value is None else str(int(value))


def _percent(fraction: float | None) -> str:
    if fraction is None or not math.isfinite(fraction) or fraction <= 0:
        return "—"
    return f"{fraction:.0%}"


def fails(result: Result, fail_on: str) -> bool:
    worst = result.worst_severity()
    return worst is not None and severity_rank(worst) >= severity_rank(fail_on)


def summary_line(results: Sequence[Result], errors: Sequence[ReadError], fail_on: str) -> str:
    failing = sum(fails(r, fail_on) for r in results)
    verdicts = Counter(r.verdict for r in results)
    parts = [f"**{len(results)}** run(s) checked"]
    if verdicts:
        parts.append(", ".join(f"{n} {escape(v)}" for v, n in sorted(verdicts.items())))
    parts.append(f"**{failing}** at or above `{escape(fail_on)}`")
    if errors:
        parts.append(f"**{len(errors)}** unreadable input(s)")
    return " · ".join(parts)


def summary_table(results: Sequence[Result], anchors: Mapping[int, str] | None = None) -> list[str]:
    lines = [
        "| Run | Verdict | Best step | Recommended stop | Compute saved | Errors | Warnings | Info |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for i, result in enumerate(results):
        counts = Counter(f.severity for f in result.findings)
        name = escape(result.run.name)
        if anchors and i in anchors:
            name = f"[{name}](#{anchors[i]})"
        icon = VERDICT_ICONS.get(result.verdict, "")
        saved = result.saved_fraction if result.recommended_stop_step is not None else None
        lines.append(
            f"| {name} | {icon} {escape(result.verdict)} | {_step(result.best_step)} | "
            f"{_step(result.recommended_stop_step)} | {_percent(saved)} | "
            f"{counts.get('error', 0)} | {counts.get('warning', 0)} | {counts.get('info', 0)} |"
        )
    return lines


def finding_item(finding, rule_doc_base: str) -> str:
    suffix = finding_position(finding, show_metric=escape)
    icon = SEVERITY_ICONS.get(finding.severity, "")
    return (f"- {icon} **{escape(finding.severity)}** {rule_link(finding.code, rule_doc_base)} "
            f"{escape(finding.name)}: {escape(finding.message)}{suffix}")


def _early_stop_line(result: Result) -> str:
    es = result.early_stop
    if es is None:
        return "No early-stop analysis (no monitored metric)."
    text = f"Monitored metric: {escape(es.metric)}; best step {_step(es.best_step)}"
    if es.recommended_stop_step is not None:
        text += (f"; **recommended stop at step {int(es.recommended_stop_step)}** ({escape(es.cause())}), which "
                 f"would have saved {_percent(es.saved_fraction)} of the run's steps")
    else:
        text += "; no early stop recommended"
    return text + "."


def _baselines(result: Result) -> list[str]:
    es = result.early_stop
    if es is None or not es.baselines:
        return []
    rows = ["<details><summary>Where common early-stopping callbacks would have stopped</summary>", "",
            "| Rule | Stop step | Compute saved |", "| --- | ---: | ---: |"]
    for name, info in es.baselines.items():
        info = info if isinstance(info, Mapping) else {"stop_step": info}
        step = info.get("stop_step")
        saved = info.get("saved_fraction")
        rows.append(f"| {escape(name)} | {_step(step) if step is not None else 'end of run'} | "
                    f"{_percent(float(saved)) if isinstance(saved, (int, float)) else '—'} |")
    rows += ["", "</details>"]
    return rows


def run_section(result: Result, options: ReportOptions, image: str | None = None,
                heading_id: str | None = None) -> list[str]:
    lines = []
    if heading_id:
        lines.append(f'<a id="{heading_id}"></a>')
    icon = VERDICT_ICONS.get(result.verdict, "")
    lines += [f"### {escape(result.run.name)}", "",
              f"{icon} **{escape(result.verdict)}** · format {escape(result.run.format)} · "
              f"{len(result.findings)} finding(s)", "", _early_stop_line(result), ""]
    if image:
        lines += [f"![Curves of run {escape(result.run.name)}]({image})", ""]
    ordered = sorted(result.findings, key=lambda f: (-severity_rank(f.severity), f.step if f.step is not None else -1))
    lines += [finding_item(f, options.rule_doc_base) for f in ordered] or ["No findings."]
    lines.append("")
    notes = [n for n in result.run.notes if n]
    if notes:
        lines += ["Notes:", ""] + [f"- {escape(n)}" for n in notes] + [""]
    baselines = _baselines(result)
    if baselines:
        lines += baselines + [""]
    return lines


def errors_section(errors: Sequence[ReadError]) -> list[str]:
    if not errors:
        return []
    lines = ["## Errors", "", f"{len(errors)} input(s) could not be read:", ""]
    lines += [f"- {escape(e.location)}: {escape(e.message)}" for e in errors]
    return lines + [""]


@dataclass(frozen=True)
class Limit:
    """A size the report must fit and the place it goes, named in the notes that say what was left out."""
    size: int
    unit: str  # "bytes" (UTF-8) or "characters"
    place: str  # "a GitHub job summary"

    def measure(self, text: str) -> int:
        if self.unit == "bytes":
            return len(text.encode("utf-8"))
        # UTF-16 code units: never fewer than Python's len() (code points), so the text fits whichever of the two
        # GitHub counts; an emoji outside the BMP is one code point but two units
        return len(text.encode("utf-16-le", "surrogatepass")) // 2


# GitHub refuses a job summary over 1 MiB, the step's whole $GITHUB_STEP_SUMMARY ("$GITHUB_STEP_SUMMARY upload
# aborted, supports content up to a size of 1024k"; docs.github.com/actions/using-workflows/
# workflow-commands-for-github-actions#adding-a-markdown-summary); 16 KiB are kept for what the step's other
# commands append.
GITHUB_SUMMARY_LIMIT = 1024 * 1024 - 16 * 1024
# GitHub's REST API refuses an issue or PR comment body over 65,536 characters: "422 Validation Failed: Body is too
# long (maximum is 65536 characters)" (https://docs.github.com/rest/issues/comments#create-an-issue-comment;
# e.g. danger/danger#424, runatlantis/atlantis#66). 1,024 characters are kept for the marker a comment action
# adds to find its comment again (`<!-- Sticky Pull Request Comment... -->`) or a header the workflow prepends.
GITHUB_COMMENT_LIMIT = 65_536
COMMENT_HEADROOM = 1_024
LIMITS: dict[str, Limit | None] = {
    "summary": Limit(GITHUB_SUMMARY_LIMIT, "bytes", "a GitHub job summary"),
    "comment": Limit(GITHUB_COMMENT_LIMIT - COMMENT_HEADROOM, "characters", "a GitHub PR comment"),
    "none": None,
}
# room for the notes that say what was cut (errors, table rows, run sections: each under ~200 characters)
_NOTE_ROOM = 600


def _size(lines: Sequence[str], limit: Limit) -> int:
    return sum(limit.measure(line) + 1 for line in lines)


def document(results: Sequence[Result], errors: Sequence[ReadError], options: ReportOptions, *,
             images: Mapping[int, str] | None = None, overview: str | None = None,
             limit: Limit | None = None, full_report: str | None = None, plots_note: str | None = None) -> str:
    """The whole Markdown report. `images` maps a result's index to its PNG's path relative to the report;
    `plots_note` is a line placed where the overview would be (for a copy that cannot show images).
    With `limit`, run sections (failing runs' kept first), then table rows, then error lines that do not fit are
    left out, with a note naming the limit and where the whole report is (`full_report`, e.g. "report.md in the
    report artifact"; by default the options that write it)."""
    fail_on = options.fail_on
    anchors = {i: f"run-{i + 1}" for i in range(len(results))}
    head = ["# losslint report", "", summary_line(results, errors, fail_on), ""]
    if overview:
        head += [f"![Overview of all runs]({overview})", ""]
    if plots_note:
        head += [plots_note, ""]
    table: list[str] = []
    sections: list[list[str]] = []
    if results:
        table = summary_table(results, anchors) + [""]
        totals = Counter(f.severity for r in results for f in r.findings)
        table += ["Findings: " + ", ".join(f"{totals.get(s, 0)} {s}" for s in reversed(SEVERITIES)), ""]
        sections = [run_section(result, options, (images or {}).get(i), anchors[i])
                    for i, result in enumerate(results)]
    tail = errors_section(errors)
    lines = head + table + (["## Runs", ""] if sections else []) + [ln for sec in sections for ln in sec] + tail
    text = "\n".join(lines).rstrip("\n") + "\n"
    if limit is None or limit.measure(text) <= limit.size:
        return text
    return _fit(head, table, sections, tail, results, fail_on, limit, full_report, anchors)


def _fit(head, table, sections, tail, results, fail_on, limit: Limit, full_report: str | None,
         anchors: Mapping[int, str]) -> str:
    table_elsewhere = f"{full_report} has" if full_report else "`losslint check --format json` or `--report DIR` has"
    sections_elsewhere = f"{full_report} has" if full_report else "`--report DIR` writes"
    budget = limit.size - _size(head, limit) - _NOTE_ROOM
    tail = _cut_errors(tail, budget, limit, table_elsewhere)
    budget -= _size(tail, limit)
    # failing runs first, in the table as in the sections: they are what a reader of a cut report needs
    failing_first = sorted(range(len(results)), key=lambda i: (not fails(results[i], fail_on), i))
    if _size(table, limit) > budget:
        plain = summary_table(results)  # no links: no run section will be there to link to
        used, kept = _size(plain[:2], limit), set()
        for i in failing_first:
            cost = limit.measure(plain[2 + i]) + 1
            if used + cost > budget:
                break
            kept.add(i)
            used += cost
        table = plain[:2] + [plain[2 + i] for i in sorted(kept)] + [
            "", f"_Table cut to {len(kept)} of {len(results)} runs (failing runs first) to fit {limit.place}; "
                f"{table_elsewhere} them all._", ""]
        sections = []
    budget -= _size(table, limit)
    chosen: set[int] = set()
    for i in failing_first[: len(sections)]:
        size = _size(sections[i], limit)
        if size <= budget:
            chosen.add(i)
            budget -= size
    body = [ln for i in sorted(chosen) for ln in sections[i]]
    if sections:
        body = ["## Runs", ""] + body
        if len(chosen) < len(sections):
            # a row links to its run's section only when that section is there (the unlinked table is shorter)
            linked = summary_table(results, {i: anchors[i] for i in chosen})
            table = linked + table[len(linked):]
            body += [f"_{len(sections) - len(chosen)} run section(s) left out to fit {limit.place}; "
                     f"{sections_elsewhere} them all._", ""]
    return "\n".join(head + table + body + tail).rstrip("\n") + "\n"


def _cut_errors(tail: list[str], budget: int, limit: Limit, elsewhere: str) -> list[str]:
    """The errors section, its list cut when it alone would not fit (thousands of unreadable files)."""
    if _size(tail, limit) <= budget:
        return tail
    kept, used = tail[:4], _size(tail[:4], limit)  # heading, blank, count line, blank
    listed = [line for line in tail[4:] if line]
    for line in listed:
        used += limit.measure(line) + 1
        if used > budget:
            break
        kept.append(line)
    left_out = len(listed) - (len(kept) - 4)
    return kept + ["", f"_{left_out} more unreadable input(s) left out to fit {limit.place}; "
                       f"{elsewhere} them all._", ""]


def render(results: Sequence[Result], errors: Sequence[ReadError], options: ReportOptions) -> str:
    """`--format markdown`: the report without images (a stream has no directory for them to live in), cut to
    the limit `options.markdown_limit` names (`LIMITS`; default the job summary's)."""
    return document(results, errors, options, limit=LIMITS[options.markdown_limit])
