"""Where a run should have stopped: the default (smoothing + noise) strategy and the classic baselines."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StopDecision:
    best_index: int | None  # index of the best evaluation (of the smoothed curve for "default")
    stop_index: int | None  # None: no early stop recommended
    strategy: str


def metric_direction(name: str) -> str:
    """"min" for losses/errors (loss, perplexity, wer, cer, error), "max" for scores (accuracy, f1, ...)."""
    raise NotImplementedError


def patience_stop(values: np.ndarray, patience: int, *, min_delta: float = 0.0, mode: str = "hf",
                  direction: str = "min") -> int | None:
    """Index of the evaluation at which a patience callback stops training (None: it never stops).

    mode "hf" (transformers EarlyStoppingCallback), "keras" (keras EarlyStopping), "lightning"
    (Lightning EarlyStopping) or "relative" (min_delta as a fraction of |best|).
    """
    raise NotImplementedError


def prechelt_gl(values: np.ndarray, alpha: float = 5.0) -> int | None:
    """Prechelt's GL_alpha: stop when 100*(E_va/E_opt - 1) > alpha."""
    raise NotImplementedError


def prechelt_pq(val_values: np.ndarray, train_steps: np.ndarray, train_values: np.ndarray, eval_steps: np.ndarray,
                alpha: float = 0.5, strip: int = 5) -> int | None:
    """Prechelt's PQ_alpha: stop when GL(t) / P_k(t) > alpha at the end of a strip of k evaluations."""
    raise NotImplementedError


def prechelt_up(values: np.ndarray, s: int = 3, strip: int = 5) -> int | None:
    """Prechelt's UP_s: stop when the validation error rose in s successive strips."""
    raise NotImplementedError


def recommend(steps: np.ndarray, values: np.ndarray, direction: str = "min", *, strategy: str = "default",
              **params) -> StopDecision:
    """Recommended early stop on one monitored metric."""
    raise NotImplementedError


BASELINES = ("hf_patience_1", "hf_patience_3", "hf_patience_5", "keras_patience_5", "lightning_patience_3",
             "prechelt_gl5", "prechelt_pq0.5", "prechelt_up3")


def baseline_stops(steps: np.ndarray, values: np.ndarray, direction: str = "min", train_steps: np.ndarray | None = None,
                   train_values: np.ndarray | None = None) -> dict[str, int | None]:
    """Stop index for every baseline in BASELINES (None: never stops)."""
    raise NotImplementedError


def saved_fraction(steps: np.ndarray, stop_index: int | None) -> float:
    """Share of the run's steps after the stop step: (last - stop) / (last - first); 0 when no stop."""
    raise NotImplementedError
