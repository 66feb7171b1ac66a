"""The Agg canvas the report's figures are drawn on: matplotlib's, with plain text drawn one string at a time.

From matplotlib 3.10 Agg draws text glyph by glyph in Python (a transform, a FreeType render and a blit per glyph,
for text shaping and per-glyph font fallback): about 75 us a glyph, a third of a run plot's drawing, most of it
the legends' labels. `canvas(fig)` attaches a canvas whose renderer draws plain (non-math) text the way
matplotlib up to 3.9 did: FreeType lays the string out and renders it into one bitmap (`FT2Font.set_text`,
`draw_glyphs_to_bitmap`, the same calls matplotlib uses to measure text), blitted once. The glyphs and their
positions are FreeType's; the string may sit up to a pixel from where the glyph-by-glyph path puts it.

It falls back to matplotlib's own drawing for math text, for text with font features or a language set, for
characters the first font lacks (the fallback fonts would not be used), and wherever matplotlib already draws
whole strings (before 3.10) or lacks a call used here.
"""
from __future__ import annotations

import math

from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font

# the glyph-by-glyph drawing this module replaces (matplotlib >= 3.10), and the calls the replacement needs
GLYPH_BY_GLYPH = hasattr(RendererAgg, "_draw_text_glyphs_and_boxes") and all(
    hasattr(FT2Font, name) for name in ("set_text", "draw_glyphs_to_bitmap", "get_image", "get_bitmap_offset",
                                        "get_descent", "get_char_index"))


class _Renderer(RendererAgg):
    # characters known to be (True) or not to be (False) in a font, by font file
    _covered: dict[tuple[str, str], bool] = {}
    # False once a call here failed (a matplotlib whose calls changed): matplotlib draws all text from then on
    _whole_strings = True

    def _has_glyphs(self, font, text: str) -> bool:
        fname = font.fname
        for char in text:
            known = self._covered.get((fname, char))
            if known is None:
                known = self._covered[(fname, char)] = font.get_char_index(ord(char)) != 0
            if not known:
                return False
        return True

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if not _Renderer._whole_strings or ismath or (mtext is not None and (_features(mtext) or _language(mtext))):
            return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
        font = self._prepare_font(prop)
        if not self._has_glyphs(font, s):
            return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
        try:
            # matplotlib 3.9's RendererAgg.draw_text: the string at angle 0, rotated as a bitmap by draw_text_image
            font.set_text(s, 0, flags=get_hinting_flag())
            font.draw_glyphs_to_bitmap(antialiased=gc.get_antialiased())
            descent = font.get_descent() / 64.0
            xo, yo = font.get_bitmap_offset()
            x0 = round(x + xo / 64.0 + descent * math.sin(math.radians(angle)))
            y0 = round(y + yo / 64.0 + descent * math.cos(math.radians(angle)))
            # the only call that draws: a failure before it leaves the canvas as it was
            self._renderer.draw_text_image(font.get_image(), x0, y0 + 1, angle, gc)
        except (AttributeError, TypeError, ValueError):
            _Renderer._whole_strings = False
            return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
        return None


def _features(mtext) -> object:
    getter = getattr(mtext, "get_fontfeatures", None)
    return getter() if getter is not None else None


def _language(mtext) -> object:
    getter = getattr(mtext, "get_language", None)
    return getter() if getter is not None else None


class Canvas(FigureCanvasAgg):
    """FigureCanvasAgg whose renderer draws plain text whole (`_Renderer`)."""

    def get_renderer(self, *args, **kwargs):
        renderer = super().get_renderer(*args, **kwargs)
        if type(renderer) is RendererAgg:  # a new one (matplotlib makes one per size and dpi)
            renderer.__class__ = _Renderer
        return renderer


def canvas(fig: Figure) -> FigureCanvasAgg:
    """The figure's canvas for drawing a report image: `Canvas` where matplotlib draws text glyph by glyph, its
    own FigureCanvasAgg otherwise (one is attached if the figure has another kind)."""
    kind = Canvas if GLYPH_BY_GLYPH else FigureCanvasAgg
    current = fig.canvas
    return current if isinstance(current, kind) else kind(fig)
