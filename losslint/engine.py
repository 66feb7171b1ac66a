"""Run the enabled rules over runs and build one `Result` per run: findings, early stop, verdict.

- `check_runs(runs, config)`: runs already read (the Python API, tests).
- `check_paths(paths, config=None, jobs=1)`: discover, read and check; with `jobs > 1` each run group is read and
  checked in a worker process (`concurrent.futures.ProcessPoolExecutor`). Results come back in discovery order, so
  the output and exit code do not depend on `jobs`.
- `check_paths(paths, executor=...)`: the same, with the reading and checking done by an `Executor` (the seam for
  running elsewhere: `losslint.dask_executor.DaskExecutor` on a Dask cluster; a Ray one would be another class
  with the same two members). Run groups are found here, batched into tasks, and each task reads and checks its
  groups where it runs (it gets paths and URLs, not data); the outcomes come back in completion order (driving
  the progress bar) and are put back in discovery order, so output and exit code are those of `jobs`.

Each run is wrapped in one `losslint.view.RunView`; every series' analysis is cached there, so no rule recomputes
another's work. The verdict comes from `verdict.decide` (the one precedence table).
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from itertools import repeat
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

from . import discover
from .checks import all_rules, i302_loss_spikes, i303_divergence
from .checks._common import train_fitted
from .config import Config, coerce
from .early_stop import build_early_stop
from .errors import ReadError, reraise_if_debugging
from .findings import EarlyStop, Finding, Result, group_findings, severity_rank
from .io.base import ReadOptions
from .progress import track
from .schema import Run
from .verdict import decide
from .view import RunView


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
                spike = config.params_for(i302_loss_spikes.CODE)
                found = series.spikes(spike["z_threshold"], spike["window"], spike["min_rel_jump"],
                                      spike["min_range_fraction"])
                entry["spikes"] = [int(s) for s in found.steps]
        except Exception as exc:  # noqa: BLE001 - plot marks are optional; a failure must not stop the check
            reraise_if_debugging()
            view.run.notes.append(f"plot marks for {series.metric} not computed: {type(exc).__name__}: {exc}")
    if view.derived_perplexity is not None:
        marks.setdefault(view.derived_perplexity.metric, {})["derived_from"] = view.derived_perplexity.derived_from
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
            reraise_if_debugging()
            run.notes.append(f"rule {code} {rule.name} failed: {type(exc).__name__}: {exc}")
    findings.sort(key=lambda f: (-severity_rank(f.severity), f.code, f.metric or "",
                                 f.step if f.step is not None else -1))
    findings = group_findings(findings)
    verdict = decide(findings, has_signal=view.has_loss)
    try:
        early = build_early_stop(view, config.early_stop, config.monitor, overfitting=verdict == "overfitting",
                                 diverged=any(f.code == i303_divergence.CODE for f in findings))
    except Exception as exc:  # noqa: BLE001
        reraise_if_debugging()
        run.notes.append(f"early stop not computed: {type(exc).__name__}: {exc}")
        early = None
    if early is not None and early.trigger == "rise":
        # a rise after the best is overfitting only in a model that fitted its training data (O101's own test)
        if train_fitted(view, config.params_for("O101")["min_train_fall"]):
            verdict = decide(findings, has_signal=view.has_loss, stop_trigger=early.trigger)
    return Result(run=run, verdict=verdict, findings=findings, early_stop=early,
                  annotations=_annotations(view, config, early, findings, curves=annotate))


def check_runs(runs: Iterable[Run], config: Config | None = None, annotate: bool = True) -> list[Result]:
    config = config if isinstance(config, Config) else coerce(config, ())
    return [check_run(run, config, annotate) for run in runs]


# -- paths ------------------------------------------------------------------------------------------------
CHUNK_MAX_GROUPS = 16
def _error_fields(error: ReadError) -> tuple:
    # ReadError's constructor takes more than its message, so it does not survive pickling as an exception.
    return (error.path, error.message, error.line, error.offset)


# What a check worker does with its results after checking them (`check_paths(after=...)`): the report's plots
# (`report.bundle.WorkerPlots`), called with the group's results and a tag unique to the group. It must pickle.
AfterCheck = Callable[[Sequence[Result], str], None]


def _check_group(group: discover.RunGroup, config: Config, annotate: bool, read_options: ReadOptions,
                 after: tuple[AfterCheck, str] | None = None) -> tuple[list[Result], list[tuple]]:
    runs, errors = discover.read_group(group, config.aliases, read_options)
    results = [check_run(run, config, annotate) for run in runs]
    if after is not None:
        after[0](results, after[1])
    return results, [_error_fields(e) for e in errors]


def _check_alone(group: discover.RunGroup, config: Config, annotate: bool, read_options: ReadOptions,
                 plot: tuple[AfterCheck, str] | None = None                 ) -> tuple[list[Result], list[tuple]]:
    """One group in a fresh process of its own: when it kills that process too, only this run is lost, named."""
    try:
        with ProcessPoolExecutor(max_workers=1) as solo:
            return solo.submit(_check_group, group, config, annotate, read_options, plot).result()
    except BrokenProcessPool:
        where = group.files[0] if len(group.files) == 1 else group.key
        return [], [_error_fields(ReadError(where, f"reading this {group.format} run crashed its worker process "
                                                   "(a parser fault on this file); skipped"))]


def _after_group(after: AfterCheck, results: list[Result], tag: str) -> list[str | None]:
    """A group's `after` in a worker, on results checked earlier; what it set as each result's `plot`."""
    after(results, tag)
    return [result.plot for result in results]


def _check_in_pool(groups: list[discover.RunGroup], config: Config, annotate: bool, jobs: int,
                   read_options: ReadOptions, plots: Sequence[tuple[AfterCheck, str] | None] | None = None
                   ) -> list[tuple]:
    """Each group's outcome, in order, from `jobs` worker processes. A worker that dies (a C parser's segfault)
    breaks the pool; the groups without an outcome yet are then checked again, each alone in a fresh process.
    `plots`: per group, what a worker does after the check (`AfterCheck`, its tag), or None. Every group is
    checked first; the `after` calls then go to the same pool, and while the workers run them the parent runs
    the `in_parent` method of the `after` object, when it has one, on all the results (the report's overview is
    drawn there, concurrently with the run plots, instead of after them)."""
    plots = list(plots) if plots is not None else [None] * len(groups)
    # Small groups travel in chunks (fewer round trips), but small ones: the last chunk is what a worker may still be
    # busy with while the others idle, so 16 groups (~0.1 s of trainer_state runs) keep both cores busy to the end.
    chunk = max(1, min(CHUNK_MAX_GROUPS, len(groups) // (4 * jobs)))
    outcomes: list[tuple] = []
    try:
        with ProcessPoolExecutor(max_workers=min(jobs, len(groups))) as pool:
            for outcome in track(pool.map(_check_group, groups, repeat(config), repeat(annotate), repeat(read_options),
                                          chunksize=chunk), total=len(groups)):
                outcomes.append(outcome)
            if any(plots):
                _after_in_pool(pool, [results for results, _ in outcomes], plots)
    except BrokenProcessPool:
        outcomes.extend(_check_alone(group, config, annotate, read_options, plot)
                        for group, plot in zip(groups[len(outcomes):], plots[len(outcomes):]))
    return outcomes


def _after_in_pool(pool: ProcessPoolExecutor, group_results: list[list[Result]],
                   plots: Sequence[tuple[AfterCheck, str] | None]) -> None:
    """Run each group's `after` in the pool (the costly plots: one task a group keeps both workers busy to the
    end), the parent's `in_parent` meanwhile; each result gets the `plot` its worker set. A plot that is missing
    because a worker died is drawn again by the report."""
    discover.unique_run_names([result.run for results in group_results for result in results])
    futures = [pool.submit(_after_group, plot[0], results, plot[1]) if plot is not None and results else None
               for results, plot in zip(group_results, plots)]
    first = next((plot[0] for plot in plots if plot is not None), None)
    in_parent = getattr(first, "in_parent", None)
    if in_parent is not None:
        in_parent([result for results in group_results for result in results])
    for results, future in zip(group_results, futures):
        if future is None:
            continue
        try:
            drawn = future.result()
        except BrokenProcessPool:
            continue
        for result, path in zip(results, drawn):
            result.plot = path


class Executor(Protocol):
    """Where the tasks of `check_paths(executor=...)` run. `workers`: how many run at once (tasks are sized from
    it). `run(task, items)`: call `task(item)` for every item, wherever the executor runs things, and yield
    `(index of the item, what task returned)` in completion order; an item whose task could not be done (its
    worker died, again after the executor's retry) yields `(index, the exception)` instead, and the others go on.
    `task` and the items pickle; a task never returns an exception."""

    workers: int

    def run(self, task: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]: ...


# Groups per task on an executor: enough that a task's overhead (scheduling, pickling the configuration, about a
# millisecond on Dask) is small against checking the groups (a few ms each), few enough that the progress bar
# moves and that a lost worker takes little work with it.
MAX_BATCH = 100


def _check_batch(groups: Sequence[discover.RunGroup], config: Config, annotate: bool, read_options: ReadOptions
                 ) -> list[tuple[list[Result], list[tuple]]]:
    """One executor task: read and check each group where the task runs."""
    return [_check_group(group, config, annotate, read_options) for group in groups]


def _lost(group: discover.RunGroup, exc: BaseException) -> tuple[list[Result], list[tuple]]:
    where = group.files[0] if len(group.files) == 1 else group.key
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = detail if len(detail) <= 100 else detail[:99] + "…"
    return [], [_error_fields(ReadError(where, f"checking this {group.format} run failed twice on the executor "
                                               f"({type(exc).__name__}{': ' + detail if detail else ''}); skipped"))]


def _check_on_executor(groups: list[discover.RunGroup], config: Config, annotate: bool, read_options: ReadOptions,
                       executor: Executor) -> list[tuple]:
    """Each group's outcome, in discovery order. A task that fails (its worker lost more often than the scheduler
    allows, after `retries`) is not the end of its groups: they go again one task each, one at a time, and only a
    run that fails alone too is an error (naming it). When a worker dies the scheduler counts it against every
    task the worker held, so a bad run would otherwise take good ones with it."""
    size = max(1, min(MAX_BATCH, len(groups) // (4 * max(1, executor.workers))))
    batches = [list(range(start, min(start + size, len(groups)))) for start in range(0, len(groups), size)]
    task = partial(_check_batch, config=config, annotate=annotate, read_options=read_options)
    outcomes: list[tuple | None] = [None] * len(groups)

    def rounds() -> Iterator[None]:
        again: list[int] = []
        for index, got in executor.run(task, [[groups[i] for i in batch] for batch in batches]):
            if isinstance(got, BaseException):
                again.extend(batches[index])
                continue
            for i, outcome in zip(batches[index], got):
                outcomes[i] = outcome
                yield None
        for i in again:  # one at a time: a run that kills its worker takes no other task with it
            for _, got in executor.run(task, [[groups[i]]]):
                outcomes[i] = _lost(groups[i], got) if isinstance(got, BaseException) else got[0]
                yield None

    for _ in track(rounds(), total=len(groups)):
        pass
    return [outcome for outcome in outcomes if outcome is not None]


def check_paths(paths: str | os.PathLike | Sequence[str | os.PathLike],
                config: Config | str | os.PathLike | None = None, jobs: int = 1, annotate: bool = True,
                read_options: ReadOptions | None = None, notes: list[str] | None = None,
                after: AfterCheck | None = None, executor: Executor | None = None
                ) -> tuple[list[Result], list[ReadError]]:
    """Discover, read and check every run under `paths`; unreadable inputs come back as errors.

    `read_options` go to the readers (`ReadOptions(verify=True)`: check TensorBoard record checksums).

    `annotate=False` leaves out the change points and spike steps that only plots use (about a third of the time).
    `notes`, when given, receives discovery's notes (links to folders outside the checked trees, not followed).
    `after`: called in the process that checked each group, with its results (the report's PNGs are drawn there,
    `report.bundle.WorkerPlots`, so that the plots run in the same pool as the checks). Not with an `executor`,
    whose workers may not see the report's folder: the report then draws every plot itself.
    `executor`: read and check on it instead of in local processes (`Executor`; `jobs` is then unused).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    config = coerce(config, paths)
    read_options = read_options if read_options is not None else ReadOptions()
    found = discover.discover(paths)
    errors = list(found.errors)
    if notes is not None:
        notes.extend(found.notes)
    groups = found.groups
    plots: list[tuple[AfterCheck, str] | None] = [None] * len(groups)
    if after is not None:
        plots = [(after, f"{os.getpid()}-{i}") for i in range(len(groups))]
    if executor is not None and groups:
        outcomes = _check_on_executor(groups, config, annotate, read_options, executor)
    elif jobs > 1 and len(groups) > 1:
        outcomes = _check_in_pool(groups, config, annotate, jobs, read_options, plots)
    else:
        outcomes = list(track((_check_group(group, config, annotate, read_options, plot)
                               for group, plot in zip(groups, plots)),
                              total=len(groups)))
    results: list[Result] = []
    for group_results, group_errors in outcomes:
        results.extend(group_results)
        errors.extend(ReadError(path, message, line=line, offset=offset)
                      for path, message, line, offset in group_errors)
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
