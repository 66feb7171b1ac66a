"""What checks produce and reporters format: `Finding`, `Result`, severities and the verdict precedence."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
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
    # A finding that stands for a family of metrics (per-entity, per-class, per-eval-set) names every member here;
    # `metric` is then the member whose finding is shown. Empty for a finding on one metric.
    members: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "name": self.name, "severity": self.severity, "metric": self.metric,
               "step": self.step, "message": self.message}
        if self.members:
            out["members"] = list(self.members)
        return out


# A family needs this many members before its findings are merged: two metrics are just two metrics.
MIN_FAMILY = 3
_SEPARATORS = re.compile(r"([/_.\- ]+)")


def _tokens(metric: str) -> list[str]:
    return _SEPARATORS.split(metric)


def family_pattern(metrics: Sequence[str]) -> str | None:
    """`eval/*_f1` for `eval/LOC_f1`, `eval/PER_f1`, ...: the metrics' shared name with the one part in which they
    differ starred; None when they differ in more than one part (or in the number of parts)."""
    split = [_tokens(m) for m in metrics]
    if len({len(t) for t in split}) != 1:
        return None
    differing = [i for i in range(len(split[0])) if len({t[i] for t in split}) > 1]
    if len(differing) != 1:
        return None
    pattern = list(split[0])
    pattern[differing[0]] = "*"
    return "".join(pattern)


def _stem(metric: str) -> str:
    """`test/loss` for `test/loss_ce_0_unscaled`: the metric's folders and the first word of its leaf."""
    head, sep, leaf = metric.rpartition("/")
    return f"{head}{sep}{_SEPARATORS.split(leaf)[0]}"


def _group_variants(findings: Sequence[Finding], leads: Mapping[int, Finding], min_family: int) -> list[Finding]:
    """The findings of one code on variants of one metric (DETR's `test/loss`, `test/loss_ce`, `test/loss_ce_0`, ...
    `test/loss_bbox_4_unscaled`: per-layer and scaled copies of one loss) become one finding: the most severe, and
    among those the one on the shortest name (the total), with every member named. A family finding joins when all
    its members are variants of the stem; `leads` gives a family finding's own (unprefixed) lead finding."""
    by_stem: dict[tuple[str, str], list[int]] = {}
    for index, finding in enumerate(findings):
        if finding.metric is None:
            continue
        stems = {_stem(name) for name in finding.members or (finding.metric,)}
        if len(stems) == 1:
            by_stem.setdefault((finding.code, stems.pop()), []).append(index)
    merged: dict[int, Finding] = {}
    dropped: set[int] = set()
    for (_code, stem), indices in by_stem.items():
        names = tuple(name for i in indices for name in findings[i].members or (findings[i].metric or "",))
        if len(indices) < 2 or len(names) < min_family or len(set(names)) != len(names):
            continue
        lead = min((leads.get(i, findings[i]) for i in indices),
                   key=lambda f: (-severity_rank(f.severity), len(f.metric or ""), f.metric or ""))
        text = (f"{len(names)} variants of {stem} ({', '.join(names[:6])}{', ...' if len(names) > 6 else ''}); "
                f"shown: {lead.message}")
        merged[indices[0]] = replace(lead, message=text, members=names)
        dropped.update(indices[1:])
    return [merged.get(i, f) for i, f in enumerate(findings) if i not in dropped]


def group_findings(findings: Sequence[Finding], min_family: int = MIN_FAMILY) -> list[Finding]:
    """One finding per rule and metric family: the findings of one code whose metrics differ in one name part only
    (`eval/t005_f1`, `eval/t028_f1`, ...; per-entity, per-class and per-eval-set metrics) become the most severe
    member's finding, its message prefixed with the family and its members named in `members`. Families of fewer
    than `min_family` metrics, and findings without a metric, stay as they are. Order is kept (a merged finding
    takes its first member's place). Variants of one metric (`test/loss`, `test/loss_ce_0`, ...) left over are merged
    next (`_group_variants`)."""
    by_code: dict[tuple[str, int], list[int]] = {}
    for index, finding in enumerate(findings):
        if finding.metric is not None and not finding.members:
            by_code.setdefault((finding.code, len(_tokens(finding.metric))), []).append(index)
    merged: dict[int, Finding] = {}
    leads: dict[int, Finding] = {}
    dropped: set[int] = set()
    for indices in by_code.values():
        remaining = list(indices)
        while len(remaining) >= min_family:
            # the largest set of metrics that differ from each other in one and the same name part
            best: list[int] = []
            for position in range(len(_tokens(findings[remaining[0]].metric or ""))):
                keys: dict[tuple[str, ...], list[int]] = {}
                for i in remaining:
                    parts = _tokens(findings[i].metric or "")
                    keys.setdefault(tuple(parts[:position] + parts[position + 1:]), []).append(i)
                group = max(keys.values(), key=len)
                if len(group) > len(best):
                    best = group
            if len(best) < min_family:
                break
            members = [findings[i] for i in best]
            lead = max(members, key=lambda f: severity_rank(f.severity))
            names = tuple(f.metric or "" for f in members)
            pattern = family_pattern(names) or lead.metric
            text = (f"{len(members)} metrics of the family {pattern} ({', '.join(names[:6])}"
                    f"{', ...' if len(names) > 6 else ''}); the worst: {lead.message}")
            merged[best[0]] = replace(lead, message=text, members=names)
            leads[best[0]] = lead
            dropped.update(best[1:])
            remaining = [i for i in remaining if i not in best]
    kept = [i for i in range(len(findings)) if i not in dropped]
    return _group_variants([merged.get(i, findings[i]) for i in kept],
                           {position: leads[i] for position, i in enumerate(kept) if i in leads}, min_family)


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
    # the stop is the monitored metric's first evaluation (the run was never better after it)
    at_first_evaluation: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def cause(self) -> str | None:
        """Why the stop is recommended, in a few words for reports (None without a stop)."""
        if self.recommended_stop_step is None:
            return None
        cause = _CAUSES.get(self.trigger or "", f"{self.strategy} strategy")
        return f"{cause}; at the first evaluation" if self.at_first_evaluation else cause


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
    # the run's PNG when a check worker drew it already (`check_paths(plot_dir=...)`); the report moves it in place
    plot: str | None = None

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

    def __repr__(self) -> str:
        stop = self.recommended_stop_step
        return (f"Result(run={self.run.name!r}, verdict={self.verdict!r}, findings={len(self.findings)}, "
                f"stop={stop!r}, saved_fraction={round(float(self.saved_fraction), 3)})")

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
            "path": self.run.path,
            # the tracker's own run id and display name (W&B, MLflow), null for other formats
            "run_id": self.run.run_id,
            "display_name": self.run.display_name,
        }


class Runs(list):
    """What `losslint.load` returns: the runs read, as a plain list, with the inputs that could not be read in
    `.errors`."""

    def __init__(self, runs=(), errors=()):
        super().__init__(runs)
        self.errors = list(errors)

    def __repr__(self) -> str:
        return f"Runs({len(self)} run(s): {[run.name for run in self[:5]]}{' ...' if len(self) > 5 else ''}; " \
               f"{len(self.errors)} error(s))"


class Report(list):
    """What `losslint.check` returns: one `Result` per run, usable as the list of results it was before (iterate,
    `len`, index), plus `.results` and `.errors` (the inputs that could not be read, as `ReadError`s)."""

    def __init__(self, results=(), errors=()):
        super().__init__(results)
        self.errors = list(errors)

    @property
    def results(self) -> list[Result]:
        return list(self)

    @property
    def ok(self) -> bool:
        """No unreadable input and no finding at warning or above (the CLI's exit code 0 at its default)."""
        return not self.errors and all(
            severity_rank(f.severity) < severity_rank("warning") for r in self for f in r.findings)

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for result in self:
            counts[result.verdict] = counts.get(result.verdict, 0) + 1
        verdicts = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        return f"Report({len(self)} run(s){': ' + verdicts if verdicts else ''}; {len(self.errors)} error(s))"
