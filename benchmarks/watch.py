"""What `losslint watch` costs per poll, against a full `losslint check` of the same run measured in the same run.

    python benchmarks/watch.py [--steps N] [--appends K] [--formats jsonl,tb]

For each format a run of `--steps` training-loss points (an eval loss every 100 steps) is written to a temporary
folder, then a `Watcher` follows it:

- `idle poll`: a poll with nothing new (one `os.stat` per file and folder; nothing read or checked);
- `poll after append`: `--appends` times, 100 more steps are appended and one poll reads the new bytes, re-reads the
  run from the bytes in memory and re-checks it;
- `check`: `engine.check_paths` on the same folder (discovery, reading the file from disk, the rules): the baseline;
- `bytes read / file size`: all bytes the followers read over the first poll and every append, over the final size
  (1.0 = each byte read once; a whole re-read per poll would be about `appends`).

Times are medians; compare ratios, not seconds (shared machine).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from losslint.engine import check_paths  # noqa: E402
from losslint.io.tensorboard.records import frame  # noqa: E402
from losslint.watch import Watcher  # noqa: E402


def curve(steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    train = 0.1 + 2.0 * np.exp(-steps / (len(steps) / 5 + 1)) + 0.01 * rng.standard_normal(len(steps))
    evals = 0.6 + 1.6 * np.exp(-steps / (len(steps) / 6 + 1))
    return train, evals


class Jsonl:
    def __init__(self, folder: Path):
        self.path = folder / "metrics.jsonl"

    def append(self, start: int, stop: int) -> None:
        steps = np.arange(start, stop)
        train, evals = curve(steps)
        lines = []
        for step, t, e in zip(steps.tolist(), train.tolist(), evals.tolist()):
            lines.append(json.dumps({"step": step, "train/loss": t}))
            if step % 100 == 0:
                lines.append(json.dumps({"step": step, "eval/loss": e}))
        with open(self.path, "a") as out:
            out.write("\n".join(lines) + "\n")


class TensorBoard:
    def __init__(self, folder: Path):
        from tensorboard.compat.proto import event_pb2, summary_pb2

        self.event, self.summary = event_pb2.Event, summary_pb2.Summary
        self.path = folder / "events.out.tfevents.1700000000.bench"
        self.path.write_bytes(frame(self.event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString()))

    def _record(self, tag: str, value: float, step: int) -> bytes:
        summary = self.summary(value=[self.summary.Value(tag=tag, simple_value=value)])
        return frame(self.event(wall_time=1.7e9 + step, step=step, summary=summary).SerializeToString())

    def append(self, start: int, stop: int) -> None:
        steps = np.arange(start, stop)
        train, evals = curve(steps)
        out = bytearray()
        for step, t, e in zip(steps.tolist(), train.tolist(), evals.tolist()):
            out += self._record("train/loss", t, step)
            if step % 100 == 0:
                out += self._record("eval/loss", e, step)
        with open(self.path, "ab") as handle:
            handle.write(out)


WRITERS = {"jsonl": Jsonl, "tb": TensorBoard}


def timed(action, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(fmt: str, steps: int, appends: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        writer = WRITERS[fmt](folder)
        writer.append(0, steps)
        watcher = Watcher([folder], check_share=None)  # every poll after an append re-checks: its cost
        first = timed(watcher.poll, 1)
        idle = timed(watcher.poll, 200)
        after = []
        end = steps
        for _ in range(appends):
            writer.append(end, end + 100)
            end += 100
            after.append(timed(watcher.poll, 1))
        check = timed(lambda: check_paths([folder], annotate=False), 3)
        size = writer.path.stat().st_size
        return {"first poll": first, "idle poll": idle, "poll after append": statistics.median(after),
                "check": check, "bytes read / file size": watcher.bytes_read / size, "size MiB": size / 2**20,
                "checks": watcher.checks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--appends", type=int, default=10)
    parser.add_argument("--formats", default="jsonl,tb")
    args = parser.parse_args()
    print(f"losslint watch: {args.steps} steps, {args.appends} appends of 100 steps each")
    print(f"{'format':<7} {'size MiB':>8} {'idle poll':>11} {'poll+append':>12} {'check':>8} "
          f"{'idle/check':>11} {'append/check':>13} {'read/size':>10}")
    for fmt in args.formats.split(","):
        m = measure(fmt, args.steps, args.appends)
        print(f"{fmt:<7} {m['size MiB']:>8.1f} {m['idle poll'] * 1e6:>9.0f}us {m['poll after append']:>11.3f}s "
              f"{m['check']:>7.3f}s {m['idle poll'] / m['check']:>11.5f} "
              f"{m['poll after append'] / m['check']:>13.2f} {m['bytes read / file size']:>10.4f}")


if __name__ == "__main__":
    main()
