"""Speed benchmark: losslint's readers and `losslint check` against the public tools, in one run on one machine.

    python benchmarks/bench.py [--quick] [--reps N] [--sections tb,jsonl,check,hf,report,mem,perrun,compare,remote]
                               [--inputs DIR] [--scalars N] [--baseline SRC] [--runs N]

Inputs are generated into a temporary folder (or `--inputs DIR`, reused when already there):

- a TensorBoard event file holding one 1M-step run: `train/loss` at every step, `eval/loss` and
  `train/learning_rate` every 100 steps (1.02M scalars), written with TensorBoard's own `RecordWriter`
  (the writer behind `EventFileWriter`; the three public writers are timed on a sample first and the fastest is used);
- the same run as a JSONL log (1.01M lines, `{"step", "train/loss"}` / `{"step", "eval/loss"}`);
- a tree of 1,000 HF `trainer_state.json` runs (200 training logs + 20 evaluations each, labels mixed);
- section `compare`: a sweep of 1,000 such runs, each with a `training_args.json` beside it (learning rate, batch
  size, label noise drawn from a grid; the curve's label follows the settings, so the effects have something to
  find). It times `losslint compare SWEEP --jobs 2 --format json` and `... -o DIR` (JSON, Markdown and PNGs) against
  `losslint check SWEEP --jobs 2` on the same tree (target: compare under 20 s).

Section `remote` writes `--runs` HF runs (default 10,000), uploads them to moto's S3 server on 127.0.0.1 and times
`losslint check s3://... --executor dask --jobs 2` (a 2-worker LocalCluster) against `check <local copy> --jobs 2`
(needs the test extra: moto[server], s3fs, dask[distributed]).

Section `report` needs no generated input: it times `losslint check CORPUS --jobs 2` with and without
`--report DIR` on the real-world corpus (`--corpus`, default `../shared/realworld` or `$LOSSLINT_REALWORLD`, 51 runs)
and prints the ratio (target: the report at most 5x the check).

Section `mem` writes one event file of `--scalars` points (default 25M: 50 metrics x 500k steps, the size of an LLM
pre-training run; PyTorch's record layout, written directly with numpy, ~1.5 GB) and reports the peak RSS of
`losslint check FILE` (target: 2 GiB). Section `perrun` times `check --jobs 1` and `--jobs 2` on the HF tree (ms per
run, and the jobs-2 speed-up; target 1.7x on an idle two-core machine) and, in one process, the cost of each part
of checking a 300-point run (target: 3 ms for reading + checking it). `--baseline SRC` measures the check (and
report) rows again with the losslint source tree SRC (e.g. a worktree of `main`) on PYTHONPATH: before/after in one run.

Every measurement runs in its own subprocess (fresh interpreter, so peak RSS belongs to that measurement alone), is
repeated `--reps` times, and the median is printed. Ratios compare tools measured in this same run. Read times
exclude the interpreter start and imports; `losslint check` times are the whole command as a user runs it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # synthetic_curves lives with the tests

FULL_STEPS = 1_000_000
QUICK_STEPS = 20_000
FULL_HF_RUNS = 1_000
QUICK_HF_RUNS = 40
EVAL_EVERY = 100
WRITER_SAMPLE = 20_000

FULL_REMOTE_RUNS = 10_000
QUICK_REMOTE_RUNS = 40

TARGET_TB_SPEEDUP = 50.0
TARGET_TB_FRAMING = 1.2  # losslint's TB read at most this many times the bare framing loop
TARGET_PEAK_MIB = 2048.0
TARGET_PER_RUN_MS = 3.0
TARGET_JOBS2_SPEEDUP = 1.7
FULL_SCALARS = 25_000_000
QUICK_SCALARS = 500_000
MEM_METRICS = 50
BASELINE_MEM_MAX_SCALARS = 5_000_000
TARGET_CHECK_1M_S = 2.0
TARGET_HF_TREE_S = 20.0
TARGET_REPORT_RATIO = 5.0
TARGET_COMPARE_S = 20.0
DEFAULT_CORPUS = Path(os.environ.get("LOSSLINT_REALWORLD", HERE.parent.parent / "shared" / "realworld"))


# ---------------------------------------------------------------------------------------------------------------
# inputs


def big_run(n_steps: int):
    from synthetic_curves import make_run

    # an overfitting run with a few spikes, so `check` has findings to compute, not only a clean pass
    return make_run("overfitting", 0, family="u-shape-power", n_train=n_steps, log_every=1, eval_every=EVAL_EVERY,
                    noise=0.03, noise_kind="gaussian", spikes=5)


def learning_rate_at(steps):
    import numpy as np

    return 1e-4 * 0.5 * (1 + np.cos(np.pi * steps / steps[-1]))


def tb_events(run):
    """(wall_time, step, tag, value) in the order a training loop logs them."""
    import numpy as np

    lr_steps = run.eval_steps
    lr = learning_rate_at(lr_steps) if len(lr_steps) else np.zeros(0)
    eval_at = dict(zip(run.eval_steps.tolist(), run.eval_values.tolist()))
    lr_at = dict(zip(lr_steps.tolist(), lr.tolist()))
    t0 = 1.7e9
    for step, value in zip(run.train_steps.tolist(), run.train_values.tolist()):
        wall = t0 + step * 0.01
        yield wall, step, "train/loss", value
        if step in lr_at:
            yield wall, step, "train/learning_rate", lr_at[step]
        if step in eval_at:
            yield wall, step, "eval/loss", eval_at[step]


def write_tb_records(events, folder: Path) -> Path:
    """TensorBoard's RecordWriter writing Event protos, as EventFileWriter does but without its queue thread."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.record_writer import RecordWriter

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "events.out.tfevents.1700000000.bench.1.0"
    with open(path, "wb") as fh:
        writer = RecordWriter(fh)
        writer.write(Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString())
        for wall, step, tag, value in events:
            summary = Summary(value=[Summary.Value(tag=tag, simple_value=value)])
            writer.write(Event(wall_time=wall, step=step, summary=summary).SerializeToString())
    return path


def write_tb_summarywriter(events, folder: Path, kind: str) -> Path:
    if kind == "torch":
        from torch.utils.tensorboard import SummaryWriter
    elif kind == "tensorboardX":
        from tensorboardX import SummaryWriter
    else:
        raise ValueError(kind)
    writer = SummaryWriter(str(folder))
    for wall, step, tag, value in events:
        writer.add_scalar(tag, value, step, walltime=wall)
    writer.close()
    return next(folder.glob("events.out.tfevents.*"))


def time_writers(run, workdir: Path) -> dict[str, float]:
    """Scalars/s of each public writer on the first WRITER_SAMPLE scalars."""
    sample = list(tb_events(run))[:WRITER_SAMPLE]
    rates = {}
    for kind in ("torch", "tensorboardX", "tensorboard-records"):
        folder = workdir / f"writer-{kind}"
        start = time.perf_counter()
        try:
            if kind == "tensorboard-records":
                write_tb_records(iter(sample), folder)
            else:
                write_tb_summarywriter(iter(sample), folder, kind)
        except ImportError:  # a writer that is not installed here is left out of the comparison
            continue
        rates[kind] = len(sample) / (time.perf_counter() - start)
        shutil.rmtree(folder, ignore_errors=True)
    return rates


def hf_log_history(run, steps_per_epoch: int = 100) -> list[dict]:
    key = {"train/loss": "loss", "train/learning_rate": "learning_rate"}.get(run.train_tag, run.train_tag)
    entries = []
    for step, value in zip(run.train_steps.tolist(), run.train_values.tolist()):
        entries.append({"epoch": round(step / steps_per_epoch, 2), "grad_norm": 1.0, "learning_rate": 5e-5,
                        key: value, "step": step})
    for step, value in zip(run.eval_steps.tolist(), run.eval_values.tolist()):
        entries.append({"epoch": round(step / steps_per_epoch, 2), "eval_loss": value, "eval_runtime": 1.5,
                        "eval_samples_per_second": 100.0, "eval_steps_per_second": 12.5, "step": step})
    entries.sort(key=lambda e: (e["step"], "eval_loss" in e))
    return entries


def write_hf_tree(root: Path, n_runs: int) -> Path:
    from synthetic_curves import LABELS, make_run

    for i in range(n_runs):
        label = LABELS[i % len(LABELS)]
        run = make_run(label, i, n_train=200, log_every=10, eval_every=100)
        last = int(run.train_steps[-1]) if len(run.train_steps) else 0
        state = {"best_metric": None, "best_model_checkpoint": None, "epoch": last / 100, "global_step": last,
                 "is_hyper_param_search": False, "is_local_process_zero": True, "is_world_process_zero": True,
                 "log_history": hf_log_history(run), "logging_steps": 10, "max_steps": last, "eval_steps": 100,
                 "num_train_epochs": max(1, last // 100), "total_flos": 0.0, "trial_name": None, "trial_params": None}
        folder = root / f"run-{i:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "trainer_state.json").write_text(json.dumps(state, indent=2))
    return root


SWEEP_GRID = {"learning_rate": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], "per_device_train_batch_size": [8, 16, 32, 64],
              "label_noise": [0.0, 0.1, 0.2, 0.3]}


def sweep_label(settings: dict) -> str:
    """The story a run of the benchmark sweep tells, from its settings (as the fine-tune grid's runs do)."""
    if settings["learning_rate"] >= 3e-3:
        return "unstable"
    if settings["label_noise"] >= 0.2:
        return "overfitting"
    if settings["learning_rate"] <= 1e-4:
        return "underfitting"
    return "good-fit"


def write_sweep_tree(root: Path, n_runs: int) -> Path:
    """`n_runs` HF runs (trainer_state.json + training_args.json), settings cycling through SWEEP_GRID (shuffled
    once, with a fixed seed)."""
    import itertools
    import random

    from synthetic_curves import make_run

    grid = list(itertools.product(*SWEEP_GRID.values()))
    random.Random(0).shuffle(grid)  # any first k runs vary every setting
    for i in range(n_runs):
        settings = dict(zip(SWEEP_GRID, grid[i % len(grid)]))
        settings["seed"] = i // len(grid)
        run = make_run(sweep_label(settings), 10_000 + i, n_train=200, log_every=10, eval_every=100)
        last = int(run.train_steps[-1]) if len(run.train_steps) else 0
        state = {"epoch": last / 100, "global_step": last, "log_history": hf_log_history(run), "logging_steps": 10,
                 "max_steps": last, "eval_steps": 100, "num_train_epochs": max(1, last // 100)}
        folder = root / f"trial-{i:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "trainer_state.json").write_text(json.dumps(state, indent=2))
        (folder / "training_args.json").write_text(json.dumps(settings, indent=2))
    return root


@dataclass
class Inputs:
    tb: Path
    jsonl: Path
    hf_tree: Path
    tb_scalars: int
    jsonl_lines: int
    hf_runs: int
    writer_rates: dict[str, float]
    tb_write_s: float


def make_inputs(root: Path, n_steps: int, n_hf: int, time_all_writers: bool, here: bool = False) -> Inputs:
    """The inputs (reused from `root` when its manifest matches). Made in a subprocess unless `here`: a child
    process reports as its peak RSS at least its parent's RSS when it started (Linux keeps the high-water mark of
    the image it replaced), so the measuring parent must stay small."""
    manifest = root / "inputs.json"
    if manifest.exists():
        saved = json.loads(manifest.read_text())
        if saved["n_steps"] == n_steps and saved["n_hf"] == n_hf:
            return Inputs(Path(saved["tb"]), Path(saved["jsonl"]), Path(saved["hf_tree"]), saved["tb_scalars"],
                          saved["jsonl_lines"], saved["hf_runs"], saved["writer_rates"], saved["tb_write_s"])
    if not here:
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_child", "make-inputs", str(root)],
                       check=True, env={**os.environ, "BENCH_MAKE": json.dumps([n_steps, n_hf, time_all_writers])})
        return make_inputs(root, n_steps, n_hf, time_all_writers, here=False) if manifest.exists() else None
    from synthetic_curves import write_jsonl

    run = big_run(n_steps)
    rates = time_writers(run, root) if time_all_writers else {}
    start = time.perf_counter()
    tb = write_tb_records(tb_events(run), root / "tb" / "run")
    tb_write_s = time.perf_counter() - start
    tb_scalars = len(run.train_steps) + 2 * len(run.eval_steps)
    jsonl = write_jsonl(run, root / "jsonl" / "run" / "metrics.jsonl")
    hf_tree = write_hf_tree(root / "hf", n_hf)
    inputs = Inputs(tb, jsonl, hf_tree, tb_scalars, len(run.train_steps) + len(run.eval_steps), n_hf, rates,
                    tb_write_s)
    manifest.write_text(json.dumps({"n_steps": n_steps, "n_hf": n_hf, "tb": str(tb), "jsonl": str(jsonl),
                                    "hf_tree": str(hf_tree), "tb_scalars": tb_scalars,
                                    "jsonl_lines": inputs.jsonl_lines, "hf_runs": n_hf, "writer_rates": rates,
                                    "tb_write_s": tb_write_s}))
    return inputs


def many_metric_tags(n_metrics: int) -> list[str]:
    base = ["train/loss", "eval/loss", "train/grad_norm", "train/learning_rate"]
    return (base + [f"train/layer_{i:02d}/grad_norm" for i in range(n_metrics)])[:n_metrics]


def _varints(values, width: int):
    import numpy as np

    out = np.zeros((len(values), width), np.uint8)
    rest = values.astype(np.uint64)
    for k in range(width):
        out[:, k] = (rest & np.uint64(0x7F)).astype(np.uint8) | (0x80 if k < width - 1 else 0)
        rest >>= np.uint64(7)
    return out


def write_many_metrics(path: Path, n_metrics: int, n_steps: int, chunk_steps: int = 20_000, seed: int = 0) -> Path:
    """An event file of `n_metrics` scalars at every step 1..n_steps, one record per scalar, byte for byte what
    PyTorch's SummaryWriter.add_scalar writes (``09 wall 10 step 2a { 0a { 0a tag 15 f32 } }``, TFRecord framing
    with CRC-32C), built with numpy a chunk of steps at a time: torch would need hours for 25M scalars.
    `tests/test_benchmarks.py` checks it against tbparse."""
    import numpy as np

    from losslint.io.tensorboard.records import _mask_array, crc32c_numpy, frame, masked_crc32c

    tags = [t.encode() for t in many_metric_tags(n_metrics)]
    tag_len = np.array([len(t) for t in tags])
    rng = np.random.default_rng(seed)
    scale, floor = rng.uniform(0.5, 3.0, n_metrics), rng.uniform(0.01, 0.5, n_metrics)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(frame(b"\x09" + struct.pack("<d", 1.7e9) + b"\x1a\x0dbrain.Event:2"))
        for lo in range(1, n_steps + 1, chunk_steps):
            hi = min(lo + chunk_steps, n_steps + 1)
            for width in range(1, 5):  # the step's varint width: 1..127, 128..16383, ...
                a, b = max(lo, 1 << (7 * (width - 1)) if width > 1 else 1), min(hi, 1 << (7 * width))
                if a >= b:
                    continue
                steps = np.repeat(np.arange(a, b, dtype=np.int64), n_metrics)
                which = np.tile(np.arange(n_metrics), b - a)
                m = len(steps)
                values = (scale[which] * np.exp(-steps / (n_steps / 4)) + floor[which]
                          + 0.02 * rng.standard_normal(m)).astype("<f4")
                walls = 1.7e9 + steps * 0.1 + which * 1e-4
                tlen = tag_len[which]
                plen = 21 + width + tlen
                mat = np.zeros((m, 16 + int(plen.max())), np.uint8)
                rows = np.arange(m)
                mat[:, 0:8] = plen.astype("<u8").view(np.uint8).reshape(m, 8)
                for length in np.unique(plen).tolist():
                    mat[plen == length, 8:12] = np.frombuffer(
                        struct.pack("<I", masked_crc32c(struct.pack("<Q", length))), np.uint8)
                mat[:, 12] = 0x09
                mat[:, 13:21] = walls.astype("<f8").view(np.uint8).reshape(m, 8)
                mat[:, 21] = 0x10
                mat[:, 22:22 + width] = _varints(steps, width)
                q = 22 + width
                mat[:, q], mat[:, q + 1], mat[:, q + 2], mat[:, q + 3] = 0x2A, tlen + 9, 0x0A, tlen + 7
                mat[:, q + 4], mat[:, q + 5] = 0x0A, tlen
                for k, tag in enumerate(tags):
                    mat[which == k, q + 6:q + 6 + len(tag)] = np.frombuffer(tag, np.uint8)
                at = q + 6 + tlen
                mat[rows, at] = 0x15
                value_bytes = values.view(np.uint8).reshape(m, 4)
                for k in range(4):
                    mat[rows, at + 1 + k] = value_bytes[:, k]
                for length in np.unique(plen).tolist():
                    sel = np.flatnonzero(plen == length)
                    crc = _mask_array(crc32c_numpy(np.ascontiguousarray(mat[sel, 12:12 + length])))
                    mat[sel[:, None], 12 + length + np.arange(4)] = crc.astype("<u4").view(np.uint8).reshape(-1, 4)
                fh.write(mat[np.arange(mat.shape[1]) < (16 + plen)[:, None]].tobytes())
    return path


def bare_framing_loop(path: Path):
    """The floor for any TFRecord reader in Python: read the file, walk the length fields, slice each payload."""
    unpack = struct.Struct("<Q").unpack_from

    def run():
        data = path.read_bytes()
        offset, size, count = 0, len(data), 0
        while offset + 12 <= size:
            length = unpack(data, offset)[0]
            payload = data[offset + 12:offset + 12 + length]
            offset += 16 + length
            count += len(payload) >= 0
        return count

    return run, None


# ---------------------------------------------------------------------------------------------------------------
# child side: one measurement in a fresh interpreter, result as one JSON line on stdout


def rows_digest(tags, steps, values) -> str:
    """Order-free identity of a scalar table: rows sorted by (tag, step), values compared as float32 (the event
    file's precision)."""
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"tag": pd.array(list(tags), dtype=object), "step": np.asarray(steps, dtype=np.int64),
                          "value": np.asarray(values, dtype=np.float64).astype(np.float32)})
    frame = frame.sort_values(["tag", "step"], kind="stable")
    digest = hashlib.sha256()
    digest.update("\n".join(frame["tag"].tolist()).encode())
    digest.update(frame["step"].to_numpy().tobytes())
    digest.update(frame["value"].to_numpy().tobytes())
    return digest.hexdigest()[:16]


def read_losslint(module: str, path: Path):
    import importlib

    import pandas as pd

    reader = importlib.import_module(f"losslint.io.{module}").READER

    def run():
        runs = reader.read([path], "bench")
        return pd.concat([r.data for r in runs], ignore_index=True) if len(runs) > 1 else runs[0].data

    def table(data):
        return data["tag"], data["step"], data["value"]

    return run, table


def read_tbparse(path: Path):
    from tbparse import SummaryReader

    def run():
        return SummaryReader(str(path), pivot=False, event_types={"scalars"}).scalars

    return run, lambda df: (df["tag"], df["step"], df["value"])


def read_event_accumulator(path: Path):
    from tensorboard.backend.event_processing import event_accumulator as ea

    def run():
        acc = ea.EventAccumulator(str(path), size_guidance={ea.SCALARS: 0})  # 0 = keep every point
        acc.Reload()
        return {tag: acc.Scalars(tag) for tag in acc.Tags()["scalars"]}

    def table(scalars):
        tags, steps, values = [], [], []
        for tag, events in scalars.items():
            tags += [tag] * len(events)
            steps += [e.step for e in events]
            values += [e.value for e in events]
        return tags, steps, values

    return run, table


def read_pandas_jsonl(path: Path):
    import pandas as pd

    def run():
        return pd.read_json(path, lines=True)

    def table(df):
        long = df.melt(id_vars="step", var_name="tag", value_name="value").dropna(subset=["value"])
        return long["tag"], long["step"], long["value"]

    return run, table


CHILD_TASKS = {
    "tb-losslint": lambda p: read_losslint("tensorboard", p),
    "tb-tbparse": read_tbparse,
    "tb-event-accumulator": read_event_accumulator,
    "tb-framing-loop": bare_framing_loop,
    "jsonl-losslint": lambda p: read_losslint("jsonl", p),
    "jsonl-pandas": read_pandas_jsonl,
}


def child(task: str, path: Path) -> None:
    if task == "make-inputs":
        n_steps, n_hf, time_all = json.loads(os.environ["BENCH_MAKE"])
        make_inputs(path, n_steps, n_hf, time_all, here=True)
        return None
    if task == "write-mem":
        n_metrics, n_steps = json.loads(os.environ["BENCH_MAKE"])
        write_many_metrics(path, n_metrics, n_steps)
        return None
    if task == "write-small":
        write_small_runs(path)
        return None
    if task == "mem-check":
        return mem_child(path)
    if task == "perrun-parts":
        return perrun_child(path)
    run, table = CHILD_TASKS[task](path)
    start, cpu_start = time.perf_counter(), time.process_time()
    result = run()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: KiB
    if table is None:  # the framing loop: records, no table
        print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": result, "peak_mib": peak_kib / 1024,
                          "digest": None}))
        return
    tags, steps, values = table(result)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": len(steps), "peak_mib": peak_kib / 1024,
                      "digest": rows_digest(tags, steps, values)}))


# ---------------------------------------------------------------------------------------------------------------
# parent side


@dataclass
class Measurement:
    name: str
    section: str
    seconds: float | None = None
    cpu: float | None = None
    rows: int | None = None
    peak_mib: float | None = None
    digest: str | None = None
    exit_codes: tuple[int, ...] = ()
    error: str | None = None
    parts: dict[str, float] | None = None  # perrun-parts: CPU ms per run of each part

    @property
    def rate(self) -> float | None:
        return self.rows / self.seconds if self.rows and self.seconds else None


def run_child(task: str, path: Path, reps: int, timeout: float, baseline: Path | None = None,
              name: str | None = None) -> Measurement:
    section = task.split("-", 1)[0]
    name = name or task
    results = []
    for _ in range(reps):
        try:
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_child", task, str(path)],
                                  capture_output=True, text=True, timeout=timeout, env=child_env(baseline))
        except subprocess.TimeoutExpired:
            return Measurement(name, section, error=f"timed out after {timeout:.0f} s")
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            return Measurement(name, section, error=last[:160])
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    digests = {r["digest"] for r in results}
    peaks = [r["peak_mib"] for r in results if r["peak_mib"] is not None]
    parts = None
    if results[0].get("parts"):
        parts = {k: statistics.median(r["parts"][k] for r in results) for k in results[0]["parts"]}
    return Measurement(name, section, seconds=statistics.median(r["seconds"] for r in results),
                       cpu=statistics.median(r["cpu"] for r in results),
                       rows=results[0]["rows"], peak_mib=statistics.median(peaks) if peaks else None,
                       digest=digests.pop() if len(digests) == 1 else "unstable", parts=parts)


def run_check(name: str, args: list[str], reps: int, timeout: float, ok_codes: tuple[int, ...] = (0, 1),
              report: bool = False, command: str = "check", report_flag: str = "--report",
              baseline: Path | None = None) -> Measurement:
    """Wall time of the whole `losslint check` command; peak RSS of its largest process (wait4 rusage: the child
    and the workers it reaped). `report`: each repetition writes `--report` to a fresh folder."""
    times, cpus, peaks, codes = [], [], [], []
    for _ in range(reps):
        out_dir = tempfile.TemporaryDirectory(prefix="losslint-bench-report-") if report else None
        if out_dir is not None:
            args = [*args, report_flag, str(Path(out_dir.name) / "report")]
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            proc = subprocess.Popen(losslint_command(baseline) + [command, *args], stdout=subprocess.DEVNULL,
                                    stderr=err, env=child_env(baseline))
            timer = threading.Timer(timeout, proc.kill)
            timer.start()
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - start
            timer.cancel()
            proc.returncode = code = os.waitstatus_to_exitcode(status)
            err.seek(0)
            stderr = err.read().decode(errors="replace")
        if out_dir is not None:
            args = args[:-2]
            out_dir.cleanup()
        if code < 0:
            return Measurement(name, "check", error=f"killed (signal {-code}); timeout {timeout:.0f} s")
        codes.append(code)
        if code not in ok_codes:  # 0 clean, 1 findings; 2 = usage error or unreadable input
            last = (stderr.strip().splitlines() or ["(no output)"])[-1]
            return Measurement(name, "check", exit_codes=tuple(codes), error=f"exit {code}: {last[:140]}")
        times.append(elapsed)
        cpus.append(usage.ru_utime + usage.ru_stime)
        peaks.append(usage.ru_maxrss / 1024)
    return Measurement(name, "check", seconds=statistics.median(times), cpu=statistics.median(cpus),
                       peak_mib=statistics.median(peaks), exit_codes=tuple(codes))


def losslint_command(baseline: Path | None = None) -> list[str]:
    script = Path(sys.executable).parent / "losslint"
    if script.exists() and baseline is None:
        return [str(script)]
    # `python -c` puts the working directory first on sys.path, before PYTHONPATH: run from the repository root, it
    # would import this tree, not the baseline, so the baseline goes first explicitly
    first = f"import sys; sys.path.insert(0, {str(Path(baseline).resolve())!r}); " if baseline is not None else ""
    return [sys.executable, "-c", first + "from losslint.cli import main; main()"]


def child_env(baseline: Path | None) -> dict[str, str] | None:
    """The environment of a measurement: this one, or with the baseline source tree first on PYTHONPATH."""
    if baseline is None:
        return None
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(baseline), os.environ.get("PYTHONPATH", "")])}


def run_mem(name: str, path: Path, reps: int, timeout: float, baseline: Path | None = None) -> Measurement:
    """Peak RSS of `losslint check PATH`, measured by a helper process as `getrusage(RUSAGE_CHILDREN).ru_maxrss`
    after the check (its only child) has ended."""
    m = run_child("mem-check", path, reps, timeout, baseline=baseline, name=name)
    m.section = "mem"
    return m


def mem_child(path: Path) -> None:
    start = time.perf_counter()
    proc = subprocess.run(losslint_command() + ["check", str(path)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"check exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "rows": None,
                      "peak_mib": usage.ru_maxrss / 1024, "digest": None}))


PERRUN_RUNS = 60


def write_small_runs(root: Path, n_runs: int = PERRUN_RUNS) -> Path:
    """`n_runs` trainer_state runs of ~300 points each (80 training logs of loss/grad_norm/lr/epoch, 8 evaluations)."""
    from synthetic_curves import LABELS, make_run

    for i in range(n_runs):
        run = make_run(LABELS[i % len(LABELS)], i, n_train=80, log_every=1, eval_every=10)
        last = int(run.train_steps[-1]) if len(run.train_steps) else 0
        state = {"global_step": last, "log_history": hf_log_history(run, steps_per_epoch=20), "max_steps": last}
        folder = root / f"small-{i:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "trainer_state.json").write_text(json.dumps(state))
    return root


def perrun_child(root: Path) -> None:
    """CPU ms per run of each part of checking small runs, in one warm process (median of 5 passes over the runs)."""
    import numpy as np

    from losslint.config import coerce
    from losslint.engine import check_run
    from losslint.io.trainer_state import READER
    from losslint.schema import frame_from_columns
    from losslint.view import RunView

    paths = sorted(root.glob("small-*/trainer_state.json"))
    config = coerce(None, [])
    spike = config.params_for("I302")
    runs = [READER.read([p], p.parent.name)[0] for p in paths]
    columns = [[np.asarray(r.data[c], dtype=object if c in ("metric", "tag") else None) for c in
                ("metric", "step", "value", "wall_time", "epoch", "tag")] for r in runs]

    def views():
        for run in runs:
            view = RunView(run)
            for metric in view.metrics:
                view.series(metric)

    def medians():
        for run in runs:
            view = RunView(run)
            for metric in view.metrics:
                series = view.series(metric)
                if series is not None:
                    _ = series.smoothed
                    series.spikes(spike["z_threshold"], spike["window"], spike["min_rel_jump"],
                                  spike["min_range_fraction"])

    parts = {
        "read": lambda: [READER.read([p], p.parent.name) for p in paths],
        "frame": lambda: [frame_from_columns(*cols) for cols in columns],
        "view": views,
        "medians+spikes": medians,
        "check": lambda: [check_run(run, config, annotate=False) for run in runs],  # as `losslint check`
    }
    out = {}
    for name, work in parts.items():
        times = []
        for _ in range(5):
            start = time.process_time()
            work()
            times.append((time.process_time() - start) * 1000 / len(runs))
        out[name] = statistics.median(times)
    out["points"] = float(np.mean([len(r.data) for r in runs]))
    print(json.dumps({"seconds": (out["read"] + out["check"]) / 1000, "cpu": (out["read"] + out["check"]) / 1000,
                      "rows": len(runs), "peak_mib": None, "digest": None, "parts": out}))


def available(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def check_available() -> bool:
    proc = subprocess.run(losslint_command() + ["check", "--help"], capture_output=True, text=True)
    return proc.returncode == 0


# ---------------------------------------------------------------------------------------------------------------
# remote: runs in a bucket checked on a Dask cluster, against the same runs on local disk with --jobs 2

REMOTE_BUCKET = "losslint-bench"


def remote_section(root: Path, n_runs: int, reps: int, timeout: float) -> tuple[list[Measurement], list[str]]:
    """`check s3://.../hf --executor dask --jobs 2` (a LocalCluster of 2 workers, started by the command: its start
    is part of what a user waits for) against `check <local tree> --jobs 2`, on `n_runs` HF runs. The bucket is
    moto's S3 server on 127.0.0.1 in this process (its CPU is not in the check's cpu column, its wall time is)."""
    missing = [m for m in ("moto.server", "s3fs", "distributed") if not available(m)]
    if missing:
        error = f"needs {', '.join(missing)} (pip install -e '.[test]')"
        return [Measurement("remote-dask-s3", "remote", error=error)], []
    from s3_support import CREDENTIALS, forget_clients, moto_server

    tree = root / f"remote-hf-{n_runs}"
    if not (tree / "done").exists():
        shutil.rmtree(tree, ignore_errors=True)
        write_hf_tree(tree / "hf", n_runs)
        (tree / "done").touch()
    notes = []
    saved = {key: os.environ.get(key) for key in ("AWS_ENDPOINT_URL", *CREDENTIALS)}
    with moto_server() as endpoint:
        os.environ.update(AWS_ENDPOINT_URL=endpoint, **CREDENTIALS)  # the checks are subprocesses: they inherit it
        try:
            import s3fs

            forget_clients()
            store = s3fs.S3FileSystem()
            store.mkdir(REMOTE_BUCKET)
            start = time.perf_counter()
            store.put(str(tree / "hf"), f"{REMOTE_BUCKET}/hf", recursive=True)
            notes.append(f"remote: {n_runs:,} trainer_state.json runs uploaded to moto's S3 server on {endpoint} in "
                         f"{time.perf_counter() - start:.1f} s")
            local = run_check("remote-local-jobs2", [str(tree / "hf"), "--jobs", "2"], reps, timeout)
            dask = run_check("remote-dask-s3", [f"s3://{REMOTE_BUCKET}/hf", "--executor", "dask", "--jobs", "2"],
                             reps, timeout)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            forget_clients()
    for m in (local, dask):
        m.rows, m.section = n_runs, "remote"
    if local.seconds and dask.seconds:
        ratio = dask.seconds / local.seconds
        notes.append(f"remote: Dask executor on the bucket / --jobs 2 on local disk = {ratio:.2f}x wall "
                     f"({dask.seconds:.1f} / {local.seconds:.1f} s; {1000 * dask.seconds / n_runs:.2f} vs "
                     f"{1000 * local.seconds / n_runs:.2f} ms per run)")
    return [local, dask], notes


# ---------------------------------------------------------------------------------------------------------------
# report


def machine_lines() -> list[str]:
    from importlib.metadata import version  # not imported: the measuring parent stays small (see make_inputs)

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [f"machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}; load average {load}",
            f"python {platform.python_version()}, numpy {version('numpy')}, pandas {version('pandas')}"]


def fmt_num(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    return f"{x / 1e3:.1f}k" if x >= 1e3 else f"{x:.1f}"


def table(measurements: list[Measurement], reference: dict[str, str]) -> list[str]:
    """One row per measurement; `ratio` = reference tool's time / this tool's time (x faster than reference)."""
    head = f"{'section':<8} {'tool':<22} {'rows':>10} {'median s':>9} {'cpu s':>7} {'rows/s':>8} {'peak MiB':>9} " \
           f"{'speedup wall/cpu':>16}  rows id"
    lines = [head, "-" * len(head)]
    by_name = {m.name: m for m in measurements}
    for m in measurements:
        if m.error:
            blank = f"{'':>10} {'':>9} {'':>7} {'':>8} {'':>9} {'':>16}"
            lines.append(f"{m.section:<8} {m.name:<22} {blank}  ERROR {m.error}")
            continue
        ours = by_name.get(reference.get(m.section, ""))
        ratio = "-"
        if ours is not None and ours is not m and ours.seconds and m.seconds:
            ratio = f"{m.seconds / ours.seconds:.1f}x"
            if ours.cpu and m.cpu:
                ratio += f" / {m.cpu / ours.cpu:.1f}x"
        rows = f"{m.rows:,}" if m.rows is not None else "-"
        lines.append(f"{m.section:<8} {m.name:<22} {rows:>10} {fmt_num(m.seconds, 3):>9} {fmt_num(m.cpu, 2):>7} "
                     f"{fmt_rate(m.rate):>8} "
                     f"{fmt_num(m.peak_mib, 0):>9} {ratio:>16}  {m.digest or ''}")
    return lines


def before_after(measurements: list[Measurement]) -> list[str]:
    """Each `<name>-before` row (the --baseline tree) against `<name>`: how many times faster / smaller now."""
    by = {m.name: m for m in measurements}
    lines = []
    for m in measurements:
        if not m.name.endswith("-before") or m.error:
            continue
        now = by.get(m.name[: -len("-before")])
        if now is None or now.error or not now.seconds:
            continue
        text = f"  {now.name:<22} {m.seconds / now.seconds:>6.2f}x faster wall"
        if m.cpu and now.cpu:
            text += f", {m.cpu / now.cpu:.2f}x cpu"
        if m.peak_mib and now.peak_mib:
            text += f"; peak {m.peak_mib:,.0f} -> {now.peak_mib:,.0f} MiB"
        lines.append(text)
    return ["", "before (--baseline) -> after, same run:", *lines] if lines else []


def parts_table(measurements: list[Measurement]) -> list[str]:
    """CPU ms per run of each part of checking the ~300-point runs (section perrun), after and before."""
    rows = [m for m in measurements if m.parts]
    if not rows:
        return []
    names = list(rows[0].parts)
    lines = ["", "per-run parts, CPU ms per run of ~300 points (one warm process; read + check is the per-run cost)",
             f"  {'':<22}" + "".join(f"{n:>15}" for n in names)]
    for m in rows:
        lines.append(f"  {m.name:<22}" + "".join(f"{m.parts.get(n, float('nan')):>15.2f}" for n in names))
    return lines + [""]


def verdict(ok: bool | None) -> str:
    return "NOT RUN" if ok is None else ("PASS" if ok else "FAIL")


def targets(by: dict[str, Measurement], n_steps: int, n_hf: int, quick: bool) -> list[str]:
    """Each target judged on wall time (as specified) and, in the last column, on CPU time: on a machine shared with
    other jobs wall time includes waiting for a core, CPU time does not (for `--jobs 2`: CPU time / 2, the wall
    time two idle cores would need at best)."""
    out: list[tuple[str, str, bool | None, bool | None]] = []

    def ok(name):
        m = by.get(name)
        return m if m is not None and m.error is None else None

    ours, tbp, acc = ok("tb-losslint"), ok("tb-tbparse"), ok("tb-event-accumulator")
    speed = tbp.seconds / ours.seconds if ours and tbp else None
    cpu_speed = tbp.cpu / ours.cpu if ours and tbp and ours.cpu and tbp.cpu else None
    out.append((f"TB read >= {TARGET_TB_SPEEDUP:.0f}x faster than tbparse",
                "-" if speed is None else f"{speed:.1f}x wall, {cpu_speed:.1f}x cpu",
                None if speed is None else speed >= TARGET_TB_SPEEDUP,
                None if cpu_speed is None else cpu_speed >= TARGET_TB_SPEEDUP))
    same = None
    if ours and tbp and acc:
        same = ours.digest == tbp.digest == acc.digest and ours.rows == tbp.rows == acc.rows
    out.append(("TB rows identical (losslint = tbparse = EventAccumulator)",
                "-" if same is None else ("yes" if same else f"no: {ours.digest} {tbp.digest} {acc.digest}"), same,
                same))
    mem = None if not (ours and tbp) else ours.peak_mib <= tbp.peak_mib
    out.append(("TB read peak RSS <= tbparse's",
                "-" if mem is None else f"{ours.peak_mib:.0f} vs {tbp.peak_mib:.0f} MiB", mem, mem))
    for name in ("check-tb", "check-jsonl"):
        m = ok(name)
        out.append((f"`check` on the {n_steps:,}-step run ({name.rsplit('-', 1)[1]}) < {TARGET_CHECK_1M_S:.0f} s",
                    f"{m.seconds:.2f} s wall, {m.cpu:.2f} s cpu" if m else "-",
                    None if m is None else m.seconds < TARGET_CHECK_1M_S,
                    None if m is None else m.cpu < TARGET_CHECK_1M_S))
    m = ok("check-hf-jobs2")
    out.append((f"`check` {n_hf} HF runs, --jobs 2 < {TARGET_HF_TREE_S:.0f} s",
                f"{m.seconds:.2f} s wall, {m.cpu / 2:.2f} s cpu/2" if m else "-",
                None if m is None else m.seconds < TARGET_HF_TREE_S,
                None if m is None else m.cpu / 2 < TARGET_HF_TREE_S))
    for label in ("", "-before"):
        check, report = ok(f"report-check-jobs2{label}"), ok(f"report-report-jobs2{label}")
        if label and not (check and report):
            continue
        ratio = report.seconds / check.seconds if check and report else None
        cpu_ratio = report.cpu / check.cpu if check and report and check.cpu else None
        out.append((f"report of the real-world corpus <= {TARGET_REPORT_RATIO:.0f}x the check, --jobs 2"
                    + (" (--baseline)" if label else ""),
                    "-" if ratio is None else f"{ratio:.1f}x wall ({report.seconds:.1f} / {check.seconds:.1f} s), "
                                              f"{cpu_ratio:.1f}x cpu ({report.cpu:.1f} / {check.cpu:.1f} s)",
                    None if ratio is None else ratio <= TARGET_REPORT_RATIO,
                    None if cpu_ratio is None else cpu_ratio <= TARGET_REPORT_RATIO))
    check, plain, full = ok("compare-check-jobs2"), ok("compare-json-jobs2"), ok("compare-output-jobs2")
    for m, what in ((plain, "--format json"), (full, "-o DIR")):
        ratio = m.seconds / check.seconds if m and check else None
        out.append((f"`compare` {what}, {n_hf} runs, --jobs 2 < {TARGET_COMPARE_S:.0f} s",
                    "-" if m is None else f"{m.seconds:.2f} s wall ({ratio:.2f}x check), {m.cpu / 2:.2f} s cpu/2"
                    if ratio is not None else f"{m.seconds:.2f} s wall, {m.cpu / 2:.2f} s cpu/2",
                    None if m is None else m.seconds < TARGET_COMPARE_S,
                    None if m is None else m.cpu / 2 < TARGET_COMPARE_S))
    loop = ok("tb-framing-loop")
    framing = ours.seconds / loop.seconds if ours and loop else None
    cpu_framing = ours.cpu / loop.cpu if ours and loop and loop.cpu else None
    out.append((f"TB read <= {TARGET_TB_FRAMING}x the bare framing loop",
                "-" if framing is None else f"{framing:.2f}x wall, {cpu_framing:.2f}x cpu",
                None if framing is None else framing <= TARGET_TB_FRAMING,
                None if cpu_framing is None else cpu_framing <= TARGET_TB_FRAMING))
    mem = ok("mem-check")
    out.append((f"peak RSS of `check` on the {mem.rows if mem else 0:,}-scalar file <= {TARGET_PEAK_MIB:.0f} MiB",
                f"{mem.peak_mib:,.0f} MiB ({mem.peak_mib / TARGET_PEAK_MIB:.2f}x the limit)" if mem else "-",
                None if mem is None else mem.peak_mib <= TARGET_PEAK_MIB,
                None if mem is None else mem.peak_mib <= TARGET_PEAK_MIB))
    parts = ok("perrun-parts")
    per_run = parts.parts["read"] + parts.parts["check"] if parts and parts.parts else None
    out.append((f"read + check of a ~300-point run <= {TARGET_PER_RUN_MS:.0f} ms (cpu)",
                "-" if per_run is None else f"{per_run:.2f} ms cpu", None if per_run is None else
                per_run <= TARGET_PER_RUN_MS, None if per_run is None else per_run <= TARGET_PER_RUN_MS))
    one, two = ok("perrun-hf-jobs1"), ok("perrun-hf-jobs2")
    ratio = one.seconds / two.seconds if one and two else None
    out.append((f"--jobs 2 >= {TARGET_JOBS2_SPEEDUP}x --jobs 1 on the HF tree (idle 2 cores)",
                "-" if ratio is None else f"{ratio:.2f}x wall; {one.seconds / one.rows * 1000:.1f} / "
                                          f"{two.seconds / two.rows * 1000:.1f} ms per run",
                None if ratio is None else ratio >= TARGET_JOBS2_SPEEDUP, None))
    lines = ["targets" + (" (--quick: sizes too small for the targets to mean anything)" if quick else ""),
             f"  {'':<{max(len(t[0]) for t in out)}}  {'measured':<34} {'wall':<8} cpu"]
    width = max(len(t[0]) for t in out)
    for text, value, good, good_cpu in out:
        lines.append(f"  {text:<{width}}  {value:<34} {verdict(good):<8} {verdict(good_cpu)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS:,} steps and {QUICK_HF_RUNS} HF runs")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per measurement; the median is printed")
    parser.add_argument("--sections", default="tb,jsonl,check,hf,report,mem,perrun,compare,remote",
                        help="comma list of: tb (TB readers), jsonl (JSONL readers), check (1M-step run), hf (tree), "
                             "report (check --report vs check on --corpus), mem (peak RSS of check on --scalars), "
                             "perrun (ms per run of the HF tree, --jobs 2 vs 1, parts of a 300-point run), "
                             "compare (compare vs check on a sweep), remote (--runs HF runs in a loopback S3 bucket "
                             "checked with --executor dask vs --jobs 2 on local disk)")
    parser.add_argument("--scalars", type=int, default=None,
                        help=f"points in the `mem` event file ({FULL_SCALARS:,}; --quick {QUICK_SCALARS:,}), "
                             f"{MEM_METRICS} metrics")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a losslint source tree (a worktree of main) measured again in the check, tb, mem, "
                             "perrun and report rows, with it on PYTHONPATH: before/after in one run")
    parser.add_argument("--runs", type=int, default=FULL_REMOTE_RUNS,
                        help=f"runs in the remote section [default {FULL_REMOTE_RUNS:,}; --quick {QUICK_REMOTE_RUNS}]")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                        help="the real-world corpus for the report section (51 runs in ../shared/realworld)")
    parser.add_argument("--inputs", type=Path, help="generate inputs here and reuse them on later runs")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before one measurement is abandoned")
    parser.add_argument("--_child", nargs=2, metavar=("TASK", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        child(args._child[0], Path(args._child[1]))
        return 0

    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    n_steps = QUICK_STEPS if args.quick else FULL_STEPS
    n_hf = QUICK_HF_RUNS if args.quick else FULL_HF_RUNS
    tmp = None
    if args.inputs:
        root = args.inputs
        root.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="losslint-bench-")
        root = Path(tmp.name)
    try:
        start = time.perf_counter()
        lines = [f"losslint speed benchmark  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
                 f"  reps={args.reps}{'  --quick' if args.quick else ''}", *machine_lines()]
        inputs = None
        if sections & {"tb", "jsonl", "check", "hf", "perrun"}:  # `report`, `mem` need no such input
            inputs = make_inputs(root, n_steps, n_hf, time_all_writers="tb" in sections and not args.quick)
            made_s = time.perf_counter() - start
            lines.append(f"inputs ({made_s:.1f} s to prepare): TB file {inputs.tb_scalars:,} scalars "
                         f"({inputs.tb.stat().st_size / 2**20:.1f} MiB, written in {inputs.tb_write_s:.1f} s by "
                         f"tensorboard RecordWriter); JSONL {inputs.jsonl_lines:,} lines "
                         f"({inputs.jsonl.stat().st_size / 2**20:.1f} MiB); {inputs.hf_runs:,} trainer_state.json "
                         f"runs")
            if inputs.writer_rates:
                lines.append("TB writer speed on a 20k-scalar sample (scalars/s): " + ", ".join(
                    f"{k} {v:,.0f}" for k, v in inputs.writer_rates.items()))
        sweep = None
        if "compare" in sections:
            sweep = root / f"sweep-{n_hf}"
            if not (sweep / f"trial-{n_hf - 1:04d}" / "training_args.json").exists():
                made = time.perf_counter()
                write_sweep_tree(sweep, n_hf)
                lines.append(f"compare section: a sweep of {n_hf:,} HF runs with training_args.json "
                             f"({time.perf_counter() - made:.1f} s to write)")
        if "report" in sections:
            lines.append(f"report section: {args.corpus}")
        lines.append("")
        measurements: list[Measurement] = []
        if "tb" in sections:
            tasks = ["tb-losslint", "tb-tbparse", "tb-event-accumulator", "tb-framing-loop"]
            if not available("losslint.io.tensorboard"):
                measurements.append(Measurement("tb-losslint", "tb", error="losslint.io.tensorboard not available"))
                tasks = tasks[1:]
            measurements += [run_child(t, inputs.tb, args.reps, args.timeout) for t in tasks]
            if args.baseline is not None:
                measurements.append(run_child("tb-losslint", inputs.tb, args.reps, args.timeout,
                                              baseline=args.baseline, name="tb-losslint-before"))
        if "jsonl" in sections:
            tasks = ["jsonl-losslint", "jsonl-pandas"]
            if not available("losslint.io.jsonl"):
                measurements.append(Measurement("jsonl-losslint", "jsonl", error="losslint.io.jsonl not available"))
                tasks = tasks[1:]
            measurements += [run_child(t, inputs.jsonl, args.reps, args.timeout) for t in tasks]
        have_check = ("check" in sections or "hf" in sections) and check_available()
        if "check" in sections:
            if have_check:
                measurements.append(run_check("check-tb", [str(inputs.tb)], args.reps, args.timeout))
                measurements.append(run_check("check-jsonl", [str(inputs.jsonl)], args.reps, args.timeout))
                if args.baseline is not None:
                    measurements.append(run_check("check-tb-before", [str(inputs.tb)], args.reps, args.timeout,
                                                  baseline=args.baseline))
            else:
                measurements.append(Measurement("check-tb", "check", error="`losslint check` not available"))
        if "hf" in sections:
            if have_check:
                for jobs in (1, 2):
                    m = run_check(f"check-hf-jobs{jobs}", [str(inputs.hf_tree), "--jobs", str(jobs)], args.reps,
                                  args.timeout)
                    m.rows, m.section = inputs.hf_runs, "hf"
                    measurements.append(m)
            else:
                measurements.append(Measurement("check-hf-jobs2", "hf", error="`losslint check` not available"))
        mem_file = None
        if "mem" in sections:
            n_scalars = args.scalars or (QUICK_SCALARS if args.quick else FULL_SCALARS)
            n_steps_mem = max(1, n_scalars // MEM_METRICS)
            mem_file = root / f"mem-{MEM_METRICS}x{n_steps_mem}" / "events.out.tfevents.1700000000.bench.mem"
            made = time.perf_counter()
            if not mem_file.exists():  # in a subprocess: see make_inputs
                subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_child", "write-mem", str(mem_file)],
                               check=True, env={**os.environ, "BENCH_MAKE": json.dumps([MEM_METRICS, n_steps_mem])})
            lines.insert(len(lines) - 1, f"mem section: {MEM_METRICS * n_steps_mem:,} scalars ({MEM_METRICS} metrics x "
                                         f"{n_steps_mem:,} steps), {mem_file.stat().st_size / 2**20:,.0f} MiB event "
                                         f"file ({time.perf_counter() - made:.0f} s to write)")
            measurements.append(run_mem("mem-check", mem_file, 1, args.timeout))
            measurements[-1].rows = MEM_METRICS * n_steps_mem
            if args.baseline is not None and MEM_METRICS * n_steps_mem <= BASELINE_MEM_MAX_SCALARS:
                measurements.append(run_mem("mem-check-before", mem_file, 1, args.timeout, baseline=args.baseline))
                measurements[-1].rows = MEM_METRICS * n_steps_mem
            elif args.baseline is not None:
                lines.insert(len(lines) - 1, f"mem section: the baseline is not run above "
                                             f"{BASELINE_MEM_MAX_SCALARS:,} scalars (it needs ~300 bytes a scalar)")
        if "perrun" in sections:
            small = root / "small-runs"
            if not (small / f"small-{PERRUN_RUNS - 1:03d}").exists():
                subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_child", "write-small", str(small)],
                               check=True)
            for label, base in (("", None), ("-before", args.baseline)):
                if label and base is None:
                    continue
                m = run_child("perrun-parts", small, args.reps, args.timeout, baseline=base,
                              name=f"perrun-parts{label}")
                m.section = "perrun"
                measurements.append(m)
                for jobs in (1, 2):
                    m = run_check(f"perrun-hf-jobs{jobs}{label}", [str(inputs.hf_tree), "--jobs", str(jobs)],
                                  args.reps, args.timeout, baseline=base)
                    m.rows, m.section = inputs.hf_runs, "perrun"
                    measurements.append(m)
        if "report" in sections:
            if not args.corpus.is_dir():
                measurements.append(Measurement("report-check-jobs2", "report", error=f"{args.corpus}: not found"))
            elif check_available():
                # the corpus holds a Git LFS pointer on purpose: exit 2 is its normal outcome
                for label, base in (("", None), ("-before", args.baseline)):
                    if label and base is None:
                        continue
                    for name, report in (("report-check-jobs2", False), ("report-report-jobs2", True)):
                        m = run_check(f"{name}{label}", [str(args.corpus), "--jobs", "2"], args.reps, args.timeout,
                                      ok_codes=(0, 1, 2), report=report, baseline=base)
                        m.section = "report"
                        measurements.append(m)
        if "compare" in sections and sweep is not None and check_available():
            for name, command, extra, out in (("compare-check-jobs2", "check", [], False),
                                              ("compare-json-jobs2", "compare", ["--format", "json"], False),
                                              ("compare-output-jobs2", "compare", ["--format", "json"], True)):
                m = run_check(name, [str(sweep), "--jobs", "2", *extra], args.reps, args.timeout,
                              ok_codes=(0, 1), report=out, command=command, report_flag="-o")
                m.rows, m.section = n_hf, "compare"
                measurements.append(m)
        remote_notes: list[str] = []
        if "remote" in sections:
            n_remote = min(args.runs, QUICK_REMOTE_RUNS) if args.quick else args.runs
            got, remote_notes = remote_section(root, n_remote, args.reps, args.timeout)
            measurements += got
        lines += table(measurements, {"tb": "tb-losslint", "jsonl": "jsonl-losslint", "compare": "compare-check-jobs2",
                                      "remote": "remote-local-jobs2"})
        lines += remote_notes
        lines.append("(median s: wall time; cpu s: user+system CPU time, robust to other jobs on the machine; "
                     "speedup: that tool's time / losslint's; hf rows/s: runs/s; check peak MiB: the largest "
                     "process of the command)")
        lines.append("")
        lines += parts_table(measurements)
        lines += before_after(measurements)
        lines += targets({m.name: m for m in measurements}, n_steps, inputs.hf_runs if inputs else n_hf, args.quick)
        lines.append(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; this script's "
                     f"own peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (a floor "
                     "under every peak above: Linux children start from their parent's high-water mark)")
        print("\n".join(lines))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
