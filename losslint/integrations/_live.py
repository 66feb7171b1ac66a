"""What the three callbacks share, free of any framework: the configured check of a run that is still training.

`LiveCheck` is given the run as read so far (a `Run` built by the callback in the schema the offline readers give),
after each evaluation. It runs the configured rules (`engine.check_run`, the same call `losslint check` makes),
logs each finding once, when it first appears, asks the online stop (`early_stop.OnlineStop`) whether the rise is
certain, and decides whether to stop training:

- `stop_on=None` (the default): advise only. The callback logs the findings and, once, that the online stop would
  stop here and which step to keep; training goes on.
- `stop_on="warning"` or `"error"`: stop when, at this evaluation, the online stop says stop (a sustained rise of
  the monitored metric after its best, or the metric non-finite for good) AND the configured rules report a
  finding at or above that severity. Both, because each alone is weaker: the rules judge the run so far (a
  validation loss that rose, a widening gap) but say nothing about whether it will come back; the online stop is
  the certainty that it will not, measured in benchmarks/quality.py. A finding without the online stop keeps
  training (logged); an online stop with no finding at that level keeps it too (logged once as advice).
  `"info"` stops on the online stop with any finding.

Each check re-reads the whole run so far (the rules need the whole curve). What that costs, one core of the
2-core dev machine: 55 ms after 1,000 training logs and 50 evaluations, 80 ms at 10,000 / 200, 150 ms plus 130 ms
to build the table at 100,000 / 500: small next to the evaluation pass it follows.

At train end, `finish` runs the same check as `losslint check` (plot marks included), writes the report bundle
when `report_dir` is given (`report.write_report`, what `check --report` writes) and returns the `Result`.
"""
from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping

from ..config import Config, coerce
from ..early_stop.online import OnlineDecision, OnlineStop
from ..engine import check_run
from ..errors import ConfigError
from ..findings import SEVERITIES, Finding, Result, severity_rank
from ..schema import Run
from ..view import RunView

LOGGER = logging.getLogger("losslint")
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

ConfigLike = Config | str | os.PathLike | Mapping[str, Any] | None


def missing_framework(extra: str, module: str) -> ImportError:
    import losslint

    return ImportError(f"losslint.integrations.{extra} needs {module}: install losslint with its `{extra}` extra, "
                       f"pip install \"losslint[{extra}] @ git+https://github.com/losslint/losslint@"
                       f"v{losslint.__version__}\"")


class LiveCheck:
    """The configured rules and the online stop on a run that grows (see the module docstring)."""

    def __init__(self, *, config: ConfigLike = None, monitor: str | None = None, stop_on: str | None = None,
                 report_dir: str | os.PathLike | None = None, online: OnlineStop | None = None,
                 sinks: tuple[Callable[[int, str], None], ...] = ()) -> None:
        if stop_on is not None and stop_on not in SEVERITIES:
            raise ConfigError(f"stop_on must be None or one of {', '.join(SEVERITIES)}, got {stop_on!r}")
        resolved = coerce(config, ())
        self.config: Config = replace(resolved, monitor=monitor) if monitor else resolved
        self.stop_on = stop_on
        self.report_dir = None if report_dir is None else Path(report_dir)
        self.online = online if online is not None else OnlineStop(strategy=self.config.early_stop.default_stop())
        self.sinks = sinks
        self.seen: set[tuple[str, str | None]] = set()
        self.decision: OnlineDecision | None = None
        self.stopped_at: int | None = None  # the step training was stopped at (None: not stopped)
        self.best_step: int | None = None  # the step to keep, as the online stop names it
        self.advised = False
        self.result: Result | None = None

    # -- messages ------------------------------------------------------------------------------------------
    def say(self, level: int, message: str) -> None:
        """To the `losslint` logger and the framework's own (`sinks`). With no logging configured (no handler up the
        `losslint` logger's hierarchy), the framework's logger alone speaks: Python's last-resort handler would print
        each warning a second time."""
        if not self.sinks or LOGGER.hasHandlers():
            LOGGER.log(level, message)
        for sink in self.sinks:
            sink(level, message)

    def _new_findings(self, findings: list[Finding]) -> None:
        for finding in findings:
            key = (finding.code, finding.metric)
            if key in self.seen:
                continue
            self.seen.add(key)
            where = f" at step {finding.step}" if finding.step is not None else ""
            self.say(_LEVELS.get(finding.severity, logging.INFO),
                     f"losslint: {finding.code} {finding.severity}{where}: {finding.message}")

    # -- after each evaluation ------------------------------------------------------------------------------
    def update(self, run: Run, step: int) -> bool:
        """Check the run read so far; True when training should stop now (see the module docstring)."""
        result = check_run(run, self.config, annotate=False)
        self._new_findings(result.findings)
        metric, decision = self.online.decide_run(RunView(run, monitor=self.config.monitor), self.config.monitor)
        self.decision = decision
        if not decision.stop or self.stopped_at is not None:
            return False
        self.best_step = decision.best_step
        level = self.stop_on
        backed = level is not None and any(severity_rank(f.severity) >= severity_rank(level) for f in result.findings)
        if backed:
            self.stopped_at = step
            self.say(logging.WARNING, f"losslint: stopping training at step {step}: {metric} {decision.reason}; "
                                      f"keep the checkpoint of step {decision.best_step} (the best evaluation)")
            return True
        if not self.advised:
            self.advised = True
            why = ("stop_on is not set (advise only)" if level is None
                   else f"no finding at or above {level} yet, training goes on")
            self.say(logging.WARNING, f"losslint: the online stop would stop at step {step} ({metric}: "
                                      f"{decision.reason}); best step {decision.best_step}; {why}")
        return False

    # -- at train end ---------------------------------------------------------------------------------------
    def finish(self, run: Run) -> Result:
        """The same Result as `losslint check` on the saved logs; the report bundle when `report_dir` is set."""
        result = check_run(run, self.config, annotate=True)
        self._new_findings(result.findings)
        self.result = result
        if self.report_dir is not None:
            from ..report import ReportOptions, write_report

            written = write_report([result], [], self.report_dir, ReportOptions(fail_on=self.config.fail_on))
            self.say(logging.INFO, f"losslint: report written to {written}")
        self.say(logging.INFO, f"losslint: {run.name}: {result.verdict}, {len(result.findings)} finding(s)")
        return result


class LiveResults:
    """What every framework's callback exposes from its `live` check (a mixin before the framework's base class)."""

    live: LiveCheck

    @property
    def result(self):
        return self.live.result

    @property
    def best_step(self) -> int | None:
        return self.live.best_step

    @property
    def stopped_at(self) -> int | None:
        return self.live.stopped_at


def lazy_callback(module: str, build: Callable[[], type]) -> Callable[[str], Any]:
    """A module `__getattr__` that builds `LosslintCallback` on first access (its base class needs the framework,
    which only then is imported) and keeps it: `__getattr__ = lazy_callback(__name__, _build)`."""
    built: dict[str, type] = {}

    def module_getattr(name: str) -> Any:
        if name == "LosslintCallback":
            if name not in built:
                built[name] = build()
            return built[name]
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return module_getattr

