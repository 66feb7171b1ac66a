"""The HF Trainer callback on real (tiny, CPU) training: an overfitting run is stopped near its best step, a healthy
one is not, and the callback's result agrees with `losslint check` on the trainer_state.json the Trainer saved."""
from __future__ import annotations

import logging

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import losslint  # noqa: E402
from losslint.integrations.hf import LosslintCallback  # noqa: E402

VOCAB, LENGTH = 40, 8
MAX_STEPS, EVAL_EVERY = 240, 8


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int, seed: int, flipped: float):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, VOCAB, (n, LENGTH), generator=g)
        rule = (self.ids[:, 0] < VOCAB // 2).long()  # learnable: the first token's half of the vocabulary
        flip = torch.rand(n, generator=g) < flipped
        self.labels = torch.where(flip, 1 - rule, rule)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(LENGTH, dtype=torch.long),
                "labels": self.labels[i]}


def train(tmp_path, *, overfit: bool, stop_on: str | None):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=LENGTH, num_labels=2,
                                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = transformers.BertForSequenceClassification(config)
    # overfitting: 48 examples of a learnable rule with a third of the labels flipped: the validation loss (clean
    # labels) falls while the rule is learnt, then rises while the flipped labels are memorised; healthy: 512
    # clean examples of the same rule
    train_set = Tokens(48, 1, flipped=0.35) if overfit else Tokens(512, 1, flipped=0.0)
    val_set = Tokens(128, 2, flipped=0.0)
    out = tmp_path / "out"
    args = transformers.TrainingArguments(
        output_dir=str(out), max_steps=MAX_STEPS, per_device_train_batch_size=8, per_device_eval_batch_size=64,
        learning_rate=1e-3, eval_strategy="steps", eval_steps=EVAL_EVERY, logging_steps=EVAL_EVERY,
        save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, seed=0, warmup_steps=0,
        lr_scheduler_type="constant", dataloader_num_workers=0)
    callback = LosslintCallback(stop_on=stop_on, report_dir=tmp_path / "report", config={"fail-on": "warning"})
    trainer = transformers.Trainer(model=model, args=args, train_dataset=train_set, eval_dataset=val_set,
                                   callbacks=[callback])
    trainer.train()
    trainer.save_state()
    return callback, trainer, out


def eval_losses(trainer):
    return [(e["step"], e["eval_loss"]) for e in trainer.state.log_history if "eval_loss" in e]


def agree(callback, out):
    offline = losslint.check(out, config={"fail-on": "warning"})
    assert not offline.errors and len(offline.results) == 1
    live, saved = callback.result, offline.results[0]
    assert live.verdict == saved.verdict
    assert sorted((f.code, f.metric) for f in live.findings) == sorted((f.code, f.metric) for f in saved.findings)
    assert live.early_stop is not None and saved.early_stop is not None
    assert live.early_stop.best_step == saved.early_stop.best_step


def test_an_overfitting_run_is_stopped_near_its_best_step(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="losslint")
    callback, trainer, out = train(tmp_path, overfit=True, stop_on="warning")
    steps = [s for s, _ in eval_losses(trainer)]
    assert callback.stopped_at is not None and callback.stopped_at < MAX_STEPS
    assert trainer.state.global_step == callback.stopped_at  # the Trainer stopped where the callback said
    best = min(eval_losses(trainer), key=lambda p: p[1])[0]
    # the step to keep lies near the lowest validation loss: within a few evaluations of it, and before the stop
    assert callback.best_step is not None and callback.best_step < callback.stopped_at
    assert abs(callback.best_step - best) <= 4 * EVAL_EVERY, (callback.best_step, best, steps)
    assert callback.result.verdict == "overfitting"
    assert any("stopping training" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "report" / "report.md").is_file()
    agree(callback, out)


def test_a_healthy_run_is_not_stopped(tmp_path):
    callback, trainer, out = train(tmp_path, overfit=False, stop_on="warning")
    assert callback.stopped_at is None
    assert trainer.state.global_step == MAX_STEPS
    assert callback.result.verdict not in ("overfitting", "diverged")
    agree(callback, out)


def test_findings_are_logged_once(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="losslint")
    callback, trainer, out = train(tmp_path, overfit=True, stop_on=None)  # advise only: trains to the end
    assert callback.stopped_at is None and trainer.state.global_step == MAX_STEPS
    messages = [r.getMessage() for r in caplog.records if r.name == "losslint"]
    # "losslint: O102 warning at step 40: ..." once per finding, though the check ran after every evaluation
    found = [m.split()[1] for m in messages if m.split()[1][:1] in "DOUIT" and m.split()[1][1:].isdigit()]
    assert found and len(found) == len(set(found))
    assert {f.code for f in callback.result.findings} <= set(found)
    assert sum("would stop" in m for m in messages) == 1
    agree(callback, out)
