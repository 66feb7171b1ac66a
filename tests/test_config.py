"""Configuration: presets, discovery upward from the working directory, selectors, per-rule params, errors."""
import textwrap

import pytest

from losslint.config import Config, coerce, config_for, find_config_file, load_config, presets_dir
from losslint.errors import ConfigError


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_presets_ship_and_differ():
    assert (presets_dir() / "default.toml").is_file()
    default, strict, relaxed = (load_config(preset=p) for p in ("default", "strict", "relaxed"))
    assert default.fail_on == "warning" and strict.fail_on == "info" and relaxed.fail_on == "error"
    assert strict.params_for("O101")["min_rise"] < default.params_for("O101")["min_rise"] \
        < relaxed.params_for("O101")["min_rise"]
    assert "D003" in default.enabled_codes() and "D003" not in relaxed.enabled_codes()
    assert strict.params_for("D003")["severity"] == "warning"


def test_found_upward_from_the_working_directory_in_pyproject(tmp_path, monkeypatch):
    write(tmp_path / "pyproject.toml", """
        [tool.losslint]
        select = ["O"]
        [tool.losslint.rules.O101]
        min_rise = 0.2
        severity = "error"
    """)
    run_dir = tmp_path / "runs" / "a"
    run_dir.mkdir(parents=True)
    assert find_config_file(run_dir) == tmp_path / "pyproject.toml"
    monkeypatch.chdir(run_dir)
    config = config_for([run_dir])
    assert config.enabled_codes() and all(code.startswith("O") for code in config.enabled_codes())
    params = config.params_for("O101")
    assert params["min_rise"] == 0.2 and params["severity"] == "error" and params["noise_k"] == 3.0


def test_pyproject_without_a_losslint_table_is_skipped_and_losslint_toml_wins(tmp_path, monkeypatch):
    write(tmp_path / "losslint.toml", 'extends = "strict"\n')
    write(tmp_path / "sub" / "pyproject.toml", "[project]\nname = 'x'\n")
    assert find_config_file(tmp_path / "sub") == tmp_path / "losslint.toml"
    write(tmp_path / "pyproject.toml", "[tool.losslint]\nfail-on = 'error'\n")
    assert find_config_file(tmp_path) == tmp_path / "losslint.toml"
    monkeypatch.chdir(tmp_path / "sub")
    assert config_for([tmp_path / "sub"]).fail_on == "info"


def test_config_is_never_taken_from_the_checked_tree(tmp_path, monkeypatch):
    write(tmp_path / "runs" / "losslint.toml", 'ignore = ["O", "I", "U", "D"]\n')
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert config_for([tmp_path / "runs"]).sources == load_config().sources


def test_extends_takes_a_preset_or_a_toml_file_only(tmp_path):
    write(tmp_path / "passwd", "root = 'x'\n")
    write(tmp_path / "a.toml", 'extends = "passwd"\n')
    with pytest.raises(ConfigError, match="nor a .toml file"):
        load_config(tmp_path / "a.toml")
    write(tmp_path / "b.toml", 'extends = "/etc/passwd"\n')
    with pytest.raises(ConfigError, match="nor a .toml file"):
        load_config(tmp_path / "b.toml")
    write(tmp_path / "base.toml", 'fail-on = "error"\n')
    write(tmp_path / "c.toml", 'extends = "base.toml"\n')
    assert load_config(tmp_path / "c.toml").fail_on == "error"


def test_selectors_most_specific_wins_and_names_work():
    config = Config(select=("O",), ignore=("O101",))
    assert "O101" not in config.enabled_codes() and "O102" in config.enabled_codes()
    config = Config(select=("O101",), ignore=("O",))
    assert config.enabled_codes() == ["O101"]
    config = load_config().with_options(select=["val-loss-rising,I"])
    assert config.enabled_codes() == ["O101", "I301", "I302", "I303", "I304", "I305", "I306", "I307", "I308"]
    config = load_config().with_options(ignore=["D", "T401"], extend_select=["D001"])
    assert "D001" in config.enabled_codes() and "D002" not in config.enabled_codes()
    assert "T401" not in config.enabled_codes()


def test_per_run_ignores_by_glob(tmp_path):
    path = write(tmp_path / "losslint.toml", """
        [per-run-ignores]
        "sweeps/*" = ["U2", "D003"]
    """)
    config = load_config(path)
    assert "U202" not in config.codes_for_run("sweeps/lr-1e-3")
    assert "D003" not in config.codes_for_run("sweeps/lr-1e-3")
    assert "U202" in config.codes_for_run("baseline")


def test_aliases_monitor_and_early_stop_settings(tmp_path):
    path = write(tmp_path / "losslint.toml", """
        monitor = "eval/wer"
        [aliases]
        "my_dev_score" = "eval/loss"
        [early-stop]
        strategy = "default"
        patience = 5
        converged-tolerance = 0.005
    """)
    config = load_config(path)
    assert config.monitor == "eval/wer" and config.aliases == {"my_dev_score": "eval/loss"}
    assert config.early_stop.patience == 5 and config.early_stop.converged_tolerance == 0.005


@pytest.mark.parametrize("text,words", [
    ("selekt = ['O']\n", ["unknown key", "selekt"]),
    ("[rules.X999]\nmin_rise = 1\n", ["X999", "unknown rule"]),
    ("[rules.O101]\nmin_raise = 0.1\n", ["O101", "min_raise", "min_rise"]),
    ("[rules.O101]\nmin_rise = 'high'\n", ["O101.min_rise", "float"]),
    ("[rules.O101]\nseverity = 'fatal'\n", ["severity", "fatal"]),
    ("select = ['Q']\n", ["unknown rule code or prefix", "Q"]),
    ("fail-on = 'never'\n", ["fail-on", "never"]),
    ("extends = 'paranoid'\n", ["paranoid", "not a preset"]),
    ("[early-stop]\npatience = 0\n", ["patience"]),
    ("[early-stop]\nconverged-tolerance = '1%'\n", ["early-stop.converged-tolerance", "a number", "1%"]),
    ("[early-stop]\nconverged-tolerance = 5\n", ["converged-tolerance", "between 0 and 1"]),
    ("[early-stop]\nk-sigma = true\n", ["early-stop.k-sigma", "a number"]),
    ("select = [\n", ["invalid TOML"]),
])
def test_bad_configuration_is_one_clear_error(tmp_path, text, words):
    path = write(tmp_path / "losslint.toml", text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert str(path) in message or "losslint.toml" in message
    for word in words:
        assert word in message


def test_extends_a_file_and_detects_loops(tmp_path):
    write(tmp_path / "base.toml", 'extends = "relaxed"\nfail-on = "warning"\n')
    child = write(tmp_path / "losslint.toml", 'extends = "base.toml"\n')
    config = load_config(child)
    assert config.fail_on == "warning" and "D003" not in config.enabled_codes()
    write(tmp_path / "a.toml", 'extends = "b.toml"\n')
    write(tmp_path / "b.toml", 'extends = "a.toml"\n')
    with pytest.raises(ConfigError, match="loops"):
        load_config(tmp_path / "a.toml")


def test_coerce_accepts_none_config_or_path(tmp_path):
    path = write(tmp_path / "losslint.toml", 'fail-on = "error"\n')
    assert coerce(path).fail_on == "error"
    assert coerce(str(path)).fail_on == "error"
    config = Config(fail_on="info")
    assert coerce(config) is config
    with pytest.raises(ConfigError):
        coerce(42)
    with pytest.raises(ConfigError, match="not found"):
        coerce(tmp_path / "missing.toml")


def test_rule_parameters_are_merged_once_but_every_caller_gets_its_own_copy():
    import dataclasses
    import pickle

    config = coerce({"rules": {"I302": {"window": 12}}}, [])
    first = config.params_for("I302")
    assert first["window"] == 12 and first["severity"] == "warning" and first["z_threshold"] == 6.0
    first["window"] = 99  # a caller that changes its copy changes nothing else
    assert config.params_for("I302")["window"] == 12
    assert pickle.loads(pickle.dumps(config)).params_for("I302")["window"] == 12
    changed = dataclasses.replace(config, rules={"I302": {"window": 14}})
    assert changed.params_for("I302")["window"] == 14 and config.params_for("I302")["window"] == 12
    assert changed == dataclasses.replace(config, rules={"I302": {"window": 14}})
