"""`losslint report` / `check --report DIR`: write DIR/report.md, one PNG per run, DIR/overview.png and
DIR/comment.md (report.md fitted to a GitHub PR comment, without images).

Run names come from directory names in the logs, so they are untrusted: file names are built only from
`[A-Za-z0-9._-]`, never start with a dot, and are unique case-insensitively (macOS and Windows file systems fold
case), so no run can write outside DIR or over another run's plot.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..errors import ReadError
from ..findings import Result
from . import DEFAULT_SMOOTHING, ReportOptions

REPORT_NAME = "report.md"
# report.md fitted to a GitHub PR comment, the file a workflow posts (docs/ci.md)
COMMENT_NAME = "comment.md"
OVERVIEW_NAME = "overview"
# Names above this length are cut and given a hash of the full name: most file systems stop at 255 bytes.
MAX_STEM = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_stem(name: str) -> str:
    """A file-name stem for a run name: `/` becomes `__`, any other unsafe character `_`, no leading dot."""
    stem = _UNSAFE.sub("_", name.replace("\\", "/").replace("/", "__"))
    stem = stem.lstrip(".") or "run"
    if len(stem) > MAX_STEM:
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        stem = f"{stem[:MAX_STEM - 9]}-{digest}"
    return stem


def unique_stems(names: Sequence[str],
                 reserved: Sequence[str] = (OVERVIEW_NAME, "report", "comment")) -> list[str]:
    """One distinct stem per name, in order; a collision gets `-2`, `-3`, ..."""
    taken = {r.lower() for r in reserved}
    stems = []
    for name in names:
        base = safe_stem(name)
        stem, n = base, 1
        while stem.lower() in taken:
            n += 1
            stem = f"{base}-{n}"
        taken.add(stem.lower())
        stems.append(stem)
    return stems


@dataclass(frozen=True)
class WorkerPlots:
    """`check_paths(after=WorkerPlots(dir, smoothing))`: each check worker draws the PNGs of the runs it checked
    into `directory` (hidden temporary names; `write_report` moves them to their final names), so that the plots,
    the costly part of a report, run in the same pool as the checks and no second pool has to start and receive the
    runs. A plot that fails here is drawn again by `write_report`, which reports a real error."""

    directory: str
    smoothing: float = DEFAULT_SMOOTHING
    # more of the report drawn in the parent after the overview, while the workers still draw run plots (the
    # command line passes the sweep comparison here: report/ knows nothing of compare); a module-level function
    # or a partial of one, so that the object still pickles for the workers
    beside: Callable[[Sequence[Result]], object] | None = None

    def __post_init__(self) -> None:
        # matplotlib (~0.4 s) is imported here, in the parent, before the pool starts: forked workers inherit it
        # instead of importing it once each, and the parent needs it for the overview anyway
        from . import png  # noqa: F401

    def __call__(self, results: Sequence[Result], tag: str) -> None:
        import os

        from . import png

        for k, result in enumerate(results):
            path = Path(self.directory) / f".losslint-plot-{tag}-{k}.png"
            try:
                png.write_run_png(result, path, self.smoothing)
            except Exception:  # noqa: BLE001 - write_report draws it again and reports a real error there
                if os.environ.get("LOSSLINT_DEBUG"):
                    raise
                continue
            result.plot = str(path)

    @property
    def overview_path(self) -> Path:
        import os

        return Path(self.directory) / f".losslint-overview-{os.getpid()}.png"

    def in_parent(self, results: Sequence[Result]) -> None:
        """Called by `check_paths` in the parent once every run is checked, while the workers draw the run plots:
        the overview is drawn here, concurrently with them, instead of after them; `write_report` moves it in
        place when it gets the same results. A failure leaves it to `write_report`."""
        import os

        from . import png

        path = self.overview_path
        if len(results) < 2:
            return
        try:
            png.write_overview_png(results, path)
        except Exception:  # noqa: BLE001 - write_report draws it again and reports a real error there
            if os.environ.get("LOSSLINT_DEBUG"):
                raise
            path.unlink(missing_ok=True)
            return
        _DRAWN_OVERVIEWS[str(Path(self.directory).resolve())] = (_overview_key(results), path)
        if self.beside is not None:
            try:
                self.beside(results)
            except Exception:  # noqa: BLE001 - the command line writes it again afterwards and reports a real error
                if os.environ.get("LOSSLINT_DEBUG"):
                    raise


# report directory -> (the results it shows, the file): overviews drawn by `WorkerPlots.in_parent`
_DRAWN_OVERVIEWS: dict[str, tuple[tuple, Path]] = {}


def _overview_key(results: Sequence[Result]) -> tuple:
    return tuple((id(r), r.run.name, r.verdict) for r in results)


def _plot(task: tuple[Result, Path, float]) -> str:
    from . import png

    result, path, smoothing = task
    png.write_run_png(result, path, smoothing)
    return path.name


def write_report(results: Sequence[Result], errors: Sequence[ReadError], out_dir, options: ReportOptions, *,
                 jobs: int = 1) -> Path:
    """Write the report directory and return the path of report.md.

    `jobs` > 1 draws the run plots in that many processes (~0.3-0.5 s a plot, so a 1000-run tree is minutes of
    matplotlib); a progress bar shows on a terminal for long reports (see `losslint.progress`).
    """
    from ..progress import Progress
    from . import markdown, png

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stems = unique_stems([r.run.name for r in results])
    smoothing = getattr(options, "smoothing", png.SMOOTHING_SHARE)
    all_tasks = [(result, out / f"{stem}.png", smoothing) for result, stem in zip(results, stems)]
    tasks = []
    for result, path, share in all_tasks:
        # drawn already by the check worker that checked the run (`check_paths(plot_dir=...)`): put it in place
        if result.plot and Path(result.plot).is_file():
            Path(result.plot).replace(path)
            result.plot = str(path)
        else:
            tasks.append((result, path, share))
    with Progress(total=len(tasks), label="plotting runs") as progress:
        if jobs > 1 and len(tasks) > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=min(jobs, len(tasks))) as pool:
                for _ in pool.map(_plot, tasks, chunksize=max(1, len(tasks) // (4 * jobs))):
                    progress.on_run_done()
        else:
            for task in tasks:
                _plot(task)
                progress.on_run_done()
    images = {i: path.name for i, (_, path, _) in enumerate(all_tasks)}
    drawn = _DRAWN_OVERVIEWS.pop(str(out.resolve()), None)
    overview = None
    if len(results) > 1:
        overview = f"{OVERVIEW_NAME}.png"
        if drawn is not None and drawn[0] == _overview_key(results) and drawn[1].is_file():
            drawn[1].replace(out / overview)
            drawn = None
        else:
            png.write_overview_png(results, out / overview)
    if drawn is not None:  # drawn for other results
        drawn[1].unlink(missing_ok=True)
    report = out / REPORT_NAME
    report.write_text(markdown.document(results, errors, options, images=images, overview=overview),
                      encoding="utf-8")
    (out / COMMENT_NAME).write_text(comment_document(results, errors, options), encoding="utf-8")
    return report


def comment_document(results: Sequence[Result], errors: Sequence[ReadError], options: ReportOptions) -> str:
    """comment.md: report.md cut to fit a GitHub PR comment. No images: their links are relative to the report
    directory, which a comment cannot reach, so one line says where the plots are instead."""
    from . import markdown

    plots_note = None
    if results:
        plots_note = (f"_The plots of the runs are PNGs next to {REPORT_NAME} in the report directory (the CI "
                      "artifact); a PR comment cannot show them._")
    return markdown.document(results, errors, options, limit=markdown.LIMITS["comment"],
                             full_report=f"{REPORT_NAME} in the report artifact", plots_note=plots_note)
