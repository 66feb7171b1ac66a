"""Detection quality: how often losslint's verdict is right, and how good its recommended stop is.

    python benchmarks/quality.py [--n-per-kind 50] [--seed0 0] [--corpus synthetic,fixtures,realworld]
                                 [--via-files] [--jobs N]

Corpora, each printed as its own tables:

- synthetic: `tests/synthetic_curves.corpus(n_per_kind, seed0)`, labels true by construction, checked in memory
  (`losslint.engine.check_runs`) or, with `--via-files`, written as JSONL and read back (`check_paths`);
- fixtures: `fixtures/runs/<scenario>/<format>/` with the verdicts of `[scenario.<name>]` in
  `fixtures/expected.toml` (every format of a scenario is the same run and gets its verdict);
- realworld: `/work/shared/realworld/` (or `$LOSSLINT_REALWORLD`) with hand labels from
  `tests/data/realworld_labels.toml`.

Printed per corpus:

(a) the confusion matrix (rows: true label, columns: verdict) and per-verdict precision, recall, F1 and their macro
    average over the verdicts that occur in the labels or the predictions (a verdict absent from both says nothing);
(b) for runs with a finite validation curve, each stopping method's **regret** and **compute saved**:
    regret = (metric at the stop - best in the whole run) / |best|, turned so that worse is positive for metrics
    that are maximised; "kept" regret uses the best evaluation up to the stop instead (what
    `load_best_model_at_end` / `restore_best_weights` / Prechelt 1998 keep); compute saved = share of the run's
    steps after the stop step. A method that never stops, stops at the end (regret of the last value, 0 saved).
    Methods: losslint's recommended stop (default strategy), "losslint online" (`early_stop.OnlineStop`, the stop
    a training callback makes: the default strategy fed one evaluation at a time, stopping where it stops, i.e.
    after waiting for the evidence; compared with the others, never one of the baselines the targets judge), the
    baselines of `losslint.early_stop.baseline_stops` and "end".

With `--sweep DIR` (the runs of `benchmarks/sweep.py`, each with a `test_split.json` that losslint never reads):
(c) each method's **test regret**: the task metric on the held-out test split at the stop (the last test evaluation
    at or before the stop step; a method that never stops: the last one) against the best test value of the run,
    relative and direction-aware (positive = worse); "restored" test regret takes the test value of the checkpoint
    restore-best keeps instead (the best monitored evaluation up to the stop); compute saved as in (b). Needs no
    labels: the test split is the ground truth.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import tomllib

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

TEST_SPLIT_FILE = "test_split.json"  # written by fixtures/finetune.py beside each run; losslint never reads it
VERDICTS = ("good-fit", "overfitting", "underfitting", "unstable", "diverged", "no-signal")
OTHER = "(none)"  # no result for the run (read error)

TARGET_MACRO_F1_SYNTHETIC = 0.95
TARGET_MACRO_F1_REALWORLD = 0.90
SHORT = {"good-fit": "good", "overfitting": "over", "underfitting": "under", "unstable": "unst",
         "diverged": "div", "no-signal": "nosig", OTHER: "none"}


# ---------------------------------------------------------------------------------------------------------------
# classification scores (pure)


def confusion(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Counts with rows = true label, columns = predicted label; one extra last column for anything else."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels) + 1), dtype=np.int64)
    for t, p in zip(truth, predicted):
        matrix[index[t], index.get(p, len(labels))] += 1
    return matrix


@dataclass(frozen=True)
class Score:
    label: str
    support: int
    predicted: int
    precision: float
    recall: float
    f1: float


def scores(matrix: np.ndarray, labels: Sequence[str]) -> list[Score]:
    """Per-label precision/recall/F1; an undefined ratio (0/0) is 0, as scikit-learn's zero_division=0."""
    out = []
    for i, label in enumerate(labels):
        tp = int(matrix[i, i])
        support = int(matrix[i].sum())
        predicted = int(matrix[:, i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append(Score(label, support, predicted, precision, recall, f1))
    return out


def macro_f1(per_label: Iterable[Score]) -> float:
    """Mean F1 over labels that occur in the truth or the predictions."""
    used = [s.f1 for s in per_label if s.support or s.predicted]
    return float(np.mean(used)) if used else float("nan")


# ---------------------------------------------------------------------------------------------------------------
# stopping quality (pure)

ONLINE = "losslint online"  # the causal stop of the callbacks (OnlineStop), measured next to the others
NOT_BASELINES = ("losslint", ONLINE, "end")
# The online stop is decided after every evaluation; on curves longer than this it is decided every
# n // ONLINE_DECISIONS evaluations (what a callback checking less often would do), to keep the replay cheap.
ONLINE_DECISIONS = 400
_ONLINE_CACHE: dict[tuple[int, str], int | None] = {}


def online_stop_step(result: Any, metric: str) -> int | None:
    """The step where a callback running `OnlineStop` (default parameters) stops on `metric` (None: never), fed the
    evaluations as the engine's view has them (non-finite ones included, as the default strategy sees them)."""
    key = (id(result.run), metric)
    if key not in _ONLINE_CACHE:
        from losslint.early_stop.online import OnlineStop
        from losslint.metrics import direction_or_min
        from losslint.view import RunView

        series = RunView(result.run, monitor=metric).series(metric)
        if series is None or series.n < 1:
            _ONLINE_CACHE[key] = None
        else:
            n = int(series.all_values.size)
            decision = OnlineStop().replay(series.all_steps, series.all_values, direction_or_min(metric),
                                           every=max(1, n // ONLINE_DECISIONS))
            _ONLINE_CACHE[key] = int(series.all_steps[decision.index]) if decision.stop else None
    return _ONLINE_CACHE[key]


def step_span(result: Any) -> tuple[int, int]:
    """The run's first and last step over all its metrics (what compute saved is counted over)."""
    all_steps = result.run.data["step"].to_numpy()
    return int(all_steps.min()), int(all_steps.max())


def method_stops(result: Any) -> dict[str, int | None]:
    """Each method's stop step on a checked run (None: never stops): losslint's recommendation, the online stop,
    "end", and every baseline the early stop carries."""
    from losslint.early_stop import BASELINES

    early = result.early_stop
    stops: dict[str, int | None] = {"losslint": early.recommended_stop_step,
                                    ONLINE: online_stop_step(result, early.metric), "end": None}
    for name in BASELINES:
        stops[name] = (early.baselines.get(name) or {}).get("stop_step")
    return stops


def regret_at(values: np.ndarray, stop_index: int, direction: str) -> tuple[float, float]:
    """(regret of the value at the stop, regret of the best value kept up to the stop), relative to the best of the
    whole curve; positive = worse than the best."""
    sign = 1.0 if direction == "min" else -1.0
    best = float(np.min(values * sign)) * sign
    kept = float(np.min(values[: stop_index + 1] * sign)) * sign
    scale = abs(best) if best != 0 else 1.0
    return sign * (float(values[stop_index]) - best) / scale, sign * (kept - best) / scale


def saved_share(first_step: int, last_step: int, stop_step: int) -> float:
    span = last_step - first_step
    return max(0.0, (last_step - stop_step) / span) if span > 0 else 0.0


@dataclass
class StopRow:
    method: str
    regrets: list[float] = field(default_factory=list)
    kept: list[float] = field(default_factory=list)
    saved: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # true label of each run, for the per-label breakdown

    def by_label(self, label: str) -> tuple[float, float, float]:
        """(mean regret, median regret, mean saved) over the runs of one true label."""
        pick = [i for i, lab in enumerate(self.labels) if lab == label]
        r = np.array([self.regrets[i] for i in pick])
        return float(np.mean(r)), float(np.median(r)), float(np.mean([self.saved[i] for i in pick]))

    def summary(self) -> tuple[float, float, float, float, float]:
        r, k, s = np.array(self.regrets), np.array(self.kept), np.array(self.saved)
        return (float(np.mean(r)), float(np.median(r)), float(np.mean(k)), float(np.mean(s)),
                float(np.mean(r <= 0.01)))


def test_curve(document: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, str]:
    """(steps, task-metric values, direction) of a `test_split.json` document (`fixtures/finetune.py`)."""
    metric = document["metric"]
    evaluations = sorted(document["evaluations"], key=lambda e: e["step"])
    steps = np.array([int(e["step"]) for e in evaluations], dtype=np.int64)
    values = np.array([float(e[metric]) for e in evaluations], dtype=np.float64)
    return steps, values, document["direction"]


def index_at(steps: np.ndarray, stop_step: int | None) -> int:
    """The last evaluation at or before `stop_step` (None: the last evaluation; before the first: the first)."""
    if stop_step is None:
        return len(steps) - 1
    return min(max(int(np.searchsorted(steps, stop_step, side="right")) - 1, 0), len(steps) - 1)


def relative_regret(value: float, best: float, direction: str) -> float:
    """(value - best) / |best|, positive = worse, for a metric minimised ("min") or maximised ("max")."""
    sign = 1.0 if direction == "min" else -1.0
    scale = abs(best) if best != 0 else 1.0
    return sign * (value - best) / scale + 0.0  # + 0.0: no "-0.0000" in the tables


def test_regret(test_steps: np.ndarray, test_values: np.ndarray, direction: str, stop_step: int | None,
                restored_step: int | None = None) -> tuple[float, float]:
    """(test regret at the stop, test regret of the restored checkpoint) against the best test value of the run.

    The stop's test value is the last test evaluation at or before `stop_step` (None: the run's last); the restored
    checkpoint is the evaluation at `restored_step` (the best monitored value up to the stop; None: the stop's)."""
    best = float(np.min(test_values)) if direction == "min" else float(np.max(test_values))
    at_stop = float(test_values[index_at(test_steps, stop_step)])
    restored = at_stop if restored_step is None else float(test_values[index_at(test_steps, restored_step)])
    return relative_regret(at_stop, best, direction), relative_regret(restored, best, direction)


def test_regret_rows(cases: Sequence[Case]) -> tuple[dict[str, StopRow], int, dict[str, int], int]:
    """Per method, over the sweep runs whose test metric is finite throughout: test regret at the stop ("regrets"),
    test regret of the checkpoint restore-best keeps ("kept") and compute saved; `labels` holds each run's task.
    Runs whose test metric turns non-finite are counted apart, with how many each method stopped before that."""
    from losslint.early_stop import BASELINES
    from losslint.metrics import direction_or_min

    rows: dict[str, StopRow] = {m: StopRow(m) for m in ("losslint", ONLINE, *BASELINES, "end")}
    used, nonfinite_runs = 0, 0
    stopped_before: Counter[str] = Counter()
    for case in cases:
        result, document = case.result, case.truth.get("test_split")
        if result is None or result.early_stop is None or not document or not document.get("evaluations"):
            continue
        early = result.early_stop
        test_steps, test_values, direction = test_curve(document)
        series = result.run.series(early.metric).sort_values("step", kind="stable")
        val_steps = series["step"].to_numpy()
        val_values = series["value"].to_numpy(dtype=np.float64)
        val_sign = 1.0 if direction_or_min(early.metric) == "min" else -1.0  # as the engine judged it
        first, last = step_span(result)
        stops = method_stops(result)
        finite = np.isfinite(test_values)
        if not finite.all():
            nonfinite_runs += 1
            first_bad = int(test_steps[np.argmin(finite)])
            for method, step in stops.items():
                if step is not None and step < first_bad:
                    stopped_before[method] += 1
            continue
        used += 1
        for method, step in stops.items():
            # restore-best: the best finite monitored evaluation up to the stop (the stop itself when none)
            upto = val_steps <= (last if step is None else step)
            candidates = np.where(upto & np.isfinite(val_values))[0]
            restored = int(val_steps[candidates[np.argmin(val_values[candidates] * val_sign)]]) if len(candidates) \
                else step
            at_stop, kept = test_regret(test_steps, test_values, direction, step, restored)
            rows[method].regrets.append(at_stop)
            rows[method].kept.append(kept)
            rows[method].saved.append(0.0 if step is None else saved_share(first, last, step))
            rows[method].labels.append(case.label)
    return rows, used, dict(stopped_before), nonfinite_runs


# ---------------------------------------------------------------------------------------------------------------
# running the engine


@dataclass
class Case:
    """One labeled run and what losslint said about it."""

    name: str
    label: str
    family: str
    result: Any | None  # losslint.findings.Result
    truth: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return self.result.verdict if self.result is not None else OTHER


def synthetic_cases(n_per_kind: int, seed0: int, via_files: bool, jobs: int, config: Any = None) -> list[Case]:
    from losslint import engine
    from synthetic_curves import corpus, to_run, write_jsonl

    runs = corpus(n_per_kind, seed0)
    if via_files:
        with tempfile.TemporaryDirectory(prefix="losslint-quality-") as tmp:
            for run in runs:
                write_jsonl(run, Path(tmp) / run.name / "metrics.jsonl")
            results, errors = engine.check_paths([tmp], config, jobs=jobs)
            for error in errors:
                print(f"  read error: {error.text}", file=sys.stderr)
            by_name = {r.run.name: r for r in results}
    else:
        results = engine.check_runs([to_run(run) for run in runs], config)
        by_name = {r.run.name: r for r in results}
    return [Case(run.name, run.label, run.family, by_name.get(run.name), run.truth) for run in runs]


def labeled_tree_cases(root: Path, labels: dict[str, dict[str, Any]], jobs: int, config: Any = None
                       ) -> list[Case]:
    """`losslint check root` once; each labeled run is matched by the run name check prints (labels: name ->
    {"verdict": ..., ...}). A labeled run that check did not produce counts as a miss (verdict "(none)")."""
    from losslint import engine

    results, errors = engine.check_paths([root], config, jobs=jobs)
    for error in errors:
        print(f"  read error: {error.text}", file=sys.stderr)
    by_name = {r.run.name: r for r in results}
    # W&B runs are named by their display name; the labels name them by folder (the run's path below root)
    by_name.update({r.run.metadata["folder_name"]: r for r in results if r.run.metadata.get("folder_name")})
    cases = []
    for name, entry in labels.items():
        if name not in by_name:
            print(f"  labeled run not found by check: {name}", file=sys.stderr)
        family = name.split("/", 1)[0]
        cases.append(Case(name, entry["verdict"], family, by_name.get(name), dict(entry)))
    return cases


def fixture_cases(root: Path, expected: dict[str, dict[str, Any]], jobs: int, config: Any = None) -> list[Case]:
    """`losslint check fixtures/runs` once; every run below `<scenario>/` (one per log format) gets the scenario's
    verdict from `[scenario.<name>]` in `fixtures/expected.toml`. A scenario with no run counts as a miss."""
    from losslint import engine

    results, errors = engine.check_paths([root], config, jobs=jobs)
    for error in errors:
        print(f"  read error: {error.text}", file=sys.stderr)
    cases, seen = [], set()
    for result in results:
        scenario = result.run.name.split("/", 1)[0]
        if scenario not in expected:
            continue
        seen.add(scenario)
        cases.append(Case(result.run.name, expected[scenario]["verdict"], f"{scenario}/{result.run.format}", result,
                          dict(expected[scenario])))
    for scenario in sorted(set(expected) - seen):
        print(f"  scenario without a run: {scenario}", file=sys.stderr)
        cases.append(Case(scenario, expected[scenario]["verdict"], scenario, None, dict(expected[scenario])))
    return cases


def sweep_cases(root: Path, jobs: int, config: Any = None) -> list[Case]:
    """`losslint check root` once over the runs of `benchmarks/sweep.py`; each run's `test_split.json` is found in
    its run folder or a folder above it (inside root) and kept in `truth["test_split"]`; label = the run's task."""
    import json

    from losslint import engine

    results, errors = engine.check_paths([root], config, jobs=jobs)
    for error in errors:
        print(f"  read error: {error.text}", file=sys.stderr)
    cases = []
    for result in sorted(results, key=lambda r: r.run.name):
        folder, document = root / result.run.name, None
        while document is None and (folder == root or root in folder.parents):
            if (folder / TEST_SPLIT_FILE).is_file():
                document = json.loads((folder / TEST_SPLIT_FILE).read_text(encoding="utf-8"))
            folder = folder.parent
        if document is None:
            print(f"  no {TEST_SPLIT_FILE} for {result.run.name}", file=sys.stderr)
            continue
        cases.append(Case(result.run.name, document.get("task", "?"), document.get("task", "?"), result,
                          {"test_split": document}))
    return cases


def test_regret_lines(rows: dict[str, StopRow], used: int, before: dict[str, int], nonfinite: int) -> list[str]:
    lines = [f"test regret on {used} runs with a finite test metric (task metric on the held-out test split at the "
             "stop vs the run's best test value; relative, positive = worse; restored: the checkpoint restore-best "
             "keeps; saved: share of steps after the stop)",
             f"  {'method':<22} {'mean':>8} {'median':>8} {'restored mean':>13} {'median':>8} {'saved':>7} "
             f"{'median saved':>12} {'regret<=1%':>10}"]
    if used == 0:
        return lines + ["  (no sweep run with a test split)"]
    for method, row in rows.items():
        r, k, sv = np.array(row.regrets), np.array(row.kept), np.array(row.saved)
        lines.append(f"  {method:<22} {np.mean(r):>8.4f} {np.median(r):>8.4f} {np.mean(k):>13.4f} "
                     f"{np.median(k):>8.4f} {np.mean(sv):>7.3f} {np.median(sv):>12.3f} {np.mean(r <= 0.01):>10.2f}")
    if nonfinite:
        lines.append(f"  runs whose test metric turns non-finite: {nonfinite}; stopped before it: " + ", ".join(
            f"{m} {before.get(m, 0)}" for m in rows))
    tasks = sorted(set(rows["losslint"].labels))
    counts = Counter(rows["losslint"].labels)
    lines += ["", "  by task: mean test regret / median / saved",
              f"  {'method':<22}" + "".join(f"{t + f' ({counts[t]})':>25}" for t in tasks)]
    for method, row in rows.items():
        cells = []
        for task in tasks:
            mean_r, med_r, saved = row.by_label(task)
            cells.append(f"{mean_r:>9.4f}/{med_r:>7.4f}/{saved:>5.2f}")
        lines.append(f"  {method:<22}" + "".join(f"{c:>25}" for c in cells))
    return lines


def test_regret_targets(rows: dict[str, StopRow]) -> list[tuple[str, str, bool | None]]:
    """Issue 12's target on the sweep: losslint's mean test regret below every baseline's ('end' is no baseline),
    and at least as much compute saved as the best baseline (lowest mean test regret); and the Pareto check: no
    baseline with no more mean and median test regret that saves more."""
    if not rows["losslint"].regrets:
        return [("sweep: test regret", "no sweep run with a test split", None)]
    summary = {m: (float(np.mean(r.regrets)), float(np.median(r.regrets)), float(np.mean(r.saved)))
               for m, r in rows.items() if m not in NOT_BASELINES and r.regrets}
    ours = (float(np.mean(rows["losslint"].regrets)), float(np.median(rows["losslint"].regrets)),
            float(np.mean(rows["losslint"].saved)))
    best = min(summary, key=lambda m: (summary[m][0], -summary[m][2]))
    beaten = [m for m, v in summary.items() if v[0] <= ours[0]]
    dominated = [m for m, v in summary.items() if v[0] <= ours[0] and v[1] <= ours[1] and v[2] > ours[2]]
    return [
        ("sweep: losslint mean test regret < every baseline's", f"{ours[0]:.4f} vs best baseline {best} "
         f"{summary[best][0]:.4f}" + (f"; not lower than {', '.join(beaten)}" if beaten else ""), not beaten),
        ("sweep: losslint saves >= the best baseline (by mean test regret)",
         f"saved {ours[2]:.3f} vs {best} {summary[best][2]:.3f}", ours[2] >= summary[best][2] - 1e-12),
        ("sweep: no baseline has both lower test regret (mean and median) and more compute saved",
         ", ".join(dominated) or "none does", not dominated),
        restored_target(rows),
    ]


def restored_target(rows: dict[str, StopRow]) -> tuple[str, str, bool | None]:
    """The same comparison when every method restores its best checkpoint (HF load_best_model_at_end, Keras
    restore_best_weights): a patience callback is no longer charged for the evaluations it waits. Not the issue's
    target (that is the test value at the stop), printed so that the two readings are side by side."""
    kept = {m: float(np.mean(r.kept)) for m, r in rows.items() if m not in NOT_BASELINES and r.kept}
    ours = float(np.mean(rows["losslint"].kept))
    not_beaten = [m for m, v in kept.items() if v <= ours]
    best = min(kept, key=kept.get)
    return ("sweep, every method restoring its best checkpoint: losslint mean test regret < every baseline's",
            f"{ours:.4f} vs best baseline {best} {kept[best]:.4f} (saved {np.mean(rows[best].saved):.3f} vs "
            f"{np.mean(rows['losslint'].saved):.3f})" + (f"; not lower than {', '.join(not_beaten)}" if not_beaten
                                                          else ""), not not_beaten)


def sweep_report(root: Path, jobs: int, config: Any = None) -> tuple[list[str], list[tuple[str, str, bool | None]]]:
    cases = sweep_cases(root, jobs, config)
    lines = ["=" * 100, f"sweep ({root}): {len(cases)} fine-tune runs with a held-out test split", "=" * 100]
    verdicts = Counter(c.verdict for c in cases)
    triggers = Counter((c.result.early_stop.trigger if c.result and c.result.early_stop else None) or "no stop"
                       for c in cases)
    lines += ["verdicts: " + ", ".join(f"{v} {n}" for v, n in verdicts.most_common()),
              "losslint stop trigger: " + ", ".join(f"{t} {n}" for t, n in triggers.most_common()), ""]
    rows, used, before, nonfinite = test_regret_rows(cases)
    lines += test_regret_lines(rows, used, before, nonfinite) + [""]
    by_trigger: dict[str, list[int]] = defaultdict(list)
    finite_cases = [c for c in cases if c.result is not None and c.result.early_stop is not None
                    and np.isfinite(test_curve(c.truth["test_split"])[1]).all()]
    for i, case in enumerate(finite_cases):
        by_trigger[case.result.early_stop.trigger or "no stop"].append(i)
    lines += ["  losslint by stop trigger: runs, mean / median test regret at the stop, mean saved"]
    for trigger, index in sorted(by_trigger.items()):
        r = np.array([rows["losslint"].regrets[i] for i in index])
        sv = np.array([rows["losslint"].saved[i] for i in index])
        lines.append(f"  {trigger:<12} {len(index):>4} {np.mean(r):>8.4f} {np.median(r):>8.4f} {np.mean(sv):>7.3f}")
    after_best = [i for i, c in enumerate(finite_cases) if c.result.early_stop.recommended_stop_step is not None
                  and c.result.early_stop.best_step is not None
                  and c.result.early_stop.recommended_stop_step > c.result.early_stop.best_step]
    if after_best:
        at_best = [test_regret(*test_curve(finite_cases[i].truth["test_split"]),
                               finite_cases[i].result.early_stop.best_step)[0] for i in after_best]
        share = sum(rows["losslint"].regrets[i] for i in after_best) / max(sum(rows["losslint"].regrets), 1e-12)
        lines += ["", f"  losslint stops after its best step on {len(after_best)} runs ("
                  + ", ".join(f"{t} {n}" for t, n in Counter(finite_cases[i].result.early_stop.trigger
                                                             for i in after_best).most_common())
                  + f"): mean test regret {np.mean([rows['losslint'].regrets[i] for i in after_best]):.4f} at the "
                  f"stop, {np.mean(at_best):.4f} at the best step; {share:.0%} of losslint's summed test regret"]
    worst = sorted(range(len(finite_cases)), key=lambda i: -rows["losslint"].regrets[i])[:10]
    lines += ["", "  losslint's largest test regrets (run, trigger, stop step, best step, test regret, saved)"]
    for i in worst:
        c = finite_cases[i]
        e = c.result.early_stop
        lines.append(f"  {c.name:<24} {e.trigger or 'no stop':<10} stop {e.recommended_stop_step} best {e.best_step} "
                     f"regret {rows['losslint'].regrets[i]:.4f} saved {rows['losslint'].saved[i]:.3f}")
    lines += [""] + test_tolerance_lines(cases, config) + [""]
    stop, _ = stop_lines(cases)
    stop = stop[: stop.index("")] if "" in stop else stop  # the per-label part: the sweep has no verdict labels
    lines += ["validation-curve regret on the same runs (as for the other corpora)"] + stop + [""]
    return lines, test_regret_targets(rows)


def test_tolerance_lines(cases: Sequence[Case], config: Any = None) -> list[str]:
    """losslint's stop re-run at every converged_tolerance in TOLERANCES, judged by test regret: the trade-off curve
    that says what compute losslint saves at the regret of a baseline."""
    from losslint import engine
    from losslint.config import Config

    runs = [c.result.run for c in cases if c.result is not None]
    lines = ["  test regret of losslint's stop at other convergence tolerances (0 = only rises and breaks stop)",
             f"  {'tolerance':<10} {'mean':>8} {'median':>8} {'saved':>7}  baselines with no more mean test regret "
             "and more saved"]
    for tolerance in TOLERANCES:
        base = config if config is not None else Config()
        early = dataclasses.replace(base.early_stop, strategy="default", converged_tolerance=tolerance)
        results = engine.check_runs(runs, dataclasses.replace(base, early_stop=early))
        by_name = {r.run.name: r for r in results}
        redone = [Case(c.name, c.label, c.family, by_name.get(c.result.run.name), c.truth)
                  for c in cases if c.result is not None]
        rows = test_regret_rows(redone)[0]
        if not rows["losslint"].regrets:
            return lines + ["  (no sweep run with a test split)"]
        ours = (np.mean(rows["losslint"].regrets), np.median(rows["losslint"].regrets),
                np.mean(rows["losslint"].saved))
        better = [m for m, r in rows.items() if m not in NOT_BASELINES
                  and np.mean(r.regrets) <= ours[0] and np.mean(r.saved) > ours[2]]
        lines.append(f"  {tolerance:<10.3f} {ours[0]:>8.4f} {ours[1]:>8.4f} {ours[2]:>7.3f}  "
                     f"{', '.join(better) or 'none'}")
    return lines


def best_window_lines(cases: Sequence[Case]) -> list[str]:
    """Fixtures: is losslint's best step inside the scenario's `best_step_window`?"""
    inside, total, misses = 0, 0, []
    for case in cases:
        window = case.truth.get("best_step_window")
        if not window or case.result is None or case.result.early_stop is None:
            continue
        total += 1
        best = case.result.early_stop.best_step
        if best is not None and window[0] <= best <= window[1]:
            inside += 1
        else:
            misses.append(f"{case.name} best {best} not in {window}")
    if not total:
        return []
    return [f"best step inside the expected window: {inside}/{total}"] + [f"  {m}" for m in misses]


def stop_rows(cases: Sequence[Case]) -> tuple[dict[str, StopRow], int, dict[str, int], int]:
    """Regret and compute saved per method over the cases whose monitored metric is finite everywhere; and, for the
    cases where it turns non-finite, how many each method stopped before the first non-finite evaluation."""
    from losslint.early_stop import BASELINES
    from losslint.metrics import direction_or_min

    rows: dict[str, StopRow] = {m: StopRow(m) for m in ("losslint", ONLINE, *BASELINES, "end")}
    used, nonfinite_runs = 0, 0
    stopped_before_nan: Counter[str] = Counter()
    for case in cases:
        result = case.result
        if result is None or result.early_stop is None:
            continue
        early = result.early_stop
        series = result.run.series(early.metric).sort_values("step", kind="stable")
        steps = series["step"].to_numpy()
        values = series["value"].to_numpy(dtype=np.float64)
        if len(values) < 2:
            continue
        first, last = step_span(result)
        stops = method_stops(result)
        finite = np.isfinite(values)
        if not finite.all():
            nonfinite_runs += 1
            first_bad = int(steps[np.argmin(finite)])
            for method, step in stops.items():
                if step is not None and step < first_bad:
                    stopped_before_nan[method] += 1
            continue
        used += 1
        direction = direction_or_min(early.metric)  # as the engine judged it
        for method, step in stops.items():
            index = len(steps) - 1 if step is None else int(np.searchsorted(steps, step, side="right") - 1)
            index = min(max(index, 0), len(steps) - 1)
            regret, kept = regret_at(values, index, direction)
            rows[method].regrets.append(regret)
            rows[method].kept.append(kept)
            # a method that never fires trains to the end: nothing saved, even past the last evaluation
            rows[method].saved.append(0.0 if step is None else saved_share(first, last, int(steps[index])))
            rows[method].labels.append(case.label)
    return rows, used, dict(stopped_before_nan), nonfinite_runs


# ---------------------------------------------------------------------------------------------------------------
# printing


def classification_lines(cases: Sequence[Case], labels: Sequence[str] = VERDICTS) -> tuple[list[str], float]:
    truth = [c.label for c in cases]
    predicted = [c.verdict for c in cases]
    matrix = confusion(truth, predicted, labels)
    per_label = scores(matrix, labels)
    cols = [SHORT[label] for label in labels] + [SHORT[OTHER]]
    lines = ["confusion matrix (rows: true label, columns: losslint verdict)",
             f"  {'':<13}" + "".join(f"{c:>7}" for c in cols)]
    for label, row in zip(labels, matrix):
        if row.sum():
            lines.append(f"  {label:<13}" + "".join(f"{int(x):>7}" for x in row))
    lines += ["", f"  {'verdict':<13} {'support':>7} {'predicted':>9} {'precision':>9} {'recall':>7} {'F1':>6}"]
    for s in per_label:
        if s.support or s.predicted:
            lines.append(f"  {s.label:<13} {s.support:>7} {s.predicted:>9} {s.precision:>9.3f} {s.recall:>7.3f} "
                         f"{s.f1:>6.3f}")
    macro = macro_f1(per_label)
    accuracy = float(np.trace(matrix[:, : len(labels)]) / max(1, matrix.sum()))
    lines.append(f"  macro-F1 {macro:.3f}   accuracy {accuracy:.3f}   runs {len(cases)}")
    return lines, macro


def stop_lines(cases: Sequence[Case]) -> tuple[list[str], dict[str, StopRow]]:
    rows, used, before_nan, nonfinite = stop_rows(cases)
    lines = [f"stopping quality on {used} runs with a finite monitored validation curve "
             "(regret: relative, positive = worse than the run's best; saved: share of steps after the stop)",
             f"  {'method':<22} {'mean regret':>11} {'median':>8} {'kept regret':>11} {'saved':>7} "
             f"{'regret<=1%':>10}"]
    if used == 0:
        return lines + ["  (no run with a validation curve)"], rows
    for method, row in rows.items():
        mean_r, med_r, kept, saved, good = row.summary()
        lines.append(f"  {method:<22} {mean_r:>11.4f} {med_r:>8.4f} {kept:>11.4f} {saved:>7.3f} {good:>10.2f}")
    if nonfinite:
        lines.append(f"  runs whose monitored metric turns non-finite: {nonfinite}; stopped before it: " + ", ".join(
            f"{m} {before_nan.get(m, 0)}" for m in rows))
    present = [label for label in VERDICTS if label in rows["losslint"].labels]
    counts = Counter(rows["losslint"].labels)
    lines += ["", "  by true label: mean regret / median regret / saved",
              f"  {'method':<22}" + "".join(f"{label + f' ({counts[label]})':>25}" for label in present)]
    for method, row in rows.items():
        cells = []
        for label in present:
            mean_r, med_r, saved = row.by_label(label)
            cells.append(f"{mean_r:>9.3f}/{med_r:>7.3f}/{saved:>5.2f}")
        lines.append(f"  {method:<22}" + "".join(f"{c:>25}" for c in cells))
    return lines, rows


def stop_target(rows: dict[str, StopRow], statistic: str = "mean") -> tuple[str, bool | None]:
    """losslint's regret <= the best baseline's (lowest regret by `statistic`, 'end' included) while saving more.
    The mean is the expected relative loss; the median is not moved by the few runs whose best value is near 0
    (where a relative regret explodes), so both are judged."""
    if not rows["losslint"].regrets:
        return "no runs with a validation curve", None
    pick = 0 if statistic == "mean" else 1
    summary = {m: r.summary() for m, r in rows.items() if m not in ("losslint", ONLINE) and r.regrets}
    best = min(summary, key=lambda m: (summary[m][pick], -summary[m][3]))
    ours = rows["losslint"].summary()
    ok = ours[pick] <= summary[best][pick] + 1e-12 and ours[3] > summary[best][3]
    return (f"{statistic} regret {ours[pick]:.4f} vs best baseline {best} {summary[best][pick]:.4f}; saved "
            f"{ours[3]:.3f} vs {summary[best][3]:.3f}"), ok


def dominated_by(rows: dict[str, StopRow]) -> list[str]:
    """The baselines that beat losslint on both counts (no more mean *and* median regret, more compute saved):
    the Pareto test. An empty list means every baseline that saves more pays for it in regret."""
    if not rows["losslint"].regrets:
        return []
    ours = rows["losslint"].summary()
    return [m for m, r in rows.items() if m not in ("losslint", ONLINE) and r.regrets and r.summary()[0] <= ours[0]
            and r.summary()[1] <= ours[1] and r.summary()[3] > ours[3]]


TOLERANCES = (0.0, 0.005, 0.01, 0.02, 0.05)


def tolerance_sweep(cases: Sequence[Case]) -> list[tuple[float, dict[str, StopRow]]]:
    """losslint's stop re-run at every `converged_tolerance` in TOLERANCES (1% is the default): (tolerance, rows)."""
    from losslint import engine
    from losslint.config import Config
    from losslint.early_stop import EarlyStopSettings

    runs = [c.result.run for c in cases if c.result is not None]
    sweep = []
    for tolerance in TOLERANCES:
        results = engine.check_runs(runs, Config(early_stop=EarlyStopSettings(converged_tolerance=tolerance)))
        by_name = {r.run.name: r for r in results}
        redone = [Case(c.name, c.label, c.family, by_name.get(c.result.run.name), c.truth)
                  for c in cases if c.result is not None]
        sweep.append((tolerance, stop_rows(redone)[0]))
    return sweep


def tolerance_lines(sweep: Sequence[tuple[float, dict[str, StopRow]]]) -> list[str]:
    """The trade-off between regret and compute saved that the convergence stop offers, next to the baselines'."""
    lines = ["trade-off of the convergence stop (early-stop converged_tolerance; 0 = only rises and breaks stop)",
             f"  {'tolerance':<10} {'mean regret':>11} {'median':>8} {'saved':>7} {'regret<=1%':>10}  dominated by"]
    for tolerance, rows in sweep:
        if not rows["losslint"].regrets:
            return lines + ["  (no run with a validation curve)"]
        mean_r, med_r, _, saved, good = rows["losslint"].summary()
        lines.append(f"  {tolerance:<10.3f} {mean_r:>11.4f} {med_r:>8.4f} {saved:>7.3f} {good:>10.2f}  "
                     f"{', '.join(dominated_by(rows)) or 'none'}")
    return lines


def tradeoff_figure(panels: Sequence[tuple[str, dict[str, StopRow], Sequence[tuple[float, dict[str, StopRow]]]]],
                    path: Path) -> None:
    """One panel per corpus: compute saved (x) against mean and median regret (y, log scale) for every method,
    losslint's tolerance sweep as a line; the lower right is better."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    floor = 1e-4  # a regret of 0 has no place on a log axis; it is drawn at the floor
    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 7.0), squeeze=False)
    for column, (title, rows, sweep) in enumerate(panels):
        for row_index, (statistic, pick) in enumerate((("mean", 0), ("median", 1))):
            ax = axes[row_index][column]
            for method, row in rows.items():
                if not row.regrets or method == "losslint":
                    continue
                summary = row.summary()
                ax.scatter(summary[3], max(summary[pick], floor), color="0.55", s=18)
                ax.annotate(method.replace("_patience_", " p").replace("prechelt_", ""), (summary[3],
                            max(summary[pick], floor)), fontsize=6, xytext=(3, 2), textcoords="offset points")
            points = [(r["losslint"].summary()[3], max(r["losslint"].summary()[pick], floor), t)
                      for t, r in sweep if r["losslint"].regrets]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], color="tab:orange", marker="o", ms=3,
                        label="losslint, tolerance 0-5%")
                ours = rows["losslint"].summary()
                ax.scatter(ours[3], max(ours[pick], floor), color="tab:red", s=40, zorder=3,
                           label="losslint default (1%)")
            ax.set_yscale("log")
            ax.set_xlim(-0.02, 1.0)
            ax.set_xlabel("compute saved (share of steps)")
            ax.set_ylabel(f"{statistic} regret (relative; 0 drawn at 1e-4)")
            ax.grid(alpha=0.3)
            if row_index == 0:
                ax.set_title(title, fontsize=9)
            if column == 0 and row_index == 0:
                ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def family_lines(cases: Sequence[Case]) -> list[str]:
    """Per family: how verdicts spread, and which rules (warning or above) fired on the misjudged runs."""
    by_family: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in cases:
        by_family[(case.label, case.family)].append(case)
    lines = ["per family: verdicts, and the rules (warning+) that fired on the misjudged runs (count)",
             f"  {'label/family':<40} {'n':>4} {'right':>6}  verdicts | misfiring rules"]
    for (label, family), group in sorted(by_family.items()):
        verdicts = Counter(c.verdict for c in group)
        right = verdicts.get(label, 0)
        wrong_rules: Counter[str] = Counter()
        for c in group:
            if c.verdict != label and c.result is not None:
                wrong_rules.update({f"{f.code}:{f.severity[0]}" for f in c.result.findings
                                    if f.severity in ("warning", "error")})
        spread = " ".join(f"{SHORT.get(v, v)}={n}" for v, n in verdicts.most_common())
        ranked = sorted(wrong_rules.items(), key=lambda item: (-item[1], item[0]))[:6]  # ties in code order
        misfires = " ".join(f"{code}={n}" for code, n in ranked)
        lines.append(f"  {label + '/' + family:<40} {len(group):>4} {right / len(group):>6.0%}  {spread} | {misfires}")
    return lines


def rule_rate_lines(cases: Sequence[Case], labels: Sequence[str] = VERDICTS) -> list[str]:
    """Share of runs of each true label on which each rule fired at warning or above."""
    fired: dict[str, Counter[str]] = defaultdict(Counter)
    totals = Counter(c.label for c in cases)
    for case in cases:
        if case.result is None:
            continue
        for code in {f.code for f in case.result.findings if f.severity in ("warning", "error")}:
            fired[code][case.label] += 1
    present = [label for label in labels if totals.get(label)]
    lines = ["rule firing rate (warning+) by true label",
             f"  {'rule':<6}" + "".join(f"{SHORT[label]:>7}" for label in present)]
    for code in sorted(fired):
        lines.append(f"  {code:<6}" + "".join(f"{fired[code][label] / totals[label]:>7.0%}" for label in present))
    return lines


def best_step_lines(cases: Sequence[Case]) -> list[str]:
    """Synthetic only: distance of losslint's best step from the planted noise-free minimum, as a share of the run."""
    errors, upturn_errors = [], []
    for case in cases:
        r = case.result
        minimum = case.truth.get("minimum_step")
        if r is None or r.early_stop is None or r.early_stop.best_step is None or minimum is None:
            continue
        if case.truth.get("nan_step") is not None:
            continue
        last = int(r.run.data["step"].max())
        err = abs(r.early_stop.best_step - minimum) / max(last, 1)
        errors.append(err)
        if case.label == "overfitting":
            upturn_errors.append(err)
    if not errors:
        return []
    out = [f"best step vs planted minimum (share of run length): median {np.median(errors):.3f}, "
           f"90th pct {np.percentile(errors, 90):.3f} over {len(errors)} runs"]
    if upturn_errors:
        out.append(f"  overfitting runs only: median {np.median(upturn_errors):.3f}, 90th pct "
                   f"{np.percentile(upturn_errors, 90):.3f} over {len(upturn_errors)} runs")
    return out


def misjudged_lines(cases: Sequence[Case], limit: int) -> list[str]:
    wrong = [c for c in cases if c.verdict != c.label]
    if not wrong:
        return []
    lines = [f"misjudged runs ({len(wrong)}; first {min(limit, len(wrong))}):"]
    for c in wrong[:limit]:
        codes = ", ".join(f"{f.code}/{f.severity}" for f in (c.result.findings if c.result else [])) or "no findings"
        known = " [known disagreement]" if c.truth.get("known_disagreement") else ""
        lines.append(f"  {c.name}: label {c.label}, verdict {c.verdict}{known}; {codes}")
        if c.truth.get("gap"):
            lines.append(f"      gap (from the label file): {str(c.truth['gap'])[:160]}")
    return lines


def corpus_report(title: str, cases: Sequence[Case], macro_target: float | None, misjudged_limit: int,
                  synthetic: bool, panels: list | None = None) -> tuple[list[str], list[tuple[str, str, bool | None]]]:
    """The corpus's tables and its targets; with `panels`, its trade-off figure panel is appended there."""
    lines = ["=" * 100, f"{title}: {len(cases)} labeled runs", "=" * 100]
    cls, macro = classification_lines(cases)
    lines += cls + [""]
    stop, rows = stop_lines(cases)
    sweep = tolerance_sweep(cases)
    lines += stop + [""] + tolerance_lines(sweep) + [""]
    if panels is not None and rows["losslint"].regrets:
        panels.append((title.split(" (")[0] + (f", seed {title.split('seed0=')[1].split(',')[0]}"
                                               if "seed0=" in title else ""), rows, sweep))
    if synthetic:
        lines += best_step_lines(cases) + [""]
    lines += family_lines(cases) + [""] + rule_rate_lines(cases) + [""]
    lines += misjudged_lines(cases, misjudged_limit)
    targets = []
    if macro_target is not None:
        targets.append((f"{title}: macro-F1 >= {macro_target}", f"{macro:.3f}",
                        None if math.isnan(macro) else macro >= macro_target))
    for statistic in ("mean", "median"):
        text, ok = stop_target(rows, statistic)
        targets.append((f"{title}: losslint {statistic} regret <= best baseline's while saving more", text, ok))
    if rows["losslint"].regrets:
        beaten_by = dominated_by(rows)
        targets.append((f"{title}: no baseline has both lower regret (mean and median) and more compute saved",
                        ", ".join(beaten_by) or "none does", not beaten_by))
    return lines, targets


# ---------------------------------------------------------------------------------------------------------------
# label files


def load_labels(path: Path) -> dict[str, dict[str, Any]]:
    """A label file: one table per run, keyed by the run name `losslint check <root>` prints, with a `verdict`
    (`tests/data/realworld_labels.toml`, `fixtures/expected.toml`); tables without a known verdict are skipped."""
    data = tomllib.loads(path.read_text())
    table = data.get("runs", data)
    return {str(key): entry for key, entry in table.items()
            if isinstance(entry, dict) and entry.get("verdict") in VERDICTS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-per-kind", type=int, default=50, help="synthetic runs per label (default 50)")
    parser.add_argument("--seed0", type=int, default=0)
    parser.add_argument("--corpus", default="synthetic,fixtures,realworld",
                        help="comma list of synthetic, fixtures, realworld (empty: none, e.g. with --sweep)")
    parser.add_argument("--sweep", type=Path, default=None,
                        help="also the test-regret tables on the runs of benchmarks/sweep.py in this folder")
    parser.add_argument("--via-files", action="store_true", help="synthetic runs go through JSONL files and readers")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--misjudged", type=int, default=25, help="misjudged runs listed per corpus")
    parser.add_argument("--plot", type=Path, default=None,
                        help="also draw the regret / compute-saved trade-off of every corpus into this PNG")
    parser.add_argument("--config", type=Path, default=None,
                        help="a losslint.toml to check with (e.g. other early-stop settings); default: built-in")
    args = parser.parse_args(argv)
    from losslint.config import Config, load_config

    config = load_config(args.config) if args.config else Config()
    wanted = {c.strip() for c in args.corpus.split(",") if c.strip()}

    import numpy
    import pandas

    out = [f"losslint detection-quality benchmark  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
           f"python {sys.version.split()[0]}, numpy {numpy.__version__}, pandas {pandas.__version__}", ""]
    all_targets: list[tuple[str, str, bool | None]] = []
    panels: list = []
    if "synthetic" in wanted:
        start = time.perf_counter()
        cases = synthetic_cases(args.n_per_kind, args.seed0, args.via_files, args.jobs, config)
        title = f"synthetic (n_per_kind={args.n_per_kind}, seed0={args.seed0}" + \
                (", via JSONL files)" if args.via_files else ", in memory)")
        lines, targets = corpus_report(title, cases, TARGET_MACRO_F1_SYNTHETIC, args.misjudged, synthetic=True,
                                       panels=panels)
        out += lines + [f"({time.perf_counter() - start:.1f} s)", ""]
        all_targets += targets
    if "fixtures" in wanted:
        expected = REPO / "fixtures" / "expected.toml"
        if expected.exists():
            scenarios = tomllib.loads(expected.read_text()).get("scenario", {})
            cases = fixture_cases(REPO / "fixtures" / "runs", scenarios, args.jobs, config)
            lines, targets = corpus_report("fixtures", cases, None, args.misjudged, synthetic=False,
                                           panels=panels)
            out += lines + best_window_lines(cases) + [""]
            all_targets += targets
        else:
            out += [f"fixtures: {expected} not found, skipped", ""]
    if "realworld" in wanted:
        root = Path(os.environ.get("LOSSLINT_REALWORLD", "/work/shared/realworld"))
        label_file = REPO / "tests" / "data" / "realworld_labels.toml"
        if root.exists() and label_file.exists():
            cases = labeled_tree_cases(root, load_labels(label_file), args.jobs, config)
            lines, targets = corpus_report("realworld", cases, TARGET_MACRO_F1_REALWORLD, args.misjudged,
                                           synthetic=False, panels=panels)
            out += lines + [""]
            all_targets += targets
        else:
            out += [f"realworld: {root} or {label_file} not found, skipped", ""]
    if args.sweep is not None:
        start = time.perf_counter()
        lines, targets = sweep_report(args.sweep, args.jobs, config)
        out += lines + [f"({time.perf_counter() - start:.1f} s)", ""]
        all_targets += targets
    if args.plot and panels:
        tradeoff_figure(panels, args.plot)
        out += [f"trade-off figure: {args.plot}", ""]
    out.append("targets")
    width = max((len(t[0]) for t in all_targets), default=10)
    for text, value, ok in all_targets:
        out.append(f"  {text:<{width}}  {'NOT RUN' if ok is None else 'PASS' if ok else 'FAIL'}  {value}")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
