"""The report's Agg canvas (`report/agg.py`): plain text drawn whole lands where matplotlib's own drawing puts it,
with the same ink; math text and characters outside the first font are left to matplotlib."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from losslint.report import agg, png

TEXTS = [("compute that could have been saved (29%)", 0), ("val/loss (smoothed)", 0), ("0.0001025", 0),
         ("learning_rate", 90), ("D001,O101", 90), ("run-3 \u2014 verdict: good-fit", 0), ("10\u207b\u00b2", 0)]


def _ink(canvas_kind, text: str, angle: float, size: float = 7, weight: str = "normal") -> np.ndarray:
    fig = Figure(figsize=(5, 3), dpi=100)
    canvas = canvas_kind(fig)
    fig.text(0.1, 0.4, text, rotation=angle, fontsize=size, fontweight=weight)
    canvas.draw()
    return 255 - np.asarray(canvas.buffer_rgba())[..., 0].astype(int)  # darkness of the red channel


def _box(ink: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(ink > 40)
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


@pytest.mark.skipif(not agg.GLYPH_BY_GLYPH, reason="this matplotlib draws whole strings itself")
@pytest.mark.parametrize("text,angle", TEXTS)
def test_whole_string_text_matches_matplotlibs_glyph_by_glyph_text(text, angle):
    for size, weight in ((7, "normal"), (10, "bold")):
        ours, theirs = _ink(agg.Canvas, text, angle, size, weight), _ink(FigureCanvasAgg, text, angle, size, weight)
        # the same string in the same place, with the same amount of ink: level text within a pixel; rotated text
        # (a rotated bitmap here, rotated glyphs there) within 3% of its length
        box, reference = _box(ours), _box(theirs)
        length = max(reference[1] - reference[0], reference[3] - reference[2])
        assert np.abs(np.subtract(box, reference)).max() <= (1 if angle == 0 else 1 + 0.03 * length), (text, size)
        assert ours.sum() == pytest.approx(theirs.sum(), rel=0.08), (text, size)


@pytest.mark.skipif(not agg.GLYPH_BY_GLYPH, reason="this matplotlib draws whole strings itself")
@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
def test_math_text_and_missing_glyphs_are_left_to_matplotlib(monkeypatch):
    calls = []
    original = agg.RendererAgg.draw_text

    def spy(self, gc, x, y, s, *args, **kwargs):
        calls.append(s)
        return original(self, gc, x, y, s, *args, **kwargs)

    monkeypatch.setattr(agg.RendererAgg, "draw_text", spy)
    for text in ("$x^2$", "\u8bad\u7ec3", "plain"):
        _ink(agg.Canvas, text, 0)
    assert calls == ["$x^2$", "\u8bad\u7ec3"]


def test_report_figures_get_the_whole_string_canvas():
    fig = Figure()
    canvas = png.agg.canvas(fig)
    assert isinstance(canvas, agg.Canvas if agg.GLYPH_BY_GLYPH else FigureCanvasAgg)
    assert png.agg.canvas(fig) is canvas
    canvas.draw()
    assert isinstance(canvas.get_renderer(), agg._Renderer if agg.GLYPH_BY_GLYPH else agg.RendererAgg)


def test_log_axis_labels_are_plain_superscripts():
    assert png.log_label(1e-2) == "10\u207b\u00b2"
    assert png.log_label(1.0) == "10\u2070"
    assert png.log_label(1e5) == "10\u2075"
    assert png.log_label(2e-3) == "2\u00d710\u207b\u00b3"
    assert png.log_label(0.0) == "" and png.log_label(float("nan")) == ""
    # every decade tick of a long log range
    for exponent in range(-12, 13):
        assert png.log_label(10.0 ** exponent) == "10" + str(exponent).translate(png._SUPERSCRIPT)


@pytest.mark.skipif(not agg.GLYPH_BY_GLYPH, reason="this matplotlib draws whole strings itself")
def test_a_failing_call_hands_all_text_back_to_matplotlib(monkeypatch):
    """A matplotlib whose calls changed must not break a report: the first failure switches to its own drawing."""
    def broken():
        raise TypeError("changed signature")

    monkeypatch.setattr(agg, "get_hinting_flag", broken)
    monkeypatch.setattr(agg._Renderer, "_whole_strings", True)
    ours = _ink(agg.Canvas, "val/loss (smoothed)", 0)
    assert agg._Renderer._whole_strings is False
    assert np.array_equal(ours, _ink(FigureCanvasAgg, "val/loss (smoothed)", 0))
