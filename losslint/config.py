"""Configuration: `[tool.losslint]` in `pyproject.toml` or a `losslint.toml`, presets from `rules/`.

Where it comes from (first found wins):
1. `--config FILE` (a `losslint.toml`, whose top level is the losslint table, or a `pyproject.toml`);
2. searching upward from the working directory: in each directory `losslint.toml`, then `pyproject.toml` with a
   `[tool.losslint]` table;
3. the `default` preset.

Never from inside the checked trees: a run folder is data, and a `losslint.toml` committed in it must not be able to
switch rules off or change the fail level of the gate that checks it. (Checking `.` from a project's root still uses
the project's own configuration: the working directory is the user's choice.)

A configuration `extends` a preset (`"default"`, `"strict"`, `"relaxed"`, shipped in `rules/`) or another `.toml`
file (relative to the file that names it); without `extends` it extends `"default"`. Keys (`-` and `_` are the same):

```toml
[tool.losslint]
extends = "default"
select = ["ALL"]             # codes, prefixes ("O", "U2") or rule names; most specific selector wins (as ruff)
ignore = ["T401"]
extend-select = []
fail-on = "warning"          # info | warning | error
monitor = "eval/loss"        # the metric early stopping watches
[tool.losslint.early-stop]
strategy = "default"         # a strategy of losslint.early_stop; the keys are EarlyStopSettings' fields
patience = 3                 # the HF EarlyStoppingCallback patience also reported as a baseline
converged-tolerance = 0.01   # default strategy: stop a converged run where it came within 1% of its best; 0 = never
[tool.losslint.rules.O101]
severity = "error"
min_rise = 0.05
[tool.losslint.per-run-ignores]
"sweeps/*" = ["U202"]        # glob on the run name -> selectors ignored for those runs
[tool.losslint.aliases]
"my_val_metric" = "eval/loss"
```
Unknown keys, codes, parameters or values raise `ConfigError` (exit code 2) naming the file and the key.
"""
from __future__ import annotations

import copy
import fnmatch
import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .early_stop.settings import STRATEGIES, EarlyStopSettings
from .errors import ConfigError
from .findings import SEVERITIES
from .metrics import EVAL_LOSS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

PRESETS = ("default", "strict", "relaxed")
TOP_KEYS = {"extends", "select", "ignore", "extend_select", "fail_on", "monitor", "early_stop", "rules",
            "per_run_ignores", "aliases"}
DEFAULT_MONITOR = EVAL_LOSS
# Keys of [early-stop]: the fields of EarlyStopSettings (the strategy, the patience, which is also the HF-callback
# baseline reported next to it, and the parameters of the strategies).
EARLY_STOP_KEYS = frozenset(EarlyStopSettings.keys())


def presets_dir() -> Path:
    """`losslint/_rules` inside a wheel, else the repository's top-level `rules/` (editable or source tree)."""
    import losslint

    package = Path(losslint.__file__).resolve().parent
    shipped = package / "_rules"
    if (shipped / "default.toml").is_file():
        return shipped
    return package.parent / "rules"


def _norm_key(key: str) -> str:
    return key.replace("-", "_")


@dataclass(frozen=True)
class Config:
    select: tuple[str, ...] = ("ALL",)
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    fail_on: str = "warning"
    monitor: str = DEFAULT_MONITOR
    early_stop: EarlyStopSettings = field(default_factory=EarlyStopSettings)
    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # code -> {param: value, "severity": ...}
    per_run_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()  # the files this configuration was read from, outermost preset first

    # -- rule selection ----------------------------------------------------------------------------------
    def enabled_codes(self) -> list[str]:
        from .checks import all_rules

        return [code for code in all_rules() if _enabled(code, (*self.select, *self.extend_select), self.ignore)]

    def codes_for_run(self, run_name: str) -> list[str]:
        ignored: list[str] = []
        for pattern, selectors in self.per_run_ignores.items():
            if fnmatch.fnmatch(run_name, pattern) or fnmatch.fnmatch(run_name, pattern.rstrip("/") + "/*"):
                ignored.extend(selectors)
        codes = self.enabled_codes()
        if not ignored:
            return codes
        return [c for c in codes if _specificity(c, ignored) < 0]

    def params_for(self, code: str) -> dict[str, Any]:
        """A rule's effective parameters: its DEFAULTS, then the configuration's, plus `severity`."""
        # Merged once per rule and configuration (a check asks for every rule's parameters on every run); each
        # caller gets its own copy. The cache is not a field: equality, repr and `replace` ignore it.
        cache = self.__dict__.get("_params_cache")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_params_cache", cache)
        params = cache.get(code)
        if params is None:
            from .checks import all_rules

            rule = all_rules()[code]
            params = dict(rule.defaults)
            params["severity"] = rule.default_severity
            params.update(self.rules.get(code, {}))
            cache[code] = params
        return dict(params)

    def with_options(self, select: Sequence[str] | None = None, ignore: Sequence[str] | None = None,
                     extend_select: Sequence[str] | None = None, fail_on: str | None = None) -> Config:
        """This configuration with command-line overrides: --select replaces, --ignore/--extend-select add."""
        changes: dict[str, Any] = {}
        if select:
            changes["select"] = tuple(_check_selectors(select, "--select"))
        if ignore:
            changes["ignore"] = (*self.ignore, *_check_selectors(ignore, "--ignore"))
        if extend_select:
            changes["extend_select"] = (*self.extend_select, *_check_selectors(extend_select, "--extend-select"))
        if fail_on:
            if fail_on not in SEVERITIES:
                raise ConfigError(f"--fail-on: {fail_on!r} is not one of {', '.join(SEVERITIES)}")
            changes["fail_on"] = fail_on
        return replace(self, **changes) if changes else self


def _specificity(code: str, selectors: Iterable[str]) -> int:
    """Length of the longest selector matching `code` (ALL = 0), -1 when none does."""
    best = -1
    for selector in selectors:
        if selector == "ALL":
            best = max(best, 0)
        elif code.startswith(selector):
            best = max(best, len(selector))
    return best


def _enabled(code: str, selected: Sequence[str], ignored: Sequence[str]) -> bool:
    chosen = _specificity(code, selected)
    return chosen >= 0 and chosen > _specificity(code, ignored)


def _check_selectors(values: Iterable[str], where: str) -> list[str]:
    """Normalise selectors (codes, prefixes, names, comma-separated) and reject the unknown ones."""
    from .checks import all_rules, redirected

    rules = all_rules()
    out = []
    for raw in values:
        if not isinstance(raw, str):
            raise ConfigError(f"{where}: {raw!r} is not a rule code")
        for item in (p.strip() for p in raw.split(",")):
            if not item:
                continue
            if item.upper() == "ALL":
                out.append("ALL")
                continue
            by_name = [r.code for r in rules.values() if r.name == item.lower()]
            if by_name:
                out.append(by_name[0])
                continue
            prefix = redirected(item.upper())
            if not any(code.startswith(prefix) for code in rules):
                raise ConfigError(f"{where}: unknown rule code or prefix {item!r} (see `losslint rules`)")
            out.append(prefix)
    return out


# -- reading files ----------------------------------------------------------------------------------------
def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _table_of(path: Path) -> dict[str, Any] | None:
    """The losslint table of a config file (None: a pyproject.toml without [tool.losslint])."""
    data = _load_toml(path)
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("losslint")
        if table is None:
            return None
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [tool.losslint] must be a table")
        return table
    return data


def find_config_file(start: str | os.PathLike) -> Path | None:
    """The nearest `losslint.toml`, or `pyproject.toml` with `[tool.losslint]`, at or above `start`."""
    here = Path(start).resolve()
    if not here.is_dir():
        here = here.parent
    for directory in (here, *here.parents):
        candidate = directory / "losslint.toml"
        if candidate.is_file():
            return candidate
        candidate = directory / "pyproject.toml"
        if candidate.is_file() and _table_of(candidate) is not None:
            return candidate
    return None


def _preset_path(name: str) -> Path:
    path = presets_dir() / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"preset {name!r} not found in {presets_dir()}")
    return path


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in child.items():
        if key == "extends":
            continue
        if key == "extend_select":
            out[key] = [*out.get(key, []), *value]
        elif key == "rules":
            rules = out.setdefault("rules", {})
            for code, params in value.items():
                rules.setdefault(code, {}).update(params)
        elif key in ("per_run_ignores", "aliases", "early_stop"):
            out.setdefault(key, {}).update(value)
        else:
            out[key] = value
    return out


def _normalised(table: Mapping[str, Any], where: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        norm = _norm_key(key)
        if norm not in TOP_KEYS:
            known = ", ".join(sorted(k.replace("_", "-") for k in TOP_KEYS))
            raise ConfigError(f"{where}: unknown key {key!r} (known: {known})")
        if norm in ("rules", "per_run_ignores", "aliases", "early_stop") and not isinstance(value, dict):
            raise ConfigError(f"{where}: {key!r} must be a table")
        if norm == "rules":
            for code, params in value.items():
                if not isinstance(params, dict):
                    raise ConfigError(f"{where}: rules.{code} must be a table")
            value = {str(code): {_norm_key(k): v for k, v in params.items()} for code, params in value.items()}
        if norm == "early_stop":
            value = {_norm_key(k): v for k, v in value.items()}
        out[norm] = value
    return out


def _resolve_chain(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], list[str]]:
    """The merged table of `path` and everything it extends, and the files in order."""
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: `extends` loops back to itself")
    table = _table_of(path)
    if table is None:
        raise ConfigError(f"{path}: no [tool.losslint] table")
    table = _normalised(table, path)
    parent_name = table.get("extends")
    is_default_preset = path == _preset_path("default").resolve()
    if parent_name is None and not is_default_preset:
        parent_name = "default"
    if parent_name is None:
        return table, [str(path)]
    if not isinstance(parent_name, str):
        raise ConfigError(f"{path}: extends must be a preset name ({', '.join(PRESETS)}) or a path to a .toml file")
    parent = _preset_path(parent_name) if parent_name in PRESETS else (path.parent / parent_name)
    if parent_name not in PRESETS and (parent.suffix.lower() != ".toml" or not parent.is_file()):
        raise ConfigError(f"{path}: extends {parent_name!r}: not a preset ({', '.join(PRESETS)}) nor a .toml file")
    base, files = _resolve_chain(parent, (*seen, path))
    return _merge(base, table), [*files, str(path)]


def _build(table: Mapping[str, Any], files: list[str]) -> Config:
    from .checks import rule as find_rule

    where = files[-1] if files else "configuration"

    def str_list(key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {key.replace('_', '-')} must be a list of rule codes")
        return tuple(_check_selectors(value, f"{where}: {key.replace('_', '-')}"))

    fail_on = table.get("fail_on", "warning")
    if fail_on not in SEVERITIES:
        raise ConfigError(f"{where}: fail-on {fail_on!r} is not one of {', '.join(SEVERITIES)}")
    monitor = table.get("monitor", DEFAULT_MONITOR)
    if not isinstance(monitor, str) or not monitor:
        raise ConfigError(f"{where}: monitor must be a metric name such as 'eval/loss'")

    checked_rules: dict[str, dict[str, Any]] = {}
    for code, params in table.get("rules", {}).items():
        try:
            rule = find_rule(code)
        except KeyError:
            raise ConfigError(f"{where}: rules.{code}: unknown rule code (see `losslint rules`)") from None
        for name, value in params.items():
            if name == "severity":
                if value not in SEVERITIES:
                    raise ConfigError(f"{where}: rules.{code}.severity {value!r} is not one of {', '.join(SEVERITIES)}")
                continue
            if name not in rule.defaults:
                known = ", ".join(sorted(rule.defaults)) or "none"
                raise ConfigError(f"{where}: rules.{code}: unknown parameter {name!r} (known: severity, {known})")
            default = rule.defaults[name]
            if isinstance(default, bool) != isinstance(value, bool) or (
                    isinstance(default, (int, float)) and not isinstance(value, (int, float))) or (
                    isinstance(default, str) and not isinstance(value, str)):
                raise ConfigError(f"{where}: rules.{code}.{name} = {value!r}: expected a {type(default).__name__}")
            if name.endswith("severity") and value not in SEVERITIES:
                raise ConfigError(f"{where}: rules.{code}.{name} {value!r} is not one of {', '.join(SEVERITIES)}")
        checked_rules.setdefault(rule.code, {}).update(params)

    per_run: dict[str, tuple[str, ...]] = {}
    for pattern, selectors in table.get("per_run_ignores", {}).items():
        if isinstance(selectors, str):
            selectors = [selectors]
        if not isinstance(selectors, list):
            raise ConfigError(f"{where}: per-run-ignores.{pattern!r} must be a list of rule codes")
        per_run[str(pattern)] = tuple(_check_selectors(selectors, f"{where}: per-run-ignores.{pattern!r}"))

    aliases = table.get("aliases", {})
    for tag, target in aliases.items():
        if not isinstance(target, str):
            raise ConfigError(f"{where}: aliases.{tag!r} must name a metric (a string)")

    early = _early_stop_settings(dict(table.get("early_stop", {})), where)

    return Config(select=str_list("select") or ("ALL",), ignore=str_list("ignore"),
                  extend_select=str_list("extend_select"), fail_on=fail_on, monitor=monitor, early_stop=early,
                  rules=checked_rules, per_run_ignores=per_run, aliases=dict(aliases), sources=tuple(files))


def _early_stop_settings(early: dict[str, Any], where: str) -> EarlyStopSettings:
    """The [early-stop] table as EarlyStopSettings, checked field by field (each field's metadata says how)."""
    strategy = early.get("strategy", "default")
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise ConfigError(f"{where}: early-stop.strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    for key in early:
        if key not in EARLY_STOP_KEYS:
            raise ConfigError(f"{where}: early-stop: unknown key {key!r} (known: {', '.join(sorted(EARLY_STOP_KEYS))})")
    kinds = {f.name: f.metadata["kind"] for f in fields(EarlyStopSettings)}
    for key, value in early.items():
        if kinds[key] == "count" and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{where}: early-stop.{key} must be a positive integer")
    for key, value in early.items():
        # every other key is a number the strategies compute with; a string there would only surface as a missing
        # early stop at check time
        if kinds[key] in ("number", "fraction") and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{where}: early-stop.{key.replace('_', '-')} must be a number, got {value!r}")
    for key, value in early.items():
        if kinds[key] == "fraction" and not 0 <= value <= 1:
            raise ConfigError(f"{where}: early-stop.{key.replace('_', '-')} must be between 0 and 1, "
                              f"got {value!r}")
    return EarlyStopSettings(**early)


def load_config(path: str | os.PathLike | None = None, preset: str | None = None) -> Config:
    """Read one configuration file (with what it extends); None: the `preset` (default: "default")."""
    if path is None:
        table, files = _resolve_chain(_preset_path(preset or "default"))
        return _build(table, files)
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    table, files = _resolve_chain(path)
    return _build(table, files)


def config_from_table(table: Mapping[str, Any], where: str = "config") -> Config:
    """A Config from a table given in Python: the same keys as `[tool.losslint]` (`-` or `_`), `extends` a preset
    (default "default") or a `.toml` path relative to the working directory. `where` names it in errors."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: expected a table (dict), not {type(table).__name__}")
    child = _normalised(copy.deepcopy(dict(table)), Path(where))
    parent_name = child.get("extends", "default")
    if not isinstance(parent_name, str):
        raise ConfigError(f"{where}: extends must be a preset name ({', '.join(PRESETS)}) or a path to a .toml file")
    parent = _preset_path(parent_name) if parent_name in PRESETS else Path(parent_name)
    if parent_name not in PRESETS and (parent.suffix.lower() != ".toml" or not parent.is_file()):
        raise ConfigError(f"{where}: extends {parent_name!r}: not a preset ({', '.join(PRESETS)}) nor a .toml file")
    base, files = _resolve_chain(parent)
    return _build(_merge(base, child), [*files, where])


def config_for(paths: Sequence[str | os.PathLike] = ()) -> Config:
    """The configuration found upward from the working directory (else the default preset).

    `paths`, the checked paths, are not where the search starts: a configuration file inside a checked tree is
    data from the logs, not the user's choice (see the module docstring)."""
    return load_config(find_config_file(Path.cwd()))


def coerce(config: Config | str | os.PathLike | Mapping[str, Any] | None,
           paths: Sequence[str | os.PathLike] = ()) -> Config:
    """A Config from what the Python API accepts: None (search upward from the working directory), a Config, a
    file path, or a table (dict) with the keys of `[tool.losslint]` (`config_from_table`)."""
    if config is None:
        return config_for(paths)
    if isinstance(config, Config):
        return config
    if isinstance(config, (str, os.PathLike)):
        return load_config(config)
    if isinstance(config, Mapping):
        return config_from_table(config)
    raise ConfigError(f"config must be None, a Config, a path or a table (dict), not {type(config).__name__}")
