"""The pre-commit hook: its manifest, which files it sees, and the real `pre-commit` tool running it."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from report_support import descending, write_jsonl_run

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / ".pre-commit-hooks.yaml"


def _hook() -> dict:
    clientlib = pytest.importorskip("pre_commit.clientlib")
    hooks = clientlib.load_manifest(str(MANIFEST))  # pre-commit's own validation of the manifest
    (hook,) = [h for h in hooks if h["id"] == "losslint"]
    return hook


def test_manifest_is_valid_and_runs_check_on_filenames():
    hook = _hook()
    assert hook["entry"] == "losslint check"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True


@pytest.mark.parametrize("path", [
    "runs/exp1/train/events.out.tfevents.1690485354.host.80091.0.v2",
    "runs/exp1/events.out.tfevents.1628430255.db4a6b63f2f6.1641.3",
    "output/checkpoint-500/trainer_state.json",
    "logs/metrics.jsonl",
    "wandb/run-20241012_160630-jqe8zy9r/files/wandb-history.jsonl",
    "wandb/run-20241012_160630-jqe8zy9r/run-jqe8zy9r.wandb",
    "exports/wandb_export_2024-10-12T16_06_30.csv",
    "lightning_logs/version_0/metrics.csv",
    "output/metrics.json",
    "keras/training_history.csv",
    "mlruns/0/6f1c0d2e/metrics/val_loss",
    "mlflow.db",
    "results/trainer_state_first.json",
])
def test_files_regex_matches_training_logs(path):
    # pre-commit matches `files` with re.search against the repository-relative POSIX path
    assert re.search(_hook()["files"], path)


@pytest.mark.parametrize("path", ["README.md", "src/train.py", "data/train.csv", "config.json", "setup.cfg",
                                  "output/trainer_state.json.bak", "docs/metrics.csv.md"])
def test_files_regex_leaves_other_files_alone(path):
    assert not re.search(_hook()["files"], path)


def _logs(root: Path) -> tuple[Path, Path]:
    # converged well before the end (10 time constants), so no rule has reason to flag it
    clean = write_jsonl_run(root / "runs", "clean", descending(200, noise=0.01, time_constants=10),
                            val=descending(20, seed=1, noise=0.01, time_constants=10))
    bad = write_jsonl_run(root / "runs", "diverging", descending(150) + [float("nan")] * 5, val=descending(15, seed=2))
    return clean.relative_to(root), bad.relative_to(root)


def test_check_with_filenames_as_pre_commit_passes_them(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from losslint.cli import main

    clean, bad = _logs(tmp_path)
    monkeypatch.chdir(tmp_path)
    ok = CliRunner().invoke(main, ["check", str(clean)])
    assert ok.exit_code == 0, ok.output
    failed = CliRunner().invoke(main, ["check", str(clean), str(bad)])
    assert failed.exit_code == 1, failed.output
    assert "runs/diverging" in failed.output and "runs/clean: verdict good-fit" in failed.output


@pytest.mark.slow
def test_real_pre_commit_passes_a_clean_run_and_fails_a_diverging_one(tmp_path):
    """Installs the hook the way users get it: pre-commit clones this repository at a commit and pip-installs it
    into its own environment (about 2-3 minutes, from the package index). Tests the committed HEAD."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout of losslint")
    pytest.importorskip("pre_commit")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    env.pop("CI", None)  # nothing the hook does depends on it; keep the progress logic out of the picture
    source = tmp_path / "losslint-src"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(source)], check=True, env=env)
    rev = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], check=True, capture_output=True,
                         text=True).stdout.strip()
    if not (source / ".pre-commit-hooks.yaml").exists():
        pytest.skip("the hook manifest is not committed yet")

    project = tmp_path / "project"
    project.mkdir()
    clean, bad = _logs(project)
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {source.as_posix()}\n    rev: {rev}\n    hooks:\n      - id: losslint\n")
    subprocess.run(["git", "init", "--quiet", "."], cwd=project, check=True, env=env)
    subprocess.run(["git", "add", "."], cwd=project, check=True, env=env)

    def pre_commit(*files: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--files", *map(str, files)],
                              cwd=project, env=env, capture_output=True, text=True, timeout=1200)

    passed = pre_commit(clean)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"losslint.*Passed", passed.stdout)
    failed = pre_commit(clean, bad)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"losslint.*Failed", failed.stdout)
    assert "runs/diverging" in failed.stdout and "D001" in failed.stdout
