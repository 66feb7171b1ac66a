"""`[early-stop]` as one frozen dataclass: the strategy's name and the parameters of every strategy.

This is the one list of the configuration's early-stop keys: `config.py` reads a table into it field by field
(the `metadata` says how a field is checked), and `stopper()` builds the configured strategy from it. The
defaults are the strategies' own (`DefaultStop.k_sigma` is the default of `k_sigma`, and so on).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Callable

from .strategies import DefaultStop, PatienceStop, PrecheltGL, PrecheltPQ, PrecheltUP, StopStrategy

# How config.py checks a field: "name" (one of STRATEGIES), "count" (a positive integer), "number" (an int or a
# float, not a bool), "fraction" (a number between 0 and 1).
_NAME, _COUNT, _NUMBER, _FRACTION = ({"kind": k} for k in ("name", "count", "number", "fraction"))


@dataclass(frozen=True)
class EarlyStopSettings:
    # The strategy recommended stops come from (one of STRATEGIES).
    strategy: str = field(default="default", metadata=_NAME)
    # The patience of the patience strategies, and of the HF-callback baseline reported next to any strategy.
    patience: int = field(default=PatienceStop.patience, metadata=_COUNT)
    min_delta: float = field(default=PatienceStop.min_delta, metadata=_NUMBER)
    # The default strategy's parameters (see DefaultStop).
    smooth_window: int | None = field(default=DefaultStop.smooth_window, metadata=_NUMBER)
    smooth_fraction: float = field(default=DefaultStop.smooth_fraction, metadata=_FRACTION)
    k_sigma: float = field(default=DefaultStop.k_sigma, metadata=_NUMBER)
    min_relative_rise: float = field(default=DefaultStop.min_relative_rise, metadata=_NUMBER)
    min_points: int = field(default=DefaultStop.min_points, metadata=_NUMBER)
    converged_tolerance: float = field(default=DefaultStop.converged_tolerance, metadata=_FRACTION)
    min_converged_tail: float = field(default=DefaultStop.min_converged_tail, metadata=_FRACTION)
    # Prechelt's criteria: alpha of GL (default 5) or PQ (default 0.5); UP's s; the strip length of PQ and UP.
    alpha: float | None = field(default=None, metadata=_NUMBER)
    s: int = field(default=PrecheltUP.s, metadata=_NUMBER)
    strip: int = field(default=PrecheltUP.strip, metadata=_NUMBER)

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The configuration keys, `_` spelled (the TOML may write `-`)."""
        return tuple(f.name for f in fields(cls))

    def default_stop(self) -> DefaultStop:
        """The default strategy with these parameters (the task-metric hold uses it whatever the strategy)."""
        return DefaultStop(smooth_window=self.smooth_window, smooth_fraction=self.smooth_fraction,
                           k_sigma=self.k_sigma, min_relative_rise=self.min_relative_rise,
                           min_points=self.min_points, converged_tolerance=self.converged_tolerance,
                           min_converged_tail=self.min_converged_tail)

    def stopper(self) -> StopStrategy:
        """The configured strategy; the parameters of the other strategies are not used."""
        return STRATEGIES[self.strategy](self)


def _gl(s: EarlyStopSettings) -> StopStrategy:
    return PrecheltGL() if s.alpha is None else PrecheltGL(alpha=s.alpha)


def _pq(s: EarlyStopSettings) -> StopStrategy:
    return PrecheltPQ(strip=s.strip) if s.alpha is None else PrecheltPQ(alpha=s.alpha, strip=s.strip)


# The strategies by their configuration name.
STRATEGIES: dict[str, Callable[[EarlyStopSettings], StopStrategy]] = {
    "default": EarlyStopSettings.default_stop,
    "hf": lambda s: PatienceStop(mode="hf", patience=s.patience, min_delta=s.min_delta),
    "keras": lambda s: PatienceStop(mode="keras", patience=s.patience, min_delta=s.min_delta),
    "lightning": lambda s: PatienceStop(mode="lightning", patience=s.patience, min_delta=s.min_delta),
    "relative": lambda s: PatienceStop(mode="relative", patience=s.patience, min_delta=s.min_delta),
    "gl": _gl,
    "pq": _pq,
    "up": lambda s: PrecheltUP(s=s.s, strip=s.strip),
}
