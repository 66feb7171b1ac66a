"""What checks produce and reporters format: `Finding`, `Result`, severities and the verdict precedence."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .schema import Run

SEVERITIES = ("info", "warning", "error")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    severity: str
    metric: str | None
    step: int | None
    message: str
    category: str = ""  # integrity | overfitting | underfitting | instability | task-metric

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "severity": self.severity, "metric": self.metric,
                "step": self.step, "message": self.message}


# What made a recommended stop due: "rise" (sustained rise after the best), "non-finite" (the metric broke for
# good), "converged" (the rest of the run improved the metric by less than the tolerance), "findings" (the
# verdict's findings stood in for the default strategy's own test), "callback" (a patience/Prechelt strategy's stop).
Trigger = Literal["rise", "non-finite", "converged", "findings", "callback"]


@dataclass
class EarlyStop:
    """The recommended stop on the monitored metric."""

    metric: str
    strategy: str
    best_step: int | None
    recommended_stop_step: int | None  # None: no early stop recommended (keep training or the run ended well)
    value_at_best: float | None = None
    value_at_stop: float | None = None
    value_at_end: float | None = None
    saved_fraction: float = 0.0
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)  # e.g. "hf_patience_3": {"stop_step": ...}
    reason: str | None = None  # why the strategy stopped (or did not), in words
    trigger: Trigger | None = None  # what made the stop due (see `Trigger`); None: no stop

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def cause(self) -> str | None:
        """Why the stop is recommended, in a few words for reports (None without a stop)."""
        if self.recommended_stop_step is None:
            return None
        return _CAUSES.get(self.trigger or "", f"{self.strategy} strategy")


_CAUSES: dict[str, str] = {
    "rise": "the metric rose after its best and stayed up",
    "non-finite": "the metric turned NaN/inf for good",
    "converged": "converged: the later steps improved the metric by less than the tolerance",
    "findings": "the findings call for it (overfitting or divergence)",
    "callback": "the configured callback would have stopped here",
}


@dataclass
class Result:
    """Everything known about one checked run. Reporters format this and nothing else."""

    run: Run
    verdict: str
    findings: list[Finding]
    early_stop: EarlyStop | None = None
    # Per-metric annotations for plots: {"eval/loss": {"change_points": [steps], "spikes": [steps], ...}}
    annotations: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def monitored_metric(self) -> str | None:
        return self.early_stop.metric if self.early_stop else None

    @property
    def best_step(self) -> int | None:
        return self.early_stop.best_step if self.early_stop else None

    @property
    def recommended_stop_step(self) -> int | None:
        return self.early_stop.recommended_stop_step if self.early_stop else None

    @property
    def saved_fraction(self) -> float:
        return self.early_stop.saved_fraction if self.early_stop else 0.0

    def worst_severity(self) -> str | None:
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=severity_rank)

    def as_dict(self) -> dict[str, Any]:
        """The `--format json` contract for one run (extra keys may be added, none removed or renamed)."""
        return {
            "run": self.run.name,
            "format": self.run.format,
            "verdict": self.verdict,
            "monitored_metric": self.monitored_metric,
            "best_step": self.best_step,
            "recommended_stop_step": self.recommended_stop_step,
            "saved_fraction": round(float(self.saved_fraction), 6),
            "findings": [f.as_dict() for f in self.findings],
            "early_stop": self.early_stop.as_dict() if self.early_stop else None,
            "notes": list(self.run.notes),
        }
