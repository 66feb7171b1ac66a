"""The rule registry. One module per rule; each module defines

- `CODE` (``D001``), `NAME` (``non-finite-loss``), `CATEGORY`, `DEFAULT_SEVERITY`, `DEFAULTS` (its parameters),
- a module docstring that is its documentation (what it detects, why it matters, what to do, where each default
  threshold comes from; `losslint rules CODE` prints it),
- `check(view, params) -> Iterable[Finding]` where `view` is a `losslint.view.RunView`.

Codes by category (the first letter): D data integrity, O overfitting, U underfitting, I instability,
T task metrics. Codes are stable: a rule that goes away leaves its code unused, and a rule that moves to another
category keeps its old code as a redirect (`REDIRECTS`, as ruff does): configurations, `--select`/`--ignore` and
`losslint rules` accept the old code and mean the new one.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Iterable

from ..findings import SEVERITIES, Finding

CATEGORIES = {
    "D": "integrity",
    "O": "overfitting",
    "U": "underfitting",
    "I": "instability",
    "T": "task-metric",
}

RULE_MODULES = (
    "d001_non_finite_loss",
    "d002_step_regression",
    "d003_no_validation",
    "d004_too_few_evals",
    "d005_dead_metric",
    "d006_stalled_training",
    "o101_val_loss_rising",
    "o102_gap_widening",
    "o103_task_metric_degrading",
    "o104_val_worse_from_start",
    "u201_plateau_high",
    "u202_not_converged",
    "u204_frozen_predictions",
    "i301_noisy_loss",
    "i302_loss_spikes",
    "i303_divergence",
    "i304_grad_norm_spikes",
    "i305_lr_instability",
    "i306_validation_unstable",
    "i307_loss_excursion",
    "i308_train_loss_rising",
    "t401_best_step_disagreement",
)


# old code -> current code. U203 (training loss rising) was filed under underfitting until 0.2: VERDICTS.md calls
# a loss that climbs back up instability (or divergence), never underfitting, which is a plateau.
REDIRECTS = {"U203": "I308"}


def redirected(code: str) -> str:
    """The current code of `code` (itself unless it moved)."""
    return REDIRECTS.get(code.upper(), code)


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    category: str
    default_severity: str
    defaults: dict[str, Any]
    doc: str
    check: Callable[..., Iterable[Finding]]

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0] if self.doc.strip() else ""


def _rule_from_module(module: ModuleType) -> Rule:
    severity = module.DEFAULT_SEVERITY
    if severity not in SEVERITIES:
        raise ValueError(f"{module.__name__}: DEFAULT_SEVERITY {severity!r} is not one of {SEVERITIES}")
    return Rule(code=module.CODE, name=module.NAME, category=module.CATEGORY, default_severity=severity,
                defaults=dict(module.DEFAULTS), doc=module.__doc__ or "", check=module.check)


_RULES: dict[str, Rule] | None = None


def all_rules() -> dict[str, Rule]:
    """Every rule by code, by category (D, O, U, I, T) then code."""
    global _RULES
    if _RULES is None:
        rules = [_rule_from_module(importlib.import_module(f"{__name__}.{m}")) for m in RULE_MODULES]
        order = list(CATEGORIES)
        _RULES = {r.code: r for r in sorted(rules, key=lambda r: (order.index(r.code[0]), r.code))}
    return _RULES


def rule(code_or_name: str) -> Rule:
    """A rule by its code (``O101``) or its name (``val-loss-rising``); KeyError when there is none."""
    rules = all_rules()
    key = redirected(code_or_name.strip())
    if key.upper() in rules:
        return rules[key.upper()]
    for r in rules.values():
        if r.name == key.lower():
            return r
    raise KeyError(code_or_name)
