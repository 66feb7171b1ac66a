"""Early stop: where a run should have stopped, and what the classic callbacks would have done.

- `strategies`: the numeric part. Each strategy is a small frozen class whose parameters are keywords
  (`DefaultStop(k_sigma=3.0)`, `PatienceStop(mode="keras", patience=5)`, `PrecheltGL(alpha=5.0)`,
  `PrecheltPQ(alpha=0.5, strip=5)`, `PrecheltUP(s=3, strip=5)`) and whose `decide(steps, values, direction)`
  returns a `StopDecision`; plus the callback replays (`patience_stop`, `prechelt_*`), `baseline_stops`,
  `best_until` and `saved_fraction`.
- `settings`: `EarlyStopSettings`, the `[early-stop]` configuration table as one frozen dataclass.
- `policy`: the stop of one run (`build_early_stop`): the monitored metric, the task-metric hold, the findings'
  override and the baselines.
- `online`: `OnlineStop(min_evals=8, confirm_evals=3, nonfinite_evals=2)`, the default strategy made causal for a
  run still training (the training callbacks of `losslint.integrations` use it): fed the evaluations seen so far,
  it stops only on a confirmed rise or a lasting non-finite metric, and names the step to restore.
"""
from ..findings import Trigger
from .online import OnlineDecision, OnlineStop
from .policy import build_early_stop, hold_for_task_metrics, monitored_series
from .settings import STRATEGIES, EarlyStopSettings
from .strategies import (
    BASELINES,
    DefaultStop,
    PatienceStop,
    PrecheltGL,
    PrecheltPQ,
    PrecheltUP,
    StopDecision,
    StopStrategy,
    baseline_stops,
    best_until,
    converged_position,
    patience_stop,
    prechelt_gl,
    prechelt_pq,
    prechelt_up,
    saved_fraction,
)

__all__ = [
    "BASELINES", "STRATEGIES", "DefaultStop", "EarlyStopSettings", "OnlineDecision", "OnlineStop", "PatienceStop",
    "PrecheltGL", "PrecheltPQ", "PrecheltUP", "StopDecision", "StopStrategy", "Trigger", "baseline_stops",
    "best_until", "build_early_stop", "converged_position", "hold_for_task_metrics", "monitored_series",
    "patience_stop", "prechelt_gl", "prechelt_pq", "prechelt_up", "saved_fraction",
]
