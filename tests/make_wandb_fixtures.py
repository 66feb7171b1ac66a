"""Regenerate `tests/data/wandb/` with the real `wandb` writer (offline, no network).

Run by hand when the fixture must change: `python tests/make_wandb_fixtures.py`. wandb is not a test dependency:
the tests read the committed copies. `basic/` logs what exercises the reader:

- `loss` every step with one NaN and one +Infinity (W&B stores them as the JSON tokens `NaN`/`Infinity`);
- `val_loss` and `validation accuracy` every 10 steps only (sparse keys, a name with a space);
- a nested dict (`{"opt": {"lr": x}}`, stored as a nested history item, read as `opt.lr`) and a string value (not a metric);
- a config value longer than two 32 KiB blocks, so the record log needs FIRST/MIDDLE/LAST fragments.

`define-metric/` logs as HF Trainer's W&B callback does, with `train/global_step` as every key's step metric.

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
import tempfile
from pathlib import Path

FIXTURE_DIR = Path(__file__).parent / "data" / "wandb"
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


def copy_needed(run_dir: Path, target_root: Path) -> Path:
    if target_root.exists():
        shutil.rmtree(target_root)
    target = target_root / run_dir.name
    (target / "files").mkdir(parents=True)
    (binary,) = run_dir.glob("run-*.wandb")
    shutil.copy2(binary, target / binary.name)
    for rel in KEEP:
        if (run_dir / rel).exists():
            shutil.copy2(run_dir / rel, target / rel)
    return target


def main() -> None:
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
    main()
