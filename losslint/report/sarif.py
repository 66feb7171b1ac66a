"""`--format sarif`: SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning, Azure DevOps, IDE viewers).

One SARIF run for the whole check. Each finding is a result whose ruleId is the rule code; its location is the
run's first source file (a URI relative to the working directory, `%SRCROOT%`; an absolute `file:` URI for a file
outside it) plus a logical location naming the
training run. Validated against the official OASIS schema in the tests.
"""
from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Sequence
from urllib.parse import quote

from ..errors import ReadError
from ..findings import Result
from . import ReportOptions
from .locations import finding_position, first_source, relative_posix

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
INFORMATION_URI = "https://github.com/losslint/losslint"


def _version() -> str:
    try:
        return metadata.version("losslint")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0"


def registered_rules() -> dict[str, dict[str, Any]]:
    """code -> {name, doc, severity} from the rule registry (`losslint.checks.all_rules`). A registry that cannot
    load yields nothing: the report then describes the rules from the findings alone rather than fail."""
    try:
        from ..checks import all_rules

        rules = all_rules()
    except Exception:  # noqa: BLE001 - a half-built rule module must not break a report of findings
        return {}
    return {code: {"name": r.name, "doc": r.doc.strip(), "severity": r.default_severity,
                   "category": r.category} for code, r in rules.items()}


def _camel(name: str) -> str:
    parts = [p for p in name.replace("_", "-").split("-") if p]
    return "".join(p[:1].upper() + p[1:] for p in parts) or name


def rule_descriptor(code: str, name: str, doc: str, severity: str | None, doc_base: str,
                    category: str | None = None) -> dict[str, Any]:
    short = doc.splitlines()[0].strip() if doc else name
    descriptor: dict[str, Any] = {
        "id": code,
        "name": _camel(name),
        "shortDescription": {"text": short or code},
        "helpUri": f"{doc_base}{quote(code, safe='')}.md",
    }
    if doc:
        descriptor["fullDescription"] = {"text": doc}
        descriptor["help"] = {"text": doc}
    if severity in LEVELS:
        descriptor["defaultConfiguration"] = {"level": LEVELS[severity]}
    if category:
        descriptor["properties"] = {"tags": [category]}
    return descriptor


def artifact_location(path: str) -> dict[str, Any]:
    """A file under the working directory as a relative URI against `%SRCROOT%` (what code scanning resolves against
    the checkout); one outside it as an absolute `file:` URI with no base, never an absolute path under `%SRCROOT%`."""
    if PurePosixPath(path).is_absolute() or PureWindowsPath(path).is_absolute():
        try:
            return {"uri": Path(path).as_uri()}
        except ValueError:  # pragma: no cover - is_absolute said yes
            pass
    return {"uri": quote(path, safe="/:@-._~"), "uriBaseId": "%SRCROOT%"}


def _location(result: Result, uri: str | None) -> dict[str, Any]:
    location: dict[str, Any] = {"logicalLocations": [{"name": result.run.name, "kind": "module",
                                                       "fullyQualifiedName": result.run.name}]}
    if uri:
        # A log has no source line for a finding, but GitHub code scanning places (and accepts) a result only with
        # region.startLine (sarif-sdk rule GH1003); line 1 stands for "this file".
        location["physicalLocation"] = {"artifactLocation": artifact_location(uri), "region": {"startLine": 1}}
    return location


def sarif_result(result: Result, finding, rule_index: int) -> dict[str, Any]:
    uri = first_source(result)
    suffix = finding_position(finding)
    identity = "\0".join([result.run.name, finding.code, finding.metric or ""])
    properties: dict[str, Any] = {"run": result.run.name, "verdict": result.verdict, "severity": finding.severity}
    if finding.metric:
        properties["metric"] = finding.metric
    if finding.step is not None:
        properties["step"] = int(finding.step)
    if finding.category:
        properties["category"] = finding.category
    return {
        "ruleId": finding.code,
        "ruleIndex": rule_index,
        "level": LEVELS.get(finding.severity, "warning"),
        "message": {"text": f"{result.run.name}: {finding.message}{suffix}"},
        "locations": [_location(result, uri)],
        # logs have no line numbers, so GitHub cannot fingerprint by source text: say which alert is which
        "partialFingerprints": {"losslintFinding/v1": hashlib.sha256(identity.encode("utf-8")).hexdigest()},
        "properties": properties,
    }


def document(results: Sequence[Result], errors: Sequence[ReadError], options: ReportOptions) -> dict[str, Any]:
    registry = registered_rules()
    doc_base = options.rule_doc_base
    used: dict[str, str] = {}
    for result in results:
        for finding in result.findings:
            used.setdefault(finding.code, finding.name)
    codes = sorted(set(used) | set(registry))
    rules = []
    for code in codes:
        info = registry.get(code, {})
        rules.append(rule_descriptor(code, info.get("name") or used.get(code, code), info.get("doc", ""),
                                     info.get("severity"), doc_base, info.get("category")))
    index = {code: i for i, code in enumerate(codes)}
    sarif_results = [sarif_result(r, f, index[f.code]) for r in results for f in r.findings]
    notifications = []
    for error in errors:
        notification: dict[str, Any] = {"level": "error", "message": {"text": error.text},
                                        "descriptor": {"id": "unreadable-input"}}
        artifact = artifact_location(relative_posix(error.path))
        physical: dict[str, Any] = {"artifactLocation": artifact}
        if error.line is not None and error.line >= 1:
            physical["region"] = {"startLine": int(error.line)}
        notification["locations"] = [{"physicalLocation": physical}]
        notifications.append(notification)
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "losslint", "version": _version(), "semanticVersion": _version(),
                                "informationUri": INFORMATION_URI, "rules": rules}},
            "invocations": [{"executionSuccessful": not errors, "toolExecutionNotifications": notifications}],
            "results": sarif_results,
            "columnKind": "unicodeCodePoints",
        }],
    }


def render(results: Sequence[Result], errors: Sequence[ReadError], options: ReportOptions) -> str:
    return json.dumps(document(results, errors, options), indent=2, ensure_ascii=False)
