"""Command line: `losslint show | export | check | compare | watch | report | rules`.

Exit codes (a contract for CI gates): 0 clean, 1 findings at or above the fail level, 2 usage error or
unreadable input.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator, NoReturn, Sequence

import click
import pandas as pd

from . import discover
from .errors import ReadError, reraise_if_debugging
from .report import DEFAULT_SMOOTHING, MARKDOWN_LIMITS, available_formats
from .schema import wide_frame
from .textsafe import printable

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
# PATHS: local paths, `file://` URLs, or object-store URLs (`s3://bucket/prefix`, `gs://`, `az://`), kept as
# written: a pathlib.Path would fold `s3://` into `s3:/` (io/fs.py tells them apart)
LOCATION = click.Path()


def exit_internal_error(exc: Exception) -> NoReturn:
    """A bug while checking ends in one line and exit 2, never a traceback (LOSSLINT_DEBUG re-raises it)."""
    reraise_if_debugging()
    click.echo(printable(f"error: internal error while checking: {type(exc).__name__}: {exc} "
                         f"(set LOSSLINT_DEBUG=1 for the traceback)"), err=True)
    sys.exit(EXIT_ERROR)


def echo_errors(errors: list[ReadError]) -> None:
    # printable: a file name with a newline must not start a line of its own (`::error` in GitHub Actions)
    for error in errors:
        click.echo(f"error: {printable(error.text)}", err=True)


# What a walk looks for, named when it found none of it
KNOWN_LOGS = ("TensorBoard event files, trainer_state.json, W&B run folders and exports, JSON lines, "
              "Lightning/Keras CSV, MLflow stores")


def nothing_found(paths: Sequence[str], results: Sequence[Any], errors: list[ReadError]) -> list[ReadError]:
    """The errors, plus one when the arguments held no training log at all: a CI gate pointed at the wrong
    folder must not pass as "0 runs, clean"."""
    if results or errors:
        return errors
    return [ReadError(", ".join(paths), f"no training log found ({KNOWN_LOGS})")]


def echo_notes(notes: list[str]) -> None:
    for note in notes:
        click.echo(f"note: {printable(note)}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="losslint")
def main() -> None:
    """losslint: a linter for training runs."""
    import warnings

    # numpy's RuntimeWarnings (overflow on a 1e308 loss, a mean of nothing) are not the user's business: the
    # findings and notes say what is wrong with a run
    warnings.filterwarnings("ignore", category=RuntimeWarning)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=LOCATION)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def show(paths: tuple[str, ...], fmt: str) -> None:
    """Show each run found under PATHS: its format and each metric's points and step range."""
    notes: list[str] = []
    runs, errors = discover.load(list(paths), notes=notes)
    if fmt == "json":
        click.echo(json.dumps([run.summary() for run in runs], indent=2))
    else:
        for run in runs:
            summary = run.summary()
            click.echo(printable(f"{run.name}  [{run.format}]  {len(run.data)} points"))
            for metric, info in summary["metrics"].items():
                click.echo(printable(f"  {metric:<32} {info['points']:>8} pts  steps "
                                     f"{info['first_step']}..{info['last_step']}  (tag {info['source_tag']!r})"))
            for note in run.notes:
                click.echo(f"  note: {printable(note)}")
    echo_notes(notes)
    echo_errors(errors)
    # `show` is an inventory: files it refused (LFS pointers, files with no scalars) are reported, exit 1
    sys.exit(EXIT_FINDINGS if errors else EXIT_CLEAN)


def write_jsonl(table: pd.DataFrame, output: Path) -> None:
    """One object per row; NaN/Infinity as the bare tokens Python, losslint and most ML logs use (JSON's null
    would lose the difference between NaN, inf and an unknown wall time)."""
    columns = list(table.columns)
    with open(output, "w", encoding="utf-8") as out:
        for row in table.itertuples(index=False, name=None):
            record = {}
            for column, value in zip(columns, row):
                if column in ("wall_time", "epoch") and value != value:  # unknown, not a measured NaN
                    value = None
                elif hasattr(value, "item"):
                    value = value.item()
                record[column] = value
            out.write(json.dumps(record) + "\n")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=LOCATION)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Output file; its extension picks the format: .csv, .jsonl or .parquet.")
def export(paths: tuple[str, ...], output: Path) -> None:
    """Write the long table of every run under PATHS (one row per point, with a `run` column)."""
    suffix = output.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".parquet"):
        raise click.UsageError(f"{output}: unknown export format {suffix!r}; use .csv, .jsonl or .parquet")
    # an earlier export lying in the scanned tree is not a training log to export again
    notes: list[str] = []
    runs, errors = discover.load(list(paths), exclude=[output], notes=notes)
    # the compact storage (categoricals, int32/float32 where exact) is written in the wide dtypes it stands for
    frames = [wide_frame(run.data).assign(run=run.name, format=run.format) for run in runs]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["metric", "step", "value", "wall_time", "epoch", "tag", "run", "format"])
    table = table[["run", "format", "metric", "step", "value", "wall_time", "epoch", "tag"]]
    try:
        if suffix == ".csv":
            # NaN and inf are findings: written as `NaN`/`inf` (pandas and losslint read them back), not as gaps
            table.to_csv(output, index=False, na_rep="NaN")
        elif suffix == ".jsonl":
            write_jsonl(table, output)
        else:
            table.to_parquet(output, index=False)
    except ImportError as exc:
        raise click.UsageError(f"{output}: parquet export needs pyarrow ({exc})") from None
    except OSError as exc:
        raise click.UsageError(f"{output}: cannot write: {exc.strerror or exc}") from None
    click.echo(printable(f"wrote {len(table)} rows from {len(runs)} run(s) to {output}"), err=True)
    echo_notes(notes)
    echo_errors(errors)
    sys.exit(EXIT_ERROR if errors else EXIT_CLEAN)


def _codes(values: tuple[str, ...]) -> list[str]:
    return [part for value in values for part in value.split(",") if part.strip()]


def _rule_options(command):
    """`--config` and the rule selection (`--select`, `--ignore`, `--extend-select`) of `check` and `watch`."""
    for option in reversed([
        click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
                     help="A losslint.toml or pyproject.toml (default: found upward from the working directory)."),
        click.option("--select", multiple=True, metavar="CODES",
                     help="Rules to run, replacing the configured selection: codes, prefixes (O, U2) or names; "
                          "ALL."),
        click.option("--ignore", multiple=True, metavar="CODES",
                     help="Rules to skip, added to the configured ignores."),
        click.option("--extend-select", multiple=True, metavar="CODES",
                     help="Rules to run in addition to the selection."),
    ]):
        command = option(command)
    return command


_report_smoothing_option = click.option(
    "--smoothing", type=click.FloatRange(0.0, 0.5), default=DEFAULT_SMOOTHING, show_default=True,
    help="Report plots: smooth curves over this share of each run (a debiased EMA); 0 draws raw curves.")


@main.command("check")
@click.argument("paths", nargs=-1, required=True, type=LOCATION)
@_rule_options
@click.option("--fail-on", type=click.Choice(["info", "warning", "error"]), default=None,
              help="Exit 1 when a finding is at or above this severity [configured; default: warning].")
@click.option("--format", "fmt", type=click.Choice(available_formats()), default="text", show_default=True)
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes, one run group each [default: the number of CPU cores]; with --executor dask "
                   "and no --scheduler, the local cluster's workers.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Where runs are read and checked: local worker processes, or a Dask cluster (losslint[dask]).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="With --executor dask: the scheduler to join (tcp://host:8786) [default: start a local cluster].")
@click.option("--verify", is_flag=True,
              help="Verify TensorBoard record checksums (slower; corrupt records are errors).")
@click.option("--report", "report_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Also write the Markdown + PNG report to this directory.")
@click.option("--markdown-limit", type=click.Choice(MARKDOWN_LIMITS), default="summary", show_default=True,
              help="Cut --format markdown to fit a GitHub job summary (1 MiB), a PR comment (65,536 characters) "
                   "or nothing.")
@_report_smoothing_option
def check_command(paths: tuple[str, ...], config_path: Path | None, select: tuple[str, ...], ignore: tuple[str, ...],
                  extend_select: tuple[str, ...], fail_on: str | None, fmt: str, jobs: int | None, executor: str,
                  scheduler: str | None, verify: bool, report_dir: Path | None, markdown_limit: str,
                  smoothing: float) -> None:
    """Lint the training runs under PATHS: findings, verdict and recommended early stop per run.

    Exit codes: 0 clean; 1 a finding at or above the fail level; 2 a usage or configuration error, or an
    input that could not be read (2 wins over 1: the check is incomplete; the readable runs are still checked
    and printed).
    """
    from . import config as config_module
    from .engine import check_paths, exit_code
    from .errors import ConfigError
    from .io.base import ReadOptions
    from .report import ReportOptions, render
    from .report.bundle import WorkerPlots

    jobs = jobs or os.cpu_count() or 1
    if scheduler is not None and executor != "dask":
        raise click.UsageError("--scheduler needs --executor dask")
    try:
        config = config_module.coerce(config_path, list(paths)).with_options(
            select=_codes(select), ignore=_codes(ignore), extend_select=_codes(extend_select), fail_on=fail_on)
    except ConfigError as exc:
        click.echo(f"error: {printable(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
    if report_dir is not None:
        try:  # the check's workers draw the plots into it as they go
            report_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            click.echo(printable(f"error: {report_dir}: cannot write the report: {exc.strerror or exc}"), err=True)
            sys.exit(EXIT_ERROR)
    notes: list[str] = []
    try:
        with _executor(executor, scheduler, jobs) as pool:
            results, errors = check_paths(list(paths), config=config, jobs=jobs, annotate=report_dir is not None,
                                          read_options=ReadOptions(verify=True if verify else None), notes=notes,
                                          after=None if report_dir is None else WorkerPlots(
                                              str(report_dir), smoothing,
                                              beside=functools.partial(_write_sweep, str(report_dir))),
                                          executor=pool)
    except ConfigError as exc:
        click.echo(f"error: {printable(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # noqa: BLE001 - a bug must end in one line and exit 2, never a traceback
        exit_internal_error(exc)
    echo_notes(notes)
    errors = nothing_found(paths, results, errors)
    options = ReportOptions(fail_on=config.fail_on, markdown_limit=markdown_limit, smoothing=smoothing)
    click.echo(render(fmt, results, errors, options))
    if report_dir is not None:
        # --report: the report bundle (report/bundle.py) next to the linter output
        from .report import write_report

        try:
            written = write_report(results, errors, report_dir, options, jobs=jobs)
        except OSError as exc:
            click.echo(f"error: {report_dir}: cannot write the report: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_ERROR)
        click.echo(f"wrote {written}", err=True)
        try:
            # several runs of one sweep: the comparison beside the report (`losslint compare -o DIR`), unless the
            # parent already wrote it while the workers drew the run plots
            done = _SWEEPS_WRITTEN.pop(str(report_dir), None)
            sweep_written = done[1] if done is not None and done[0] == _results_key(results) else \
                _write_sweep(str(report_dir), results)
        except OSError as exc:
            click.echo(f"error: {report_dir}: cannot write the comparison: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_ERROR)
        if sweep_written is not None:
            click.echo(f"wrote {sweep_written[0]} ({sweep_written[1]} runs of one sweep)", err=True)
    if fmt != "text":
        echo_errors(errors)  # the text format already lists them
    sys.exit(exit_code(results, errors, config.fail_on))


@main.command("compare")
@click.argument("paths", nargs=-1, required=True, type=LOCATION)
@click.option("--by", "metric", default=None, metavar="METRIC",
              help="Rank by this metric at the recommended stop [default: the metric the runs' early stop "
                   "monitors, e.g. eval/loss].")
@click.option("--group-by", "group_by", default=None, metavar="KEY",
              help="Group the table by this hyperparameter (a flattened name, e.g. optimizer.lr).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True)
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Also write compare.md, compare.json and the PNGs to this directory.")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="A losslint.toml or pyproject.toml (default: found upward from the working directory).")
@click.option("--select", multiple=True, metavar="CODES", help="Rules to run (as for check).")
@click.option("--ignore", multiple=True, metavar="CODES", help="Rules to skip (as for check).")
@click.option("--extend-select", multiple=True, metavar="CODES", help="Rules to add (as for check).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes, one run group each [default: the number of CPU cores].")
@click.option("--verify", is_flag=True,
              help="Verify TensorBoard record checksums (slower; corrupt records are errors).")
def compare_command(paths: tuple[str, ...], metric: str | None, group_by: str | None, fmt: str,
                    out_dir: Path | None, config_path: Path | None, select: tuple[str, ...], ignore: tuple[str, ...],
                    extend_select: tuple[str, ...], jobs: int | None, verify: bool) -> None:
    """Compare the runs under PATHS (a sweep): rank them by the metric at the recommended stop, and say what each
    varying hyperparameter did to the verdicts and the metric.

    Exit codes: 0 compared; 2 a usage or configuration error, or an input that could not be read (the readable
    runs are still compared and printed).
    """
    from . import config as config_module
    from .compare import compare
    from .engine import check_paths
    from .errors import ConfigError
    from .io.base import ReadOptions
    from .report import compare as compare_report
    from .schema import canonical_metric

    jobs = jobs or os.cpu_count() or 1
    try:
        config = config_module.coerce(config_path, list(paths)).with_options(
            select=_codes(select), ignore=_codes(ignore), extend_select=_codes(extend_select))
    except ConfigError as exc:
        click.echo(f"error: {printable(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
    notes: list[str] = []
    try:
        results, errors = check_paths(list(paths), config=config, jobs=jobs, annotate=False,
                                      read_options=ReadOptions(verify=True if verify else None), notes=notes)
    except ConfigError as exc:
        click.echo(f"error: {printable(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # noqa: BLE001 - a bug must end in one line and exit 2, never a traceback
        exit_internal_error(exc)
    echo_notes(notes)
    errors = nothing_found(paths, results, errors)
    if metric is not None and results:
        logged = {m for r in results for m in r.run.data["metric"].unique()}
        if metric not in logged and canonical_metric(metric) in logged:
            metric = canonical_metric(metric)
        if metric not in logged:
            click.echo(printable(f"error: --by {metric}: no run logs this metric (they log "
                                 f"{', '.join(sorted(logged)[:12])}{', ...' if len(logged) > 12 else ''})"), err=True)
            sys.exit(EXIT_ERROR)
    try:
        comparison = compare(results, metric=metric, group_by=group_by)
    except Exception as exc:  # noqa: BLE001 - a bug must end in one line and exit 2, never a traceback
        exit_internal_error(exc)
    if group_by is not None and results and not any(group_by in r.hyperparameters for r in comparison.runs):
        known = sorted({k for r in comparison.runs for k in r.hyperparameters})
        click.echo(printable(f"error: --group-by {group_by}: no run has this hyperparameter"
                             + (f" (they have {', '.join(known[:12])}{', ...' if len(known) > 12 else ''})"
                                if known else " (no run records hyperparameters)")), err=True)
        sys.exit(EXIT_ERROR)
    if fmt == "json":
        click.echo(compare_report.render_json(comparison, errors))
    elif fmt == "markdown":
        click.echo(compare_report.markdown(comparison, errors), nl=False)
    else:
        click.echo(compare_report.render_text(comparison, errors))
    if out_dir is not None:
        try:
            written = compare_report.write_compare(comparison, errors, out_dir)
        except OSError as exc:
            click.echo(printable(f"error: {out_dir}: cannot write the comparison: {exc.strerror or exc}"), err=True)
            sys.exit(EXIT_ERROR)
        click.echo(printable(f"wrote {written}"), err=True)
    if fmt != "text":
        echo_errors(errors)
    sys.exit(EXIT_ERROR if errors else EXIT_CLEAN)


# report directory -> (the results it compared, (compare.md, runs)): sweeps written by `_write_sweep` in the parent
# while the report's workers drew the run plots
_SWEEPS_WRITTEN: dict[str, tuple[tuple, tuple[Path, int] | None]] = {}


def _results_key(results: Sequence[Any]) -> tuple:
    return tuple((id(r), r.run.name) for r in results)


def _write_sweep(report_dir: str, results: Sequence[Any]) -> tuple[Path, int] | None:
    """`check --report`: when the runs hold one sweep, `compare -o`'s files beside the report; (compare.md, runs)."""
    from .compare import compare, sweep_of
    from .report.compare import write_compare

    sweep = sweep_of(results)
    written = (write_compare(compare(sweep), [], Path(report_dir)), len(sweep)) if sweep else None
    _SWEEPS_WRITTEN[report_dir] = (_results_key(results), written)
    return written


@contextlib.contextmanager
def _executor(kind: str, scheduler: str | None, jobs: int) -> Iterator[Any]:
    """None for the local processes; a started `DaskExecutor` for `--executor dask` (a missing extra or an
    unreachable scheduler is one line, exit 2)."""
    if kind != "dask":
        yield None
        return
    from .dask_executor import DaskExecutor, DaskUnavailable

    try:
        pool = DaskExecutor(scheduler=scheduler, workers=jobs).__enter__()
    except DaskUnavailable as exc:
        click.echo(f"error: {printable(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
    try:
        yield pool
    finally:
        pool.close()


# `watch --interval` default: a stat per file and folder every 2 s costs nothing measurable, and a finding is
# printed within 2 s of its log line being written (loggers flush every few seconds; TensorBoard's default is 120 s).
WATCH_INTERVAL = 2.0


class _StopWatching(Exception):
    """Ctrl-C (SIGINT) or SIGTERM while `watch` sleeps between polls."""


def _watch_event_line(event) -> str:
    from .report.text import finding_line

    where = f"[step {event.step}] " if event.step is not None else "[no steps yet] "
    result = event.result
    if event.kind == "finding":
        return where + finding_line(result, event.finding)
    if event.kind == "verdict":
        return where + printable(f"{result.run.name}: verdict {event.previous} -> {result.verdict}")
    return where + printable(f"{result.run.name}: watching ({result.run.format}, {result.run.path}); "
                             f"verdict {result.verdict}")


@main.command("watch")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--interval", type=click.FloatRange(min=0.01), default=WATCH_INTERVAL, show_default=True,
              help="Seconds between two looks at the files (a look is one stat per file while nothing changes).")
@click.option("--once", is_flag=True, help="One pass, then exit as `check` would (the same output and exit code).")
@click.option("--exit-on", type=click.Choice(["warning", "error"]), default=None,
              help="Exit 1 at the first finding at or above this severity (a job wrapper's stop signal).")
@click.option("--report", "report_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="At the end, write the Markdown + PNG report to this directory (as `check --report`).")
@_rule_options
@click.option("--fail-on", type=click.Choice(["info", "warning", "error"]), default=None,
              help="The final exit code is 1 when a finding is at or above this severity [configured; default: "
                   "warning].")
@click.option("--verify", is_flag=True, help="Verify TensorBoard record checksums (slower).")
@_report_smoothing_option
def watch_command(paths: tuple[Path, ...], interval: float, once: bool, exit_on: str | None, report_dir: Path | None,
                  config_path: Path | None, select: tuple[str, ...], ignore: tuple[str, ...],
                  extend_select: tuple[str, ...], fail_on: str | None, verify: bool, smoothing: float) -> None:
    """Follow the runs under PATHS while they are written; print each finding once, when it first appears.

    Every --interval seconds each log file is looked at (stat only); a file that grew is read from where the last
    read ended, its run checked again, and what is new is printed: a finding the first time it is seen, with the
    run's last step at that moment (`[step N]`), and a verdict when it changes. New runs under PATHS are picked
    up. Ctrl-C ends with the final verdicts, early stops and the summary line of `check`.

    Exit codes: as `check` (0 clean; 1 a finding at or above the fail level; 2 an unreadable input or usage
    error); with --exit-on, 1 as soon as a finding at that level appears.
    """
    import signal
    import time

    from . import config as config_module
    from .engine import exit_code
    from .errors import ConfigError
    from .findings import severity_rank
    from .io.base import ReadOptions
    from .report import ReportOptions, render
    from .report.text import summary_line, verdict_line
    from .watch import Watcher

    try:
        config = config_module.coerce(config_path, list(paths)).with_options(
            select=_codes(select), ignore=_codes(ignore), extend_select=_codes(extend_select), fail_on=fail_on)
    except ConfigError as exc:
        click.echo(f"error: {printable(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
    watcher = Watcher(list(paths), config, read_options=ReadOptions(verify=True if verify else None),
                      settled=not once, annotate=once and report_dir is not None)
    threshold = severity_rank(exit_on) if exit_on else None
    state = {"stop": False, "sleeping": False}

    def on_signal(signum, frame) -> None:
        state["stop"] = True
        if state["sleeping"]:
            raise _StopWatching

    def show(events) -> bool:
        """Print the events; True when one is a finding at or above --exit-on."""
        hit = False
        for event in events:
            if once:  # the final text report says it all, as `check` prints it
                pass
            elif event.kind == "error":
                click.echo(f"error: {printable(event.error.text)}", err=True)
                continue
            elif event.kind == "waiting":
                click.echo(printable(f"note: {event.error.path}: not there yet; waiting for it to appear"), err=True)
                continue
            else:
                click.echo(_watch_event_line(event))
            if event.kind == "finding" and threshold is not None and severity_rank(event.finding.severity) >= threshold:
                hit = True
        return hit

    previous = [signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)]
    stopped_on_finding = False
    try:
        try:
            while True:
                stopped_on_finding = show(watcher.poll())
                if watcher.polls == 1:
                    echo_notes(watcher.notes)
                if stopped_on_finding or once or state["stop"]:
                    break
                state["sleeping"] = True
                try:
                    time.sleep(interval)
                finally:
                    state["sleeping"] = False
                if state["stop"]:
                    break
        except _StopWatching:
            pass
        finally:
            for sig, handler in zip((signal.SIGINT, signal.SIGTERM), previous):
                signal.signal(sig, handler)
        options = ReportOptions(fail_on=config.fail_on, smoothing=smoothing)
        if once:
            results, errors = watcher.results, watcher.errors
            click.echo(render("text", results, errors, options))
        else:
            watcher.annotate = report_dir is not None
            events: list = []
            results, errors = watcher.finish(events)
            stopped_on_finding = show(events) or stopped_on_finding
            for result in results:
                click.echo(verdict_line(result))
            click.echo(summary_line(results, errors, options))
    except ConfigError as exc:
        click.echo(f"error: {printable(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:  # a second Ctrl-C while the final pass reads everything once more
        click.echo("error: interrupted before the summary", err=True)
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # noqa: BLE001 - a bug must end in one line and exit 2, never a traceback
        exit_internal_error(exc)
    if report_dir is not None:
        from .report import write_report

        try:
            report_dir.mkdir(parents=True, exist_ok=True)
            written = write_report(results, errors, report_dir, options)
        except OSError as exc:
            click.echo(printable(f"error: {report_dir}: cannot write the report: {exc.strerror or exc}"), err=True)
            sys.exit(EXIT_ERROR)
        click.echo(f"wrote {written}", err=True)
    sys.exit(EXIT_FINDINGS if stopped_on_finding else exit_code(results, errors, config.fail_on))


def parameter_lines(found) -> list[str]:
    """A rule's settable parameters with their defaults, as TOML lines."""
    return [f"severity = {json.dumps(found.default_severity)}",
            *(f"{name} = {json.dumps(value)}" for name, value in found.defaults.items())]


def rule_parameters(found) -> str:
    return "\n".join([f"Parameters ([tool.losslint.rules.{found.code}]):",
                      *(f"  {line}" for line in parameter_lines(found))])


def rule_doc_page(found) -> str:
    """One rule's documentation page (docs/rules/CODE.md), made from its module docstring and defaults."""
    return (f"# {found.code} {found.name}\n\nCategory: {found.category}; default severity: "
            f"{found.default_severity}.\n\n{found.doc.strip()}\n\n```toml\n"
            + "\n".join(parameter_lines(found))
            + f"\n```\n\nSet these under `[tool.losslint.rules.{found.code}]`; see `losslint rules {found.code}`.\n")


def write_rule_docs(out_dir: Path) -> list[Path]:
    from .checks import REDIRECTS, all_rules

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    index = ["# losslint rules", "", "| code | name | category | default severity | summary |", "|---|---|---|---|---|"]
    for found in all_rules().values():
        page = out_dir / f"{found.code}.md"
        page.write_text(rule_doc_page(found), encoding="utf-8")
        written.append(page)
        index.append(f"| [{found.code}]({found.code}.md) | {found.name} | {found.category} | "
                     f"{found.default_severity} | {found.summary} |")
    rules = all_rules()
    if REDIRECTS:
        index += ["", "Moved rules (the old code still selects, ignores and configures the new one):", ""]
    for old, new in sorted(REDIRECTS.items()):
        # a page at the old address, so links from older reports and comments still lead somewhere
        page = out_dir / f"{old}.md"
        page.write_text(f"# {old}: moved to {new}\n\n{old} is now [{new} {rules[new].name}]({new}.md) "
                        f"({rules[new].category}). `{old}` in a configuration or on the command line means {new}.\n",
                        encoding="utf-8")
        written.append(page)
        index.append(f"- {old} -> [{new}]({new}.md) {rules[new].name}")
    readme = out_dir / "README.md"
    readme.write_text("\n".join(index) + "\n", encoding="utf-8")
    return [readme, *written]


@main.command("rules")
@click.argument("code", required=False)
@click.option("--verdicts", is_flag=True, help="Print the verdict precedence table.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--write-docs", "docs_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write one Markdown page per rule (and an index) to this directory, e.g. docs/rules.")
def rules_command(code: str | None, verdicts: bool, fmt: str, docs_dir: Path | None) -> None:
    """List the rules, or print one rule's documentation and default parameters (CODE or name)."""
    from .checks import all_rules, rule
    from .verdict import precedence_text

    if verdicts:
        click.echo(precedence_text())
        return
    if docs_dir is not None:
        written = write_rule_docs(docs_dir)
        click.echo(f"wrote {len(written)} page(s) to {docs_dir}", err=True)
        return
    if code is None:
        rules = list(all_rules().values())
        if fmt == "json":
            click.echo(json.dumps([{"code": r.code, "name": r.name, "category": r.category,
                                    "severity": r.default_severity, "summary": r.summary, "defaults": r.defaults}
                                   for r in rules], indent=2))
            return
        for r in rules:
            click.echo(f"{r.code}  {r.name:<24} {r.category:<13} {r.default_severity:<8} {r.summary}")
        return
    try:
        found = rule(code)
    except KeyError:
        click.echo(f"error: unknown rule {code!r} (see `losslint rules`)", err=True)
        sys.exit(EXIT_ERROR)
    if fmt == "json":
        click.echo(json.dumps({"code": found.code, "name": found.name, "category": found.category,
                               "severity": found.default_severity, "defaults": found.defaults, "doc": found.doc},
                              indent=2))
        return
    click.echo(f"{found.code} {found.name} ({found.category}, default severity {found.default_severity})\n")
    click.echo(found.doc.strip())
    click.echo("\n" + rule_parameters(found))


@main.command("report")
@click.argument("paths", nargs=-1, required=True, type=LOCATION)
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Directory for report.md, comment.md, one PNG per run and overview.png (created if missing).")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="A losslint.toml or pyproject.toml (default: found upward from the working directory).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes, one run group each [default: the number of CPU cores].")
@click.option("--smoothing", type=click.FloatRange(0.0, 0.5), default=DEFAULT_SMOOTHING, show_default=True,
              help="Smooth plotted curves over this share of each run (a debiased EMA); 0 draws raw curves.")
def report_command(paths: tuple[str, ...], out_dir: Path, config_path: Path | None, jobs: int | None,
                   smoothing: float) -> None:
    """Check the runs under PATHS and write a Markdown report with plots to OUTPUT.

    Exits 0 once the report is written (findings are in the report; `check` is the gate), 2 when an input
    could not be read.
    """
    from . import config as config_module
    from .engine import check_paths
    from .errors import ConfigError
    from .report import ReportOptions, write_report
    from .report.bundle import WorkerPlots

    try:
        config = config_module.coerce(config_path, list(paths))
    except ConfigError as exc:
        raise click.UsageError(printable(str(exc))) from None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)  # the check's workers draw the plots into it as they go
    except OSError as exc:
        raise click.UsageError(printable(f"{out_dir}: cannot write the report: {exc.strerror or exc}")) from None
    try:
        jobs = jobs or os.cpu_count() or 1
        notes: list[str] = []
        results, errors = check_paths(list(paths), config=config, jobs=jobs, notes=notes,
                                      after=WorkerPlots(str(out_dir), smoothing))
    except ConfigError as exc:
        raise click.UsageError(printable(str(exc))) from None
    except Exception as exc:  # noqa: BLE001 - a bug must end in one line and exit 2, never a traceback
        exit_internal_error(exc)
    echo_notes(notes)
    errors = nothing_found(paths, results, errors)
    try:
        written = write_report(results, errors, out_dir, ReportOptions(fail_on=config.fail_on, smoothing=smoothing),
                               jobs=jobs)
    except OSError as exc:
        raise click.UsageError(f"{out_dir}: cannot write the report: {exc.strerror or exc}") from None
    click.echo(printable(f"wrote {written} ({len(results)} run(s))"), err=True)
    echo_errors(errors)
    sys.exit(EXIT_ERROR if errors else EXIT_CLEAN)


if __name__ == "__main__":  # pragma: no cover
    main()
