"""Synthetic training runs with known ground truth, for property tests and the detection-quality benchmark.

Every run is built from a noise-free curve whose shape is chosen from the families described in the learning-curve
literature, then noise, spikes, an upturn, a blow-up or NaNs are planted at known steps. The label is true by
construction, and `truth` says exactly where each planted event is.

Shapes (functions of u = step / last_step in (0, 1]):

- exponential descent  L(u) = L_inf + (L0 - L_inf) exp(-r u)               (Domhan et al. 2015, "exp" family)
- power-law descent    L(u) = L_inf + (L0 - L_inf) (1 + k u)^(-a)          (Viering & Loog 2021; Kaplan et al. 2020)
- staircase            plateaus that drop at step-LR decays (He et al. 2016 ResNet schedule at 1/2 and 3/4 of training)
- late drop            a plateau first, then a sigmoid descent (the "stuck then sudden drop" shape, Saxe et al. 2014)

L0 is near chance level ln(C) for a C-class cross-entropy, C drawn from {2, 10, 100, 1000}.

Labels and their families (`FAMILIES`):

- good-fit:     train and validation both descend to a floor; small constant generalisation gap; no upturn. Or the
                run was cut off mid-descent ("cut-off": an exponential descent at 0.8-2 e-folds per run, so its last
                fifth still makes 7-14% of the whole descent): still improving at its end, a good fit that could
                train longer (../shared/VERDICTS.md; it was labelled underfitting before 0.3).
- overfitting:  validation descends, then rises monotonically from `upturn_step` by 20-100% (the U-shape); the
                noise-free validation minimum is exactly at `upturn_step`. Train keeps descending towards ~0 through
                the upturn ("u-shape-exp", "u-shape-power", at half the validation's pace) or has already converged
                to its floor before it ("u-shape-flat-train": memorised, while validation gets worse).
- underfitting: both curves plateau high, at 82-97% of chance level ln(C) (the model learned almost nothing:
                "plateau-high").
- unstable:     a descending run made unreliable by 8-25 loss spikes ("spiky") or by noise whose robust spread
                (1.4826 x MAD of the log residuals) is 35-60% of the level around a shallow descent (to 35-55%
                of its start, so the scatter dominates the fall: "noisy"; healthy per-batch losses
                scatter a few percent to ~20%); it does not diverge.
- diverged:     descends, then blows up exponentially from `divergence_step` ("blowup"), optionally turning NaN at
                `nan_step` ("blowup-nan"), or turns NaN at `nan_step` without warning ("nan").
- no-signal:    nothing to judge: a run of 2-4 logged points ("too-short") or a run that logged no loss at all, only a
                learning-rate schedule ("no-loss").

Noise is multiplicative and log-normal, value = clean * exp(sigma * e), so a loss stays positive; e is standard
normal ("gaussian") or Student-t with 3 degrees of freedom scaled to unit variance ("student-t", heavy tails),
clipped to +/-8. Validation noise is a third of the training noise (a validation loss averages a whole set).

API: `make_run(kind, seed, ...)` -> `SyntheticRun`; `corpus(n_per_kind, seed0)`; `write_jsonl(run, path)`;
`to_records(run)` and `to_run(run)` (a `losslint.schema.Run`, for engine calls without files).
"""
from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LABELS = ("good-fit", "overfitting", "underfitting", "unstable", "diverged", "no-signal")

FAMILIES: dict[str, tuple[str, ...]] = {
    "good-fit": ("exp", "power", "staircase", "late-drop", "cut-off"),
    "overfitting": ("u-shape-exp", "u-shape-power", "u-shape-flat-train"),
    "underfitting": ("plateau-high",),
    "unstable": ("spiky", "noisy"),
    "diverged": ("blowup", "blowup-nan", "nan"),
    "no-signal": ("too-short", "no-loss"),
}

TRAIN_TAG = "train/loss"
EVAL_TAG = "eval/loss"
LR_TAG = "train/learning_rate"

NUM_CLASSES = (2, 10, 100, 1000)
NOISE_KINDS = ("gaussian", "student-t")
NOISE_CLIP = 8.0
# 1.4826 x MAD of Student-t(3) / sqrt(3): the robust spread of unit-variance t3 noise (MAD of t3 = 0.7649)
ROBUST_SPREAD_T3 = 1.4826 * 0.7649 / math.sqrt(3.0)
# families added after others' tests were written: `family=None` keeps drawing from the first ones, so a seed
# keeps naming the same run
_DEFAULT_ROTATION = {"overfitting": ("u-shape-exp", "u-shape-power"),
                     "good-fit": ("exp", "power", "staircase", "late-drop")}
EVAL_NOISE_RATIO = 1.0 / 3.0


@dataclass
class SyntheticRun:
    """One generated run. Arrays are aligned: `*_steps` int64 ascending, `*_values` float64 (may hold NaN)."""

    name: str
    label: str
    family: str
    seed: int
    train_steps: np.ndarray
    train_values: np.ndarray
    eval_steps: np.ndarray
    eval_values: np.ndarray
    train_clean: np.ndarray
    eval_clean: np.ndarray
    # minimum_step: step of the noise-free minimum of the validation curve (of the training curve when there is no
    # validation curve); spike_steps: training steps with a planted spike; upturn_step: start of the validation rise;
    # divergence_step: start of the blow-up; nan_step: first non-finite step; chance_level: ln(C)
    truth: dict[str, Any] = field(default_factory=dict)
    train_tag: str = TRAIN_TAG
    eval_tag: str = EVAL_TAG

    @property
    def has_eval(self) -> bool:
        return len(self.eval_steps) > 0


# ---------------------------------------------------------------------------------------------------------------
# noise-free shapes


def exp_descent(u: np.ndarray, start: float, floor: float, rate: float) -> np.ndarray:
    return floor + (start - floor) * np.exp(-rate * u)


def power_descent(u: np.ndarray, start: float, floor: float, scale: float, exponent: float) -> np.ndarray:
    return floor + (start - floor) * (1.0 + scale * u) ** (-exponent)


def staircase_descent(u: np.ndarray, start: float, floor: float, boundaries: tuple[float, ...], rate: float
                      ) -> np.ndarray:
    """Exponential approach to a lower plateau in each LR phase; each phase starts where the previous one ended."""
    levels = np.geomspace(1.0, 1e-3, len(boundaries) + 2)[1:]  # shares of (start - floor) left after each phase
    edges = (0.0, *boundaries, np.inf)
    out = np.empty_like(u, dtype=np.float64)
    begin = start
    for phase in range(len(edges) - 1):
        lo, hi = edges[phase], edges[phase + 1]
        target = floor + (start - floor) * levels[phase]
        mask = (u >= lo) & (u < hi)
        out[mask] = target + (begin - target) * np.exp(-rate * (u[mask] - lo))
        end_u = min(hi, 1.0)
        begin = target + (begin - target) * math.exp(-rate * (end_u - lo))
    return out


def late_drop_descent(u: np.ndarray, start: float, floor: float, centre: float, sharpness: float) -> np.ndarray:
    return floor + (start - floor) / (1.0 + np.exp(sharpness * (u - centre)))


def _descent(rng: np.random.Generator, shape: str, u: np.ndarray, start: float, floor: float) -> np.ndarray:
    if shape == "exp":
        return exp_descent(u, start, floor, rate=rng.uniform(4.0, 10.0))
    if shape == "power":
        return power_descent(u, start, floor, scale=rng.uniform(20.0, 100.0), exponent=rng.uniform(0.5, 1.0))
    if shape == "staircase":
        return staircase_descent(u, start, floor, boundaries=(0.5, 0.75), rate=rng.uniform(30.0, 60.0))
    if shape == "late-drop":
        return late_drop_descent(u, start, floor, centre=rng.uniform(0.15, 0.35), sharpness=rng.uniform(20.0, 40.0))
    raise ValueError(f"unknown descent shape {shape!r}")


# ---------------------------------------------------------------------------------------------------------------
# noise and planted events


def unit_noise(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    if kind == "gaussian":
        e = rng.standard_normal(n)
    elif kind == "student-t":
        e = rng.standard_t(3, n) / math.sqrt(3.0)  # Var(t_3) = 3
    else:
        raise ValueError(f"unknown noise kind {kind!r}; use one of {NOISE_KINDS}")
    return np.clip(e, -NOISE_CLIP, NOISE_CLIP)


def apply_noise(clean: np.ndarray, sigma: float, e: np.ndarray) -> np.ndarray:
    return clean * np.exp(sigma * e)


def pick_spike_indices(rng: np.random.Generator, n: int, count: int, lo: int, hi: int, min_gap: int = 3
                       ) -> np.ndarray:
    """`count` distinct indices in [lo, hi) at least `min_gap` apart (fewer if the range is too small)."""
    chosen: list[int] = []
    candidates = rng.permutation(np.arange(max(lo, 0), min(hi, n)))
    for idx in candidates:
        if len(chosen) >= count:
            break
        if all(abs(int(idx) - c) >= min_gap for c in chosen):
            chosen.append(int(idx))
    return np.array(sorted(chosen), dtype=np.int64)


def _nearest_eval_step(eval_steps: np.ndarray, fraction: float) -> int:
    target = fraction * eval_steps[-1]
    return int(eval_steps[int(np.argmin(np.abs(eval_steps - target)))])


def _rng(seed: int, kind: str, family: str) -> np.random.Generator:
    # crc32 is stable across processes (hash() is salted), so a seed means the same run everywhere
    return np.random.default_rng([int(seed), zlib.crc32(kind.encode()), zlib.crc32(family.encode())])


# ---------------------------------------------------------------------------------------------------------------
# the generator


def make_run(
    kind: str,
    seed: int,
    *,
    family: str | None = None,
    n_train: int = 500,
    log_every: int = 10,
    eval_every: int | None = None,
    noise: float | None = None,
    noise_kind: str | None = None,
    spikes: int | None = None,
    with_eval: bool = True,
) -> SyntheticRun:
    """One run of label `kind` (see `LABELS`). Same arguments, same run.

    n_train: training points, logged every `log_every` steps (steps log_every, 2*log_every, ...).
    eval_every: steps between validation points (default 10 * log_every); with_eval=False logs no validation.
    noise: multiplicative sigma of the training curve (default drawn per label: 1-5%; for unstable/noisy, a robust
        spread of 35-60%).
    noise_kind: "gaussian" or "student-t" (default drawn).
    spikes: number of single-point spikes (x2-x8) planted in the training curve (default 0; 8-25 for unstable/spiky).
    family: one of FAMILIES[kind] (default drawn from the seed).
    """
    if kind not in FAMILIES:
        raise ValueError(f"unknown label {kind!r}; use one of {LABELS}")
    if family is None:
        rotation = _DEFAULT_ROTATION.get(kind, FAMILIES[kind])
        family = rotation[int(seed) % len(rotation)]
    if family not in FAMILIES[kind]:
        raise ValueError(f"unknown family {family!r} for {kind}; use one of {FAMILIES[kind]}")
    rng = _rng(seed, kind, family)
    if kind == "no-signal":
        return _no_signal(rng, family, seed, n_train, log_every)

    eval_every = eval_every or 10 * log_every
    train_steps = np.arange(1, n_train + 1, dtype=np.int64) * log_every
    last = int(train_steps[-1])
    eval_steps = np.arange(eval_every, last + 1, eval_every, dtype=np.int64) if with_eval else np.zeros(0, np.int64)
    u_train = train_steps / last
    u_eval = eval_steps / last

    classes = int(rng.choice(NUM_CLASSES))
    chance = math.log(classes)
    start = chance * rng.uniform(1.0, 1.15)
    if noise_kind is None:
        noise_kind = str(rng.choice(NOISE_KINDS))
    if noise is None:
        if family == "noisy":
            spread = rng.uniform(0.35, 0.6)
            noise = spread if noise_kind == "gaussian" else spread / ROBUST_SPREAD_T3
        else:
            noise = rng.uniform(0.01, 0.05)
    if spikes is None:
        spikes = int(rng.integers(8, 26)) if family == "spiky" else 0

    truth: dict[str, Any] = {"minimum_step": None, "spike_steps": [], "upturn_step": None, "divergence_step": None,
                             "nan_step": None, "chance_level": chance, "num_classes": classes,
                             "noise": float(noise), "noise_kind": noise_kind}

    if family == "cut-off":
        floor = start * rng.uniform(0.05, 0.3)
        rate = rng.uniform(0.8, 2.0)
        gap = rng.uniform(0.02, 0.15)
        train_clean = exp_descent(u_train, start, floor, rate=rate)
        eval_clean = exp_descent(u_eval, start, floor, rate=rate) * (1.0 + gap)
    elif kind == "good-fit" or kind == "unstable":
        shape = family if kind == "good-fit" else str(rng.choice(("exp", "power")))
        # "noisy": the scatter must dominate the curve's fall (a shallow descent, to 35-55% of its start): the same
        # scatter around a deep descent is what healthy small-batch runs look like near their floor
        floor = start * (rng.uniform(0.35, 0.55) if family == "noisy" else rng.uniform(0.05, 0.3))
        gap = rng.uniform(0.02, 0.15)
        train_clean = _same_shape(seed, kind, family, shape, u_train, start, floor)
        eval_clean = _same_shape(seed, kind, family, shape, u_eval, start, floor) * (1.0 + gap)
    elif kind == "overfitting":
        shape = "exp" if family == "u-shape-flat-train" else family.removeprefix("u-shape-")
        train_floor = start * rng.uniform(0.01, 0.1)
        eval_floor = start * rng.uniform(0.2, 0.4)
        if family == "u-shape-flat-train":
            train_clean = exp_descent(u_train, start, train_floor, rate=rng.uniform(10.0, 14.0))
            upturn = _nearest_eval_step(eval_steps, rng.uniform(0.4, 0.7)) if with_eval else None
        else:
            train_clean = _same_shape(seed, kind, family, shape, 0.5 * u_train, start, train_floor)
            upturn = _nearest_eval_step(eval_steps, rng.uniform(0.25, 0.6)) if with_eval else None
        if with_eval:
            u_up = upturn / last
            before = _same_shape(seed, kind, family, shape, np.minimum(u_eval, u_up), start, eval_floor)
            at_min = float(before[eval_steps == upturn][0])
            rise = at_min * rng.uniform(0.2, 1.0)
            power = rng.uniform(1.0, 2.0)
            after = np.clip((u_eval - u_up) / (1.0 - u_up), 0.0, None) ** power
            eval_clean = before + rise * after
            truth["upturn_step"] = upturn
        else:
            eval_clean = np.zeros(0)
    elif kind == "underfitting":
        floor = chance * rng.uniform(0.82, 0.97)
        start = max(start, floor * 1.05)
        train_clean = exp_descent(u_train, start, floor, rate=rng.uniform(3.0, 8.0))
        eval_clean = exp_descent(u_eval, start, floor, rate=rng.uniform(3.0, 8.0)) * (1.0 + rng.uniform(0.0, 0.03))
    elif kind == "diverged":
        shape = str(rng.choice(("exp", "power")))
        floor = start * rng.uniform(0.05, 0.3)
        train_clean = _same_shape(seed, kind, family, shape, u_train, start, floor)
        eval_clean = _same_shape(seed, kind, family, shape, u_eval, start, floor) * (1.0 + rng.uniform(0.02, 0.15))
        div_idx = int(rng.integers(int(0.4 * n_train), int(0.8 * n_train)))
        div_step = int(train_steps[div_idx])
        truth["divergence_step"] = div_step
        if family in ("blowup", "blowup-nan"):
            growth = math.log(rng.uniform(20.0, 1000.0))
            u_div = div_step / last
            train_clean = _blow_up(train_clean, u_train, u_div, growth)
            eval_clean = _blow_up(eval_clean, u_eval, u_div, growth)
        if family in ("blowup-nan", "nan"):
            nan_idx = div_idx if family == "nan" else int(rng.integers(div_idx + (n_train - div_idx) // 3,
                                                                       div_idx + 2 * (n_train - div_idx) // 3 + 1))
            truth["nan_step"] = int(train_steps[nan_idx])
    else:  # pragma: no cover - FAMILIES covers every label
        raise AssertionError(kind)

    e_train = unit_noise(rng, len(train_steps), noise_kind)
    e_eval = unit_noise(rng, len(eval_steps), noise_kind)
    train_values = apply_noise(train_clean, noise, e_train)
    eval_values = apply_noise(eval_clean, noise * EVAL_NOISE_RATIO, e_eval)

    if spikes:
        hi = len(train_steps)
        if truth["divergence_step"] is not None:
            hi = int(np.searchsorted(train_steps, truth["divergence_step"]))
        idx = pick_spike_indices(rng, len(train_steps), spikes, int(0.05 * len(train_steps)), int(0.95 * hi))
        train_values[idx] = train_clean[idx] * rng.uniform(2.0, 8.0, len(idx))
        truth["spike_steps"] = [int(s) for s in train_steps[idx]]

    if truth["nan_step"] is not None:
        for steps, arrays in ((train_steps, (train_values, train_clean)), (eval_steps, (eval_values, eval_clean))):
            for values in arrays:
                values[steps >= truth["nan_step"]] = np.nan

    if with_eval and len(eval_steps):
        truth["minimum_step"] = int(eval_steps[int(np.nanargmin(eval_clean))])
    else:
        truth["minimum_step"] = int(train_steps[int(np.nanargmin(train_clean))])

    return SyntheticRun(name=f"{kind}/{family}-{seed}", label=kind, family=family, seed=int(seed),
                        train_steps=train_steps, train_values=train_values, eval_steps=eval_steps,
                        eval_values=eval_values, train_clean=train_clean, eval_clean=eval_clean, truth=truth)


def _same_shape(seed: int, kind: str, family: str, shape: str, u: np.ndarray, start: float, floor: float
                ) -> np.ndarray:
    """The same descent parameters for every call with the same (seed, kind, family, shape): train and validation
    curves of one run share their shape, only floors and gaps differ."""
    return _descent(_rng(seed, kind, family + "/shape"), shape, u, start, floor)


def _blow_up(clean: np.ndarray, u: np.ndarray, u_div: float, growth: float) -> np.ndarray:
    """Hold the level reached at u_div, then grow it by exp(growth) by the end of the run."""
    out = clean.copy()
    after = u > u_div
    if not after.any():
        return out
    level = float(np.interp(u_div, u, clean)) if u[0] <= u_div else float(clean[0])
    out[after] = level * np.exp(growth * (u[after] - u_div) / max(1.0 - u_div, 1e-9))
    return out


def _no_signal(rng: np.random.Generator, family: str, seed: int, n_train: int, log_every: int) -> SyntheticRun:
    truth: dict[str, Any] = {"minimum_step": None, "spike_steps": [], "upturn_step": None, "divergence_step": None,
                             "nan_step": None, "chance_level": None, "num_classes": None, "noise": 0.0,
                             "noise_kind": None}
    empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0)
    if family == "too-short":
        n = int(rng.integers(2, 5))
        steps = np.arange(1, n + 1, dtype=np.int64) * log_every
        chance = math.log(int(rng.choice(NUM_CLASSES)))
        clean = chance * np.linspace(1.0, rng.uniform(0.6, 1.0), n)
        values = apply_noise(clean, 0.02, unit_noise(rng, n, "gaussian"))
        truth["minimum_step"] = int(steps[int(np.argmin(clean))])
        return SyntheticRun(name=f"no-signal/{family}-{seed}", label="no-signal", family=family, seed=int(seed),
                            train_steps=steps, train_values=values, eval_steps=empty_i, eval_values=empty_f,
                            train_clean=clean, eval_clean=empty_f, truth=truth)
    # no-loss: a linear-warmup + cosine learning-rate schedule and nothing else
    steps = np.arange(1, n_train + 1, dtype=np.int64) * log_every
    peak = 10 ** rng.uniform(-5, -3)
    warm = max(1, n_train // 20)
    idx = np.arange(n_train)
    lr = np.where(idx < warm, peak * (idx + 1) / warm,
                  0.5 * peak * (1 + np.cos(np.pi * (idx - warm) / max(n_train - warm, 1))))
    return SyntheticRun(name=f"no-signal/{family}-{seed}", label="no-signal", family=family, seed=int(seed),
                        train_steps=steps, train_values=lr, eval_steps=empty_i, eval_values=empty_f,
                        train_clean=lr.copy(), eval_clean=empty_f, truth=truth, train_tag=LR_TAG)


def corpus(n_per_kind: int, seed0: int = 0, *, labels: tuple[str, ...] = LABELS, vary_sizes: bool = True
           ) -> list[SyntheticRun]:
    """`n_per_kind` runs of each label, families taken in turn, seeds seed0, seed0+1, ...

    vary_sizes draws the run length (100-2000 training points), the logging interval and the number of validation
    points (10-100) per run from the seed, so a detector cannot be tuned to one length.
    """
    runs = []
    for label in labels:
        fams = FAMILIES[label]
        for i in range(n_per_kind):
            seed = seed0 + i
            family = fams[i % len(fams)]
            kwargs = corpus_sizes(seed, label) if vary_sizes else {}
            runs.append(make_run(label, seed, family=family, **kwargs))
    return runs


def corpus_sizes(seed: int, label: str) -> dict[str, Any]:
    """The run length, logging interval and validation spacing `corpus` draws for a seed and label (100-2000
    training points, 10-100 evaluations), as make_run keyword arguments."""
    sizes = np.random.default_rng([seed, zlib.crc32(b"sizes"), zlib.crc32(label.encode())])
    n_train = int(sizes.integers(100, 2001))
    log_every = int(sizes.choice((1, 5, 10, 50)))
    n_eval = int(sizes.integers(10, 101))
    return {"n_train": n_train, "log_every": log_every, "eval_every": max(1, (n_train * log_every) // n_eval)}


# ---------------------------------------------------------------------------------------------------------------
# output


def to_records(run: SyntheticRun) -> list[tuple[str, int, float, float, float]]:
    """`(tag, step, value, wall_time, epoch)` tuples, as `losslint.schema.frame_from_records` takes them."""
    nan = float("nan")
    rows = [(run.train_tag, int(s), float(v), nan, nan) for s, v in zip(run.train_steps, run.train_values)]
    rows += [(run.eval_tag, int(s), float(v), nan, nan) for s, v in zip(run.eval_steps, run.eval_values)]
    return rows


def to_run(run: SyntheticRun):
    """The run as a `losslint.schema.Run` (format "synthetic"), for engine calls that need no files."""
    from losslint.schema import Run, frame_from_records

    return Run(name=run.name, format="synthetic", sources=[], data=frame_from_records(to_records(run)),
               metadata={"label": run.label, "family": run.family, "seed": run.seed})


def jsonl_lines(run: SyntheticRun) -> list[str]:
    """One JSON object per logged point, in step order; a training point before the validation point of its step.
    Non-finite values are written as the bare tokens NaN / Infinity, as Python's json and detectron2 write them."""
    rows = [(int(s), 0, run.train_tag, float(v)) for s, v in zip(run.train_steps, run.train_values)]
    rows += [(int(s), 1, run.eval_tag, float(v)) for s, v in zip(run.eval_steps, run.eval_values)]
    rows.sort(key=lambda r: (r[0], r[1]))
    return [json.dumps({"step": step, tag: value}) for step, _, tag, value in rows]


def write_jsonl(run: SyntheticRun, path: str | Path) -> Path:
    """Write the run as a JSONL log at `path` (parent folders are created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(jsonl_lines(run)) + "\n", encoding="utf-8")
    return path
