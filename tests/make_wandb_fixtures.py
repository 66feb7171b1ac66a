"""Regenerate `tests/data/wandb/` and `tests/data/wandb_resume/` with the real `wandb` writer (offline, no network).

Run by hand when a fixture must change: `python tests/make_wandb_fixtures.py [resumed|basic-and-define-metric]`
(no argument: all). wandb is not a test dependency: the tests read the committed copies. `basic/` logs what exercises
the reader:

- `loss` every step with one NaN and one +Infinity (W&B stores them as the JSON tokens `NaN`/`Infinity`);
- `val_loss` and `validation accuracy` every 10 steps only (sparse keys, a name with a space);
- a nested dict (`{"opt": {"lr": x}}`, stored as a nested history item, read as `opt.lr`) and a string value (not a
  metric);
- a config value longer than two 32 KiB blocks, so the record log needs FIRST/MIDDLE/LAST fragments.

`define-metric/` logs as HF Trainer's W&B callback does, with `train/global_step` as every key's step metric.

`tests/data/wandb_resume/` is one run resumed: a first session that crashes at step 39 (exit code 1), then a second
`wandb.init(id=..., resume="allow")` with the same id that goes back to a checkpoint at step 30 and logs steps 30-59
with other values. W&B writes the second session to its own `offline-run-<date>_<time>-<id>/` folder beside the
first; offline, W&B cannot look the run up, so the second RUN record is not marked resumed and `_step` would start
at 0 again: both sessions pass `step=` explicitly, as a training loop that resumes from a checkpoint does.

What was passed to `wandb.log` is also written to `logged.json` beside the run folders: the tests compare the
reader's output with it, an oracle independent of losslint. Only the files the reader uses are kept (the `.wandb`
record log, and `files/wandb-summary.json` / `files/config.yaml` when this wandb version writes them offline);
logs, debug files and machine metadata are deleted.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

FIXTURE_DIR = Path(__file__).parent / "data" / "wandb"
RESUME_DIR = Path(__file__).parent / "data" / "wandb_resume"
RESUME_ID = "resume-fix_1"  # W&B allows '-' and '_' in a chosen id; the folder-name parsing must cope
CRASH_STEP, CHECKPOINT_STEP, RESUMED_LAST_STEP = 39, 30, 59
KEEP = ("files/wandb-summary.json", "files/config.yaml")
STEPS = 60
SETTINGS = dict(console="off", x_disable_stats=True, x_disable_meta=True, x_disable_machine_info=True,
                disable_git=True, disable_code=True, save_code=False, disable_job_creation=True)


def _wandb():
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    import wandb

    return wandb


def _finish(wandb, run, workdir: Path) -> Path:
    run.finish()
    # finish() can return while the wandb-core service is still writing the record log; teardown waits for it
    wandb.teardown()
    (run_dir,) = (workdir / "wandb").glob("offline-run-*")
    return run_dir


def log_basic(workdir: Path, logged: list[dict]) -> Path:
    """Sparse keys, non-finite values, a nested dict, a text key, a config record split over three blocks."""
    wandb = _wandb()
    run = wandb.init(mode="offline", dir=str(workdir), project="losslint-fixture", name="fixture-offline",
                     config={"learning_rate": 0.01, "batch_size": 32, "optimizer": "sgd",
                             "long_note": "x" * 70_000},
                     settings=wandb.Settings(**SETTINGS))
    for step in range(STEPS):
        loss = 2.0 * math.exp(-step / 20) + 0.05
        if step == 17:
            loss = float("nan")
        if step == 33:
            loss = float("inf")
        row = {"loss": loss, "opt": {"lr": 0.01 * (0.95 ** step)}, "phase": "warmup" if step < 5 else "main"}
        if step % 10 == 9:
            row["val_loss"] = 2.1 * math.exp(-step / 25) + 0.1
            row["validation accuracy"] = min(0.99, 0.5 + step / 120)
        run.log(row, step=step)
        logged.append({"step": step, **row})
    return _finish(wandb, run, workdir)


def log_define_metric(workdir: Path, logged: list[dict]) -> Path:
    """What HF Trainer's W&B callback does: every key is plotted against `train/global_step`, not `_step`."""
    wandb = _wandb()
    run = wandb.init(mode="offline", dir=str(workdir), project="losslint-fixture", name="fixture-define-metric",
                     settings=wandb.Settings(**SETTINGS))
    run.define_metric("train/global_step")
    run.define_metric("*", step_metric="train/global_step", step_sync=True)
    for index in range(12):
        global_step = (index + 1) * 25
        row = {"train/loss": 1.5 / (index + 1), "train/learning_rate": 5e-5, "train/global_step": global_step}
        run.log(row)
        logged.append(row)
        if index % 4 == 3:
            row = {"eval/loss": 1.2 / (index + 1), "train/global_step": global_step}
            run.log(row)
            logged.append(row)
    return _finish(wandb, run, workdir)


def _resumed_rows(first: int, last: int, offset: float) -> list[dict]:
    rows = []
    for step in range(first, last + 1):
        row = {"loss": 2.0 * math.exp(-step / 20) + offset}
        if step % 10 == 9:
            row["val_loss"] = 2.1 * math.exp(-step / 25) + offset + 0.05
        rows.append({"step": step, **row})
    return rows


def log_resumed(workdir: Path) -> list[tuple[Path, list[dict]]]:
    """Two sessions of one run id, the second resumed from a checkpoint before the first one's crash."""
    wandb = _wandb()
    sessions = []
    first = wandb.init(mode="offline", dir=str(workdir), project="losslint-fixture", name="fixture-resumed",
                       id=RESUME_ID, config={"learning_rate": 0.01, "batch_size": 32},
                       settings=wandb.Settings(**SETTINGS))
    rows = _resumed_rows(0, CRASH_STEP, 0.05)
    for row in rows:
        first.log({k: v for k, v in row.items() if k != "step"}, step=row["step"])
    first.finish(exit_code=1)
    wandb.teardown()
    sessions.append(rows)
    time.sleep(1.1)  # a later start second, so the folder names order the sessions as a real resume would
    second = wandb.init(mode="offline", dir=str(workdir), project="losslint-fixture", id=RESUME_ID, resume="allow",
                        config={"learning_rate": 0.01, "batch_size": 32}, settings=wandb.Settings(**SETTINGS))
    rows = _resumed_rows(CHECKPOINT_STEP, RESUMED_LAST_STEP, 0.03)
    for row in rows:
        second.log({k: v for k, v in row.items() if k != "step"}, step=row["step"])
    second.finish()
    wandb.teardown()
    sessions.append(rows)
    folders = sorted((workdir / "wandb").glob(f"offline-run-*-{RESUME_ID}*"))
    assert len(folders) == 2, folders
    return list(zip(folders, sessions))


def write_resumed() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sessions = log_resumed(Path(tmp))
        if RESUME_DIR.exists():
            shutil.rmtree(RESUME_DIR)
        manifest = {"run_id": RESUME_ID, "sessions": []}
        for run_dir, rows in sessions:
            target = copy_needed(run_dir, RESUME_DIR / "wandb", clear=False)
            manifest["sessions"].append({"run_folder": target.relative_to(RESUME_DIR).as_posix(), "rows": rows})
    total = sum(p.stat().st_size for p in RESUME_DIR.rglob("*") if p.is_file())
    print(f"wrote {RESUME_DIR} ({total} bytes)")
    (RESUME_DIR / "logged.json").write_text(json.dumps(manifest, indent=1) + "\n")


def copy_needed(run_dir: Path, target_root: Path, clear: bool = True) -> Path:
    if clear and target_root.exists():
        shutil.rmtree(target_root)
    target = target_root / run_dir.name
    (target / "files").mkdir(parents=True)
    (binary,) = run_dir.glob("run-*.wandb")
    shutil.copy2(binary, target / binary.name)
    for rel in KEEP:
        if (run_dir / rel).exists():
            shutil.copy2(run_dir / rel, target / rel)
    return target


def main(which: list[str]) -> None:
    """`which`: the fixtures to rewrite (`basic-and-define-metric`, `resumed`); all when empty."""
    if not which or "resumed" in which:
        write_resumed()
    if which and "basic-and-define-metric" not in which:
        return
    manifest = {}
    for name, log in (("basic", log_basic), ("define-metric", log_define_metric)):
        with tempfile.TemporaryDirectory() as tmp:
            logged: list[dict] = []
            run_dir = log(Path(tmp), logged)
            target = copy_needed(run_dir, FIXTURE_DIR / name)
        manifest[name] = {"run_folder": target.relative_to(FIXTURE_DIR).as_posix(), "rows": logged}
        total = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        print(f"wrote {target} ({total} bytes)")
    # json writes NaN/Infinity as W&B does; the tests read them back with json.load
    (FIXTURE_DIR / "logged.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
