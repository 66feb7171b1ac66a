"""PNG plots of runs: one figure per run (loss, task metrics, optimiser) and a small-multiples overview.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot, no display, no global figure state), so a report
can be written from a headless CI job or a worker process.
"""
from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator
from matplotlib.transforms import Bbox, blended_transform_factory, offset_copy

from ..analysis.smoothing import ema as _ema
from ..findings import SEVERITIES, Result, severity_rank
from ..metrics import EVAL_LOSS, GRAD_NORM, LEARNING_RATE, SPLITS, TRAIN_LOSS, is_bookkeeping
from . import agg

DPI = 100
# 1150 x 650 px: readable in a GitHub job summary without zooming; the right quarter holds the legends, outside the
# axes, where they cover no curve
RUN_FIGSIZE = (11.5, 6.5)
AXES_RIGHT = 0.70  # the axes end here (a fraction of the width); twin-axis labels and the legends follow
LEGEND_X = 1.09  # legends start this far right of their axes (in axes widths), past a twin axis' tick labels
OVERVIEW_MAX_RUNS = 48
OVERVIEW_COLS = 6
OVERVIEW_CELL = (2.3, 1.7)
OVERVIEW_DPI = 80
PNG_COLORS = 128
OVERVIEW_POINTS = 400  # a cell is ~180 px wide

# A series longer than this is drawn as a min/max envelope per pixel column: Agg draws 1M-point lines slowly and
# a 900 px figure cannot show more than ~2 points per column anyway; keeping min and max keeps every spike visible.
MAX_DRAWN_POINTS = 4000
# Shorter series are drawn raw in bold with markers: an EMA over a handful of evaluations lags more than it helps.
MIN_POINTS_TO_SMOOTH = 30
# The bold curve is TensorBoard's debiased EMA with a weight chosen from the series' length, so that its time
# constant is this share of the points drawn (after bucket means): a 4,000-point per-batch loss is averaged over
# ~80 points, a 50-point curve over ~1. A fixed weight (TensorBoard's 0.6) leaves a long noisy curve as noisy as
# the raw one. `--smoothing SHARE` sets it; 0 draws raw curves only.
SMOOTHING_SHARE = 0.02  # = report.DEFAULT_SMOOTHING
MIN_SMOOTHING_WEIGHT = 0.6  # TensorBoard's default slider value: no curve is smoothed less than users know
MAX_SMOOTHING_WEIGHT = 0.999
# A range wider than this ratio (all values positive) gets a log y axis: a loss falling 10 -> 0.1 is otherwise
# a flat line after the first few percent of the run.
LOG_SCALE_RATIO = 30.0
LOG_MINOR_SUBS = (2.0, 5.0)  # a log axis' minor ticks, in each decade
# Every evaluation set's loss is drawn, up to this many loss curves; past it the figure says how many are left out.
MAX_LOSS_CURVES = 10
# Task metrics up to this magnitude are read as fractions (accuracy 0..1 plus float slack); anything larger
# (perplexity, BLEU 0..100, WER in %) gets its own axis.
FRACTION_MAX = 1.05
MAX_TASK_CURVES = 10

# Fixed colours per canonical metric, so a run's figure and the overview read the same across runs.
METRIC_COLORS = {
    TRAIN_LOSS: "#1f77b4",
    EVAL_LOSS: "#d62728",
    "test/loss": "#9467bd",
    LEARNING_RATE: "#2ca02c",
    GRAD_NORM: "#8c564b",
}
# Other metrics pick from this palette by a stable hash of their name (crc32, not Python's salted hash()).
# The fixed colours above are not in it, so no other metric can look like the training loss.
PALETTE = ("#ff7f0e", "#17becf", "#bcbd22", "#e377c2", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39",
           "#7b4173", "#9edae5", "#f7b6d2")
VERDICT_COLORS = {
    "good-fit": "#2ca02c",
    "overfitting": "#ff7f0e",
    "underfitting": "#bcbd22",
    "unstable": "#d62728",
    "diverged": "#8b0000",
    "no-signal": "#7f7f7f",
}
BEST_COLOR = "#2ca02c"
STOP_COLOR = "#ff7f0e"
SAVED_SHADE = "#ffbb78"
NONFINITE_COLOR = "#d62728"

OPTIMIZER_METRICS = (LEARNING_RATE, GRAD_NORM)
NOT_PLOTTED = {"epoch", "global_step", "hp_metric"}
# Metric names that are task metrics even without a split prefix (detectron2 logs `bbox/AP`, `segm/AP50`).
TASK_WORDS = re.compile(r"^(?:m?ap(?:\d+|[slm])?(?:-.+)?|acc(?:uracy)?|top-?[15](?:_acc(?:uracy)?)?|f1|auc|roc_auc|"
                        r"precision|recall|iou|miou|dice|rouge.*|bleu.*|sacrebleu|meteor|chrf|wer|cer|perplexity|"
                        r"exprate|exact_match|em)$", re.IGNORECASE)


def metric_color(metric: str, taken: set[str] | None = None) -> str:
    """The metric's colour: fixed for the canonical curves; otherwise a palette slot chosen by a stable hash of
    the name, moved to the next free slot when another curve of the same figure already has it (so eval sets
    `eval/g0/loss` and `eval/g2/loss` never share a colour). Runs with the same metrics get the same colours."""
    if metric in METRIC_COLORS:
        return METRIC_COLORS[metric]
    start = zlib.crc32(metric.encode("utf-8")) % len(PALETTE)
    for k in range(len(PALETTE)):
        color = PALETTE[(start + k) % len(PALETTE)]
        if not taken or color not in taken:
            break
    if taken is not None:
        taken.add(color)
    return color


@dataclass
class Series:
    metric: str
    steps: np.ndarray  # int64, sorted
    values: np.ndarray  # float64, may hold NaN/inf
    epochs: np.ndarray | None = None  # float64, NaN where the log has no epoch

    @property
    def finite(self) -> np.ndarray:
        return np.isfinite(self.values)


# The series of the last run asked for, by metric, and the table they came from (compared by identity; runs are
# not changed once read): a figure looks its run's series up a dozen times, and every lookup in the table is a
# pass over all of its rows plus pandas indexing (~10 ms of a run plot). One run is kept, never more.
_LAST_RUN: tuple[object, dict[str, Series]] = (None, {})


def run_series(run) -> dict[str, Series]:
    """Every metric of the run as a `Series` sorted by step (stable: logged order within a step)."""
    global _LAST_RUN
    data = run.data
    last = _LAST_RUN  # one read: the table and its series always belong together
    if last[0] is data:
        return last[1]
    from ..schema import metric_rows

    out: dict[str, Series] = {}
    if len(data) and "metric" in data:
        steps = data["step"].to_numpy(dtype=np.int64)
        values = data["value"].to_numpy(dtype=np.float64)
        epochs = data["epoch"].to_numpy(dtype=np.float64) if "epoch" in data else np.full(len(data), np.nan)
        for metric, rows in metric_rows(data):
            order = rows[np.argsort(steps[rows], kind="stable")]
            out[metric] = Series(metric, steps[order], values[order], epochs[order])
    _LAST_RUN = (data, out)
    return out


def series_of(result: Result, metric: str) -> Series:
    found = run_series(result.run).get(metric)
    if found is None:
        return Series(metric, np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.float64))
    return found


def _steps_of(result: Result, metrics: Sequence[str] | None) -> np.ndarray:
    """The steps of these metrics' points (all the run's points for None), in no particular order."""
    if metrics is None:
        return result.run.data["step"].to_numpy(dtype=np.int64)
    series = run_series(result.run)
    parts = [series[m].steps for m in dict.fromkeys(metrics) if m in series]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _split_and_name(metric: str) -> tuple[str | None, str]:
    parts = metric.split("/")
    if len(parts) >= 2 and parts[0] in SPLITS:
        return parts[0], parts[-1]
    return None, metric


def pick_metrics(metrics: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """Split a run's metrics into (loss curves, task metrics, optimiser curves) for the three panels.

    Task metrics are split-prefixed metrics (`eval/rouge-1`) and well-known task-metric names without a split
    (detectron2's `bbox/AP`); other unprefixed series are left out: logs are full of bookkeeping (timers, anchor
    counts, ETA) that carries no training signal, and so is bookkeeping under a split (HF's `eval/runtime`,
    `train/train_samples_per_second`, `train/total_flos`). Every loss, whole or a part (YOLO's `eval/box_loss`,
    HF's `train/train_loss`), goes to the loss panel. Validation comes first: it is what early stopping watches.
    """
    order = {"eval": 0, "test": 1, "train": 2}
    losses: list[str] = []
    tasks: list[str] = []
    for metric in metrics:
        if metric in NOT_PLOTTED or metric in OPTIMIZER_METRICS or is_bookkeeping(metric):
            continue
        split, name = _split_and_name(metric)
        if split is None:
            if TASK_WORDS.match(metric.rsplit("/", 1)[-1]):
                tasks.append(metric)
            continue
        (losses if name == "loss" or name.endswith("_loss") else tasks).append(metric)

    def rank(m: str) -> tuple:
        split, _ = _split_and_name(m)
        return (0 if m in (TRAIN_LOSS, EVAL_LOSS) else 1, order.get(split or "", 3), m)

    losses.sort(key=rank)
    tasks.sort(key=rank)
    optim = [m for m in OPTIMIZER_METRICS if m in metrics]
    return losses[:MAX_LOSS_CURVES], tasks[:MAX_TASK_CURVES], optim


def left_out(metrics: Sequence[str]) -> int:
    """How many loss and task curves `pick_metrics` leaves out (over its caps), for the figure's note."""
    losses, tasks, _ = pick_metrics(metrics)
    drawable = [m for m in metrics if m not in NOT_PLOTTED and m not in OPTIMIZER_METRICS and not is_bookkeeping(m)
                and (_split_and_name(m)[0] is not None or TASK_WORDS.match(m.rsplit("/", 1)[-1]))]
    return max(0, len(drawable) - len(losses) - len(tasks))


# A series whose last step is this many times the losses' last step counts steps in another unit (Keras logs
# `evaluation_*_vs_iterations` in iterations beside per-epoch losses); on a shared x axis it would squash the losses.
OTHER_AXIS_RATIO = 5.0


def same_step_axis(result: Result, losses: Sequence[str], others: Sequence[str]) -> list[str]:
    loss_steps = _steps_of(result, losses)
    if not loss_steps.size or loss_steps.max() <= 0:
        return list(others)
    limit = OTHER_AXIS_RATIO * float(loss_steps.max())
    series = run_series(result.run)
    return [m for m in others if m not in series or not series[m].steps.size or float(series[m].steps[-1]) <= limit]


def fallback_metrics(metrics: Sequence[str], tasks: Sequence[str], monitored: str | None) -> list[str]:
    """The top panel of a run without a canonical loss: the monitored metric, else anything named like a loss
    (RL logs `episode/MSE Loss`), else a task metric, else the first metrics that are not bookkeeping."""
    if monitored is not None and monitored in metrics:
        return [monitored]
    lossy = [m for m in metrics if "loss" in m.lower() and m not in NOT_PLOTTED]
    if lossy:
        return lossy[:2]
    if tasks:
        return list(tasks[:1])
    return [m for m in metrics if m not in NOT_PLOTTED and m not in OPTIMIZER_METRICS][:2]


def envelope(steps: np.ndarray, values: np.ndarray, max_points: int = MAX_DRAWN_POINTS
             ) -> tuple[np.ndarray, np.ndarray]:
    """Reduce a long finite series to the min and the max of each of max_points/2 equal-count buckets, in order."""
    n = steps.size
    if n <= max_points:
        return steps, values
    buckets = max_points // 2
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    out_steps, out_values = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi <= lo:
            continue
        chunk = values[lo:hi]
        i_min, i_max = int(np.argmin(chunk)), int(np.argmax(chunk))
        for i in sorted({i_min, i_max}):
            out_steps.append(steps[lo + i])
            out_values.append(chunk[i])
    return np.asarray(out_steps, dtype=np.int64), np.asarray(out_values, dtype=np.float64)


def smoothing_weight(points: int, share: float = SMOOTHING_SHARE) -> float:
    """The EMA weight whose time constant, 1 / (1 - weight) points, is `share` of `points` (never below
    TensorBoard's 0.6); 0 when `share` is 0 (no smoothing)."""
    if share <= 0:
        return 0.0
    window = share * points
    weight = 1.0 - 1.0 / window if window > 1 else 0.0
    return float(min(max(weight, MIN_SMOOTHING_WEIGHT), MAX_SMOOTHING_WEIGHT))


def smoothed(steps: np.ndarray, values: np.ndarray, max_points: int = MAX_DRAWN_POINTS,
             share: float = SMOOTHING_SHARE) -> tuple[np.ndarray, np.ndarray] | None:
    """The bold curve: TensorBoard's debiased EMA of the finite points (bucket means first for very long series),
    at a weight that adapts to the length (`smoothing_weight`). None: draw the raw curve."""
    if steps.size < MIN_POINTS_TO_SMOOTH or share <= 0:
        return None
    if steps.size > max_points:
        from ..analysis.smoothing import bucket_mean

        steps, values = bucket_mean(steps, values, max_points=max_points)
    return steps, _ema(values, smoothing_weight(steps.size, share))


def wants_log_scale(value_arrays: Sequence[np.ndarray]) -> bool:
    finite = [v[np.isfinite(v)] for v in value_arrays]
    finite = [v for v in finite if v.size]
    if not finite:
        return False
    both = np.concatenate(finite)
    lo, hi = float(both.min()), float(both.max())
    return lo > 0 and hi / lo > LOG_SCALE_RATIO


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def plain(text: str) -> str:
    """Text from a log as matplotlib should draw it: literally. An even number of `$` would otherwise switch to
    mathtext (and a malformed formula raises), and control characters have no glyph."""
    return _CONTROL.sub("?", text).replace("$", r"\$")


def _short(text: str, limit: int) -> str:
    """Middle ellipsis: the start and the end of a run path are the parts that tell runs apart."""
    if len(text) > limit:
        keep = limit - 1
        text = text[: keep // 2] + "…" + text[-(keep - keep // 2):]
    return plain(text)


def _label(metric: str) -> str:
    return plain(metric.replace("eval/", "val/", 1) if metric.startswith("eval/") else metric)


def _draw_curve(ax, series: Series, annotations: dict, color: str, *, bold_width: float = 1.8,
                share: float = SMOOTHING_SHARE) -> None:
    finite = series.finite
    steps, values = series.steps[finite], series.values[finite]
    label = _label(series.metric)
    if steps.size:
        # a learning-rate schedule is exact, not noisy: smoothing would only blur its steps and warm-up
        smooth = None if series.metric == LEARNING_RATE else smoothed(steps, values, share=share)
        raw_steps, raw_values = envelope(steps, values)
        if smooth is None:
            marker = "o" if steps.size <= 60 else None
            ax.plot(raw_steps, raw_values, color=color, linewidth=bold_width, marker=marker, markersize=3,
                    label=label, zorder=3)
        else:
            # raw curves under every smoothed one: a noisy training band must not hide the validation curve
            ax.plot(raw_steps, raw_values, color=color, linewidth=0.6, alpha=0.35, zorder=1.5)
            ax.plot(smooth[0], smooth[1], color=color, linewidth=bold_width, label=f"{label} (smoothed)", zorder=3)
    spikes = np.asarray(annotations.get("spikes", []) or [], dtype=np.int64)
    if spikes.size and steps.size:
        idx = np.searchsorted(steps, spikes)
        ok = (idx < steps.size) & (steps[np.minimum(idx, steps.size - 1)] == spikes)
        if ok.any():
            ax.scatter(steps[idx[ok]], values[idx[ok]], marker="x", s=28, color=color, linewidths=1.2, zorder=5,
                       label=f"spike ({label})")
    for i, cp in enumerate(annotations.get("change_points", []) or []):
        ax.axvline(cp, color=color, linestyle=":", linewidth=1.0, alpha=0.9,
                   label=f"change point ({label})" if i == 0 else None)


def _include_steps(ax, steps: np.ndarray) -> None:
    """Make the x range cover `steps` even when nothing finite is drawn there (markers on a blended transform do
    not take part in autoscaling)."""
    if steps.size:
        ax.update_datalim(np.column_stack([steps.astype(np.float64), np.zeros(steps.size)]), updatey=False)
        ax.autoscale_view(scaley=False)


def _mark_nonfinite(ax, series_list: Sequence[Series]) -> None:
    """NaN/inf cannot sit on a y axis: they are drawn as red triangles along the top edge at their step."""
    bad_steps = [s.steps[~s.finite] for s in series_list if (~s.finite).any()]
    if not bad_steps:
        return
    steps = np.unique(np.concatenate(bad_steps))
    _include_steps(ax, steps)
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    ax.scatter(steps, np.full(steps.size, 0.97), transform=transform, marker="v", s=36, color=NONFINITE_COLOR,
               zorder=6, clip_on=False, label=f"NaN/inf ({steps.size} step(s))")


MAX_FINDING_MARKS = 8
SEVERITY_COLORS = {"error": "#d62728", "warning": "#ff7f0e", "info": "#7f7f7f"}


def step_label(step: float, _pos=None) -> str:
    """Tick labels like 250k and 1.5M instead of a detached `1e6` offset that readers miss."""
    magnitude = abs(step)
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= factor and magnitude >= 10_000:
            return f"{step / factor:g}{suffix}"
    return f"{step:g}"


_SUPERSCRIPT = str.maketrans("0123456789-", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207b")


def log_label(value: float, _pos=None) -> str:
    """A log axis' tick label: 10\u207b\u00b2 for 0.01, 2\u00d710\u207b\u00b3 between decades. matplotlib's own labels
    are math text (`$\\mathdefault{10^{-2}}$`), parsed by pyparsing in every process that draws them (~30 ms a
    new label); superscript digits are plain text and look the same."""
    if not math.isfinite(value) or value <= 0:
        return ""
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = value / 10.0 ** exponent
    power = "10" + str(exponent).translate(_SUPERSCRIPT)
    if abs(mantissa - round(mantissa)) < 1e-6 * mantissa and round(mantissa) == 1:
        return power
    return f"{mantissa:.3g}\u00d7{power}"


def _mark_findings(ax, result: Result, metrics: Sequence[str]) -> None:
    """The code of each finding that names a step on one of this panel's metrics, written upright at the bottom
    edge: the reader sees where in the run the report's finding points. The most severe first, a few at most."""
    marks: dict[int, tuple[int, list[str]]] = {}
    for f in sorted(result.findings, key=lambda f: -severity_rank(f.severity)):
        if f.metric in metrics and f.step is not None:
            rank, codes = marks.setdefault(int(f.step), (severity_rank(f.severity), []))
            if f.code not in codes:
                codes.append(f.code)
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    for step, (rank, codes) in list(marks.items())[:MAX_FINDING_MARKS]:
        ax.text(step, 0.03, plain(",".join(codes)), transform=transform, rotation=90, fontsize=6, ha="center",
                va="bottom", color=SEVERITY_COLORS.get(SEVERITIES[rank], "#555555"), clip_on=True)


def last_step(result: Result, metrics: Sequence[str]) -> int | None:
    """The end of the run as drawn: the last step of the plotted metrics. Some logs put other series on another
    axis (Keras writes `evaluation_*_vs_iterations` in iterations next to per-epoch losses); shading to their end
    would squash the curves into a corner."""
    if result.recommended_stop_step is not None and result.monitored_metric:
        steps = _steps_of(result, [*metrics, result.monitored_metric])
    else:
        steps = _steps_of(result, metrics if metrics else None)
    return int(steps.max()) if steps.size else None


def _mark_early_stop(axes, result: Result, *, labels: bool, metrics: Sequence[str] = ()) -> None:
    best, stop = result.best_step, result.recommended_stop_step
    end = last_step(result, metrics)
    for i, ax in enumerate(axes):
        top = labels and i == 0
        if stop is not None and end is not None and end > stop:
            ax.axvspan(stop, end, color=SAVED_SHADE, alpha=0.25, linewidth=0,
                       label=f"compute that could have been saved ({result.saved_fraction:.0%})" if top else None)
        # the stop first, the best dashed on top of it: where they coincide (a stop at the best evaluation, the
        # default for a rise) both stay visible, green dashes over the orange line
        if stop is not None:
            ax.axvline(stop, color=STOP_COLOR, linestyle="-", linewidth=2.2 if stop == best else 1.4, zorder=2.5,
                       label=f"recommended stop (step {stop})" if top else None)
        if best is not None:
            ax.axvline(best, color=BEST_COLOR, linestyle=(0, (4, 3)), linewidth=1.2, zorder=2.6,
                       label=(f"best (step {best}{' = stop' if best == stop else ''})") if top else None)


def figure_colors(metrics: Sequence[str]) -> dict[str, str]:
    taken: set[str] = set()
    return {m: metric_color(m, taken) for m in metrics}


def _draw_panel(ax, result: Result, metrics: Sequence[str], ylabel: str,
                colors: dict[str, str] | None = None, share: float = SMOOTHING_SHARE) -> list[Series]:
    series_list = [series_of(result, m) for m in metrics]
    for series in series_list:
        color = (colors or {}).get(series.metric) or metric_color(series.metric)
        _draw_curve(ax, series, result.annotations.get(series.metric, {}), color, share=share)
    if wants_log_scale([s.values for s in series_list]):
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(log_label))
        ax.yaxis.set_minor_formatter(NullFormatter())  # the decades are labelled; minor labels only crowd them
        # minor marks at 2x and 5x each decade, not at every 2..9x: eight marks a decade crowd a panel ~100 px
        # high, and each is a tick of four artists to build and draw (about a tenth of a log plot's cost)
        ax.yaxis.set_minor_locator(LogLocator(subs=LOG_MINOR_SUBS))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))  # every tick is four artists to build and draw
    _mark_nonfinite(ax, series_list)
    if series_list and not any(s.finite.any() for s in series_list) and any(s.steps.size for s in series_list):
        ax.text(0.5, 0.5, "every value is NaN or inf", transform=ax.transAxes, ha="center", va="center",
                fontsize=9, color=NONFINITE_COLOR)
        ax.set_yticks([])
    _mark_findings(ax, result, metrics)
    ax.set_ylabel(ylabel, fontsize=8)
    if not getattr(ax, "_losslint_styled", False):  # kept by a kept figure's axes (`_empty` leaves them)
        ax.tick_params(labelsize=TICK_LABEL_SIZE)
        ax.grid(True, alpha=0.25, linewidth=0.5)
        ax._losslint_styled = True
    return series_list


def outside_legend(ax, handles=None, labels=None) -> None:
    """The panel's legend right of its axes (past a twin axis' labels), where it covers no curve."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(LEGEND_X, 1.0), borderaxespad=0,
                  framealpha=0.9)


def _draw_task_panel(ax, result: Result, metrics: Sequence[str], colors: dict[str, str],
                     share: float = SMOOTHING_SHARE) -> None:
    """Fractions (accuracy, F1, ROUGE as 0..1) share the left axis; larger-scale metrics (perplexity, BLEU 0..100,
    WER in %) go on a right axis so neither group is squashed flat."""
    small: list[str] = []
    large: list[str] = []
    for metric in metrics:
        values = series_of(result, metric).values
        finite = np.abs(values[np.isfinite(values)])
        (large if finite.size and float(finite.max()) > FRACTION_MAX else small).append(metric)
    left, right = (small, large) if small else (large, [])
    _draw_panel(ax, result, left, "task metric", colors, share)
    if right:
        twin = _twin(ax)
        _draw_panel(twin, result, right, "", colors, share)
        handles, labels = ax.get_legend_handles_labels()
        h2, l2 = twin.get_legend_handles_labels()
        outside_legend(ax, handles + h2, labels + l2)
    else:
        outside_legend(ax)


def _draw_optimizer_panel(ax, result: Result, metrics: Sequence[str]) -> None:
    _draw_panel(ax, result, metrics[:1], _label(metrics[0]).split("/")[-1])
    handles, labels = ax.get_legend_handles_labels()
    if len(metrics) > 1:
        twin = _twin(ax)
        _draw_panel(twin, result, metrics[1:], _label(metrics[1]).split("/")[-1])
        h2, l2 = twin.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    outside_legend(ax, handles, labels)


def steps_are_epochs(result: Result, metrics: Sequence[str]) -> bool:
    """The x axis counts epochs: every plotted point's step is its epoch (Keras CSVLogger and History, Keras
    TensorBoard `epoch_*` tags, a JSON-lines log stepped by epoch)."""
    if metrics:
        series = run_series(result.run)
        chosen = [series[m] for m in dict.fromkeys(metrics) if m in series]
        if not any(s.steps.size for s in chosen):
            return False
        epochs = np.concatenate([s.epochs if s.epochs is not None else np.full(s.steps.size, np.nan) for s in chosen])
        steps = np.concatenate([s.steps for s in chosen]).astype(np.float64)
    else:
        data = result.run.data
        if not len(data):
            return False
        epochs = data["epoch"].to_numpy(dtype=np.float64)
        steps = data["step"].to_numpy(dtype=np.float64)
    return bool(np.isfinite(epochs).all() and (epochs == steps).all())


def run_figure(result: Result, smoothing: float = SMOOTHING_SHARE, reuse: bool = False) -> Figure:
    """The run's figure. `reuse`: draw on this process's kept figure of the same layout (`_run_axes`), emptied
    first; the figure is then only valid until the next call, so only `write_run_png` asks for it."""
    metrics = list(run_series(result.run))
    hidden = left_out(metrics)
    losses, tasks, optim = pick_metrics(metrics)
    if not losses:
        losses = fallback_metrics(metrics, tasks, result.monitored_metric)
        tasks = [t for t in tasks if t not in losses]
    tasks, optim = same_step_axis(result, losses, tasks), same_step_axis(result, losses, optim)
    colors = figure_colors([*losses, *tasks, *optim])
    panels = [("loss", losses)] + ([("task", tasks)] if tasks else []) + ([("optim", optim)] if optim else [])
    ratios = {"loss": 3.0, "task": 1.6, "optim": 1.0}
    # a figure without curves draws no panel, so it keeps matplotlib's default ticks: always a new figure
    fig, axes = _run_axes(tuple(ratios[k] for k, _ in panels), reuse and bool(losses))
    verdict = result.verdict
    fig.suptitle(f"{_short(result.run.name, 90)} — verdict: {verdict}", fontsize=10, fontweight="bold",
                 color=VERDICT_COLORS.get(verdict, "black"))
    if not losses:
        axes[0].text(0.5, 0.5, "no training or validation curve in this run", ha="center", va="center",
                     transform=axes[0].transAxes, fontsize=9, color="#555555")
        axes[0].set_xticks([])
        axes[0].set_yticks([])
    for ax, (kind, names) in zip(axes, panels):
        if kind == "loss" and names:
            _draw_panel(ax, result, names, "loss" if any(n.endswith("loss") for n in names) else _label(names[0]),
                        colors, smoothing)
        elif kind == "task":
            _draw_task_panel(ax, result, names, colors, smoothing)
        elif kind == "optim":
            _draw_optimizer_panel(ax, result, names)
    _mark_early_stop(axes, result, labels=True, metrics=[*losses, *tasks, *optim])
    if losses:
        outside_legend(axes[0])
    if hidden:
        axes[0].text(1.0, 1.01, f"{hidden} more metric(s) not drawn (see the report's table)",
                     transform=axes[0].transAxes, ha="right", va="bottom", fontsize=7, color="#555555")
    epochs = steps_are_epochs(result, [*losses, *tasks, *optim])
    axes[-1].set_xlabel("epoch" if epochs else "step", fontsize=8)
    # whole steps and epochs: no tick at epoch 2.5
    axes[-1].xaxis.set_major_locator(MaxNLocator(nbins="auto", integer=True))
    axes[-1].xaxis.set_major_formatter(FuncFormatter(step_label))
    # fixed margins (room for a right-hand twin axis and the legends) instead of tight_layout, which costs ~0.5 s
    fig.subplots_adjust(left=0.07, right=AXES_RIGHT, bottom=0.08, top=0.93, hspace=0.12)
    _place_axis_labels(fig)
    return fig


TICK_LABEL_SIZE = 7  # points, the run figure's tick labels
# Widths of DejaVu Sans (matplotlib's bundled default font) glyphs in ems, for the characters tick labels use;
# anything else counts as a wide letter.
_GLYPH_EM = {**dict.fromkeys("0123456789", 0.636), ".": 0.318, ",": 0.318, "\u2212": 0.838, "-": 0.361,
             "+": 0.838, "e": 0.615, " ": 0.318, "\u00d7": 0.838, "\u207b": 0.838,
             **dict.fromkeys("\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079", 0.45)}  # log_label's
_WIDE_GLYPH_EM = 0.72


_MATH_MARKUP = re.compile(r"\\mathdefault|[${}]")


def _tick_label_width(labels: Sequence[str], size: float) -> float:
    """The widest label in points, from glyph widths (an upper bound for other fonts' digits too), superscript
    digits of `log_label` included. Math text (`$\\mathdefault{10^{-2}}$`) counts its exponent at the superscript
    size, 0.7 of the text."""
    def width(text: str) -> float:
        text = _MATH_MARKUP.sub("", text.replace("\\times", "\u00d7"))
        base, _, exponent = text.partition("^")
        return size * (sum(_GLYPH_EM.get(c, _WIDE_GLYPH_EM) for c in base)
                       + 0.7 * sum(_GLYPH_EM.get(c, _WIDE_GLYPH_EM) for c in exponent))

    return max((width(text) for text in labels), default=0.0)


def _place_axis_labels(fig: Figure) -> None:
    """Axis labels at positions computed here, not by matplotlib at draw time: its automatic placement measures
    every tick label of every axes sharing the x axis, about 7% of a run plot's cost. The x label sits below
    the tick labels (one line of digits); a y axis' label beyond its widest tick label, measured from the
    formatter's strings. Every axes gets both, so a kept figure (`_run_axes`) never keeps an earlier run's."""
    import matplotlib as mpl

    tick_room = mpl.rcParams["ytick.major.size"] + mpl.rcParams["ytick.major.pad"]
    labelpad = mpl.rcParams["axes.labelpad"]
    drop = mpl.rcParams["xtick.major.size"] + mpl.rcParams["xtick.major.pad"] + 1.25 * TICK_LABEL_SIZE + labelpad
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        ax.xaxis.set_label_coords(0.5, 0.0, transform=offset_copy(ax.transAxes, fig=fig, y=-drop, units="points"))
        # every tick the locator gives, also those just outside the limits: matplotlib draws some of them
        locs = list(ax.yaxis.get_majorticklocs())
        labels = ax.yaxis.get_major_formatter().format_ticks(locs) if locs else []
        room = tick_room + _tick_label_width(labels, TICK_LABEL_SIZE) + labelpad
        right = ax.yaxis.get_label_position() == "right"
        ax.yaxis.set_label_coords(1.0 if right else 0.0, 0.5,
                                  transform=offset_copy(ax.transAxes, fig=fig, x=room if right else -room,
                                                        units="points"))


def drawn(fig: Figure):
    """The figure drawn (on `agg.canvas`), as a PIL RGBA image sharing the canvas' buffer: valid until the figure
    is drawn again."""
    from PIL import Image  # a matplotlib dependency

    canvas = agg.canvas(fig)
    canvas.draw()
    return Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)


def save(fig: Figure, path: Path, dpi: int = DPI) -> Path:
    """Draw the figure and write it as a palette PNG (`save_image`)."""
    fig.set_dpi(dpi)
    return save_image(drawn(fig), path)


def save_image(image, path: Path) -> Path:
    """Write a palette PNG. Anti-aliased line art in full RGBA is 3-4x larger than the same image in 128 colours,
    with no difference a reader can see; small files matter in PR comments and CI artifacts."""
    from PIL import Image

    # zlib level 6, not `optimize` (level 9): a sixth of the encoding time for files ~13% larger
    image.convert("RGB").quantize(colors=PNG_COLORS, method=Image.Quantize.FASTOCTREE).save(
        path, format="PNG", compress_level=6)
    return path


def write_run_png(result: Result, path: Path, smoothing: float = SMOOTHING_SHARE) -> Path:
    return save(run_figure(result, smoothing, reuse=True), path)


# One figure per panel layout, kept by the process that writes run PNGs (a report worker writes dozens): building
# a figure's axes and, on its first draw, their ticks is about a quarter of a plot's cost; a kept figure is emptied
# (`_empty`) and drawn on again. The pixels are those of a new figure (tests/test_report_png.py checks it).
_KEPT_FIGURES: dict[tuple[float, ...], tuple[Figure, np.ndarray]] = {}


def _run_axes(height_ratios: tuple[float, ...], reuse: bool) -> tuple[Figure, np.ndarray]:
    kept = _KEPT_FIGURES.get(height_ratios) if reuse else None
    if kept is not None:
        fig, axes = kept
        for ax in fig.axes:
            _empty(ax)
        return fig, axes
    fig = Figure(figsize=RUN_FIGSIZE, dpi=DPI)
    agg.canvas(fig)
    axes = fig.subplots(len(height_ratios), 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": list(height_ratios)})[:, 0]
    if reuse:
        _KEPT_FIGURES[height_ratios] = (fig, axes)
    return fig, axes


def _empty(ax) -> None:
    """An axes as `subplots`/`twinx` made it: no artists, no legend, no labels, linear y, limits from new data.
    A twin is hidden until `_twin` asks for it again."""
    for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts]:
        artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.relim()
    ax.set_yscale("linear")
    ax.set_autoscale_on(True)
    # the limits of a new axes: (0, 1), not yet autoscaled (an axes that gets no data keeps them)
    ax._viewLim.set_points(Bbox.unit().get_points())
    ax._stale_viewlims = dict.fromkeys(ax._stale_viewlims, False)
    ax.set_xlabel("")
    ax.set_ylabel("")
    if getattr(ax, "_losslint_host", None) is not None:
        ax.set_visible(False)


def _twin(ax):
    """`ax.twinx()`, or on a kept figure the twin made for this axes before (emptied by `_empty`)."""
    twin = getattr(ax, "_losslint_twin", None)
    if twin is None:
        twin = ax.twinx()
        ax._losslint_twin = twin
        twin._losslint_host = ax
    twin.set_visible(True)
    return twin


def overview_order(results: Sequence[Result]) -> list[Result]:
    """Worst runs first (their findings' severity, then their verdict), input order otherwise: the cap must
    drop the healthy runs, not the broken ones."""
    verdict_rank = {"diverged": 0, "unstable": 1, "overfitting": 2, "underfitting": 3, "no-signal": 4, "good-fit": 5}

    def key(item: tuple[int, Result]) -> tuple:
        i, r = item
        worst = r.worst_severity()
        return (-(severity_rank(worst) + 1) if worst else 0, verdict_rank.get(r.verdict, 6), i)

    return [r for _, r in sorted(enumerate(results), key=key)]


def _overview_cell(ax, result: Result) -> None:
    metrics = list(run_series(result.run))
    losses, tasks, _ = pick_metrics(metrics)
    curves = ([m for m in losses if m in (TRAIN_LOSS, EVAL_LOSS)] or losses[:2] or tasks[:1]
              or fallback_metrics(metrics, tasks, result.monitored_metric))
    colors = figure_colors(curves)
    arrays, bad_steps = [], []
    for metric in curves:
        s = series_of(result, metric)
        ok = s.finite
        bad_steps.append(s.steps[~ok])
        arrays.append(s.values[ok])
        if ok.any():
            smooth = smoothed(s.steps[ok], s.values[ok], max_points=OVERVIEW_POINTS)
            x, y = smooth if smooth is not None else envelope(s.steps[ok], s.values[ok], OVERVIEW_POINTS)
            ax.plot(x, y, color=colors[metric], linewidth=1.0)
    bad = np.unique(np.concatenate(bad_steps)) if bad_steps else np.array([], dtype=np.int64)
    if bad.size:
        _include_steps(ax, bad)
        ax.scatter(bad, np.full(bad.size, 0.95), transform=blended_transform_factory(ax.transData, ax.transAxes),
                   marker="v", s=12, color=NONFINITE_COLOR, clip_on=False)
    if not any(a.size for a in arrays):
        ax.text(0.5, 0.5, "only NaN/inf" if bad.size else "no curve", transform=ax.transAxes, ha="center",
                va="center", fontsize=7, color=NONFINITE_COLOR if bad.size else "#555555")
        ax.set_yticks([])
    if wants_log_scale(arrays):
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(log_label))
        ax.yaxis.set_minor_locator(NullLocator())  # minor log ticks crowd a cell this small, and cost to draw
    else:
        ax.ticklabel_format(axis="y", useOffset=False)
    _mark_early_stop([ax], result, labels=False, metrics=curves)
    # a fixed title position: matplotlib's automatic one measures every tick label of the cell (~25 ms a cell)
    ax.set_title(f"{_short(result.run.name, 30)}\n{result.verdict}", fontsize=7, y=1.0, pad=3,
                 color=VERDICT_COLORS.get(result.verdict, "black"))
    # few ticks: a cell is ~180 px wide, and every tick is four artists to build and draw
    ax.xaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
    if ax.get_yscale() != "log":
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.xaxis.set_major_formatter(FuncFormatter(step_label))
    ax.grid(True, alpha=0.2, linewidth=0.4)


# The overview's grid (fractions of the figure, as `Figure.subplots_adjust` takes them): fixed margins instead of
# tight_layout, which with 48 axes costs seconds and gains nothing; the top keeps room for the figure title above
# the first row's two-line cell titles.
OVERVIEW_LEFT, OVERVIEW_RIGHT = 0.04, 0.99
OVERVIEW_BOTTOM_IN, OVERVIEW_TOP_IN = 0.3, 0.8  # inches below the last row / above the first
OVERVIEW_WSPACE = 0.25
OVERVIEW_HSPACE = 0.75 * 1.7 / OVERVIEW_CELL[1]
# Room around a cell's axes, in pixels, for its tick labels (left, bottom), its two-line title (top) and NaN marks
# drawn past the edge (right). Neighbouring cells' rooms overlap; each cell is composited over the others with its
# transparency, so nothing is cut off where a label reaches into the gap.
OVERVIEW_PAD = {"left": 48, "right": 12, "bottom": 28, "top": 40}


@dataclass(frozen=True)
class OverviewGrid:
    """Where the overview's cells go: `cols` x `rows` axes of `cell` inches, the lower left corner of cell i at
    `corner(i)` (inches from the lower left of the `size`-inch figure)."""

    cols: int
    rows: int
    size: tuple[float, float]
    cell: tuple[float, float]

    @classmethod
    def of(cls, n: int) -> OverviewGrid:
        n = max(n, 1)
        cols = min(OVERVIEW_COLS, n)
        rows = math.ceil(n / cols)
        width, height = OVERVIEW_CELL[0] * cols, OVERVIEW_CELL[1] * rows + 0.5
        # GridSpec's arithmetic: the space between cells is a share of a cell
        cell_w = (OVERVIEW_RIGHT - OVERVIEW_LEFT) * width / (cols + OVERVIEW_WSPACE * (cols - 1))
        cell_h = (height - OVERVIEW_BOTTOM_IN - OVERVIEW_TOP_IN) / (rows + OVERVIEW_HSPACE * (rows - 1))
        return cls(cols, rows, (width, height), (cell_w, cell_h))

    def corner(self, i: int) -> tuple[float, float]:
        row, col = divmod(i, self.cols)
        x = OVERVIEW_LEFT * self.size[0] + col * self.cell[0] * (1 + OVERVIEW_WSPACE)
        y = OVERVIEW_BOTTOM_IN + (self.rows - 1 - row) * self.cell[1] * (1 + OVERVIEW_HSPACE)
        return x, y


def overview_shown(results: Sequence[Result], max_runs: int = OVERVIEW_MAX_RUNS) -> tuple[list[Result], str]:
    """The runs the overview shows (worst first, at most `max_runs`) and its title."""
    shown = overview_order(results)[:max_runs]
    note = f"{len(results)} run(s)"
    if len(results) > len(shown):
        note = f"showing {len(shown)} of {len(results)} runs (worst first); see report.md for all"
    return shown, (f"losslint overview: {note}   (blue: train loss, red: validation loss, orange line: "
                   "recommended stop)")


# One cell figure per cell size, kept by the process that draws overviews: the overview is drawn one cell at a time
# on it and composited, instead of as one figure of 48 axes, whose axes and ticks cost more to build than the
# curves cost to draw. A kept cell is emptied (`_empty`) between runs; its pixels are those of a new cell.
_KEPT_CELLS: dict[tuple[float, float], tuple[Figure, object]] = {}


def overview_cell_figure(result: Result, cell: tuple[float, float] | None = None, reuse: bool = False) -> Figure:
    """One overview cell, the axes `cell` inches large, with `OVERVIEW_PAD` pixels of transparent room around
    it. `reuse`: drawn on this process's kept cell figure, valid until the next call."""
    cell = cell or OverviewGrid.of(1).cell
    kept = _KEPT_CELLS.get(cell) if reuse else None
    if kept is not None:
        fig, ax = kept
        _empty(ax)
    else:
        pad = {k: v / OVERVIEW_DPI for k, v in OVERVIEW_PAD.items()}
        width, height = cell[0] + pad["left"] + pad["right"], cell[1] + pad["bottom"] + pad["top"]
        fig = Figure(figsize=(width, height), dpi=OVERVIEW_DPI)
        agg.canvas(fig)
        fig.patch.set_alpha(0.0)
        ax = fig.add_axes((pad["left"] / width, pad["bottom"] / height, cell[0] / width, cell[1] / height))
        # set once, kept by `_empty`: small ticks; no axis labels, so none to place (matplotlib's automatic
        # placement measures every tick label at each draw)
        ax.tick_params(labelsize=5, length=2)
        ax.xaxis.set_label_coords(0.5, 0.0)
        ax.yaxis.set_label_coords(0.0, 0.5)
        if reuse:
            _KEPT_CELLS[cell] = (fig, ax)
    _overview_cell(ax, result)
    return fig


def overview_image(results: Sequence[Result], max_runs: int = OVERVIEW_MAX_RUNS):
    """The overview as a PIL image: the title drawn on an empty figure, then every cell drawn on one kept cell
    figure and composited at its place in the grid (the layout `Figure.subplots` would give)."""
    shown, title = overview_shown(results, max_runs)
    grid = OverviewGrid.of(len(shown))
    fig = Figure(figsize=grid.size, dpi=OVERVIEW_DPI)
    fig.suptitle(title, fontsize=8, y=1 - 0.12 / grid.size[1], va="top")
    image = drawn(fig).copy()
    height_px = image.size[1]
    for i, result in enumerate(shown):
        cell = drawn(overview_cell_figure(result, grid.cell, reuse=True))
        x, y = grid.corner(i)
        left = round(x * OVERVIEW_DPI) - OVERVIEW_PAD["left"]
        top = height_px - round((y + grid.cell[1]) * OVERVIEW_DPI) - OVERVIEW_PAD["top"]
        # cells near the edges reach past the image with transparent room only: paste the part inside
        box = (max(0, -left), max(0, -top), min(cell.size[0], image.size[0] - left), min(cell.size[1], height_px - top))
        image.alpha_composite(cell, dest=(max(0, left), max(0, top)), source=box)
    return image


def write_overview_png(results: Sequence[Result], path: Path, max_runs: int = OVERVIEW_MAX_RUNS) -> Path:
    return save_image(overview_image(results, max_runs), path)
