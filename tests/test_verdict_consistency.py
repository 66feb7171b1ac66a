"""Every run losslint can see (the fixtures and both real-world corpora) gets a verdict that follows
../shared/VERDICTS.md in the ways a rule change could break without any label noticing:

- gradient-norm spikes alone never make a run unstable (an info finding, not a verdict);
- a run is never underfitting for being cut short while still improving (U202 is an info note);
- the verdict and the early stop agree: a stop after a sustained rise is overfitting (or worse), a good fit or an
  underfit run is never stopped for a rise, a break or overfitting findings, and an overfitting run has a stop;
- findings do not contradict each other's advice on the learning rate.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from losslint.engine import check_paths
from losslint.findings import severity_rank
from realworld_path import REALWORLD

ROOT = Path(__file__).resolve().parents[1]
TREES = {
    "fixtures": ROOT / "fixtures" / "runs",
    "realworld": REALWORLD,
    "realworld-labeled": REALWORLD.parent / "realworld-labeled",
}
WARNING = severity_rank("warning")
# The early stop's triggers that say the run should not have gone on as it did.
FAILING_TRIGGERS = {"rise", "non-finite", "findings"}


@pytest.fixture(scope="module", params=sorted(TREES))
def results(request):
    tree = TREES[request.param]
    if not tree.is_dir():
        pytest.skip(f"{tree} is not available")
    found, _ = check_paths(tree, jobs=2, annotate=False)
    assert found
    return found


def gating(result, prefix: str) -> list[str]:
    return [f.code for f in result.findings if f.code.startswith(prefix) and severity_rank(f.severity) >= WARNING]


def test_gradient_norm_spikes_alone_never_make_a_run_unstable(results):
    for result in results:
        assert "I304" not in gating(result, "I"), result.run.name
        if result.verdict == "unstable":
            assert gating(result, "I"), result.run.name


def test_no_run_is_underfitting_for_being_cut_short(results):
    for result in results:
        assert "U202" not in gating(result, "U"), result.run.name
        if result.verdict == "underfitting":
            assert set(gating(result, "U")) - {"U202"}, result.run.name


def test_verdict_and_stop_trigger_agree(results):
    for result in results:
        trigger = result.early_stop.trigger if result.early_stop is not None else None
        name = f"{result.run.name}: {result.verdict} with a {trigger} stop"
        if trigger == "rise":
            assert result.verdict in ("overfitting", "diverged", "unstable", "no-signal"), name
        if result.verdict in ("good-fit", "underfitting"):
            assert trigger not in FAILING_TRIGGERS, name
        if result.verdict == "overfitting" and result.early_stop is not None:
            assert result.early_stop.recommended_stop_step is not None, name


def test_findings_never_advise_both_raising_and_lowering_the_learning_rate(results):
    for result in results:
        messages = " ".join(f.message for f in result.findings)
        assert not ("raise the learning rate" in messages and "lower the learning rate" in messages), (
            result.run.name, [f.code for f in result.findings])
