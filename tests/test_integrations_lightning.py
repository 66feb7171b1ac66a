"""The Lightning callback on real (tiny, CPU) training: an overfitting run is stopped near its best step, a healthy
one is not, and the callback's result agrees with `losslint check` on the CSVLogger's metrics.csv."""
from __future__ import annotations

import logging
import warnings

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

import losslint  # noqa: E402
from losslint.integrations.lightning import LosslintCallback  # noqa: E402

FEATURES, EPOCHS = 16, 40


def data(n: int, seed: int, flipped: float):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)
    rule = (x[:, 0] + x[:, 1] > 0).long()  # learnable
    flip = torch.rand(n, generator=g) < flipped
    y = torch.where(flip, 1 - rule, rule)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=False)


class Net(pl.LightningModule):
    def __init__(self, lr: float, weight_decay: float):
        super().__init__()
        self.lr, self.weight_decay = lr, weight_decay
        self.net = torch.nn.Sequential(torch.nn.Linear(FEATURES, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))

    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self.net(x), y), on_epoch=True)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def train(tmp_path, *, overfit: bool, stop_on: str | None, logger: bool = True):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    # overfitting: 48 examples of a learnable rule with a third of the labels flipped (the validation loss falls
    # while the rule is learnt, then rises while the flipped labels are memorised); healthy: 256 clean examples,
    # a smaller step and weight decay (the validation loss falls and flattens)
    train_loader = data(48, 1, 0.35) if overfit else data(256, 1, 0.0)
    model = Net(1e-2, 0.0) if overfit else Net(2e-3, 0.1)
    callback = LosslintCallback(stop_on=stop_on, report_dir=tmp_path / "report", config={"fail-on": "warning"})
    csv = pl.loggers.CSVLogger(str(tmp_path / "logs"), name="run") if logger else False
    trainer = pl.Trainer(max_epochs=EPOCHS, logger=csv, callbacks=[callback], accelerator="cpu", devices=1,
                         enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                         log_every_n_steps=1, num_sanity_val_steps=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the data loaders' worker-count advice
        trainer.fit(model, train_loader, data(256, 2, 0.0))
    return callback, trainer, tmp_path / "logs"


def val_losses(logs):
    import csv

    (path,) = logs.rglob("metrics.csv")
    with open(path, newline="") as fh:
        return [(int(r["step"]), float(r["val_loss"])) for r in csv.DictReader(fh) if r.get("val_loss")]


def agree(callback, logs):
    offline = losslint.check(logs, config={"fail-on": "warning"})
    assert not offline.errors and len(offline.results) == 1
    live, saved = callback.result, offline.results[0]
    assert live.verdict == saved.verdict
    assert sorted((f.code, f.metric) for f in live.findings) == sorted((f.code, f.metric) for f in saved.findings)
    assert live.early_stop is not None and saved.early_stop is not None
    assert live.early_stop.best_step == saved.early_stop.best_step


def test_an_overfitting_run_is_stopped_near_its_best_step(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="losslint")
    callback, trainer, logs = train(tmp_path, overfit=True, stop_on="warning")
    assert callback.stopped_at is not None
    assert trainer.current_epoch < EPOCHS  # stopped before the end
    losses = val_losses(logs)
    assert callback.stopped_at == losses[-1][0]  # at the step of the last validation metrics.csv holds
    best = min(losses, key=lambda p: p[1])[0]
    per_epoch = losses[1][0] - losses[0][0]
    assert callback.best_step is not None and callback.best_step < callback.stopped_at
    assert abs(callback.best_step - best) <= 4 * per_epoch, (callback.best_step, best, losses)
    assert callback.result.verdict == "overfitting"
    assert any("stopping training" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "report" / "report.md").is_file()
    assert callback not in trainer.loggers and all(type(one).__name__ != "_Tap" for one in trainer.loggers)
    agree(callback, logs)


def test_a_healthy_run_is_not_stopped(tmp_path):
    callback, trainer, logs = train(tmp_path, overfit=False, stop_on="warning")
    assert callback.stopped_at is None
    assert trainer.current_epoch == EPOCHS
    assert callback.result.verdict not in ("overfitting", "diverged")
    agree(callback, logs)


def test_without_a_logger_it_reads_the_callback_metrics(tmp_path):
    callback, trainer, _ = train(tmp_path, overfit=True, stop_on="warning", logger=False)
    assert not trainer.loggers
    assert callback.stopped_at is not None and trainer.current_epoch < EPOCHS
    assert callback.best_step is not None and callback.best_step < callback.stopped_at
    assert callback.result.verdict == "overfitting"
