"""The stop recommended for one run: which metric is watched, the configured strategy on it, the task-metric
hold, the findings' override and the callback baselines reported next to it."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import numpy as np

from ..findings import EarlyStop, Trigger
from ..metrics import EVAL_LOSS, direction_or_min, is_perplexity, metric_leaf
from ..view import RunView, SeriesView
from .settings import EarlyStopSettings
from .strategies import StopDecision, baseline_stops, best_until, patience_stop, saved_fraction

# COCO's primary detection metric, AP averaged over IoU 0.5:0.95, before AP at IoU 0.5 (names as canonicalised:
# Ultralytics `metrics/mAP_0.5:0.95` / `metrics/mAP50-95(B)`, detectron2 `bbox/AP`).
_PRIMARY_TASK_METRIC = re.compile(r"map_?0?\.?5:0?\.?95|map50-95|map_?50-95|/ap$|/map$")


def _component_losses_only(view: RunView) -> bool:
    """Validation losses that are parts of an objective never logged whole (YOLO's `val/box_loss`, `val/obj_loss`,
    `val/cls_loss`): no single one of them is what the run optimises, so none is the curve to stop on."""
    return (view.series(EVAL_LOSS) is None and len(view.eval_losses) >= 2
            and all(metric_leaf(v.metric) != "loss" for v in view.eval_losses))


def monitored_series(view: RunView, monitor: str) -> SeriesView | None:
    """The configured monitor if the run has it, else the validation loss, else a validation metric whose
    direction is known (accuracy, WER, ...).

    A run whose validation loss is only logged in parts (box, objectness and class losses, and no total) is
    watched on its primary validation task metric instead, when it logs one: that is what such frameworks keep
    checkpoints by (YOLOv5/v8 keep `best.pt` by a fitness of 0.9 mAP@0.5:0.95 + 0.1 mAP@0.5, detectron2 by AP),
    and the parts can turn at different steps (objectness rising while the box loss still falls)."""
    series = view.series(monitor)
    if series is not None and series.n >= 1:
        return series
    if _component_losses_only(view):
        tasks = [m for m in view.task_metrics if m.derived_from is None and m.n >= 1]
        tasks.sort(key=lambda m: _PRIMARY_TASK_METRIC.search(m.metric) is None)
        if tasks:
            return tasks[0]
    if view.eval_loss is not None and view.eval_loss.n >= 1:
        return view.eval_loss
    for metric in view.task_metrics:
        if metric.derived_from is None and metric.n >= 1:
            return metric
    return None


def _step_of(steps: np.ndarray, index: int | None) -> int | None:
    return None if index is None else int(steps[int(index)])


def hold_for_task_metrics(view: RunView, monitored: SeriesView, decision: StopDecision, steps: np.ndarray,
                          values: np.ndarray, direction: str, settings: EarlyStopSettings) -> StopDecision:
    """A convergence stop on the monitored metric, held until the validation task metrics (accuracy, ROUGE, WER,
    ...) have converged too: a loss that flattened while ROUGE kept climbing is no reason to stop. A task metric
    still improving beyond the tolerance at the end cancels the stop; one that converged later moves it there.
    Left out: metrics with too few evaluations to judge (fewer than the strategy's `min_points`), and perplexity,
    logged or derived: it is exp(loss) of the same evaluation, whose relative changes are the loss's absolute ones,
    so holding on it would turn the relative tolerance into an absolute one. A metric that peaked and declined does
    not hold the stop (T401 reports that)."""
    assert decision.stop_index is not None
    stopper = settings.default_stop()
    latest, waited_for = int(steps[decision.stop_index]), []
    for metric in view.task_metrics:
        if (metric.derived_from is not None or metric.metric == monitored.metric or metric.n < stopper.min_points
                or is_perplexity(metric.metric)):
            continue
        own = stopper.decide(metric.all_steps, metric.all_values, direction_or_min(metric.metric))
        if own.stop_index is None:
            return replace(decision, stop_index=None, trigger=None,
                           reason=f"{decision.reason}; but {metric.metric} was still improving at the end, so no stop")
        if own.trigger == "converged" and int(metric.all_steps[own.stop_index]) > latest:
            latest = int(metric.all_steps[own.stop_index])
            waited_for.append(metric.metric)
    if not waited_for:
        return decision
    index = int(np.searchsorted(steps, latest, side="left"))
    if index >= len(steps) - 1:
        return replace(decision, stop_index=None, trigger=None,
                       reason=f"{decision.reason}; but {waited_for[-1]} converged only at the end, so no stop")
    return replace(decision, stop_index=index, best_index=best_until(values, index, direction),
                   reason=f"{decision.reason}; held until step {int(steps[index])}, where {waited_for[-1]} "
                          f"converged too")


def build_early_stop(view: RunView, settings: EarlyStopSettings | None = None, monitor: str | None = None, *,
                     overfitting: bool = False, diverged: bool = False) -> EarlyStop | None:
    """The recommended stop on the monitored metric (`monitor`, default the view's), with what the classic
    callbacks would have done.

    When the run is judged overfitting, or diverged by I303, but the default strategy saw no sustained rise (short
    or noisy validation curves, a blow-up on the training loss), the findings stand in for that test and the stop
    goes to the smoothed best, where the default puts any due stop (unless that is the last evaluation). For
    overfitting with another strategy, or without such a best, the stop of the HF patience callback
    (`[early-stop] patience`) is recommended, so that a run the findings call overfitting always comes with a stop
    when any callback would have stopped it.
    The default strategy is given the non-finite evaluations as well, so that a metric that turns NaN/inf for good
    gets its stop before the break; the baselines see the finite evaluations, as before.
    A run with no validation curve is watched on its training loss when I303 says it diverged (and only then:
    a training loss says nothing about overfitting), so that a broken train-only run still gets its stop.
    """
    settings = settings if settings is not None else EarlyStopSettings()
    series = monitored_series(view, view.monitor if monitor is None else monitor)
    if series is None and diverged and view.train_loss is not None and view.train_loss.n >= 1:
        # No validation curve, but the training loss broke (I303): every step after the break is wasted, and
        # ../shared/VERDICTS.md puts the stop "before a break, at the best finite evaluation before it"; the
        # training loss is the only curve that says where that is.
        series = view.train_loss
    if series is None:
        return None
    steps, values = series.steps, series.values
    direction = direction_or_min(series.metric)
    is_default = settings.strategy == "default"
    patience = settings.patience
    train = view.train_loss
    train_steps = train.steps if train is not None and train.n >= 2 else None
    train_values = train.values if train is not None and train.n >= 2 else None
    # The default strategy sees the non-finite evaluations too: a metric that turns NaN/inf for good is a run that
    # broke, and the stop must come before it (the finite-only `values` would hide that).
    decision_steps, decision_values = (series.all_steps, series.all_values) if is_default else (steps, values)
    decision = settings.stopper().decide(decision_steps, decision_values, direction, train_steps=train_steps,
                                         train_values=train_values)
    if decision.trigger == "converged":
        decision = hold_for_task_metrics(view, series, decision, decision_steps, decision_values, direction, settings)
    stops: dict[str, int | None] = dict(baseline_stops(steps, values, direction, train_steps, train_values))
    stops.setdefault(f"hf_patience_{patience}", patience_stop(values, patience, mode="hf", direction=direction))
    span = run_span(view, decision_steps)
    baselines: dict[str, dict[str, Any]] = {}
    for name, index in stops.items():
        baselines[name] = {"stop_step": _step_of(steps, index), "stop_index": None if index is None else int(index),
                           "saved_fraction": round(float(saved_fraction(steps, index, span)), 6)}
    best_index, stop_index, used = decision.best_index, decision.stop_index, decision.strategy
    reason = decision.reason or None
    trigger: Trigger | None = decision.trigger if is_default else "callback" if stop_index is not None else None
    fallback = stops[f"hf_patience_{patience}"]
    rest = decision.rest_index
    judged = "overfitting" if overfitting else "diverged" if diverged and is_default else None
    overridable = stop_index is None or trigger == "converged"
    if judged and overridable and rest is not None and rest < len(decision_values) - 1:
        # The findings established what the default's own test could not (too few or too noisy evaluations, or a
        # blow-up seen on the training loss): the stop goes where that strategy puts any due stop, the smoothed best.
        # That also replaces a convergence stop: an overfitting or diverged run is to be kept at its best.
        stop_index, used, trigger = int(rest), "default", "findings"
        if decision.trigger == "converged":  # its best is the best up to the convergence point; keep the run's best
            best_index = best_until(decision_values, int(rest), direction)
        reason = (f"the findings call the run {judged} ({decision.no_rise or decision.reason}); "
                  f"stop at the smoothed best")
    elif overfitting and stop_index is None and fallback is not None:
        stop_index, used = int(fallback), f"hf_patience_{patience}"
        best_index = best_until(values, stop_index, direction)
        decision_steps, decision_values = steps, values
        reason = f"the findings call the run overfitting; HF patience {patience} stop"
        trigger = "callback"
    at_first = stop_index is not None and int(decision_steps[stop_index]) == int(decision_steps[0])
    if at_first:
        reason = (f"{reason}; " if reason else "") + (
            f"the stop is the first evaluation (step {int(decision_steps[0])}): the metric was never better later; "
            f"the share saved counts the steps after it of the run's steps {span[0]}..{span[1]}")
    return EarlyStop(
        metric=series.metric,
        strategy=used,
        best_step=_step_of(decision_steps, best_index),
        recommended_stop_step=_step_of(decision_steps, stop_index),
        value_at_best=None if best_index is None else float(decision_values[best_index]),
        value_at_stop=None if stop_index is None else float(decision_values[stop_index]),
        value_at_end=float(values[-1]) if len(values) else None,
        saved_fraction=float(saved_fraction(decision_steps, stop_index, span)),
        baselines=baselines,
        reason=reason,
        trigger=trigger,
        at_first_evaluation=at_first,
    )


def run_span(view: RunView, steps: np.ndarray) -> tuple[int, int]:
    """The run's first and last step over all its metrics (and the monitored steps): what `saved_fraction` counts
    over, so that a stop at the first evaluation does not save "100%" of a run that trained before it."""
    # Judged metrics only: Keras' `evaluation_*_vs_iterations` repeat the epoch curves on an iteration axis, so their
    # steps (thousands) against epoch steps made every stop "save 100%".
    span = view.judged_step_span
    if span is None:
        return int(steps[0]), int(steps[-1])
    return min(span[0], int(steps[0])), max(span[1], int(steps[-1]))
