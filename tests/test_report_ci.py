"""CI formats: GitHub workflow commands, JUnit XML (validated against junit-10.xsd) and SARIF 2.1.0 (validated
against the OASIS schema)."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from losslint.errors import ReadError
from losslint.report import ReportOptions, render
from losslint.report.github import escape_data, escape_property
from losslint.textsafe import printable
from report_support import descending, finding, load_runs, realworld, result_for, write_jsonl_run

SCHEMAS = Path(__file__).parent / "schemas"
HOSTILE = "a|b<script>`c, d:e%f\r\ng\x01"


@pytest.fixture(scope="module")
def junit_schema():
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd"))


@pytest.fixture(scope="module")
def sarif_validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.fixture()
def results(tmp_path, monkeypatch):
    """Real runs, one hand-made failing result per severity, and a run with a hostile name."""
    monkeypatch.chdir(tmp_path)
    write_jsonl_run(tmp_path / "logs", "clean", descending(50), val=descending(5, seed=1))
    write_jsonl_run(tmp_path / "logs", "bad", descending(50) + [float("nan")], val=descending(5, seed=2))
    runs, errors = load_runs(Path("logs"))
    assert not errors
    by_name = {r.name: r for r in runs}
    hostile = type(by_name["bad"])(name=HOSTILE, format="jsonl", sources=by_name["bad"].sources,
                                   data=by_name["bad"].data)
    return [
        result_for(by_name["clean"], "good-fit", [finding(code="D004", severity="info", name="too-few-evals",
                                                          message="only 5 evaluations")]),
        result_for(by_name["bad"], "diverged", [finding(code="D001", severity="error", name="non-finite-loss",
                                                        metric="train/loss", step=500, message="loss is NaN"),
                                                finding(code="O101", severity="warning", step=40)],
                   best=20, stop=30),
        result_for(hostile, "overfitting", [finding(message=HOSTILE)]),
    ]


ERRORS = [ReadError("logs/broken, one:x.jsonl", "line is not JSON\nat all", line=4)]


# -- GitHub ------------------------------------------------------------------------------------------------
def test_github_escaping_follows_the_actions_toolkit():
    # @actions/core command.ts: escapeData and escapeProperty
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"


def _unescape(text: str) -> str:
    return (text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",")
            .replace("%25", "%"))


def test_github_annotations_one_per_finding_and_error(results):
    out = render("github", results, ERRORS, ReportOptions())
    commands = [line for line in out.splitlines() if line.startswith("::")]
    pattern = re.compile(r"^::(error|warning|notice) ((?:[a-z]+=[^,:]*)(?:,[a-z]+=[^,:]*)*)::(.*)$")
    parsed = []
    for line in commands:
        m = pattern.match(line)
        assert m, line
        props = dict(p.split("=", 1) for p in m.group(2).split(","))
        parsed.append((m.group(1), {k: _unescape(v) for k, v in props.items()}, _unescape(m.group(3))))
    levels = [p[0] for p in parsed]
    assert levels.count("error") == 2  # D001 + the unreadable input
    assert levels.count("warning") == 2
    assert levels.count("notice") == 2  # the info finding + the early-stop notice
    hostile = [p for p in parsed if p[2].startswith(printable(HOSTILE))]
    # control characters from the logs are shown as escapes, not rendered (textsafe.printable)
    assert hostile and hostile[0][2] == printable(f"{HOSTILE}: {HOSTILE} (metric eval/loss)")
    assert "\\r\\n" in hostile[0][2] and "\\x01" in hostile[0][2]
    d001 = next(p for p in parsed if p[1].get("title", "").startswith("losslint D001"))
    assert d001[1]["file"] == "logs/bad/metrics.jsonl"
    unreadable = next(p for p in parsed if p[1].get("title") == "losslint: unreadable input")
    assert unreadable[1]["file"] == "logs/broken, one:x.jsonl" and unreadable[1]["line"] == "4"
    assert unreadable[2] == "line is not JSON\\nat all"
    assert not out.splitlines()[-1].startswith("::")  # a plain summary closes the log


# -- JUnit -------------------------------------------------------------------------------------------------
def test_junit_validates_and_counts_failures_at_the_fail_level(results, junit_schema):
    for fail_on, failing in (("warning", 2), ("error", 1), ("info", 3)):
        xml = render("junit", results, ERRORS, ReportOptions(fail_on=fail_on))
        junit_schema.validate(xml)
        suite = ET.fromstring(xml).find("testsuite")
        assert suite.get("tests") == "4" and suite.get("errors") == "1"
        assert suite.get("failures") == str(failing)
        cases = suite.findall("testcase")
        assert len(cases) == 4
        assert sum(c.find("failure") is not None for c in cases) == failing
        assert sum(c.find("error") is not None for c in cases) == 1


def test_junit_keeps_hostile_text_well_formed(results, junit_schema):
    xml = render("junit", results, ERRORS, ReportOptions())
    junit_schema.validate(xml)
    names = [c.get("name") for c in ET.fromstring(xml).iter("testcase")]
    # XML 1.0 cannot carry U+0001 even escaped: it becomes U+FFFD; everything else round-trips exactly
    assert HOSTILE.replace("\x01", "\ufffd") in names


def test_junit_for_real_runs(junit_schema):
    runs, errors = load_runs(realworld("trainer_state/whisper-tiny-nob-resumed"),
                             realworld("keras_csv/tomato-leaf-cnn"))
    xml = render("junit", [result_for(r) for r in runs], errors, ReportOptions())
    junit_schema.validate(xml)
    assert len(ET.fromstring(xml).findall("testsuite/testcase")) == len(runs) + len(errors)


# -- SARIF -------------------------------------------------------------------------------------------------
def test_sarif_validates_against_the_official_schema(results, sarif_validator):
    doc = json.loads(render("sarif", results, ERRORS, ReportOptions()))
    errors = sorted(sarif_validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_sarif_results_point_at_rules_runs_and_relative_files(results):
    doc = json.loads(render("sarif", results, ERRORS, ReportOptions(rule_doc_base="https://x.org/r/")))
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(run["results"]) == sum(len(r.findings) for r in results)
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        loc = res["locations"][0]
        uri = loc["physicalLocation"]["artifactLocation"]["uri"]
        assert not uri.startswith("/") and "\\" not in uri and uri.endswith("metrics.jsonl")
        assert loc["logicalLocations"][0]["name"] in {r.run.name for r in results}
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["D001"] == "error" and levels["D004"] == "note" and levels["O101"] == "warning"
    assert rules[ids.index("O101")]["helpUri"] == "https://x.org/r/O101.md"
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert len(notes) == 1 and run["invocations"][0]["executionSuccessful"] is False


def test_sarif_rules_come_from_the_rule_registry(results):
    checks = pytest.importorskip("losslint.checks")
    registry = checks.all_rules()
    doc = json.loads(render("sarif", results, [], ReportOptions()))
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert set(registry) <= set(rules)
    for code, rule in registry.items():
        assert rules[code]["fullDescription"]["text"] == rule.doc.strip()


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.text())
def test_github_property_escaping_round_trips_and_cannot_end_a_value(text):
    escaped = escape_property(text)
    assert not set(escaped) & {":", ",", "\r", "\n"}
    assert _unescape(escaped) == text
    assert "\n" not in escape_data(text) and _unescape(escape_data(text)) == text


@pytest.mark.parametrize("fmt", ["sarif", "junit", "github", "markdown"])
def test_check_cli_emits_each_ci_format(fmt, tmp_path, monkeypatch, sarif_validator, junit_schema):
    pytest.importorskip("losslint.engine")
    from click.testing import CliRunner

    from losslint.cli import main

    monkeypatch.chdir(tmp_path)
    write_jsonl_run(tmp_path / "runs", "diverging", descending(150) + [float("nan")] * 5, val=descending(15, seed=2))
    result = CliRunner().invoke(main, ["check", "runs", "--format", fmt, "-j", "1"])  # click >= 8.2: stdout apart
    assert result.exit_code == 1, result.output
    out = result.stdout
    if fmt == "sarif":
        doc = json.loads(out)
        assert not list(sarif_validator.iter_errors(doc))
        assert any(r["ruleId"] == "D001" for r in doc["runs"][0]["results"])
    elif fmt == "junit":
        junit_schema.validate(out)
        assert ET.fromstring(out).find("testsuite").get("failures") == "1"
    elif fmt == "github":
        assert "::error file=runs/diverging/metrics.jsonl,title=losslint D001" in out
    else:
        assert "| [diverging](#run-1) | ❌ diverged |" in out


# -- several runs with one leaf name ----------------------------------------------------------------------
def test_sarif_uses_relative_uris_under_srcroot_and_file_uris_outside(results, tmp_path, monkeypatch,
                                                                      sarif_validator):
    inside = json.loads(render("sarif", results, ERRORS, ReportOptions()))["runs"][0]
    for res in inside["results"]:
        artifact = res["locations"][0]["physicalLocation"]["artifactLocation"]
        assert artifact["uriBaseId"] == "%SRCROOT%" and not artifact["uri"].startswith(("/", "file:"))
    for result in results:  # as read from an absolute argument
        result.run.sources = [str(Path(s).resolve()) for s in result.run.sources]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the logs now lie outside the working directory
    doc = json.loads(render("sarif", results, [ReadError(tmp_path / "logs" / "x.jsonl", "bad")], ReportOptions()))
    assert not list(sarif_validator.iter_errors(doc))
    run = doc["runs"][0]
    for res in run["results"]:
        artifact = res["locations"][0]["physicalLocation"]["artifactLocation"]
        assert artifact["uri"].startswith("file:///") and "uriBaseId" not in artifact
    note = run["invocations"][0]["toolExecutionNotifications"][0]["locations"][0]["physicalLocation"]
    assert note["artifactLocation"] == {"uri": (tmp_path / "logs" / "x.jsonl").as_uri()}


def test_junit_test_ids_are_unique(results, junit_schema):
    errors = [ReadError("logs/a.jsonl", "bad", line=1), ReadError("logs/a.jsonl", "bad", line=9)]
    twins = [results[0], result_for(results[0].run)]  # one name twice (a caller's own list)
    xml = render("junit", twins + results[1:], errors, ReportOptions())
    junit_schema.validate(xml)
    ids = [(c.get("classname"), c.get("name")) for c in ET.fromstring(xml).iter("testcase")]
    assert len(ids) == len(set(ids)) == 6


def test_check_several_paths_with_one_leaf_gives_distinct_names_with_paths(tmp_path, monkeypatch):
    """`check a b` where both hold a run `hf`: `a/hf` and `b/hf`, each with its path, in every format."""
    from click.testing import CliRunner

    from losslint.cli import main

    monkeypatch.chdir(tmp_path)
    write_jsonl_run(tmp_path / "a", "hf", descending(60), val=descending(6, seed=1))
    write_jsonl_run(tmp_path / "b", "hf", descending(60, seed=3), val=descending(6, seed=4))
    out = CliRunner().invoke(main, ["check", "a", "b", "--format", "json", "-j", "1"]).stdout
    runs = json.loads(out)["runs"]
    assert [(r["run"], r["path"]) for r in runs] == [("a/hf", "a/hf"), ("b/hf", "b/hf")]
    junit = CliRunner().invoke(main, ["check", "a", "b", "--format", "junit", "-j", "1"]).stdout
    assert [c.get("name") for c in ET.fromstring(junit).iter("testcase")] == ["a/hf", "b/hf"]
    # one argument: names stay relative to it, the path is still the run's folder
    runs = json.loads(CliRunner().invoke(main, ["check", "a", "--format", "json"]).stdout)["runs"]
    assert [(r["run"], r["path"]) for r in runs] == [("hf", "a/hf")]


def test_check_bundled_fixtures_overfit_and_good_fit_names_are_distinct(monkeypatch):
    """The issue's example: `losslint check fixtures/runs/overfit fixtures/runs/good-fit --format json`."""
    from click.testing import CliRunner

    from losslint.cli import main

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    out = CliRunner().invoke(main, ["check", "fixtures/runs/overfit", "fixtures/runs/good-fit", "--format", "json",
                                    "-j", "1"]).stdout
    runs = json.loads(out)["runs"]
    names = [r["run"] for r in runs]
    assert len(names) == len(set(names)) == 10
    assert "fixtures/runs/overfit/hf" in names and "fixtures/runs/good-fit/hf" in names
    for run in runs:
        assert run["run"].startswith(("fixtures/runs/overfit/", "fixtures/runs/good-fit/"))
        assert (root / run["path"]).exists()
        # the name is the path, but for W&B runs (the display name in place of the folder) and chart exports
        # (several runs in one file: `<file>/<run>`)
        assert run["run"].startswith(run["path"]) or run["run"].rsplit("/", 1)[0] == run["path"].rsplit("/", 1)[0]
