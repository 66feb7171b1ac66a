"""Run the enabled rules over runs and build one `Result` per run: findings, early stop, verdict.

- `check_runs(runs, config)`: runs already read (the Python API, tests).
- `check_paths(paths, config=None, jobs=1)`: discover, read and check; with `jobs > 1` each run group is read and
  checked in a worker process (`concurrent.futures.ProcessPoolExecutor`). Results come back in discovery order, so
  the output and exit code do not depend on `jobs`.

Each run is wrapped in one `checks.view.RunView`; every series' analysis is cached there, so no rule recomputes
another's work. The verdict comes from `verdict.decide` (the one precedence table).
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from itertools import repeat
from typing import Any, Iterable, Sequence

import numpy as np

from . import analysis, discover
from .checks import all_rules
from .checks.view import RunView, SeriesView, metric_leaf
from .config import Config, coerce
from .errors import ReadError
from .findings import EarlyStop, Finding, Result, group_findings, severity_rank
from .progress import track
from .schema import Run
from .verdict import decide


PATIENCE_STRATEGIES = ("hf", "keras", "lightning", "relative")


# -- early stop -------------------------------------------------------------------------------------------
def monitored_series(view: RunView, monitor: str) -> SeriesView | None:
    """The configured monitor if the run has it, else the validation loss, else a validation metric whose
    direction is known (accuracy, WER, ...)."""
    series = view.series(monitor)
    if series is not None and series.n >= 1:
        return series
    if view.eval_loss is not None and view.eval_loss.n >= 1:
        return view.eval_loss
    for metric in view.task_metrics:
        if not hasattr(metric, "derived_from") and metric.n >= 1:
            return metric
    return None


def _step_of(steps: np.ndarray, index: int | None) -> int | None:
    return None if index is None else int(steps[int(index)])


def _hold_for_task_metrics(view: RunView, monitored: SeriesView, decision, steps: np.ndarray, values: np.ndarray,
                           direction: str, settings: dict[str, Any]):
    """A convergence stop on the monitored metric, held until the validation task metrics (accuracy, ROUGE, WER,
    ...) have converged too: a loss that flattened while ROUGE kept climbing is no reason to stop. A task metric
    still improving beyond the tolerance at the end cancels the stop; one that converged later moves it there.
    Left out: metrics with too few evaluations to judge (fewer than the strategy's `min_points`), and perplexity,
    logged or derived: it is exp(loss) of the same evaluation, whose relative changes are the loss's absolute ones,
    so holding on it would turn the relative tolerance into an absolute one. A metric that peaked and declined does
    not hold the stop (T401 reports that)."""
    min_points = int(settings.get("min_points", 8))
    latest, waited_for = int(steps[decision.stop_index]), []
    for metric in view.task_metrics:
        if (hasattr(metric, "derived_from") or metric.metric == monitored.metric or metric.n < min_points
                or metric_leaf(metric.metric) in ("perplexity", "ppl")):
            continue
        own = analysis.recommend(metric.all_steps, metric.all_values, metric.direction or "min", strategy="default",
                                 **settings)
        if own.stop_index is None:
            return replace(decision, stop_index=None, trigger=None,
                           reason=f"{decision.reason}; but {metric.metric} was still improving at the end, so no stop")
        if own.trigger == "converged" and int(metric.all_steps[own.stop_index]) > latest:
            latest = int(metric.all_steps[own.stop_index])
            waited_for.append(metric.metric)
    if not waited_for:
        return decision
    index = int(np.searchsorted(steps, latest, side="left"))
    if index >= len(steps) - 1:
        return replace(decision, stop_index=None, trigger=None,
                       reason=f"{decision.reason}; but {waited_for[-1]} converged only at the end, so no stop")
    return replace(decision, stop_index=index, best_index=analysis.best_until(values, index, direction),
                   reason=f"{decision.reason}; held until step {int(steps[index])}, where {waited_for[-1]} "
                          f"converged too")


def build_early_stop(view: RunView, config: Config, overfitting: bool = False, diverged: bool = False
                     ) -> EarlyStop | None:
    """The recommended stop on the monitored metric, with what the classic callbacks would have done.

    When the run is judged overfitting, or diverged by I303, but the default strategy saw no sustained rise (short
    or noisy validation curves, a blow-up on the training loss), the findings stand in for that test and the stop
    goes to the smoothed best, where the default puts any due stop (unless that is the last evaluation). For
    overfitting with another strategy, or without such a best, the stop of the HF patience callback
    (`[early-stop] patience`) is recommended, so that a run the findings call overfitting always comes with a stop
    when any callback would have stopped it.
    The default strategy is given the non-finite evaluations as well, so that a metric that turns NaN/inf for good
    gets its stop before the break; the baselines see the finite evaluations, as before.
    """
    series = monitored_series(view, config.monitor)
    if series is None:
        return None
    steps, values = series.steps, series.values
    direction = series.direction or "min"
    settings = dict(config.early_stop)
    strategy = settings.pop("strategy", "default")
    patience = settings.pop("patience", 3)
    train = view.train_loss
    train_steps = train.steps if train is not None and train.n >= 2 else None
    train_values = train.values if train is not None and train.n >= 2 else None
    if strategy in PATIENCE_STRATEGIES:
        settings["patience"] = patience
    if strategy == "pq":
        settings.update(train_steps=train_steps, train_values=train_values)
    # The default strategy sees the non-finite evaluations too: a metric that turns NaN/inf for good is a run that
    # broke, and the stop must come before it (the finite-only `values` would hide that).
    decision_steps, decision_values = (series.all_steps, series.all_values) if strategy == "default" else (steps, values)
    decision = analysis.recommend(decision_steps, decision_values, direction, strategy=strategy, **settings)
    if decision.trigger == "converged":
        decision = _hold_for_task_metrics(view, series, decision, decision_steps, decision_values, direction, settings)
    stops: dict[str, int | None] = dict(analysis.baseline_stops(steps, values, direction, train_steps, train_values))
    stops.setdefault(f"hf_patience_{patience}", analysis.patience_stop(values, patience, mode="hf", direction=direction))
    span = run_span(view.run, decision_steps)
    baselines: dict[str, dict[str, Any]] = {}
    for name, index in stops.items():
        baselines[name] = {"stop_step": _step_of(steps, index), "stop_index": None if index is None else int(index),
                           "saved_fraction": round(float(analysis.saved_fraction(steps, index, span)), 6)}
    best_index, stop_index, used = decision.best_index, decision.stop_index, decision.strategy
    reason = decision.reason or None
    trigger = decision.trigger if strategy == "default" else "callback" if stop_index is not None else None
    fallback = stops[f"hf_patience_{patience}"]
    rest = decision.rest_index
    judged = "overfitting" if overfitting else "diverged" if diverged and strategy == "default" else None
    overridable = stop_index is None or trigger == "converged"
    if judged and overridable and rest is not None and rest < len(decision_values) - 1:
        # The findings established what the default's own test could not (too few or too noisy evaluations, or a
        # blow-up seen on the training loss): the stop goes where that strategy puts any due stop, the smoothed best.
        # That also replaces a convergence stop: an overfitting or diverged run is to be kept at its best.
        stop_index, used, trigger = int(rest), "default", "findings"
        if decision.trigger == "converged":  # its best is the best up to the convergence point; keep the run's best
            best_index = analysis.best_until(decision_values, int(rest), direction)
        reason = f"the findings call the run {judged} ({decision.no_rise or decision.reason}); stop at the smoothed best"
    elif overfitting and stop_index is None and fallback is not None:
        stop_index, used = int(fallback), f"hf_patience_{patience}"
        best_index = analysis.best_until(values, stop_index, direction)
        decision_steps, decision_values = steps, values
        reason = f"the findings call the run overfitting; HF patience {patience} stop"
        trigger = "callback"
    at_first = stop_index is not None and int(decision_steps[stop_index]) == int(decision_steps[0])
    if at_first:
        reason = (f"{reason}; " if reason else "") + (
            f"the stop is the first evaluation (step {int(decision_steps[0])}): the metric was never better later; "
            f"the share saved counts the steps after it of the run's steps {span[0]}..{span[1]}")
    return EarlyStop(
        metric=series.metric,
        strategy=used,
        best_step=_step_of(decision_steps, best_index),
        recommended_stop_step=_step_of(decision_steps, stop_index),
        value_at_best=None if best_index is None else float(decision_values[best_index]),
        value_at_stop=None if stop_index is None else float(decision_values[stop_index]),
        value_at_end=float(values[-1]) if len(values) else None,
        saved_fraction=float(analysis.saved_fraction(decision_steps, stop_index, span)),
        baselines=baselines,
        reason=reason,
        trigger=trigger,
        at_first_evaluation=at_first,
    )


def run_span(run: Run, steps: np.ndarray) -> tuple[int, int]:
    """The run's first and last step over all its metrics (and the monitored steps): what `saved_fraction` counts
    over, so that a stop at the first evaluation does not save "100%" of a run that trained before it."""
    all_steps = run.data["step"].to_numpy()
    first = min(int(all_steps.min()), int(steps[0])) if len(all_steps) else int(steps[0])
    last = max(int(all_steps.max()), int(steps[-1])) if len(all_steps) else int(steps[-1])
    return first, last


# -- one run ----------------------------------------------------------------------------------------------
def _annotations(view: RunView, config: Config, early: EarlyStop | None, findings: Sequence[Finding],
                 curves: bool) -> dict[str, dict[str, Any]]:
    """Per-metric marks for plots: best/stop steps and finding steps; with `curves`, also the change points of
    the losses and the spike steps of the training loss (the costly part, only worth it when plots are drawn)."""
    marks: dict[str, dict[str, Any]] = {}
    for series in (view.train_loss, view.eval_loss) if curves else ():
        if series is None or series.n < 10:
            continue
        entry = marks.setdefault(series.metric, {})
        try:
            entry["change_points"] = [int(s) for s in series.change_points.steps]
            if series is view.train_loss:
                spike = config.params_for("I302")
                found = series.spikes(spike["z_threshold"], spike["window"], spike["min_rel_jump"],
                                      spike["min_range_fraction"])
                entry["spikes"] = [int(s) for s in found.steps]
        except Exception as exc:  # noqa: BLE001 - plot marks are optional; a failure must not stop the check
            if os.environ.get("LOSSLINT_DEBUG"):
                raise
            view.run.notes.append(f"plot marks for {series.metric} not computed: {type(exc).__name__}: {exc}")
    if view.derived_perplexity is not None:
        marks.setdefault("eval/perplexity", {})["derived_from"] = view.derived_perplexity.derived_from
    if early is not None:
        entry = marks.setdefault(early.metric, {})
        entry["best_step"] = early.best_step
        entry["stop_step"] = early.recommended_stop_step
    for finding in findings:
        if finding.metric and finding.step is not None:
            marks.setdefault(finding.metric, {}).setdefault("findings", []).append(
                {"code": finding.code, "step": finding.step})
    return marks


def check_run(run: Run, config: Config, annotate: bool = True) -> Result:
    """Findings, early stop and verdict of one run; `annotate=False` skips the plot-only analysis."""
    view = RunView(run, monitor=config.monitor)
    rules = all_rules()
    findings: list[Finding] = []
    for code in config.codes_for_run(run.name):
        rule = rules[code]
        try:
            findings.extend(rule.check(view, config.params_for(code)))
        except Exception as exc:  # noqa: BLE001 - one rule's bug must not hide the other findings
            if os.environ.get("LOSSLINT_DEBUG"):
                raise
            run.notes.append(f"rule {code} {rule.name} failed: {type(exc).__name__}: {exc}")
    findings.sort(key=lambda f: (-severity_rank(f.severity), f.code, f.metric or "", f.step if f.step is not None else -1))
    findings = group_findings(findings)
    verdict = decide(findings, has_signal=view.has_loss)
    try:
        early = build_early_stop(view, config, overfitting=verdict == "overfitting",
                                 diverged=any(f.code == "I303" for f in findings))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("LOSSLINT_DEBUG"):
            raise
        run.notes.append(f"early stop not computed: {type(exc).__name__}: {exc}")
        early = None
    if early is not None and early.trigger == "rise":
        verdict = decide(findings, has_signal=view.has_loss, stop_trigger=early.trigger)
    return Result(run=run, verdict=verdict, findings=findings, early_stop=early,
                  annotations=_annotations(view, config, early, findings, curves=annotate))


def check_runs(runs: Iterable[Run], config: Config | None = None, annotate: bool = True) -> list[Result]:
    config = config if isinstance(config, Config) else coerce(config, ())
    return [check_run(run, config, annotate) for run in runs]


# -- paths ------------------------------------------------------------------------------------------------
def _error_fields(error: ReadError) -> tuple:
    # ReadError's constructor takes more than its message, so it does not survive pickling as an exception.
    return (error.path, error.message, error.line, error.offset)


def _check_group(group: discover.RunGroup, config: Config, annotate: bool, plot: tuple | None = None
                 ) -> tuple[list[Result], list[tuple]]:
    runs, errors = discover.read_group(group, config.aliases)
    results = [check_run(run, config, annotate) for run in runs]
    if plot is not None:
        _plot_results(results, *plot)
    return results, [_error_fields(e) for e in errors]


def _plot_results(results: Sequence[Result], plot_dir: str, tag: str, smoothing: float) -> None:
    """Draw each result's PNG where it was checked (a worker process, with `--jobs`): the plots, the costly part
    of a report, then run in the same pool as the checks, and no second pool has to start and receive the runs.
    The report moves the files to their final names; a plot that fails here is drawn again there, or reported."""
    from pathlib import Path

    from .report import png

    for k, result in enumerate(results):
        path = Path(plot_dir) / f".losslint-plot-{tag}-{k}.png"
        try:
            png.write_run_png(result, path, smoothing)
        except Exception:  # noqa: BLE001 - the report draws it again and reports a real error there
            if os.environ.get("LOSSLINT_DEBUG"):
                raise
            continue
        result.plot = str(path)


def _check_alone(group: discover.RunGroup, config: Config, annotate: bool, plot: tuple | None = None
                 ) -> tuple[list[Result], list[tuple]]:
    """One group in a fresh process of its own: when it kills that process too, only this run is lost, named."""
    try:
        with ProcessPoolExecutor(max_workers=1) as solo:
            return solo.submit(_check_group, group, config, annotate, plot).result()
    except BrokenProcessPool:
        where = group.files[0] if len(group.files) == 1 else group.key
        return [], [_error_fields(ReadError(where, f"reading this {group.format} run crashed its worker process "
                                                   "(a parser fault on this file); skipped"))]


def _check_in_pool(groups: list[discover.RunGroup], config: Config, annotate: bool, jobs: int,
                   plots: Sequence[tuple | None] | None = None) -> list[tuple]:
    """Each group's outcome, in order, from `jobs` worker processes. A worker that dies (a C parser's segfault)
    breaks the pool; the groups without an outcome yet are then checked again, each alone in a fresh process.
    `plots`: per group, where its worker draws its PNGs (`_plot_results`), or None."""
    plots = list(plots) if plots is not None else [None] * len(groups)
    # plots make a group cost ~10x its check: then small chunks keep every worker busy to the end
    chunk = 1 if any(plots) else max(1, len(groups) // (4 * jobs))
    outcomes: list[tuple] = []
    try:
        with ProcessPoolExecutor(max_workers=min(jobs, len(groups))) as pool:
            for outcome in track(pool.map(_check_group, groups, repeat(config), repeat(annotate), plots,
                                          chunksize=chunk), total=len(groups)):
                outcomes.append(outcome)
    except BrokenProcessPool:
        outcomes.extend(_check_alone(group, config, annotate, plot)
                        for group, plot in zip(groups[len(outcomes):], plots[len(outcomes):]))
    return outcomes


def check_paths(paths: str | os.PathLike | Sequence[str | os.PathLike], config: Config | str | os.PathLike | None = None,
                jobs: int = 1, annotate: bool = True, notes: list[str] | None = None,
                plot_dir: str | os.PathLike | None = None, smoothing: float | None = None
                ) -> tuple[list[Result], list[ReadError]]:
    """Discover, read and check every run under `paths`; unreadable inputs come back as errors.

    `annotate=False` leaves out the change points and spike steps that only plots use (about a third of the time).
    `notes`, when given, receives discovery's notes (links to folders outside the checked trees, not followed).
    `plot_dir`: also draw each run's PNG there, in the process that checked it (`Result.plot`; `write_report`
    moves them to their names), with curves smoothed at `smoothing` (a share of the run, see `report.png`).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    config = coerce(config, paths)
    found = discover.discover(paths)
    errors = list(found.errors)
    if notes is not None:
        notes.extend(found.notes)
    groups = found.groups
    plots: list[tuple | None] = [None] * len(groups)
    if plot_dir is not None:
        from .report import DEFAULT_SMOOTHING

        share = DEFAULT_SMOOTHING if smoothing is None else float(smoothing)
        plots = [(os.fspath(plot_dir), f"{os.getpid()}-{i}", share) for i in range(len(groups))]
    if jobs > 1 and len(groups) > 1:
        outcomes = _check_in_pool(groups, config, annotate, jobs, plots)
    else:
        outcomes = list(track((_check_group(group, config, annotate, plot) for group, plot in zip(groups, plots)),
                              total=len(groups)))
    results: list[Result] = []
    for group_results, group_errors in outcomes:
        results.extend(group_results)
        errors.extend(ReadError(path, message, line=line, offset=offset) for path, message, line, offset in group_errors)
    discover.unique_run_names([result.run for result in results])
    return results, errors


def exit_code(results: Sequence[Result], errors: Sequence[ReadError], fail_on: str) -> int:
    """0 clean, 1 a finding at or above `fail_on`, 2 an unreadable input (2 wins: the check is incomplete)."""
    if errors:
        return 2
    threshold = severity_rank(fail_on)
    if any(severity_rank(f.severity) >= threshold for r in results for f in r.findings):
        return 1
    return 0
