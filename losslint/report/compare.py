"""`losslint compare` output: a `compare.Comparison` as text, JSON (contract version 1), Markdown fitted to a GitHub
PR comment, and PNGs (every run's curve; the value at the stop against each varying hyperparameter).

`write_compare(comparison, errors, out_dir)` writes compare.md, compare.json, compare-curves.png and one
compare-<hyperparameter>.png per varying hyperparameter (file names made safe as the report's run PNGs are).
Everything from a log (run names, hyperparameter names and values) is escaped as the check reporters escape it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ReadError
from ..textsafe import printable
from .json_format import _finite

VERSION = 1
JSON_NAME = "compare.json"
MARKDOWN_NAME = "compare.md"
CURVES_NAME = "compare-curves.png"
EFFECT_PREFIX = "compare-"
# Columns of hyperparameters shown in the text and Markdown tables (the JSON has them all): a wide sweep (a W&B
# config of 60 keys) would make a table no one can read; the varying ones come first.
MAX_HPARAM_COLUMNS = 6
HIGHLIGHTED_RUNS = 3  # the best runs drawn bold and named in the curves picture; the rest faint
# the highlighted runs' colours: none of them a verdict colour (png.VERDICT_COLORS), so a bold run is not read as one
HIGHLIGHT_COLORS = ("#1f77b4", "#9467bd", "#17becf")
FAINT_ALPHA, MIN_FAINT_ALPHA = 0.3, 0.08


def _value(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _hp(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _ranks(comparison) -> dict[int, int]:
    return {id(row): i + 1 for i, row in enumerate(comparison.runs)}


def _columns(comparison) -> list[str]:
    """The hyperparameter columns: those with a clear statement first, then by the strength of their correlation."""
    ranked = sorted(comparison.effects, key=lambda e: (e.statement is None, -abs(e.spearman or 0.0),
                                                       e.hyperparameter))
    return [e.hyperparameter for e in ranked[:MAX_HPARAM_COLUMNS]]


def document(comparison, errors: Sequence[ReadError]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": VERSION,
        "metric": comparison.metric,
        "direction": comparison.direction,
        "runs": [_finite(r.as_dict()) for r in comparison.runs],
        "effects": [_finite(e.as_dict()) for e in comparison.effects],
        "combinations": [_finite(c.as_dict()) for c in comparison.combinations],
        "errors": [e.as_dict() for e in errors],
    }
    if comparison.group_by is not None:
        doc["group_by"] = comparison.group_by
    return doc


def render_json(comparison, errors: Sequence[ReadError]) -> str:
    return json.dumps(document(comparison, errors), indent=2, allow_nan=False)


# ---------------------------------------------------------------------------------------------------- text

def render_text(comparison, errors: Sequence[ReadError]) -> str:
    columns = _columns(comparison)
    better = "lower" if comparison.direction == "min" else "higher"
    lines = [f"{len(comparison.runs)} run(s) ranked by {comparison.metric} at the recommended stop ({better} is "
             f"better; restore-best: the best value up to the stop)"]
    if not comparison.runs:
        return "\n".join(printable(line) for line in ["no runs found to compare"]
                          + [f"error: {e.text}" for e in errors])
    header = ["#", "run", "verdict", "best", "stop", "value", "saved", *columns]
    ranks = _ranks(comparison)
    for value, rows in comparison.groups():
        if comparison.group_by is not None:
            lines += ["", f"{comparison.group_by} = {_hp(value)}"]
        table = [header]
        for row in rows:
            rank = ranks[id(row)]
            table.append([str(rank), row.run, row.verdict, _step(row.best_step), _step(row.recommended_stop_step),
                          _value(row.value_at_stop),
                          f"{row.saved_fraction:.0%}" if row.recommended_stop_step is not None else "—",
                          *(_hp(row.hyperparameters[c]) if c in row.hyperparameters else "—" for c in columns)])
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    if comparison.effects:
        lines += ["", "What the settings did:"]
    for effect in comparison.effects:
        corr = ""
        if effect.spearman is not None:
            corr = f"; Spearman rho {effect.spearman:+.2f} (p {effect.p_value:.2g}, n {effect.spearman_n})"
        lines.append(f"  {effect.hyperparameter} ({effect.kind}, {effect.n} runs{corr})")
        for value, counts in effect.verdicts.items():
            lines.append(f"    {value}: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
        if effect.statement:
            lines.append(f"    => {effect.statement}")
    if comparison.combinations:
        lines += ["", "What the runs of a verdict share:"]
        lines += [f"  => {c.statement}" for c in comparison.combinations]
    for error in errors:
        lines.append(f"error: {error.text}")
    return "\n".join(printable(line) for line in lines)


def _step(value: int | None) -> str:
    return "—" if value is None else str(int(value))


# ---------------------------------------------------------------------------------------------------- markdown

def markdown(comparison, errors: Sequence[ReadError], *, images: dict[str, str] | None = None,
             curves: str | None = None, limit=None) -> str:
    """The comparison in Markdown; `images` maps a hyperparameter to its PNG, `curves` is the curves PNG (paths
    relative to the document). With `limit` (`markdown.Limit`, default a PR comment's) the ranked table is cut
    from its bottom, then the per-value verdict tables, to fit; a note says what was left out."""
    from .markdown import LIMITS, VERDICT_ICONS, escape

    limit = LIMITS["comment"] if limit is None else limit
    columns = _columns(comparison)
    ranks = _ranks(comparison)
    better = "lower" if comparison.direction == "min" else "higher"
    head = ["# losslint compare", "",
            f"**{len(comparison.runs)}** run(s) ranked by `{escape(comparison.metric)}` at the recommended stop "
            f"({better} is better; the value restore-best keeps: the best up to the stop)", ""]
    if errors:
        head += [f"**{len(errors)}** unreadable input(s): " + "; ".join(escape(e.text) for e in errors[:5])
                 + (" ..." if len(errors) > 5 else ""), ""]
    if curves:
        head += [f"![Validation curves of every run]({curves})", ""]

    def table(rows) -> list[str]:
        names = ["#", "Run", "Verdict", "Best step", "Stop", "Value at stop", "Saved", *(escape(c) for c in columns)]
        out = ["| " + " | ".join(names) + " |",
               "| ---: | --- | --- | ---: | ---: | ---: | ---: |" + " --- |" * len(columns)]
        for row in rows:
            rank = ranks[id(row)]
            saved = f"{row.saved_fraction:.0%}" if row.recommended_stop_step is not None else "—"
            cells = [str(rank), escape(row.run), f"{VERDICT_ICONS.get(row.verdict, '')} {escape(row.verdict)}",
                     _step(row.best_step), _step(row.recommended_stop_step), _value(row.value_at_stop), saved,
                     *(escape(_hp(row.hyperparameters[c])) if c in row.hyperparameters else "—" for c in columns)]
            out.append("| " + " | ".join(cells) + " |")
        return out

    if not comparison.runs:
        return "\n".join(head[:2] + ["No runs found to compare.", ""] + head[4:]).rstrip("\n") + "\n"
    groups = comparison.groups()
    ranked: list[list[str]] = []
    for value, rows in groups:
        block = table(rows)
        if comparison.group_by is not None:
            block = [f"### {escape(comparison.group_by)} = {escape(_hp(value))}", "", *block]
        ranked.append(block + [""])
    effects_head = ["## What the settings did", ""] if comparison.effects else []
    if comparison.combinations:
        effects_head += [f"**{escape(c.statement)}**" for c in comparison.combinations] + [""]
    effect_blocks = []
    for effect in comparison.effects:
        corr = ""
        if effect.spearman is not None:
            corr = f" · Spearman ρ = {effect.spearman:+.2f} (p = {effect.p_value:.2g}, n = {effect.spearman_n})"
        block = [f"### `{escape(effect.hyperparameter)}` ({effect.kind}, {effect.n} runs{corr})", ""]
        if effect.statement:
            block += [f"**{escape(effect.statement)}**", ""]
        detail = ["| Value | Verdicts |", "| --- | --- |"]
        detail += [f"| {escape(v)} | " + ", ".join(f"{n} {escape(k)}" for k, n in counts.items()) + " |"
                   for v, counts in effect.verdicts.items()]
        picture = [f"![{escape(effect.hyperparameter)}]({images[effect.hyperparameter]})", ""] \
            if images and effect.hyperparameter in images else []
        effect_blocks.append((block, detail + [""], picture))

    def assemble(ranked_blocks, keep_detail: bool, note: list[str]) -> str:
        lines = list(head) + (["## Runs", ""] if comparison.group_by is None else ["## Runs by "
                              f"`{escape(comparison.group_by)}`", ""])
        for block in ranked_blocks:
            lines += block
        lines += note + effects_head
        for block, detail, picture in effect_blocks:
            lines += block + (detail if keep_detail else []) + picture
        return "\n".join(lines).rstrip("\n") + "\n"

    text = assemble(ranked, True, [])
    if limit is None or limit.measure(text) <= limit.size:
        return text
    # cut: the ranked rows from the bottom (the worst runs), one group table at a time, then the verdict tables
    flat_rows = [row for _, rows in groups for row in rows]
    keep = len(flat_rows)
    while keep > 1:
        keep = max(1, keep * 3 // 4)
        kept_rows = sorted(flat_rows, key=lambda r: ranks[id(r)])[:keep]
        cut = [table(kept_rows) + [""]]
        note = [f"_Table cut to the best {keep} of {len(flat_rows)} runs to fit {limit.place}; compare.json or "
                f"`losslint compare --format json` has them all._", ""]
        for keep_detail in (True, False):
            text = assemble(cut, keep_detail, note)
            if limit.measure(text) <= limit.size:
                return text
    return text[: limit.size]


# ---------------------------------------------------------------------------------------------------- PNGs

def curves_figure(comparison, highlighted: int = HIGHLIGHTED_RUNS):
    """Every run's curve of the compared metric: the best `highlighted` runs bold and named, the others faint in
    their verdict's colour; a dot at each run's recommended stop."""
    from matplotlib.figure import Figure

    from . import png

    fig = Figure(figsize=png.RUN_FIGSIZE)
    ax = fig.add_axes((0.08, 0.1, png.AXES_RIGHT - 0.06, 0.8))
    arrays = []
    faint: list[np.ndarray] = []  # the other runs: one LineCollection (a thousand ax.plot calls cost seconds)
    faint_colors: list[str] = []
    stops: list[tuple[float, float]] = []
    for rank, row in enumerate(comparison.runs):
        result = row.result
        if result is None:
            continue
        series = png.series_of(result, comparison.metric)
        ok = np.isfinite(series.values)
        if not ok.any():
            continue
        steps, values = png.envelope(series.steps[ok], series.values[ok], max_points=600)
        arrays.append(values)
        best = rank < highlighted and row.value_at_stop is not None
        if best:
            ax.plot(steps, values, color=HIGHLIGHT_COLORS[rank % len(HIGHLIGHT_COLORS)], linewidth=2.2,
                    zorder=3, label=png._short(f"#{rank + 1} {row.run}", 48))
        else:
            faint.append(np.column_stack([steps, values]))
            faint_colors.append(png.VERDICT_COLORS.get(row.verdict, "#7f7f7f"))
        stop = row.recommended_stop_step
        if stop is not None:
            at = int(np.searchsorted(series.steps, stop, side="right")) - 1
            if 0 <= at < len(series.values) and math.isfinite(series.values[at]):
                if best:
                    ax.plot([stop], [series.values[at]], marker="o", markersize=5, color=png.STOP_COLOR,
                            zorder=4, linestyle="none")
                else:
                    stops.append((float(stop), float(series.values[at])))
    if faint:
        from matplotlib.collections import LineCollection

        # fainter as runs pile up: a line stays visible alone, a thousand do not turn into one blot
        alpha = min(FAINT_ALPHA, max(MIN_FAINT_ALPHA, FAINT_ALPHA * 30 / len(faint)))
        ax.add_collection(LineCollection(faint, colors=faint_colors, linewidths=0.8, alpha=alpha, zorder=1))
        ax.autoscale_view()
    if stops:
        xs, ys = zip(*stops)
        ax.scatter(xs, ys, s=9, color=png.STOP_COLOR, alpha=0.5, zorder=2, edgecolors="none")
    if arrays and png.wants_log_scale(arrays):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(png._label(comparison.metric))
    ax.set_title(png.plain(f"{comparison.metric}: {len(comparison.runs)} runs (best {highlighted} bold, "
                           f"stops as dots, others by verdict)"), fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    from matplotlib.lines import Line2D

    present = {row.verdict for row in comparison.runs}
    shown = [(v, c) for v, c in png.VERDICT_COLORS.items() if v in present]
    handles += [Line2D([], [], color=c, alpha=0.6, linewidth=2) for _, c in shown]
    labels += [f"{v} (faint)" for v, _ in shown]
    handles.append(Line2D([], [], color=png.STOP_COLOR, marker="o", linestyle="none"))
    labels.append("recommended stop")
    png.outside_legend(ax, handles, labels)
    return fig


def effect_figure(comparison, effect):
    """The value at the stop against one hyperparameter's value, a dot per run coloured by verdict (log x when
    the values span more than `png.LOG_SCALE_RATIO`; categories evenly spaced, slightly jittered)."""
    from matplotlib.figure import Figure

    from . import png

    fig = Figure(figsize=(8.5, 5.0))
    ax = fig.add_axes((0.1, 0.12, 0.62, 0.78))
    key = effect.hyperparameter
    rows = [r for r in comparison.runs if key in r.hyperparameters and r.value_at_stop is not None]
    ys = np.array([r.value_at_stop for r in rows], dtype=float)
    if effect.kind == "numeric":
        xs = np.array([r.hyperparameters[key] for r in rows], dtype=float)
        positive = xs[xs > 0]
        if len(positive) == len(xs) and len(xs) and xs.max() / xs.min() > png.LOG_SCALE_RATIO:
            ax.set_xscale("log")
    else:
        order = list(effect.verdicts)  # the values, in the comparison's order
        where = {v: i for i, v in enumerate(order)}
        jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(rows))
        xs = np.array([where[_hp(r.hyperparameters[key])] for r in rows], dtype=float) + jitter
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels([png._short(v, 16) for v in order], rotation=30 if len(order) > 5 else 0)
    for verdict, color in png.VERDICT_COLORS.items():
        mask = np.array([r.verdict == verdict for r in rows], dtype=bool)
        if mask.any():
            ax.scatter(xs[mask], ys[mask], color=color, s=36, alpha=0.85, label=verdict, edgecolors="none")
    if len(ys) and png.wants_log_scale([ys]):
        ax.set_yscale("log")
    ax.set_xlabel(png.plain(key))
    ax.set_ylabel(png.plain(f"{comparison.metric} at the stop"))
    missing = sum(1 for r in comparison.runs if key in r.hyperparameters and r.value_at_stop is None)
    title = f"{key}: {len(rows)} runs" + (f" ({missing} without a value left out)" if missing else "")
    if effect.spearman is not None:
        title += f"; Spearman rho {effect.spearman:+.2f}, p {effect.p_value:.2g}"
    ax.set_title(png._short(title, 90), fontsize=10)
    if rows:
        png.outside_legend(ax)
    return fig


def write_compare(comparison, errors: Sequence[ReadError], out_dir) -> Path:
    """Write compare.md, compare.json and the PNGs into `out_dir`; returns compare.md's path."""
    from . import png
    from .bundle import unique_stems

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / JSON_NAME).write_text(render_json(comparison, errors) + "\n", encoding="utf-8")
    curves = None
    if comparison.runs:
        png.save(curves_figure(comparison), out / CURVES_NAME)
        curves = CURVES_NAME
    stems = unique_stems([e.hyperparameter for e in comparison.effects],
                         reserved=("compare-curves", "compare", "report", "comment", "overview"))
    images = {}
    for effect, stem in zip(comparison.effects, stems):
        name = f"{EFFECT_PREFIX}{stem}.png"
        png.save(effect_figure(comparison, effect), out / name)
        images[effect.hyperparameter] = name
    path = out / MARKDOWN_NAME
    path.write_text(markdown(comparison, errors, images=images, curves=curves), encoding="utf-8")
    return path
