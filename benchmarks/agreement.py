#!/usr/bin/env python
"""Verdict and stop agreement with hand labels on real runs, on a fixed calibration / held-out split.

Two labelled real-world corpora, neither shipped with losslint (most of their files carry no licence):

- `realworld-labeled`: `../shared/realworld-labeled/labels.toml` (58 runs from 50 projects; `acceptable` verdicts
  and a stop range per run), scored exactly as `../shared/tools/score_labels.py` scores it;
- `realworld`: `tests/data/realworld_labels.toml` over `../shared/realworld` (verdicts only).

**The split** is fixed by the label key alone, never by what losslint says about a run: a run belongs to the
*calibration* half when the first byte of sha256("<corpus>:<key>") is even, to the *held-out* half otherwise.
Rule defaults are calibrated on the calibration half; the held-out half is what the README reports. Adding a
label never moves another run between halves.

    python benchmarks/agreement.py                       # check both corpora, print both halves
    python benchmarks/agreement.py --json-dir /tmp/out   # also keep the `check --format json` outputs
    python benchmarks/agreement.py --half held-out -v    # every held-out run, right or wrong
    python benchmarks/agreement.py --corpus blind DIR LABELS.toml   # also score another labelled corpus

A corpus given with `--corpus` is split the same way (its keys are `<format>/<name>` folders under DIR, as in
`realworld-labeled`); say in a report whether its runs were seen while the rules changed.

A verdict is right when it is the label's verdict or one of its `acceptable` ones. A stop is right when it lies in
the labelled range (`stop` or `stop_alt`), or when the label allows no stop (`stop_optional`) and losslint
recommends none, saves under 10%, or recommends a convergence stop that costs at most 1% of the best value.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPORA = {
    "realworld-labeled": (SHARED / "realworld-labeled", SHARED / "realworld-labeled" / "labels.toml"),
    "realworld": (SHARED / "realworld", REPO / "tests" / "data" / "realworld_labels.toml"),
}
HALVES = ("calibration", "held-out")
HIGHER_IS_BETTER = re.compile(r"acc|f1|rouge|bleu|auc|precision|recall|map|ap$|score", re.I)


def half_of(corpus: str, key: str) -> str:
    """The fixed split: by a hash of the label key, so no result of losslint's can move a run."""
    return HALVES[hashlib.sha256(f"{corpus}:{key}".encode()).digest()[0] % 2]


@dataclass
class Scored:
    corpus: str
    key: str
    half: str
    label: str
    got: str | None  # None: the run was not found
    verdict_ok: bool
    stop_ok: bool | None  # None: the label has no stop
    detail: str


def _converged_regret(run: dict) -> float:
    stop = run.get("early_stop") or {}
    if stop.get("trigger") != "converged":
        return float("inf")
    values = [stop.get(k) for k in ("value_at_stop", "value_at_best", "value_at_end")]
    if any(v is None for v in values):
        return float("inf")
    at_stop, best, end = values
    higher = bool(HIGHER_IS_BETTER.search(stop.get("metric") or ""))
    reference = max(best, end) if higher else min(best, end)
    return abs(at_stop - reference) / max(abs(reference), 1e-12)


def score(corpus: str, labels: dict, runs: list[dict]) -> list[Scored]:
    out = []
    for key, label in labels.items():
        pattern = re.compile("(^|/)" + re.escape(key) + "(/|$)")
        hits = [r for r in runs if pattern.search(r["run"]) or pattern.search(r.get("path") or "")]
        wanted = [label["verdict"], *label.get("acceptable", [])]
        if not hits:
            out.append(Scored(corpus, key, half_of(corpus, key), label["verdict"], None, False,
                              False if "stop" in label else None, "not found"))
            continue
        verdict_ok = all(r["verdict"] in wanted for r in hits)
        stop_ok = None
        run = hits[0]
        step = run.get("recommended_stop_step")
        if "stop" in label:
            no_stop = step is None or (run.get("saved_fraction") or 0) < 0.1
            ranges = [r for r in (label["stop"], label.get("stop_alt")) if r]
            stop_ok = (step is not None and any(lo <= step <= hi for lo, hi in ranges)) or (
                label.get("stop_optional", False) and (no_stop or _converged_regret(run) <= 0.01))
        codes = ",".join(f"{f['code']}{f['severity'][0]}" for f in run["findings"])
        trigger = (run.get("early_stop") or {}).get("trigger")
        detail = f"stop {step} ({trigger}) want {label.get('stop')}; [{codes}]"
        out.append(Scored(corpus, key, half_of(corpus, key), label["verdict"], run["verdict"], verdict_ok, stop_ok,
                          detail))
    return out


def check_json(path: Path, jobs: int) -> dict:
    from click.testing import CliRunner

    from losslint.cli import main

    result = CliRunner().invoke(main, ["check", str(path), "--format", "json", "--jobs", str(jobs)])
    return json.loads(result.stdout)


def table(rows: list[Scored], title: str) -> list[str]:
    lines = [f"## {title}", "", "| class (label) | verdicts right | stops right |", "|---|---|---|"]
    for label in sorted({r.label for r in rows}):
        mine = [r for r in rows if r.label == label]
        stops = [r for r in mine if r.stop_ok is not None]
        lines.append(f"| {label} | {sum(r.verdict_ok for r in mine)}/{len(mine)} | "
                     f"{sum(bool(r.stop_ok) for r in stops)}/{len(stops)} |")
    stops = [r for r in rows if r.stop_ok is not None]
    v, s = sum(r.verdict_ok for r in rows), sum(bool(r.stop_ok) for r in stops)
    lines.append(f"| **total** | **{v}/{len(rows)} ({v / max(len(rows), 1):.0%})** | "
                 f"**{s}/{len(stops)} ({s / max(len(stops), 1):.0%})** |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", choices=(*HALVES, "both"), default="both")
    parser.add_argument("--json-dir", type=Path, help="write each corpus's check JSON here")
    parser.add_argument("--from-json", type=Path, help="read <corpus>.json from this folder instead of checking")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("-v", "--verbose", action="store_true", help="list every run, not only the misses")
    parser.add_argument("--corpus", nargs=3, action="append", default=[], metavar=("NAME", "DIR", "LABELS"),
                        help="another labelled corpus: its name, its folder and its labels.toml")
    args = parser.parse_args(argv)
    corpora = dict(CORPORA)
    for name, tree, label_file in args.corpus:
        corpora[name] = (Path(tree), Path(label_file))
    rows: list[Scored] = []
    for corpus, (tree, label_file) in corpora.items():
        if not tree.is_dir() or not label_file.is_file():
            print(f"{corpus}: {tree} or {label_file} missing, skipped")
            continue
        if args.from_json:
            document = json.loads((args.from_json / f"{corpus}.json").read_text(encoding="utf-8"))
        else:
            document = check_json(tree, args.jobs)
            if args.json_dir:
                args.json_dir.mkdir(parents=True, exist_ok=True)
                (args.json_dir / f"{corpus}.json").write_text(json.dumps(document, indent=1), encoding="utf-8")
        labels = tomllib.loads(label_file.read_text(encoding="utf-8"))
        rows += score(corpus, labels, document["runs"])
    halves = HALVES if args.half == "both" else (args.half,)
    for half in halves:
        mine = [r for r in rows if r.half == half]
        for r in mine:
            if args.verbose or not r.verdict_ok or r.stop_ok is False:
                mark = "ok " if r.verdict_ok else "BAD"
                stop = "" if r.stop_ok is None else (" stop-ok" if r.stop_ok else " STOP-BAD")
                print(f"{mark}{stop} {half} {r.corpus}/{r.key}: got {r.got} want {r.label}; {r.detail}")
        print()
        for corpus in corpora:
            print("\n".join(table([r for r in mine if r.corpus == corpus], f"{half}: {corpus}")))
        print("\n".join(table(mine, f"{half}: all corpora")))
    counts = Counter((r.corpus, r.half) for r in rows)
    print("runs per half: " + ", ".join(f"{c}/{h} {n}" for (c, h), n in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
