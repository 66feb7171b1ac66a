"""`losslint compare`: rank the runs of a sweep and say what their hyperparameters did.

Pure numbers on checked `Result`s (no files, no drawing; `report/compare.py` formats a `Comparison`):

- Each run's **value at the stop**: the best value of the compared metric up to the recommended stop step (the whole
  run when no stop is recommended), what a restore-best callback keeps. Runs are ranked by it, best first, in the
  metric's better direction (`metrics.known_direction`; unknown names rank lower-is-better, as the early stop
  does); runs without a finite value of the metric rank last, by name.
- Each **varying hyperparameter** (flattened with `.`, `schema.flat_hparams`): verdict counts per value, or per
  quartile bin for a numeric one with more than `MAX_LEVELS` distinct values; Spearman's rank correlation of the
  value with the value at the stop (scipy, with n and the p-value); and plain sentences for the clear cases.

When a case is "clear" (each threshold with its reason):

- A verdict tied to a setting: the runs on one side of a threshold (or with one categorical value) against all the
  others. Said only when that side has at least `MIN_CLEAR_RUNS` (3) runs (one or two runs are anecdotes), at least
  `CLEAR_SHARE` (75%) of them have the verdict while at most `OTHER_SHARE` (25%) of the others do (a setting that
  "made" runs unstable makes most of them so, and few runs elsewhere), and Fisher's exact test of that 2x2 table
  gives p <= `CLEAR_P` (0.01). The test guards small sweeps: 3 of 3 against 0 of 3 is p = 0.05, not said; 6 of 6
  against 0 of 18 is p = 7e-6. 0.01 rather than 0.05 because each hyperparameter is tried at every threshold and
  verdict (a dozen tests for a 4-value setting), and the one-line sentence carries no error bar.
- A trend: |Spearman rho| >= `CLEAR_RHO` (0.5, a "strong" monotone association by the usual reading of rank
  correlations) with p <= `CLEAR_P`, over at least `MIN_SPEARMAN_RUNS` (5) runs with a value at the stop (fewer
  give p-values that cannot reach 0.01: with n = 4 the smallest is 0.083).

- What the runs of one verdict share, when no single setting explains them (the runs that went unstable at a small
  batch *and* a large learning rate): the smallest box of settings that holds every run of the verdict (per
  numeric setting the range of their values, per categorical one the set of their values), keeping only the
  settings that shut out runs of other verdicts. Said when the verdict has at least `MIN_CLEAR_RUNS` runs, the box
  takes at least two settings, at least `CLEAR_SHARE` of the runs in it have the verdict (none outside, by
  construction), and Fisher's exact test gives p <= `CLEAR_P` divided by the number of settings in the box: the box
  was drawn around the runs after seeing them, and each setting added is one more chance to fit a lucky corner
  (Bonferroni). 3 unstable runs of 4 in a box of 3 settings, 0 of the other 20, is p = 0.002 (bar 0.0033): said;
  3 of 3 among 6 runs is p = 0.05: not said.

Values that are the same in every run, and categorical values that differ in every run (run names, output
folders, W&B ids: an identifier, not a setting), are not effects.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np

from .findings import Result
from .metrics import EVAL_LOSS, direction_or_min
from .schema import flat_hparams

Direction = Literal["min", "max"]

MAX_LEVELS = 8  # more distinct numeric values than this are binned into quartiles (a table row per value is noise)
QUANTILE_BINS = 4
MIN_CLEAR_RUNS = 3
CLEAR_SHARE = 0.75
OTHER_SHARE = 0.25
CLEAR_P = 0.01
CLEAR_RHO = 0.5
MIN_SPEARMAN_RUNS = 5
MIN_EFFECT_RUNS = 3  # a hyperparameter seen in fewer runs than this is not compared
# How each verdict reads in a sentence ("all 6 runs with learning_rate >= 0.003 were unstable").
VERDICT_PHRASES = {
    "diverged": "diverged",
    "unstable": "were unstable",
    "overfitting": "overfit",
    "underfitting": "underfit",
    "no-signal": "had no signal",
    "good-fit": "were a good fit",
}


@dataclass
class RunRow:
    """One run of the comparison (`as_dict` is its object in the JSON contract)."""

    run: str
    path: str
    verdict: str
    best_step: int | None
    recommended_stop_step: int | None
    value_at_stop: float | None
    saved_fraction: float
    hyperparameters: dict[str, Any]
    result: Result | None = field(default=None, repr=False, compare=False)  # for the pictures; not in the JSON

    def as_dict(self) -> dict[str, Any]:
        return {"run": self.run, "path": self.path, "verdict": self.verdict, "best_step": self.best_step,
                "recommended_stop_step": self.recommended_stop_step, "value_at_stop": self.value_at_stop,
                "saved_fraction": round(float(self.saved_fraction), 6), "hyperparameters": dict(self.hyperparameters)}


@dataclass
class Effect:
    """What one varying hyperparameter did."""

    hyperparameter: str
    kind: Literal["categorical", "numeric"]
    n: int  # runs that have this hyperparameter
    spearman: float | None  # with the value at the stop; None for categorical ones or too few runs
    p_value: float | None
    verdicts: dict[str, dict[str, int]]  # value (or bin) -> verdict -> runs
    statement: str | None  # the clear cases in plain sentences; None when nothing is clear
    spearman_n: int = 0  # runs in the correlation (those with a value at the stop)
    explains: frozenset[str] = frozenset()  # the verdicts its statement ties to a value of it (not in the JSON)

    def as_dict(self) -> dict[str, Any]:
        return {"hyperparameter": self.hyperparameter, "kind": self.kind, "n": self.n, "spearman": self.spearman,
                "p_value": self.p_value, "verdicts": self.verdicts, "statement": self.statement}


@dataclass
class Combination:
    """What every run of one verdict has in common (see the module docstring)."""

    verdict: str
    settings: dict[str, str]  # hyperparameter -> its condition, e.g. {"learning_rate": ">= 0.001"}
    runs: int  # runs with the verdict (all inside the box)
    runs_in: int  # runs inside the box, any verdict
    runs_total: int  # runs that have every setting of the box
    p_value: float
    statement: str

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "settings": dict(self.settings), "runs": self.runs,
                "runs_in": self.runs_in, "runs_total": self.runs_total, "p_value": self.p_value,
                "statement": self.statement}


@dataclass
class Comparison:
    metric: str
    direction: Direction
    runs: list[RunRow]  # ranked, best first
    effects: list[Effect]
    group_by: str | None = None
    combinations: list[Combination] = field(default_factory=list)

    @property
    def varying(self) -> list[str]:
        return [e.hyperparameter for e in self.effects]

    def groups(self) -> list[tuple[Any, list[RunRow]]]:
        """The ranked runs grouped by `group_by`'s value (groups in value order, runs without it last)."""
        if self.group_by is None:
            return [(None, list(self.runs))]
        key = self.group_by
        values = {row.hyperparameters.get(key) for row in self.runs if key in row.hyperparameters}
        ordered = sorted(values, key=_sort_key)
        out = [(v, [r for r in self.runs if key in r.hyperparameters and r.hyperparameters[key] == v])
               for v in ordered]
        missing = [r for r in self.runs if key not in r.hyperparameters]
        if missing:
            out.append(("(not set)", missing))
        return out


def _sort_key(value: Any) -> tuple:
    if isinstance(value, bool):
        return (1, int(value), "")
    if isinstance(value, (int, float)):
        return (0, float(value), "")
    return (2, 0.0, str(value))


def default_metric(results: Sequence[Result]) -> str:
    """The metric most runs' early stop monitors (ties: the alphabetically first), else eval/loss."""
    counts = Counter(r.monitored_metric for r in results if r.monitored_metric)
    if not counts:
        return EVAL_LOSS
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def value_at_stop(result: Result, metric: str, direction: Direction) -> tuple[int | None, float | None]:
    """(step, value) of the best finite value of `metric` up to the run's recommended stop (the whole run when there
    is none): what restore-best keeps. (None, None) when the run has no finite value there."""
    data = result.run.data
    rows = data["metric"].to_numpy() == metric  # run.series without building a frame: 1,000 runs add up
    if not rows.any():
        return None, None
    steps = data["step"].to_numpy()[rows]
    values = data["value"].to_numpy(dtype=float)[rows]
    keep = np.isfinite(values)
    stop = result.recommended_stop_step
    if stop is not None:
        keep &= steps <= stop
    if not keep.any():
        return None, None
    kept = np.flatnonzero(keep)
    pick = kept[int(np.argmin(values[kept]) if direction == "min" else np.argmax(values[kept]))]
    return int(steps[pick]), float(values[pick])


def rank_key(row: RunRow, direction: Direction) -> tuple:
    value = row.value_at_stop
    if value is None:
        return (1, 0.0, row.run)
    return (0, value if direction == "min" else -value, row.run)


def is_numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _bins(values: np.ndarray) -> tuple[np.ndarray, list[str], list[float]]:
    """Quartile bins: each value's bin index, the bins' labels and their lower edges."""
    edges = np.unique(np.quantile(values, np.linspace(0, 1, QUANTILE_BINS + 1)))
    inner = edges[1:-1]
    index = np.searchsorted(inner, values, side="right")
    labels = []
    for i in range(len(edges) - 1):
        lo, hi = edges[i], edges[i + 1]
        labels.append(f"[{lo:.4g}, {hi:.4g}{']' if i == len(edges) - 2 else ')'}")
    return index, labels, [float(e) for e in edges[:-1]]


def _fisher_p(a: int, n_in: int, b: int, n_out: int) -> float:
    from scipy.stats import fisher_exact

    table = [[a, n_in - a], [b, n_out - b]]
    return float(fisher_exact(table, alternative="greater")[1])


def _clear(a: int, n_in: int, b: int, n_out: int) -> float | None:
    """The p-value of a clear case, None when it is not one (see the module docstring)."""
    if n_in < MIN_CLEAR_RUNS or n_out < 1:
        return None
    if a / n_in < CLEAR_SHARE or b / n_out > OTHER_SHARE:
        return None
    p = _fisher_p(a, n_in, b, n_out)
    return p if p <= CLEAR_P else None


def _sentence(key: str, where: str, other: str, verdict: str, a: int, n_in: int, b: int, n_out: int) -> str:
    phrase = VERDICT_PHRASES.get(verdict, f"were {verdict}")
    share = f"all {a}" if a == n_in else f"{a} of {n_in}"
    head = f"{share} runs with {key} {where} {phrase}"
    tail = f"none {other}" if b == 0 else f"{b} of {n_out} {other}"
    return f"{head}; {tail}."


def verdict_statements(key: str, values: list[Any], verdicts: list[str], numeric: bool) -> list[tuple[str, str]]:
    """The clear verdict-to-setting cases of one hyperparameter, as (verdict, sentence) (best case per verdict;
    problem verdicts first in `VERDICT_PHRASES` order, and "good fit" only when no problem is tied to the setting:
    it is then mostly the same split seen from the other side)."""
    out: list[tuple[str, str]] = []
    order = [v for v in VERDICT_PHRASES if v != "good-fit"] + ["good-fit"]
    for verdict in sorted(set(verdicts), key=lambda v: (order.index(v) if v in order else len(order), v)):
        if verdict == "good-fit" and out:
            continue
        has = np.array([v == verdict for v in verdicts])
        best: tuple[float, int, str] | None = None  # (p, -side size, sentence)
        if numeric:
            x = np.asarray(values, dtype=float)
            distinct = np.unique(x)
            for below, t in zip(distinct[:-1], distinct[1:]):  # >= t against <= the value below t
                for side, where, other in ((x >= t, f">= {_label(float(t))}", "below"),
                                           (x < t, f"<= {_label(float(below))}", "above")):
                    p = _clear(int(has[side].sum()), int(side.sum()), int(has[~side].sum()), int((~side).sum()))
                    if p is not None:
                        sentence = _sentence(key, where, other, verdict, int(has[side].sum()), int(side.sum()),
                                             int(has[~side].sum()), int((~side).sum()))
                        cand = (p, -int(side.sum()), sentence)
                        best = cand if best is None or cand[:2] < best[:2] else best
        else:
            labels = [_label(v) for v in values]
            for value in sorted(set(labels)):
                side = np.array([lab == value for lab in labels])
                p = _clear(int(has[side].sum()), int(side.sum()), int(has[~side].sum()), int((~side).sum()))
                if p is not None:
                    sentence = _sentence(key, f"= {value}", "with other values", verdict, int(has[side].sum()),
                                         int(side.sum()), int(has[~side].sum()), int((~side).sum()))
                    cand = (p, -int(side.sum()), sentence)
                    best = cand if best is None or cand[:2] < best[:2] else best
        if best is not None:
            out.append((verdict, best[2]))
    return out


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float | None, float | None]:
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(xa) < MIN_SPEARMAN_RUNS or np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return None, None
    # imported only when there is a correlation to compute: scipy.stats costs ~0.7 s of CPU to import
    from scipy.stats import spearmanr

    rho, p = spearmanr(xa, ya)
    rho, p = float(rho), float(p)
    if not (math.isfinite(rho) and math.isfinite(p)):
        return None, None
    return round(rho, 6), float(f"{p:.6g}")


def trend_statement(key: str, metric: str, direction: Direction, rho: float | None, p: float | None,
                    n: int) -> str | None:
    if rho is None or p is None or abs(rho) < CLEAR_RHO or p > CLEAR_P:
        return None
    better = (rho < 0) == (direction == "min")
    return (f"higher {key} went with a {'better' if better else 'worse'} {metric} at the stop "
            f"(Spearman rho = {rho:+.2f}, p = {p:.2g}, n = {n}).")


def effect_of(key: str, rows: Sequence[RunRow], metric: str, direction: Direction) -> Effect | None:
    """The effect of one hyperparameter over the runs that have it; None when it does not vary (or names runs)."""
    having = [r for r in rows if key in r.hyperparameters]
    if len(having) < MIN_EFFECT_RUNS:
        return None
    values = [r.hyperparameters[key] for r in having]
    numeric = is_numeric(values)
    labels_all = [_label(v) for v in values]
    distinct = set(labels_all)
    if len(distinct) < 2:
        return None
    if not numeric and len(distinct) == len(values):
        return None  # an identifier (run name, output folder), not a setting
    verdicts = [r.verdict for r in having]
    table: dict[str, dict[str, int]] = {}
    if numeric and len(distinct) > MAX_LEVELS:
        index, bin_labels, _ = _bins(np.asarray(values, dtype=float))
        for i, verdict in zip(index, verdicts):
            table.setdefault(bin_labels[int(i)], {}).setdefault(verdict, 0)
            table[bin_labels[int(i)]][verdict] += 1
        table = {lab: table[lab] for lab in bin_labels if lab in table}
    else:
        order = sorted(set(values), key=_sort_key)
        for value in order:
            label = _label(value)
            counts = Counter(v for x, v in zip(labels_all, verdicts) if x == label)
            table[label] = dict(sorted(counts.items()))
    rho = p = None
    scored = [(r.hyperparameters[key], r.value_at_stop) for r in having if r.value_at_stop is not None]
    if numeric:
        rho, p = spearman([s[0] for s in scored], [s[1] for s in scored])
    tied = verdict_statements(key, values, verdicts, numeric)
    sentences = [sentence for _, sentence in tied]
    trend = trend_statement(key, metric, direction, rho, p, len(scored)) if numeric else None
    if trend:
        sentences.append(trend[0].upper() + trend[1:])
    sentences = [s[0].upper() + s[1:] for s in sentences]
    return Effect(hyperparameter=key, kind="numeric" if numeric else "categorical", n=len(having), spearman=rho,
                  p_value=p, verdicts=table, statement=" ".join(sentences) or None, spearman_n=len(scored),
                  explains=frozenset(verdict for verdict, _ in tied))


def _condition(values: list[Any], chosen: list[Any], numeric: bool) -> tuple[str, Any] | None:
    """The condition that holds `chosen` among `values` (text, and a test for one value); None when it holds
    every value (no constraint)."""
    if numeric:
        x, c = [float(v) for v in values], [float(v) for v in chosen]
        lo, hi, low_all, high_all = min(c), max(c), min(x), max(x)
        if lo <= low_all and hi >= high_all:
            return None
        if lo == hi:
            return f"= {_label(lo)}", lambda v: float(v) == lo
        if lo <= low_all:
            return f"<= {_label(hi)}", lambda v: float(v) <= hi
        if hi >= high_all:
            return f">= {_label(lo)}", lambda v: float(v) >= lo
        return f"in [{_label(lo)}, {_label(hi)}]", lambda v: lo <= float(v) <= hi
    labels = sorted({_label(v) for v in chosen})
    if set(labels) >= {_label(v) for v in values}:
        return None
    text = f"= {labels[0]}" if len(labels) == 1 else "in {" + ", ".join(labels) + "}"
    return text, lambda v: _label(v) in labels


def combination_of(verdict: str, rows: Sequence[RunRow], keys: Sequence[str]) -> Combination | None:
    """What every run with `verdict` shares among `keys` (varying hyperparameters), when it is clear (see the module
    docstring); None otherwise."""
    rows = [r for r in rows if all(k in r.hyperparameters for k in keys)]
    has = [r.verdict == verdict for r in rows]
    chosen = [r for r, h in zip(rows, has) if h]
    if len(chosen) < MIN_CLEAR_RUNS or len(chosen) == len(rows):
        return None
    conditions: dict[str, tuple[str, Any]] = {}
    for key in keys:
        values = [r.hyperparameters[key] for r in rows]
        got = _condition(values, [r.hyperparameters[key] for r in chosen], is_numeric(values))
        if got is not None:
            conditions[key] = got

    def inside(active: dict[str, tuple[str, Any]]) -> list[bool]:
        return [all(test(r.hyperparameters[k]) for k, (_, test) in active.items()) for r in rows]

    # Drop the settings that shut out no run the others do not: fewest runs shut out alone first, so the box
    # keeps the settings that explain the most.
    def shut_out(key: str) -> int:
        return sum(not conditions[key][1](r.hyperparameters[key]) for r in rows)

    box = inside(conditions)  # dropping a setting below never changes it, only how it is described
    for key in sorted(conditions, key=lambda k: (shut_out(k), k)):
        fewer = {k: c for k, c in conditions.items() if k != key}
        if inside(fewer) == box:
            conditions = fewer
    if len(conditions) < 2:
        return None  # one setting is the single-setting statements' business (and they found it not clear)
    n_in, a = sum(box), len(chosen)
    n_out = len(rows) - n_in
    if n_out < 1 or a / n_in < CLEAR_SHARE:
        return None
    p = _fisher_p(a, n_in, 0, n_out)
    if p > CLEAR_P / len(conditions):
        return None
    ordered = sorted(conditions)
    settings = {k: conditions[k][0] for k in ordered}
    parts = [f"{k} {settings[k]}" for k in ordered]
    listed = ", ".join(parts[:-1]) + " and " + parts[-1]
    phrase = VERDICT_PHRASES.get(verdict, f"were {verdict}")
    others = n_in - a
    tail = (f"none of the other {len(rows) - a} runs did" if others == 0 else
            f"{others} of the other {len(rows) - a} did too")
    statement = f"All {a} runs that {phrase} had {listed}; {tail}."
    return Combination(verdict=verdict, settings=settings, runs=a, runs_in=n_in, runs_total=len(rows),
                       p_value=float(f"{p:.6g}"), statement=statement)


def combinations_of(rows: Sequence[RunRow], effects: Sequence[Effect]) -> list[Combination]:
    """For each problem verdict that no single setting explains, what its runs share (`combination_of`)."""
    explained = {verdict for e in effects for verdict in e.explains}
    keys = [e.hyperparameter for e in effects]
    out = []
    for verdict in VERDICT_PHRASES:
        if verdict == "good-fit" or verdict in explained or not keys:
            continue
        found = combination_of(verdict, rows, keys)
        if found is not None:
            out.append(found)
    return out


def compare(results: Sequence[Result], *, metric: str | None = None, group_by: str | None = None) -> Comparison:
    """Rank `results` by their value at the stop of `metric` (default: the most monitored metric) and work out
    the effect of every hyperparameter that varies."""
    metric = metric or default_metric(results)
    direction: Direction = direction_or_min(metric)
    rows = []
    for result in results:
        step, value = value_at_stop(result, metric, direction)
        best = result.best_step if result.monitored_metric == metric and result.best_step is not None else step
        rows.append(RunRow(run=result.run.name, path=result.run.path, verdict=result.verdict, best_step=best,
                           recommended_stop_step=result.recommended_stop_step, value_at_stop=value,
                           saved_fraction=float(result.saved_fraction),
                           hyperparameters=flat_hparams(result.run.hparams), result=result))
    rows.sort(key=lambda r: rank_key(r, direction))
    keys = sorted({k for r in rows for k in r.hyperparameters})
    effects = [e for k in keys if (e := effect_of(k, rows, metric, direction)) is not None]
    return Comparison(metric=metric, direction=direction, runs=rows, effects=effects, group_by=group_by,
                      combinations=combinations_of(rows, effects))


# What makes several runs "one sweep" (`check --report` writes the comparison when it sees one): at least
# `MIN_SWEEP_RUNS` runs with the same set of hyperparameter names, at least one of them taking different values.
MIN_SWEEP_RUNS = 2


def sweep_of(results: Sequence[Result]) -> list[Result]:
    """The runs of the largest sweep among `results` (see `MIN_SWEEP_RUNS`), [] when there is none. Runs with no
    hyperparameters are in no sweep; a tree with two sweeps gives the larger (ties: the one found first)."""
    by_keys: dict[frozenset, list[tuple[Result, dict[str, Any]]]] = {}
    for result in results:
        flat = flat_hparams(result.run.hparams)
        if flat:
            by_keys.setdefault(frozenset(flat), []).append((result, flat))
    best: list[Result] = []
    for members in by_keys.values():
        if len(members) < max(MIN_SWEEP_RUNS, len(best) + 1):
            continue
        keys = members[0][1].keys()
        varies = any(len({repr(flat[k]) for _, flat in members}) > 1 for k in keys)
        if varies:
            best = [r for r, _ in members]
    return best
