"""Plateau while still bad: the losses stopped improving near chance, or close to their start with no gap.

What it detects: the training loss (and the validation loss, when logged) has stopped improving over the last
`tail_fraction` of the run (no significant Mann-Kendall fall, or a Theil-Sen fall over that window not surely
`flat_tol` of the level or more), and the model is still bad (../shared/VERDICTS.md, `underfitting`):
- when the task's chance level is known (ln(num_classes) from the hyper-parameters `num_classes`/`num_labels`;
  ln(2) for a binary task, which a logged ROC AUC says), every plateau is at least `chance_fraction` of it, and
  only then: a loss well below chance has learned something, whatever its start;
- otherwise, every plateau is still at least `high_ratio` of its starting level and, with a validation loss, the
  training loss is at least `gap_ratio` of it (no gap: the model does not even fit its training data). A
  fine-tune of a pretrained model starts low and falls only 15-30%; with a train/validation gap that is a
  converged fine-tune, not underfitting (RETFound and T5 runs in the labelled real-world corpus).
Why it matters: the model has stopped learning without having learned much: too little capacity, a learning rate
too low (or decayed too early), or a bug such as frozen layers or shuffled labels.
What to do: raise the learning rate, train a bigger model, check that all layers train and that inputs and labels
match; train longer only if the curve is not flat.

Defaults:
- `high_ratio = 0.7`: the loss fell less than 30% from its start. A classifier starts near chance, ln(C); ending
  within 30% of that, in perplexity terms, leaves it less than C^0.3 times better than guessing. (SageMaker
  Debugger's LossNotDecreasing flags a loss that stops improving at all; this rule asks, in addition, that the
  level be high.)
- The chance level is known from the hyper-parameters (`num_classes`, `num_labels`, ...), from a logged ROC AUC
  (binary), or from the run itself when its loss ends at ln(C) and its accuracy on the same split at 1/C (within
  5% and 5 points + 10%/C): the pair a uniform guess over C classes logs (an NLI model at 1.10 = ln 3 with
  accuracy 0.33; a binary model at the ln 2 floor with accuracy 0.54). Either number alone says nothing.
- `chance_fraction = 0.8`: at or above 80% of the loss of a uniform guess, when the chance level is known (and
  the loss judged is that cross-entropy: one that starts above 3x ln(C) is not, a regression loss beside a
  200-class head that started at 696, so the start-based test applies to it instead).
- `gap_ratio = 0.9`: "training loss as high as validation loss": within 10% of it (or above it).
- `tail_fraction = 0.25`, `alpha = 0.05`, `flat_tol = 0.02`: stopped = no significant fall over the last quarter,
  or a fall over it that is not surely 2% or more: the Theil-Sen slope's 95% confidence interval must imply at
  least 2% (its point estimate is not enough: on the synthetic plateaus noise put it at 2.5-3.0% in 6 of 100
  runs).
- `start_tail_fraction = 0.5`: with neither a chance level nor a validation loss the plateau must hold over the
  whole second half. Judged only against its own start, a long run that still drifts down (a T5 fine-tune falling 5% over its second half
  in small steps at epoch boundaries, a Mask2Former run over a noisy per-iteration log) is still learning, and a
  quarter of such a log does not show a fall that half of it does.

Not reported either while a validation task metric still surely improves over the same last stretch (its
Mann-Kendall trend in its better direction and a Theil-Sen gain of `flat_tol` or more): the loss flattened, the
model did not stop learning (a DeiT run continued with distillation whose loss moved 4.77 -> 4.74 while all three
top-1 accuracies rose every epoch).

Passing: a loss falling 2.3 -> 1.9 (ln(10) = 2.30 known) that is still falling; a fine-tune plateau at 0.43 with a
training loss of 0.2. Failing: train and validation losses flat at 2.05 and 2.10 after starting at 2.3, with ten
classes (89% of ln(10)).
- `broke_ratio = 1.5`: a loss that ends at 1.5x its smoothed minimum or more (I303's `min_ratio`), that surely rises
  by `flat_tol` or more over the window (I308's business), or that has non-finite values, is not judged: it broke (divergence, a NaN, a loss rising again) rather than failed to
  learn, and the advice to raise the learning rate would contradict the one to lower it.
- `min_points = 10`.
- `alone_severity = "info"`: a plateau judged against its start alone (one loss, no chance level) is an info
  finding: a from-scratch model stuck high and a pretrained fine-tune that converged from a good start look the
  same there (a Swahili CTC run at 71% of its start, a T5 fine-tune at 93%). Except when every plateau ended
  less than `flat_tol` below its start (the rule's own bar for a fall): the loss never improved at all, which no
  converging fine-tune does (a linear POS probe whose training loss wandered 2.6-4.0 above its first value of
  2.35; a music tagger whose validation-only log went 6.464 -> 6.453 in 50 epochs), so it keeps the rule's
  severity, unless a validation task metric gained `flat_tol` or more over the run (top-1 accuracy 69.6 -> 73.2
  under a loss that moved 4.77 -> 4.74: the model learned).
"""  # noqa: E501 - printed as written by `losslint rules`
from __future__ import annotations

import math
import re
from typing import Any, Iterator, Mapping

from ..findings import Finding
from ..view import RunView
from ._common import emit, num, pct

CODE = "U201"
NAME = "plateau-high"
CATEGORY = "underfitting"
DEFAULT_SEVERITY = "warning"
DEFAULTS = {"high_ratio": 0.7, "chance_fraction": 0.8, "gap_ratio": 0.9, "tail_fraction": 0.25, "alpha": 0.05,
            "flat_tol": 0.02, "broke_ratio": 1.5, "min_points": 10, "alone_severity": "info"}


def _surely_moved(trend, upward: bool, alpha: float, amount: float) -> bool:
    """Over a `tail_trend` window: a significant Mann-Kendall trend up (or down), and the Theil-Sen slope's whole
    confidence interval (its least steep end) implying a move of `amount` or more."""
    mk, fit, steps, _ = trend
    length = float(steps[-1] - steps[0])
    surely = fit.lo_slope * length if upward else -fit.hi_slope * length
    return mk.trend == ("increasing" if upward else "decreasing") and mk.p_value < alpha and surely >= amount


def _plateau(series, params, tail_fraction: float) -> tuple[float, float] | None:
    """(start level, end level) when the series ends flat over its last `tail_fraction`, else None."""
    trend = series.tail_trend(tail_fraction, min_points=5)
    if trend is None:
        return None
    start, end = series.head_level(), series.tail_level()
    if start <= 0 or end <= 0:
        return None
    rising = _surely_moved(trend, True, params["alpha"], params["flat_tol"] * end)
    if series.n_total > series.n or rising or end >= params["broke_ratio"] * float(series.smoothed.min()):
        # A loss that turned NaN, is rising, or went back up to 1.5x its best and stayed, broke (D001, I308, I303):
        # that is not a model too weak to learn, and "raise the learning rate" would be the wrong advice.
        return None
    # Stopped improving: no significant fall over the window, or a fall too small to matter (a drift up is
    # "not improving" too; I308 judges a real rise).
    # The fall must be material with confidence: the slope's whole confidence interval (its least steep end,
    # hi_slope) must imply a fall of at least `flat_tol`. A point estimate of 2.5-3% over a noisy window can come
    # from a true fall of under 1%.
    if _surely_moved(trend, False, params["alpha"], params["flat_tol"] * end):
        return None
    return start, end


def _still_improving(series, params) -> bool:
    """A validation task metric that surely gained `flat_tol` of its level or more over the last `tail_fraction`
    (Mann-Kendall in its better direction and the Theil-Sen slope's whole confidence interval), as `_plateau`'s
    "still falling" for a loss."""
    if series.direction is None or series.n < params["min_points"]:
        return False
    trend = series.tail_trend(params["tail_fraction"], min_points=5)
    if trend is None:
        return False
    level = abs(series.tail_level())
    return _surely_moved(trend, series.direction == "max", params["alpha"], params["flat_tol"] * max(level, 1e-12))


def _improved(series, share: float) -> bool:
    """A validation task metric whose end level is `share` of its start level or more better than its start."""
    if series.direction is None or series.n < 3:
        return False
    start, end = series.head_level(), series.tail_level()
    gain = end - start if series.direction == "max" else start - end
    return gain >= share * max(abs(start), 1e-12)


# A loss that starts above this many times ln(C) is not the C-way cross-entropy the chance level is about.
_CHANCE_START_FACTOR = 3.0
# The fewest validation points whose end level says whether there is a train/validation gap (a median of 3).
_GAP_MIN_EVALS = 3
_BINARY_METRIC = re.compile(r"(^|[/_.-])(auc|auroc|roc_auc|roc-auc|rocauc)($|[/_.-])")


def chance_level(view) -> tuple[float, str] | None:
    """(loss of a uniform guess, how it is known): ln(C) when the hyper-parameters give the number of classes,
    ln(2) when the run logs an ROC AUC (a binary task); None when the task does not say."""
    if view.num_classes:
        return math.log(view.num_classes), f"ln({view.num_classes})"
    if any(_BINARY_METRIC.search(m.lower()) for m in view.metrics):
        return math.log(2), "ln(2), a binary task"
    return _uniform_guess(view)


_ACCURACY_LEAF = re.compile(r"^(acc|accuracy)$")
# How close the loss must sit to ln(C), relative to it, and the accuracy to 1/C, for the pair to say "a uniform
# guess over C classes".
_GUESS_TOLERANCE = 0.05
_MAX_GUESS_CLASSES = 100


def _uniform_guess(view) -> tuple[float, str] | None:
    """ln(C) when the run's loss ends at ln(C) and its accuracy on the same split at 1/C, both within
    `_GUESS_TOLERANCE`: what a classifier that outputs the uniform distribution over C classes logs. Either number
    alone says nothing (any loss above ~2 is near some ln(C); an accuracy of 0.33 can be a learned 3% of 100
    classes); together they name C."""
    for loss, split in ((view.eval_loss, view.validation_split), (view.train_loss, "train")):
        if loss is None or loss.n < 2:
            continue
        level = loss.tail_level()
        if not math.log(1.5) < level < math.log(_MAX_GUESS_CLASSES + 0.5):
            continue
        classes = int(round(math.exp(level)))
        if not 2 <= classes <= _MAX_GUESS_CLASSES or abs(level - math.log(classes)) > _GUESS_TOLERANCE * math.log(
                classes):
            continue
        for metric in view.metrics:
            if not metric.startswith(f"{split}/") or not _ACCURACY_LEAF.match(metric.rsplit("/", 1)[-1].lower()):
                continue
            accuracy = view.series(metric)
            if accuracy is None or accuracy.n < 2:
                continue
            share = accuracy.tail_level() / (100.0 if accuracy.values.max() > 1.0 else 1.0)
            if abs(share - 1.0 / classes) <= _GUESS_TOLERANCE + 0.1 / classes:
                return math.log(classes), f"ln({classes}), the loss and {metric} of a uniform guess over {classes}"
    return None


def _describe(metric: str, start: float, end: float) -> str:
    if end > start:
        return f"{metric} ended at {num(end)}, above where it started ({num(start)}), and stopped moving"
    return f"{metric} stopped improving at {num(end)}, {pct(end / start)} of its start {num(start)}"


def check(view: RunView, params: Mapping[str, Any]) -> Iterator[Finding]:
    series_list = [s for s in (view.train_loss, view.eval_loss) if s is not None and s.n >= params["min_points"]]
    if not series_list:
        return
    chance = chance_level(view)
    ends: list[tuple[str, float, float]] = []
    for series in series_list:
        found = _plateau(series, params, params["tail_fraction"])
        if found is None:
            return
        ends.append((series.metric, *found))
    if chance is not None and any(start > _CHANCE_START_FACTOR * chance[0] for _, start, _ in ends):
        # A C-way cross-entropy starts near ln(C); a loss that starts far above it is another loss (a regression or
        # box loss beside the classifier's, a sum over tokens), and the chance level says nothing about it.
        chance = None
    # The gap needs only the validation loss's level at the end, not a curve long enough for a trend test.
    evals = view.eval_loss if view.eval_loss is not None and view.eval_loss.n >= _GAP_MIN_EVALS else None
    train = view.train_loss if view.train_loss is not None and view.train_loss.n >= params["min_points"] else None
    alone = chance is None and (evals is None or train is None)
    if chance is not None:
        # A loss well below chance has learned something: its plateau is convergence, whatever its start.
        if not all(end >= params["chance_fraction"] * chance[0] for _, _, end in ends):
            return
        why = f"at {pct(min(e for _, _, e in ends) / chance[0])} or more of chance level {chance[1]}={num(chance[0])}"
    else:
        if not all(end >= params["high_ratio"] * start for _, start, end in ends):
            return
        if train is not None and evals is not None and train.tail_level() < params["gap_ratio"] * evals.tail_level():
            # A train loss well below the validation loss: the model fits its training data; a high validation
            # plateau with a gap is a fine-tune that converged (or overfitting), not a model that cannot learn.
            return
        why = "close to where it started" + (" with no train/validation gap" if not alone else
                                             " (with one loss and no chance level this may also be a "
                                             "fine-tune that converged from a good start)")
    # "never improved": less than `flat_tol` below the start over the whole run, the rule's own bar for a fall
    if any(_still_improving(metric, params) for metric in view.task_metrics if metric.derived_from is None):
        # The loss stopped, but what the model is for still gets better: it has not stopped learning
        # (../shared/VERDICTS.md: underfitting is "the model stopped learning").
        return
    never_improved = all(end >= (1.0 - params["flat_tol"]) * start for _, start, end in ends) and not any(
        _improved(metric, params["flat_tol"]) for metric in view.task_metrics if metric.derived_from is None)
    parts = [_describe(metric, start, end) for metric, start, end in ends]
    main = series_list[0]
    yield emit(__name__, params, main.metric, int(main.steps[-1]),
               "; ".join(parts) + f": the model stopped learning {why} (underfitting); raise the learning rate, "
               "use a bigger model, check that every layer trains and labels match inputs",
               severity=params["alone_severity"] if alone and not never_improved else None)
