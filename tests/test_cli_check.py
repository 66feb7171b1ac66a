"""`losslint check` and `losslint rules` as a user runs them: output lines, JSON contract, exit codes."""
import json
import re

import pytest

import synthetic_curves as sc
from cli_support import invoke


@pytest.fixture
def runs(tmp_path):
    sc.write_jsonl(sc.make_run("overfitting", 1, n_train=200), tmp_path / "overfit" / "metrics.jsonl")
    sc.write_jsonl(sc.make_run("good-fit", 2, n_train=200), tmp_path / "clean" / "metrics.jsonl")
    return tmp_path


def test_text_output_is_linter_like_with_a_summary(runs):
    result = invoke("check", runs, "-j", "1")
    lines = result.output.strip().splitlines()
    finding_lines = [line for line in lines if re.match(r"^overfit: O1\d\d [a-z-]+: .+ \(step \d+\)$", line)]
    assert finding_lines, result.output
    assert "overfit: verdict overfitting" in result.output and "clean: verdict good-fit" in result.output
    assert lines[-1].startswith("2 run(s) checked")
    assert result.exit_code == 1


def test_json_contract(runs):
    result = invoke("check", runs, "--format", "json", "-j", "1")
    document = json.loads(result.output)
    assert document["version"] == 1 and document["errors"] == []
    by_run = {r["run"]: r for r in document["runs"]}
    assert set(by_run) == {"overfit", "clean"}
    overfit = by_run["overfit"]
    for key in ("run", "format", "verdict", "monitored_metric", "best_step", "recommended_stop_step",
                "saved_fraction", "findings"):
        assert key in overfit
    assert overfit["verdict"] == "overfitting" and overfit["monitored_metric"] == "eval/loss"
    assert set(overfit["findings"][0]) >= {"code", "name", "severity", "metric", "step", "message"}


def test_select_ignore_and_fail_on(runs):
    result = invoke("check", runs, "--select", "D", "-j", "1")
    assert not re.search(r": [OUIT]\d{3} ", result.output)
    assert result.exit_code == 0  # no D finding at warning here
    result = invoke("check", runs, "--ignore", "O,T", "-j", "1")
    assert not re.search(r": O\d{3} ", result.output)
    assert invoke("check", runs, "--fail-on", "error", "--ignore", "O101", "-j", "1").exit_code == 0


def test_jobs_do_not_change_output(runs):
    one = invoke("check", runs, "--format", "json", "-j", "1")
    many = invoke("check", runs, "--format", "json", "-j", "2")
    assert one.output == many.output and one.exit_code == many.exit_code


def test_unreadable_input_is_exit_2_and_others_still_printed(runs):
    result = invoke("check", runs / "clean", runs / "missing", "-j", "1")
    assert result.exit_code == 2
    assert "clean: verdict good-fit" in result.output and "missing" in result.output


@pytest.mark.parametrize("args,words", [
    (["--select", "Q9"], ["unknown rule code or prefix", "Q9"]),
    (["--ignore", "nonsense-rule"], ["nonsense-rule"]),
])
def test_bad_selectors_are_usage_errors(runs, args, words):
    result = invoke("check", runs, *args)
    assert result.exit_code == 2
    for word in words:
        assert word in result.output


def test_bad_config_file_is_exit_2_without_traceback(runs, tmp_path):
    config = tmp_path / "losslint.toml"
    config.write_text("[rules.O101]\nmin_raise = 1\n", encoding="utf-8")
    result = invoke("check", runs, "--config", config)
    assert result.exit_code == 2 and "min_raise" in result.output


def test_config_found_upward_changes_the_result(runs, monkeypatch):
    (runs / "losslint.toml").write_text('ignore = ["O", "T"]\n', encoding="utf-8")
    monkeypatch.chdir(runs / "clean")  # found upward from the working directory
    result = invoke("check", runs / "overfit", "-j", "1")
    assert "O101" not in result.output


def test_config_inside_the_checked_tree_is_not_used(runs, monkeypatch, tmp_path_factory):
    # a run folder is data: its losslint.toml must not switch the gate off
    (runs / "overfit" / "losslint.toml").write_text('ignore = ["O", "I", "U", "D"]\n', encoding="utf-8")
    (runs / "pyproject.toml").write_text('[tool.losslint]\nfail-on = "error"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    result = invoke("check", runs, "-j", "1")
    assert "O101" in result.output and result.exit_code == 1


def test_rules_listing_doc_and_verdicts():
    listing = invoke("rules").output
    for code in ("D001", "O101", "U201", "I302", "T401"):
        assert code in listing
    doc = invoke("rules", "O101").output
    assert "What to do" in doc and "min_rise = 0.05" in doc and "Prechelt" in doc
    assert invoke("rules", "val-loss-rising").output == doc
    assert "diverged" in invoke("rules", "--verdicts").output
    assert json.loads(invoke("rules", "--format", "json").output)[0]["code"] == "D001"
    assert invoke("rules", "Z999").exit_code == 2


def test_every_rule_documents_each_default():
    from losslint.checks import all_rules

    for rule in all_rules().values():
        for name in rule.defaults:
            if name.endswith("severity"):
                continue
            assert f"`{name}" in rule.doc, f"{rule.code} does not document {name}"
        for section in ("What it detects", "Why it matters", "What to do"):
            assert section in rule.doc, f"{rule.code} lacks '{section}'"


def test_config_aliases_reach_the_readers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = sc.make_run("overfitting", 4, n_train=200)
    lines = [line.replace('"eval/loss"', '"dev_score_xent"') for line in sc.jsonl_lines(run)]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    plain = json.loads(invoke("check", tmp_path / "run", "--format", "json", "-j", "1").output)
    assert plain["runs"][0]["monitored_metric"] != "eval/loss"
    (tmp_path / "losslint.toml").write_text('[aliases]\n"dev_score_xent" = "eval/loss"\n', encoding="utf-8")
    aliased = json.loads(invoke("check", tmp_path / "run", "--format", "json", "-j", "1").output)
    assert aliased["runs"][0]["monitored_metric"] == "eval/loss"
    assert aliased["runs"][0]["verdict"] == "overfitting"


def test_an_internal_error_is_one_line_and_exit_2(runs, monkeypatch):
    import losslint.engine

    def broken(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(losslint.engine, "check_paths", broken)
    monkeypatch.delenv("LOSSLINT_DEBUG", raising=False)
    result = invoke("check", runs)
    assert result.exit_code == 2 and "internal error" in result.output and "kaboom" in result.output


def test_report_dir_is_written_next_to_the_lint_output(runs, tmp_path):
    out = tmp_path / "report"
    result = invoke("check", runs, "--report", out, "-j", "1")
    assert result.exit_code == 1 and "overfit: verdict overfitting" in result.output
    assert (out / "report.md").is_file() and "overfit" in (out / "report.md").read_text(encoding="utf-8")


def test_a_folder_with_no_training_log_is_exit_2_not_a_clean_pass(tmp_path):
    """A CI gate pointed at the wrong folder (source only, or empty) must fail, naming the folder; the same
    folder beside a readable run is only walked (a folder of code among runs is not an error)."""
    code = tmp_path / "src"
    code.mkdir()
    (code / "train.py").write_text("print('hello')\n", encoding="utf-8")
    for command in (("check",), ("check", "--format", "json"), ("compare",)):
        result = invoke(*command, code, "-j", "1")
        assert result.exit_code == 2, (command, result.output)
        assert f"{code}: no training log found" in result.output
    report = invoke("report", code, "-o", tmp_path / "report", "-j", "1")
    assert report.exit_code == 2 and "no training log found" in report.output
    sc.write_jsonl(sc.make_run("good-fit", 2, n_train=200), tmp_path / "clean" / "metrics.jsonl")
    both = invoke("check", code, tmp_path / "clean", "-j", "1")
    assert both.exit_code == 0 and "no training log found" not in both.output
