"""Write the small real HF Trainer runs under tests/data/hf/ with the installed transformers.

    /tmp/venv/bin/python tests/make_hf_fixture.py [out_dir]

Two runs of a tiny torch classifier (a few seconds on a CPU each):

- `single_eval/`: one eval set (eval_loss, eval_accuracy) every 10 steps, `EarlyStoppingCallback` and
  `load_best_model_at_end`, so `stateful_callbacks`, `best_metric` and `best_model_checkpoint` are real.
- `two_eval_sets/`: `eval_dataset={"clean": ..., "noisy": ...}`, so the Trainer writes `eval_clean_loss`,
  `eval_noisy_accuracy`, ... the way multi-eval-set runs do.

Both use `save_strategy="steps"` (checkpoint-*/ copies of trainer_state.json) and `report_to="tensorboard"` (the
`runs/<date>_<host>/` event files of the same run). Model weights, optimizer state and RNG state are deleted
afterwards: the fixtures are only the logs.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

KEEP_SUFFIXES = ("trainer_state.json",)


class TinyClassifier(nn.Module):
    def __init__(self, features: int = 8, classes: int = 3):
        super().__init__()
        self.layer = nn.Linear(features, classes)

    def forward(self, x, labels=None):
        logits = self.layer(x)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = nn.functional.cross_entropy(logits, labels)
        return out


class Blobs(torch.utils.data.Dataset):
    """Gaussian blobs, one per class; `label_noise` flips that share of labels (a harder eval set)."""

    def __init__(self, n: int, seed: int, label_noise: float = 0.0, features: int = 8, classes: int = 3):
        rng = np.random.default_rng(seed)
        centers = np.random.default_rng(0).normal(0, 2, size=(classes, features))
        labels = rng.integers(0, classes, n)
        x = centers[labels] + rng.normal(0, 1.5, size=(n, features))
        flip = rng.random(n) < label_noise
        labels = np.where(flip, rng.integers(0, classes, n), labels)
        self.x = torch.tensor(x, dtype=torch.float32)
        self.labels = torch.tensor(labels, dtype=torch.long)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.labels[i]}


def accuracy(pred) -> dict[str, float]:
    return {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}


def train(out: Path, eval_sets, early_stopping: bool) -> None:
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

    torch.manual_seed(0)
    args = TrainingArguments(
        output_dir=str(out),
        max_steps=40,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=64,
        learning_rate=0.05,
        logging_steps=5,
        eval_strategy="steps",
        eval_steps=10,
        save_strategy="steps",
        save_steps=10,
        save_total_limit=2,
        load_best_model_at_end=early_stopping,
        metric_for_best_model="eval_loss" if early_stopping else None,
        report_to=["tensorboard"],
        use_cpu=True,
        seed=0,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=TinyClassifier(),
        args=args,
        train_dataset=Blobs(640, seed=1),
        eval_dataset=eval_sets,
        compute_metrics=accuracy,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=3)] if early_stopping else [],
    )
    trainer.train()
    trainer.save_state()  # the top-level trainer_state.json, as `Trainer.train()` scripts usually do


def strip_to_logs(out: Path) -> None:
    """Keep trainer_state.json files and TensorBoard event files; drop weights and everything else."""
    for path in sorted(out.rglob("*"), reverse=True):
        if path.is_file() and not (path.name in KEEP_SUFFIXES or path.name.startswith("events.out.tfevents")):
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def main(root: Path) -> None:
    for name, eval_sets, early in (
        ("single_eval", Blobs(128, seed=2), True),
        ("two_eval_sets", {"clean": Blobs(128, seed=2), "noisy": Blobs(128, seed=3, label_noise=0.4)}, False),
    ):
        out = root / name
        if out.exists():
            shutil.rmtree(out)
        train(out, eval_sets, early)
        strip_to_logs(out)
        print(f"wrote {out}: " + ", ".join(str(p.relative_to(out)) for p in sorted(out.rglob("*")) if p.is_file()))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "data" / "hf")
