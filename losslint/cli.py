"""Command line: `losslint show | export | check | report | rules`.

Exit codes (a contract for CI gates): 0 clean, 1 findings at or above the fail level, 2 usage error or
unreadable input.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import pandas as pd

from . import discover
from .errors import ReadError

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def echo_errors(errors: list[ReadError]) -> None:
    for error in errors:
        click.echo(f"error: {error.text}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="losslint")
def main() -> None:
    """losslint: a linter for training runs."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def show(paths: tuple[Path, ...], fmt: str) -> None:
    """Show each run found under PATHS: its format and each metric's points and step range."""
    runs, errors = discover.load(list(paths))
    if fmt == "json":
        click.echo(json.dumps([run.summary() for run in runs], indent=2))
    else:
        for run in runs:
            summary = run.summary()
            click.echo(f"{run.name}  [{run.format}]  {len(run.data)} points")
            for metric, info in summary["metrics"].items():
                click.echo(f"  {metric:<32} {info['points']:>8} pts  steps {info['first_step']}..{info['last_step']}"
                           f"  (tag {info['source_tag']!r})")
            for note in run.notes:
                click.echo(f"  note: {note}")
    echo_errors(errors)
    # `show` is an inventory: files it refused (LFS pointers, files with no scalars) are reported, exit 1
    sys.exit(EXIT_FINDINGS if errors else EXIT_CLEAN)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Output file; its extension picks the format: .csv, .jsonl or .parquet.")
def export(paths: tuple[Path, ...], output: Path) -> None:
    """Write the long table of every run under PATHS (one row per point, with a `run` column)."""
    suffix = output.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".parquet"):
        raise click.UsageError(f"{output}: unknown export format {suffix!r}; use .csv, .jsonl or .parquet")
    runs, errors = discover.load(list(paths))
    frames = [run.data.assign(run=run.name, format=run.format) for run in runs]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["metric", "step", "value", "wall_time", "epoch", "tag", "run", "format"])
    table = table[["run", "format", "metric", "step", "value", "wall_time", "epoch", "tag"]]
    try:
        if suffix == ".csv":
            table.to_csv(output, index=False)
        elif suffix == ".jsonl":
            table.to_json(output, orient="records", lines=True)
        else:
            table.to_parquet(output, index=False)
    except ImportError as exc:
        raise click.UsageError(f"{output}: parquet export needs pyarrow ({exc})") from None
    except OSError as exc:
        raise click.UsageError(f"{output}: cannot write: {exc.strerror or exc}") from None
    click.echo(f"wrote {len(table)} rows from {len(runs)} run(s) to {output}", err=True)
    echo_errors(errors)
    sys.exit(EXIT_ERROR if errors else EXIT_CLEAN)


@main.command("report")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Directory for report.md, one PNG per run and overview.png (created if missing).")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="A losslint.toml or pyproject.toml (default: searched upward from the first path).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True)
def report_command(paths: tuple[Path, ...], out_dir: Path, config_path: Path | None, jobs: int) -> None:
    """Check the runs under PATHS and write a Markdown report with plots to OUTPUT.

    Exits 0 once the report is written (findings are in the report; `check` is the gate), 2 when an input
    could not be read.
    """
    from . import config as config_module
    from .engine import check_paths
    from .errors import ConfigError
    from .report import ReportOptions, write_report

    try:
        config = config_module.coerce(config_path, list(paths))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    results, errors = check_paths(list(paths), config=config, jobs=jobs)
    try:
        written = write_report(results, errors, out_dir, ReportOptions(fail_on=config.fail_on))
    except OSError as exc:
        raise click.UsageError(f"{out_dir}: cannot write the report: {exc.strerror or exc}") from None
    click.echo(f"wrote {written} ({len(results)} run(s))", err=True)
    echo_errors(errors)
    sys.exit(EXIT_ERROR if errors else EXIT_CLEAN)


if __name__ == "__main__":  # pragma: no cover
    main()
