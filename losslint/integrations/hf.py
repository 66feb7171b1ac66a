"""`LosslintCallback` for the Hugging Face `Trainer` (the `hf` extra).

    from losslint.integrations.hf import LosslintCallback
    callback = LosslintCallback(stop_on="warning", report_dir="losslint-report")
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val, callbacks=[callback])
    trainer.train()
    print(callback.result.verdict, callback.best_step)

The run is the Trainer's own `state.log_history`, turned into a `Run` by the trainer_state reader
(`io.trainer_state.state_to_run`), so metric names and steps are those `losslint check` reads from the
`trainer_state.json` the Trainer saves (`trainer.save_state()`, and every `checkpoint-N/`); `on_log` has nothing
to add, as every logged value is already in `state.log_history` when the next evaluation comes. After each evaluation
(`on_evaluate`) the configured rules run and new findings are logged (the `losslint` logger and the transformers
logger); on a stop (see `losslint.integrations._live`) `control.should_training_stop` is set and the step whose
checkpoint to keep is logged and kept in `callback.best_step`. At train end `callback.result` is the `Result`.

`transformers` is imported when `LosslintCallback` is first looked up, never by `import losslint`.
"""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from ..io.trainer_state import metric_name, state_to_run
from ..schema import Run
from ._live import LiveCheck, LiveResults, lazy_callback, missing_framework

if importlib.util.find_spec("transformers") is None:
    raise missing_framework("hf", "transformers")



def run_of_state(state: Any, output_dir: str | None, name: str | None = None) -> Run:
    """The run so far from a `TrainerState` (what `trainer_state.json` will hold)."""
    where = Path(output_dir or ".") / "trainer_state.json"
    document = {"log_history": list(state.log_history), "global_step": state.global_step}
    return state_to_run(document, where, name or Path(output_dir or "run").name)


def _build() -> type:
    try:
        from transformers import TrainerCallback
        from transformers.utils import logging as hf_logging
    except ImportError as exc:  # pragma: no cover - find_spec found it, yet it does not import
        raise missing_framework("hf", "transformers") from exc
    trainer_logger = hf_logging.get_logger("transformers.trainer")

    class LosslintCallback(LiveResults, TrainerCallback):
        """losslint's rules and online stop inside `Trainer.train()` (see the module docstring)."""

        def __init__(self, *, config: Any = None, monitor: str | None = None, stop_on: str | None = None,
                     report_dir: Any = None, name: str | None = None) -> None:
            # `monitor` may be the Trainer's key (`eval_loss`, `eval_accuracy`) or a losslint name (`eval/loss`)
            canonical = None if monitor is None else (metric_name(monitor, []) if "/" not in monitor else monitor)
            self.live = LiveCheck(config=config, monitor=canonical, stop_on=stop_on, report_dir=report_dir,
                                  sinks=(lambda level, message: trainer_logger.log(level, message),))
            self.name = name

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            run = run_of_state(state, args.output_dir, self.name)
            if self.live.update(run, int(state.global_step)):
                control.should_training_stop = True
                if state.best_model_checkpoint:
                    self.live.say(logging.WARNING, f"losslint: the Trainer's best checkpoint is "
                                                   f"{state.best_model_checkpoint}")
            return control

        def on_train_end(self, args, state, control, **kwargs):
            self.live.finish(run_of_state(state, args.output_dir, self.name))
            return control

    return LosslintCallback


__getattr__ = lazy_callback(__name__, _build)
