"""`losslint check` on the real-world corpus agrees with the hand labels in tests/data/realworld_labels.toml.

The labels were judged from the curves, with the reason written next to each; `acceptable` lists other verdicts
a careful reader could defend, as `../shared/realworld-labeled/labels.toml` does. Runs marked
`known_disagreement` are expected to disagree (strict xfail): when a rule change makes one agree, the test
says so and the label is promoted. Skipped when the corpus or a format's reader is not available.
"""
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from realworld_path import REALWORLD as CORPUS

LABELS = tomllib.loads((Path(__file__).parent / "data" / "realworld_labels.toml").read_text(encoding="utf-8"))
READER_OF_DIR = {"tensorboard": "tensorboard", "trainer_state": "trainer_state", "wandb": "wandb", "mlflow": "mlflow",
                 "jsonl": "jsonl", "keras_csv": "csv", "lightning_csv": "csv"}


def available_formats() -> set[str]:
    from losslint.io import readers

    return {reader.format for reader in readers()}


@pytest.fixture(scope="module")
def checked() -> dict:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} is not available")
    from losslint.cli import main

    result = CliRunner().invoke(main, ["check", str(CORPUS), "--format", "json", "-j", "2"])
    assert "Traceback" not in result.output
    assert result.exit_code in (1, 2), result.output  # the corpus holds an LFS pointer: exit 2
    document = json.loads(result.output[: result.output.rindex("}") + 1])
    return {label_name(run): run for run in document["runs"]}


def label_name(run: dict) -> str:
    """The labels name W&B runs by folder; the check names them by display name and keeps the folder as the path."""
    name = run["run"]
    if run["format"] == "wandb" and run.get("display_name") and name.endswith("/" + run["display_name"]):
        return Path(run["path"]).resolve().relative_to(CORPUS.resolve()).as_posix()
    return name


def params() -> list:
    out = []
    for name, label in sorted(LABELS.items()):
        marks = [pytest.mark.xfail(strict=True, reason=label["gap"])] if label.get("known_disagreement") else []
        out.append(pytest.param(name, label, id=name, marks=marks))
    return out


def test_labels_are_well_formed():
    verdicts = {"good-fit", "overfitting", "underfitting", "unstable", "diverged", "no-signal"}
    for name, label in LABELS.items():
        assert label["verdict"] in verdicts, name
        assert set(label.get("acceptable", [])) <= verdicts - {label["verdict"]}, name
        assert label["why"], name
        assert not label.get("known_disagreement") or label.get("gap"), name
        assert name.split("/")[0] in READER_OF_DIR, name


@pytest.mark.parametrize("name,label", params())
def test_verdict_agrees_with_hand_label(checked, name, label):
    reader = READER_OF_DIR[name.split("/")[0]]
    if name not in checked:
        if reader not in available_formats():
            pytest.skip(f"no {reader} reader yet")
        pytest.fail(f"{name} was not found by `losslint check` (runs: {sorted(checked)[:5]}...)")
    got = checked[name]
    assert got["verdict"] in [label["verdict"], *label.get("acceptable", [])], (
        f"{name}: losslint says {got['verdict']} ({[f['code'] for f in got['findings']]}), hand label "
        f"{label['verdict']}: {label['why']}")


def test_every_run_with_a_loss_curve_is_labelled(checked):
    unlabelled = [name for name, run in checked.items()
                  if name not in LABELS and run["verdict"] != "no-signal"]
    assert unlabelled == []
