"""Training callbacks: the configured rules and the online stop while a run trains.

- `losslint.integrations.hf.LosslintCallback`: a `transformers.TrainerCallback` (extra `hf`);
- `losslint.integrations.lightning.LosslintCallback`: a `lightning.pytorch.Callback` (extra `lightning`);
- `losslint.integrations.keras.LosslintCallback`: a `keras.callbacks.Callback`, Keras 3 (extra `keras`).

Each imports its framework only when the class is first asked for (`import losslint` never imports one), and
shares `_live.LiveCheck`: the run so far in the schema the offline readers give, `engine.check_run` after each
evaluation, findings logged once, the online stop (`early_stop.OnlineStop`), the report bundle at train end.
"""
