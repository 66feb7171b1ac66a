"""Regenerate `tests/data/wandb/` with the real `wandb` writer (offline, no network).

Run by hand when the fixture must change: `python tests/make_wandb_fixtures.py`. wandb is not a test dependency:
the tests read the committed copy. What the run logs is chosen to exercise the reader:

- `loss` every step with one NaN and one +Infinity (W&B stores them as the JSON tokens `NaN`/`Infinity`);
- `val_loss` and `validation accuracy` every 10 steps only (sparse keys, a name with a space);
- a nested dict (`{"opt": {"lr": x}}`, stored as a nested history item, read as `opt.lr`) and a string value (not a metric);
- a config value longer than two 32 KiB blocks, so the record log needs FIRST/MIDDLE/LAST fragments.

What was passed to `wandb.log` is also written to `logged.json` beside the run folder: the tests compare the
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


def make_offline_run(workdir: Path, logged: list[dict]) -> Path:
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    import wandb

    settings = wandb.Settings(console="off", x_disable_stats=True, x_disable_meta=True, x_disable_machine_info=True,
                              disable_git=True, disable_code=True, save_code=False, disable_job_creation=True)
    run = wandb.init(mode="offline", dir=str(workdir), project="losslint-fixture", name="fixture-offline",
                     config={"learning_rate": 0.01, "batch_size": 32, "optimizer": "sgd",
                             "long_note": "x" * 70_000},
                     settings=settings)
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
    run.finish()
    # finish() can return while the wandb-core service is still writing the record log; teardown waits for it
    wandb.teardown()
    (run_dir,) = (workdir / "wandb").glob("offline-run-*")
    return run_dir


def copy_needed(run_dir: Path, target_root: Path) -> Path:
    for old in target_root.glob("offline-run-*"):
        shutil.rmtree(old)
    target = target_root / run_dir.name
    (target / "files").mkdir(parents=True)
    (binary,) = run_dir.glob("run-*.wandb")
    shutil.copy2(binary, target / binary.name)
    for rel in KEEP:
        if (run_dir / rel).exists():
            shutil.copy2(run_dir / rel, target / rel)
    return target


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        logged: list[dict] = []
        run_dir = make_offline_run(Path(tmp), logged)
        target = copy_needed(run_dir, FIXTURE_DIR)
    # json writes NaN/Infinity as W&B does; the tests read them back with json.load
    (FIXTURE_DIR / "logged.json").write_text(json.dumps({"run_folder": target.name, "rows": logged}, indent=1) + "\n")
    total = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"wrote {target} ({total} bytes)")


if __name__ == "__main__":
    main()
