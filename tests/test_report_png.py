"""PNG plots: valid, small, not blank images that show what the report says (marks, NaN, panels, colours)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib import image as mpimg

from losslint.metrics import EVAL_LOSS, TRAIN_LOSS
from losslint.report import png
from report_support import descending, finding, load_runs, realworld, result_for, write_jsonl_run

MAX_BYTES = 150_000


def assert_good_png(path, size=(1150, 650)):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) <= MAX_BYTES, f"{path.name}: {len(data)} bytes"
    pixels = mpimg.imread(path)
    assert (pixels.shape[1], pixels.shape[0]) == size
    rgb = pixels[..., :3].reshape(-1, 3)
    # a blank (or text-only) canvas is almost all one colour; curves and shading give many distinct colours
    assert float(rgb.std()) > 0.05
    assert len(np.unique((rgb * 255).astype(np.uint8), axis=0)) > 20


def _labels(fig) -> list[str]:
    return [label for ax in fig.axes for label in ax.get_legend_handles_labels()[1]]


def _diverging_run(tmp_path):
    train = descending(120) + [float("nan")] * 3
    write_jsonl_run(tmp_path, "diverging", train, val=descending(13, seed=2))
    runs, errors = load_runs(tmp_path / "diverging")
    assert not errors
    return runs[0]


@pytest.mark.parametrize("rel", ["trainer_state/cpt-rouge-summarization", "trainer_state/whisper-tiny-nob-resumed",
                                 "jsonl/detectron2-fruit", "keras_csv/tomato-leaf-cnn",
                                 "tensorboard/lightning-naf-dqn-rl"])
def test_real_run_png_is_a_valid_nonblank_small_image(tmp_path, rel):
    runs, errors = load_runs(realworld(rel))
    if not runs:
        pytest.skip(f"no reader for {rel} yet: {[e.text for e in errors]}")
    out = png.write_run_png(result_for(runs[0], "good-fit"), tmp_path / "run.png")
    assert_good_png(out)


def test_panels_follow_the_metrics_a_run_has():
    runs, _ = load_runs(realworld("trainer_state/cpt-rouge-summarization"))
    fig = png.run_figure(result_for(runs[0]))
    labels = " ".join(_labels(fig))
    # loss panel, task panel (ROUGE), optimiser panel (learning rate + grad norm on a twin axis)
    assert "train/loss" in labels and "val/loss" in labels
    assert "val/rouge-1" in labels
    assert "train/learning_rate" in labels and "train/grad_norm" in labels
    main_axes = [ax for ax in fig.axes if ax.get_subplotspec() is not None and ax.get_label() != "twin"]
    assert len({ax.get_subplotspec().rowspan.start for ax in main_axes}) == 3


def test_early_stop_marks_and_saved_compute_are_drawn(tmp_path):
    run = _diverging_run(tmp_path)
    result = result_for(run, "diverged", [finding(code="D001", severity="error")], best=600, stop=800,
                        annotations={TRAIN_LOSS: {"change_points": [400, 900], "spikes": [100]}})
    fig = png.run_figure(result)
    labels = _labels(fig)
    assert "best (step 600)" in labels
    assert "recommended stop (step 800)" in labels
    assert f"compute that could have been saved ({result.saved_fraction:.0%})" in labels
    assert any(label.startswith("NaN/inf (3 step(s))") for label in labels)
    assert "spike (train/loss)" in labels
    assert labels.count("change point (train/loss)") == 1
    top = fig.axes[0]
    dotted = [ln for ln in top.get_lines() if ln.get_linestyle() == ":"]
    assert sorted(float(ln.get_xdata()[0]) for ln in dotted) == [400.0, 900.0]
    assert "diverged" in fig._suptitle.get_text()
    assert_good_png(png.save(fig, tmp_path / "d.png"))


def test_a_metric_has_the_same_colour_in_every_run(tmp_path):
    colours = []
    for seed, name in enumerate(["r1", "r2"]):
        write_jsonl_run(tmp_path, name, descending(80, seed=seed), val=descending(8, seed=seed + 5))
        run = load_runs(tmp_path / name)[0][0]
        fig = png.run_figure(result_for(run))
        by_label = {ln.get_label(): ln.get_color() for ln in fig.axes[0].get_lines()}
        colours.append((by_label["train/loss (smoothed)"], by_label["val/loss"]))
    assert colours[0] == colours[1] == (png.METRIC_COLORS[TRAIN_LOSS], png.METRIC_COLORS[EVAL_LOSS])
    assert png.metric_color("eval/bleu") == png.metric_color("eval/bleu")


def test_log_scale_only_for_wide_positive_ranges():
    assert png.wants_log_scale([np.array([10.0, 5.0, 0.2])])
    assert not png.wants_log_scale([np.array([2.0, 1.0, 0.5])])
    assert not png.wants_log_scale([np.array([100.0, -1.0, 0.5])])
    assert not png.wants_log_scale([np.array([np.nan, np.inf])])
    assert png.wants_log_scale([np.array([np.nan, 100.0]), np.array([1.0])])


def test_envelope_keeps_every_extreme_of_a_long_series():
    rng = np.random.default_rng(3)
    steps = np.arange(1_000_000, dtype=np.int64)
    values = rng.standard_normal(steps.size)
    values[123_457] = 50.0  # one spike in a million points
    values[876_543] = -50.0
    s, v = png.envelope(steps, values)
    assert s.size <= png.MAX_DRAWN_POINTS
    assert np.all(np.diff(s) > 0)
    assert 123_457 in s and 876_543 in s
    assert v.max() == 50.0 and v.min() == -50.0


def test_overview_is_capped_and_says_so(tmp_path):
    write_jsonl_run(tmp_path, "one", descending(60), val=descending(6, seed=1))
    run = load_runs(tmp_path / "one")[0][0]
    results = [result_for(run, "good-fit") for _ in range(png.OVERVIEW_MAX_RUNS + 2)]
    results[-1] = result_for(run, "diverged", [finding(severity="error")])
    shown, title = png.overview_shown(results)
    assert len(shown) == png.OVERVIEW_MAX_RUNS
    assert f"showing {png.OVERVIEW_MAX_RUNS} of {len(results)} runs" in title
    # the cap drops healthy runs first: the one failing run is shown, first
    assert shown[0] is results[-1]
    assert "diverged" in png.overview_cell_figure(shown[0]).axes[0].get_title()
    out = png.write_overview_png(results, tmp_path / "overview.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) <= MAX_BYTES
    pixels = mpimg.imread(out)
    cols, rows = png.OVERVIEW_COLS, math.ceil(png.OVERVIEW_MAX_RUNS / png.OVERVIEW_COLS)
    assert pixels.shape[1] == round(png.OVERVIEW_CELL[0] * cols * png.OVERVIEW_DPI)
    assert pixels.shape[0] == round((png.OVERVIEW_CELL[1] * rows + 0.5) * png.OVERVIEW_DPI)
    assert float(pixels[..., :3].std()) > 0.05


def test_overview_cells_sit_where_one_figure_of_subplots_puts_them():
    """The overview is composited cell by cell (`overview_image`); `OverviewGrid` must give the axes positions a
    figure of `subplots` with the same margins and spacing gives."""
    from matplotlib.figure import Figure

    for n in (1, 4, 6, 13, png.OVERVIEW_MAX_RUNS):
        grid = png.OverviewGrid.of(n)
        fig = Figure(figsize=grid.size)
        axes = fig.subplots(grid.rows, grid.cols, squeeze=False)
        fig.subplots_adjust(left=png.OVERVIEW_LEFT, right=png.OVERVIEW_RIGHT,
                            bottom=png.OVERVIEW_BOTTOM_IN / grid.size[1], top=1 - png.OVERVIEW_TOP_IN / grid.size[1],
                            wspace=png.OVERVIEW_WSPACE, hspace=png.OVERVIEW_HSPACE)
        for i, ax in enumerate(axes.flat):
            box = ax.get_position()
            x, y = grid.corner(i)
            assert box.x0 * grid.size[0] == pytest.approx(x) and box.y0 * grid.size[1] == pytest.approx(y)
            assert box.width * grid.size[0] == pytest.approx(grid.cell[0])
            assert box.height * grid.size[1] == pytest.approx(grid.cell[1])


def test_overview_shows_every_cell_and_the_title(tmp_path):
    """Each cell of the composited overview carries its run's curve: the pixels inside each cell's axes differ
    from the background, and a cell's ink stays inside its slot of the grid."""
    write_jsonl_run(tmp_path, "one", descending(60), val=descending(6, seed=1))
    run = load_runs(tmp_path / "one")[0][0]
    results = [result_for(run, "good-fit") for _ in range(7)]
    out = png.write_overview_png(results, tmp_path / "overview.png")
    pixels = mpimg.imread(out)[..., :3]
    grid = png.OverviewGrid.of(len(results))
    dpi, height = png.OVERVIEW_DPI, pixels.shape[0]
    for i in range(len(results)):
        x, y = grid.corner(i)
        left, right = round(x * dpi) + 3, round((x + grid.cell[0]) * dpi) - 3
        top, bottom = height - round((y + grid.cell[1]) * dpi) + 3, height - round(y * dpi) - 3
        inside = pixels[top:bottom, left:right]
        # the blue training curve is drawn in every cell
        blue = np.abs(inside - np.array([0x1F, 0x77, 0xB4]) / 255).max(axis=-1) < 0.1
        assert blue.sum() > 20, i
    # the grid's last row has one cell: right of it the image is blank
    x, y = grid.corner(len(results))
    empty = pixels[height - round((y + grid.cell[1]) * dpi):height - round(y * dpi), round(x * dpi):]
    assert float(empty.min()) > 0.99
    # the title across the top
    assert float(pixels[: round(0.3 * dpi)].min()) < 0.5


def test_a_kept_overview_cell_draws_the_same_pixels_as_a_new_one(tmp_path):
    nan = float("nan")
    results = [result_for(_diverging_run(tmp_path), "diverged", best=600, stop=800),
               result_for(_records_run([("train_loss", s, nan, nan, nan) for s in range(5)], name="nan")),
               result_for(_records_run([("train_loss", s, 10.0 ** -s, nan, nan) for s in range(6)], name="log")),
               result_for(_records_run([], name="empty"), "no-signal")]

    def pixels(fig):
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba()).copy()

    fresh = [pixels(png.overview_cell_figure(r)) for r in results]
    assert results[2] and png.overview_cell_figure(results[2]).axes[0].get_yscale() == "log"
    for order in (range(len(results)), reversed(range(len(results)))):
        for i in order:
            assert np.array_equal(pixels(png.overview_cell_figure(results[i], reuse=True)), fresh[i]), i


def test_a_run_with_no_curves_still_gets_a_figure(tmp_path):
    runs, errors = load_runs(realworld("tensorboard/lightning-aics-seg"))
    if not runs:
        pytest.skip(f"tensorboard reader not available: {[e.text for e in errors]}")
    out = png.write_run_png(result_for(runs[0], "no-signal"), tmp_path / "empty.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert mpimg.imread(out).shape[:2] == (650, 1150)


def test_curves_of_one_panel_never_share_a_colour():
    # three validation sets and six accuracies: hashing alone would give two of them the same colour
    runs, _ = load_runs(realworld("trainer_state/trainer-state-viz-example"))
    fig = png.run_figure(result_for(runs[0]))
    for ax in fig.axes:
        bold = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_") and ln.get_linewidth() > 1]
        colours = [ln.get_color() for ln in bold]
        assert len(colours) == len(set(colours)), [(ln.get_label(), ln.get_color()) for ln in bold]
    # every evaluation set's loss is drawn (the cap was 4 curves: three of six sets were missing)
    losses = [m for m in runs[0].metrics() if m.endswith("/loss")]
    assert len(losses) > 4
    assert len([ln for ln in fig.axes[0].get_lines() if "loss" in ln.get_label()]) == len(losses)


def test_findings_with_a_step_are_marked_by_code(tmp_path):
    run = _diverging_run(tmp_path)
    result = result_for(run, "diverged", [finding(code="D001", severity="error", metric="train/loss", step=1200),
                                          finding(code="O101", metric="eval/loss", step=900),
                                          finding(code="U202", metric=None, step=None)])
    fig = png.run_figure(result)
    texts = {t.get_text(): t.get_position()[0] for t in fig.axes[0].texts}
    assert texts == {"D001": 1200, "O101": 900}


def _records_run(records, name="mixed"):
    from losslint.schema import Run, frame_from_records

    return Run(name=name, format="jsonl", sources=["x.jsonl"], data=frame_from_records(records))


def test_shading_ends_with_the_plotted_curves_not_with_an_unplotted_series():
    # Keras logs `evaluation_loss_vs_iterations` in iterations (to 600) beside per-epoch losses (0..19)
    records = [("epoch_loss", e, 1.0 / (e + 1), float("nan"), float("nan")) for e in range(20)]
    records += [("val_loss", e, 0.5 + abs(e - 8) / 20, float("nan"), float("nan")) for e in range(20)]
    records += [("evaluation_loss_vs_iterations", i, 0.5, float("nan"), float("nan")) for i in range(0, 601, 30)]
    run = _records_run(records)
    result = result_for(run, "overfitting", best=8, stop=10)
    result.early_stop.metric = EVAL_LOSS
    fig = png.run_figure(result)
    assert fig.axes[0].get_xlim()[1] < 25


def test_overview_cell_of_a_run_that_is_all_nan():
    nan = float("nan")
    run = _records_run([("train_loss", s, nan, nan, nan) for s in range(5)], name="all-nan")
    fig = png.overview_cell_figure(result_for(run, "diverged"))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["only NaN/inf"]
    lo, hi = ax.get_xlim()
    assert lo <= 0 and hi >= 4
    run_fig = png.run_figure(result_for(run, "diverged"))
    assert "every value is NaN or inf" in [t.get_text() for t in run_fig.axes[0].texts]


# --- issue 17: smoothing, legends, coinciding marks, epoch axes ---------------------------------------------------


def test_smoothing_adapts_to_the_number_of_points():
    assert png.smoothing_weight(4000) == pytest.approx(1 - 1 / 80)  # a window of 2% of the run
    assert png.smoothing_weight(50) == png.MIN_SMOOTHING_WEIGHT  # short curves: TensorBoard's 0.6
    assert png.smoothing_weight(10**7) == png.MAX_SMOOTHING_WEIGHT
    assert png.smoothing_weight(4000, share=0.05) == pytest.approx(1 - 1 / 200)
    assert png.smoothing_weight(4000, share=0) == 0.0
    rng = np.random.default_rng(0)
    steps = np.arange(4000)
    values = 1.0 / (1 + steps / 500) + rng.normal(0, 0.1, steps.size)
    s, smooth = png.smoothed(steps, values)
    truth = 1.0 / (1 + s / 500)
    # the adaptive curve is close to the truth; TensorBoard's fixed 0.6 stays about as noisy as the raw points
    from losslint.analysis.smoothing import ema

    fixed = ema(values, 0.6)

    def rmse(curve):
        return float(np.sqrt(np.mean((curve - truth)[200:] ** 2)))

    assert rmse(smooth) < 0.5 * rmse(fixed)
    assert np.std(np.diff(smooth)) < 0.1 * np.std(np.diff(fixed))  # the per-batch jitter is gone
    assert png.smoothed(steps, values, share=0) is None


def test_a_long_noisy_curve_is_smoothed_with_the_configured_share(tmp_path):
    write_jsonl_run(tmp_path, "long", descending(4000, noise=0.2), val=descending(20, seed=1))
    run = load_runs(tmp_path / "long")[0][0]
    fig = png.run_figure(result_for(run), smoothing=0.05)
    (bold,) = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "train/loss (smoothed)"]
    series_values = run.series("train/loss")["value"].to_numpy()
    assert np.std(np.diff(bold.get_ydata())) < 0.05 * np.std(np.diff(series_values))
    none = png.run_figure(result_for(run), smoothing=0)
    assert "train/loss (smoothed)" not in _labels(none) and "train/loss" in _labels(none)


def test_legends_sit_outside_the_axes(tmp_path):
    run = _diverging_run(tmp_path)
    fig = png.run_figure(result_for(run, "diverged", best=600, stop=800))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box, axes_box = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert box.x0 >= axes_box.x1, "a legend over the curves"
        assert box.x1 <= fig.bbox.x1 + 1, "a legend cut off at the figure's edge"


def test_best_and_stop_both_visible_when_they_coincide(tmp_path):
    run = _diverging_run(tmp_path)
    fig = png.run_figure(result_for(run, "overfitting", best=600, stop=600))
    top = fig.axes[0]
    marks = {ln.get_label(): ln for ln in top.get_lines() if ln.get_label().startswith(("best", "recommended"))}
    best, stop = marks["best (step 600 = stop)"], marks["recommended stop (step 600)"]
    assert float(best.get_xdata()[0]) == float(stop.get_xdata()[0]) == 600.0
    # the dashed best line is drawn over the (wider) stop line, so both colours show
    assert best.get_zorder() > stop.get_zorder() and best.get_linestyle() != "-"
    assert stop.get_linewidth() > best.get_linewidth()


def test_epoch_axes_are_labelled_epoch_with_whole_ticks(tmp_path):
    import pandas as pd

    from losslint.io.csvlog import READER

    (tmp_path / "k").mkdir()
    pd.DataFrame({"loss": [0.9, 0.6, 0.5, 0.45, 0.44], "val_loss": [0.8, 0.7, 0.65, 0.66, 0.7]}).to_csv(
        tmp_path / "k" / "history.csv")
    run = READER.read([tmp_path / "k" / "history.csv"], "k")[0]
    fig = png.run_figure(result_for(run))
    fig.canvas.draw()
    bottom = fig.axes[0]
    assert bottom.get_xlabel() == "epoch"
    ticks = [t for t in bottom.get_xticks() if bottom.get_xlim()[0] <= t <= bottom.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    # a run logged by step keeps "step"
    steps_run = _diverging_run(tmp_path / "s")
    assert png.run_figure(result_for(steps_run)).axes[-1].get_xlabel() == "step"


def test_a_run_with_more_curves_than_the_cap_says_so(tmp_path):
    rows = [{"step": s, **{f"eval_set{k}/loss": 1.0 / (s + k + 1) for k in range(14)}, "loss": 1.0 / (s + 1)}
            for s in range(1, 40)]
    (tmp_path / "many").mkdir()
    import json as _json

    (tmp_path / "many" / "metrics.jsonl").write_text("".join(_json.dumps(r) + "\n" for r in rows))
    run = load_runs(tmp_path / "many")[0][0]
    fig = png.run_figure(result_for(run))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("more metric(s) not drawn" in t for t in texts), texts


def test_a_kept_figure_draws_the_same_pixels_as_a_new_one(tmp_path):
    """`write_run_png` draws on a figure kept per layout (emptied between runs): whatever was drawn on it before,
    a run's pixels are those of a new figure (twin axes, log scales, NaN marks, a run without curves)."""
    rels = ["trainer_state/cpt-rouge-summarization", "keras_csv/tomato-leaf-cnn", "jsonl/detectron2-fruit",
            "tensorboard/lightning-naf-dqn-rl"]
    results = []
    for rel in rels:
        runs, _ = load_runs(realworld(rel))
        results.extend(result_for(run, "good-fit", best=10, stop=20) for run in runs[:1])
    results.append(result_for(_diverging_run(tmp_path), "diverged", best=600, stop=800))
    nan = float("nan")
    results.append(result_for(_records_run([("train_loss", s, nan, nan, nan) for s in range(5)], name="nan")))

    def pixels(fig):
        fig.set_dpi(png.DPI)
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba()).copy()

    fresh = [pixels(png.run_figure(r)) for r in results]
    for order in (range(len(results)), reversed(range(len(results)))):
        for i in order:
            assert np.array_equal(pixels(png.run_figure(results[i], reuse=True)), fresh[i]), results[i].run.name


def test_pick_metrics_leaves_out_bookkeeping_and_draws_loss_parts_as_losses():
    losses, tasks, _ = png.pick_metrics(["train/loss", "eval/loss", "eval/box_loss", "train/train_loss",
                                         "eval/runtime", "train/train_samples_per_second", "train/total_flos",
                                         "eval/accuracy", "eval/map_0.5:0.95"])
    assert set(losses) == {"train/loss", "eval/loss", "eval/box_loss", "train/train_loss"}
    assert set(tasks) == {"eval/accuracy", "eval/map_0.5:0.95"}


def test_axis_labels_clear_their_tick_labels(tmp_path):
    """The labels are placed without matplotlib's measuring (`_place_axis_labels`): on a linear and a log axis,
    with wide and narrow tick labels, no label overlaps a tick label and none floats far from them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    steps = np.arange(1, 101)
    for scale in (1e-5, 1.0, 3e4):
        for span in (0.5, 1000.0):  # 1000x: a log axis with math-text labels
            values = scale * (1 + span * np.exp(-steps / 10))
            run = _records_run([("train/loss", int(s), float(v), float("nan"), float("nan"))
                                for s, v in zip(steps, values)] +
                               [("train/learning_rate", int(s), 1e-4 * (1 - s / 100), float("nan"), float("nan"))
                                for s in steps])
            fig = png.run_figure(result_for(run, "good-fit"))
            renderer = FigureCanvasAgg(fig).get_renderer()
            fig.canvas.draw()
            for ax in fig.axes:
                if not ax.get_visible() or not ax.get_ylabel():
                    continue
                label = ax.yaxis.label.get_window_extent(renderer)
                ticks = [t.get_window_extent(renderer) for t in ax.yaxis.get_ticklabels() if t.get_text()]
                if not ticks:
                    continue
                left_edge = min(t.x0 for t in ticks)
                assert label.x1 <= left_edge + 0.5, (scale, span, ax.get_ylabel())
                assert left_edge - label.x1 < 20, (scale, span, ax.get_ylabel())  # px at 100 dpi
            xlabel = fig.axes[-1].xaxis.label.get_window_extent(renderer)
            xticks = [t.get_window_extent(renderer) for t in fig.axes[-1].xaxis.get_ticklabels() if t.get_text()]
            assert xlabel.y1 <= min(t.y0 for t in xticks) + 0.5


def test_run_series_are_the_runs_rows_sorted_by_step_and_never_another_runs():
    nan = float("nan")
    # logged out of step order (a resumed run appends earlier steps), epochs on some rows only
    records = [("train_loss", s, 1.0 / (s + 1), float(s // 10), nan) for s in (5, 3, 9, 3, 0)]
    records += [("val_loss", s, 2.0 - s / 10, nan, nan) for s in (4, 8)]
    run = _records_run(records, name="a")
    series = png.run_series(run)
    assert list(series) == run.metrics()
    for metric, s in series.items():
        rows = run.series(metric)
        order = np.argsort(rows["step"].to_numpy(), kind="stable")
        assert s.steps.tolist() == rows["step"].to_numpy()[order].tolist()
        assert np.array_equal(s.values, rows["value"].to_numpy(dtype=float)[order], equal_nan=True)
        assert np.array_equal(s.epochs, rows["epoch"].to_numpy(dtype=float)[order], equal_nan=True)
    assert png.series_of(result_for(run), "nope").steps.size == 0
    # another run with the same metrics is read from its own table, not served from the last one
    other = _records_run([("train_loss", s, 7.0, nan, nan) for s in range(3)], name="b")
    assert png.series_of(result_for(other), TRAIN_LOSS).values.tolist() == [7.0, 7.0, 7.0]
    assert png.series_of(result_for(run), TRAIN_LOSS).values[0] == 1.0
