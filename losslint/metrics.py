"""One vocabulary for metric names: what a name says about its split, its better direction, whether it is a loss,
and whether it is bookkeeping rather than a curve to judge.

Readers map tags to canonical names with `schema.canonical_metric` (which reads `SPLIT_WORDS` here); the views, the
rules, early stop and the benchmarks read canonical names only through the functions below, so one name means the
same thing everywhere.
"""
from __future__ import annotations

import re
from typing import Literal

Direction = Literal["min", "max"]

# The canonical names the views resolve roles from.
TRAIN_LOSS = "train/loss"
EVAL_LOSS = "eval/loss"
LEARNING_RATE = "train/learning_rate"
GRAD_NORM = "train/grad_norm"

SPLITS = ("train", "eval", "test")

# Split words as they appear in tags and directory names; "test" stays its own split so that a held-out test
# metric is never mistaken for the validation curve that early stopping monitors.
SPLIT_WORDS = {
    "train": "train",
    "training": "train",
    "tr": "train",
    "eval": "eval",
    "evaluation": "eval",
    "val": "eval",
    "valid": "eval",
    "validation": "eval",
    "dev": "eval",
    "v": "eval",
    "test": "test",
}

# Sub-folders one Keras/TF2 run writes per split; their files belong to the parent run. Unlike a `test` word in a
# tag, a `test/` *folder* is the validation curve: TF2 custom training loops conventionally log validation there,
# and early stopping must see it as the eval curve.
SPLIT_DIRS = {"train": "train", "validation": "eval", "val": "eval", "eval": "eval", "test": "eval"}

# Metrics that are bookkeeping, not curves to judge (matched on the lower-cased name).
BOOKKEEPING = re.compile(
    r"(^|/)(epoch|global_step|step|iter|iteration|hp_metric|runtime|.*_runtime|.*samples_per_second|"
    r".*steps_per_second|total_flos|.*flos|eta_seconds|data_time|time|.*_time|gen_len|_step|_runtime|_timestamp|"
    r"mfu|num_input_tokens_seen|current_steps|total_steps|percentage|total_tokens)$"
)

# Name words whose better direction is known; a metric matching neither list is not judged as a task metric.
_MIN_TOKEN = re.compile(r"^(loss\w*|perplexity|ppl|wer|cer|error|err|mse|mae|rmse|nll|fid)$")
_MAX_TOKEN = re.compile(r"^(acc\w*|f1\w*|rouge\w*|bleu\w*|auc\w*|roc_auc|precision|recall|exprate|m?ap\d*[a-z]?|"
                        r"iou|miou|dice|meteor|chrf|exact_match|em|top\d+|r2|sacrebleu|bertscore)$")

# Leaves that name a perplexity (exp of a loss of the same evaluation).
PERPLEXITY_LEAVES = ("perplexity", "ppl")


def metric_leaf(metric: str) -> str:
    """The last path part, lower-cased, spaces as underscores (`eval/squad/F1` -> `f1`)."""
    return metric.rsplit("/", 1)[-1].lower().replace(" ", "_")


def is_loss(metric: str) -> bool:
    leaf = metric_leaf(metric)
    return leaf == "loss" or leaf.endswith("_loss") or leaf.startswith("loss")


def is_perplexity(metric: str) -> bool:
    return metric_leaf(metric) in PERPLEXITY_LEAVES


def is_bookkeeping(metric: str) -> bool:
    """Steps, epochs, timings, throughput, `hp_metric`: logged numbers that are not training curves."""
    return BOOKKEEPING.search(metric.lower()) is not None


def known_direction(metric: str) -> Direction | None:
    """"min"/"max" when the metric's name says which way is better, else None (the metric is not judged as a task
    metric; early stop treats a monitored metric of unknown direction as a loss, "min")."""
    leaf = metric_leaf(metric)
    tokens = [leaf, *re.split(r"[^a-z0-9]+", leaf)]
    if any(_MIN_TOKEN.match(t) for t in tokens if t):
        return "min"
    if any(_MAX_TOKEN.match(t) for t in tokens if t):
        return "max"
    return None


def direction_or_min(metric: str) -> Direction:
    """The direction early stop and the benchmarks judge a monitored metric by: the known one, else "min"."""
    return known_direction(metric) or "min"


def split_of(metric: str) -> str | None:
    """The split of a canonical name (`eval/accuracy` -> eval), None when its first part names none."""
    head = metric.split("/", 1)[0] if "/" in metric else None
    return head if head in SPLITS else None


def split_of_directory(directory: str) -> str | None:
    """The split a run's sub-folder stands for (`validation/` -> eval), None for any other folder."""
    return SPLIT_DIRS.get(directory.lower())
