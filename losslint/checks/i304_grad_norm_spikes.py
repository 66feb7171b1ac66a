"""Gradient-norm spikes: the gradient norm jumps far above its local level.

What it detects: points of `train/grad_norm` with a robust z-score of at least `z_threshold` against a rolling
median/MAD over `window` points that are also at least `min_rel_jump` above the local median.
Why it matters: gradient-norm spikes precede loss spikes and divergence (large updates in one step); they show
an optimiser near its stability edge even when the loss has not (yet) moved. On their own they do not make a
run unstable: healthy fine-tunes (Whisper, TrOCR, Gemma LoRA in the labelled real-world corpus) show them while
their loss never reacts, so this rule is an info finding (../shared/VERDICTS.md: "gradient-norm spikes that
leave the loss untouched are worth an info finding, not a verdict"). When the loss does react, I302 (loss
spikes) or I303 (divergence) reports it and decides the verdict.
What to do: enable or tighten gradient clipping (HF `max_grad_norm`, default 1.0) or lengthen warm-up if they
grow, look for bad batches; lower the learning rate only when the loss reacts too (I302, I307).

Defaults:
- `window = 10`, `z_threshold = 6.0`: as I302 (Lightning `SpikeDetection(window=10)`).
- `min_rel_jump = 1.0`: at least twice the local level; gradient norms are noisier than losses.
- `min_range_fraction = 0.01`, `min_points = 20`: as I302.
- severity `info`: see above; raise it with `[rules.I304] severity = "warning"` to gate on gradient spikes.

Passing: a gradient norm that wanders 0.8-1.5 around its level. Failing (info): a norm of 1.0 that jumps to 9.0
for one step.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..findings import Finding
from ..view import RunView
from ._common import emit
from .i302_loss_spikes import describe_spikes

CODE = "I304"
NAME = "grad-norm-spikes"
CATEGORY = "instability"
DEFAULT_SEVERITY = "info"
DEFAULTS = {"window": 10, "z_threshold": 6.0, "min_rel_jump": 1.0, "min_range_fraction": 0.01, "min_points": 20}


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    series = view.grad_norm
    if series is None or series.n < params["min_points"]:
        return
    found = series.spikes(params["z_threshold"], params["window"], params["min_rel_jump"], params["min_range_fraction"])
    if not len(found.indices):
        return
    yield emit(__name__, params, series.metric, int(found.steps[0]),
               describe_spikes(series, found, "") + "; the loss did not react (else I302 or I307 says so): clip "
               "gradients (max_grad_norm) or lengthen warm-up if they grow")
