"""`--format junit`: one `<testsuite>` with one `<testcase>` per run, for CI test-report views (GitLab, Jenkins,
Azure DevOps). A run fails when it has findings at or above `options.fail_on`; an unreadable input is an `<error>`
test case. Validated against the Jenkins xunit-plugin `junit-10.xsd` in the tests.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Sequence

from ..errors import ReadError
from ..findings import Result, severity_rank
from . import ReportOptions
from .text import finding_line

SUITE_NAME = "losslint"
# XML 1.0 forbids these code points even as character references; a log's tag or message may contain them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: object) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def _case(name: str, classname: str) -> ET.Element:
    return ET.Element("testcase", {"name": xml_text(name), "classname": xml_text(classname), "time": "0"})


def run_case(result: Result, fail_on: str) -> tuple[ET.Element, bool]:
    case = _case(result.run.name, f"{SUITE_NAME}.{result.run.format}")
    failing = [f for f in result.findings if severity_rank(f.severity) >= severity_rank(fail_on)]
    below = [f for f in result.findings if severity_rank(f.severity) < severity_rank(fail_on)]
    if failing:
        failing.sort(key=lambda f: -severity_rank(f.severity))
        first = failing[0]
        message = f"{first.code} {first.name}: {first.message}"
        if len(failing) > 1:
            message += f" (+{len(failing) - 1} more)"
        failure = ET.SubElement(case, "failure", {"type": xml_text(first.code), "message": xml_text(message)})
        failure.text = xml_text("\n".join(f"{f.severity}: {finding_line(result, f)}" for f in failing))
    out = [f"verdict: {result.verdict}"]
    if result.recommended_stop_step is not None:
        out.append(f"recommended stop: step {result.recommended_stop_step} (best {result.best_step}), "
                   f"saves {result.saved_fraction:.0%} of steps")
    out += [f"{f.severity}: {finding_line(result, f)}" for f in below]
    ET.SubElement(case, "system-out").text = xml_text("\n".join(out))
    return case, bool(failing)


def error_case(error: ReadError) -> ET.Element:
    case = _case(error.path, f"{SUITE_NAME}.unreadable")
    ET.SubElement(case, "error", {"type": "ReadError", "message": xml_text(error.message)}).text = xml_text(error.text)
    return case


def _unique_ids(cases: list[ET.Element]) -> None:
    """A test id (classname + name) appears once: a second case with one id (two errors in one file) is numbered,
    as CI views merge or drop repeated ids."""
    seen: set[tuple[str, str]] = set()
    for case in cases:
        classname, name = case.get("classname", ""), case.get("name", "")
        candidate, n = name, 2
        while (classname, candidate) in seen:
            candidate, n = f"{name} #{n}", n + 1
        seen.add((classname, candidate))
        case.set("name", candidate)


def render(results: Sequence[Result], errors: Sequence[ReadError], options: ReportOptions) -> str:
    suite = ET.Element("testsuite", {"name": SUITE_NAME})
    failures = 0
    cases = []
    for result in results:
        case, failed = run_case(result, options.fail_on)
        failures += failed
        cases.append(case)
    cases.extend(error_case(error) for error in errors)
    _unique_ids(cases)
    suite.extend(cases)
    suite.attrib.update({"tests": str(len(results) + len(errors)), "failures": str(failures),
                         "errors": str(len(errors)), "skipped": "0", "time": "0"})
    root = ET.Element("testsuites", {"name": SUITE_NAME, "tests": suite.attrib["tests"],
                                     "failures": suite.attrib["failures"], "errors": suite.attrib["errors"],
                                     "time": "0"})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
