"""`--format json`: the machine contract (version 1). Keys are only ever added, never renamed or removed."""
from __future__ import annotations

import json
import math
from typing import Any, Sequence

from ..errors import ReadError
from ..findings import Result
from . import ReportOptions

VERSION = 1


def _finite(obj: Any) -> Any:
    """JSON has no NaN/inf; a non-finite number becomes its string so the output stays strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def document(results: Sequence[Result], errors: Sequence[ReadError]) -> dict[str, Any]:
    return {
        "version": VERSION,
        "runs": [_finite(r.as_dict()) for r in results],
        "errors": [e.as_dict() for e in errors],
    }


def render(results: Sequence[Result], errors: Sequence[ReadError], options: ReportOptions) -> str:
    return json.dumps(document(results, errors), indent=2, allow_nan=False)
