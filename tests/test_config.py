from pathlib import Path

import pytest

from backtest.config import RunConfig, load_config
from backtest.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_default_toml_matches_built_in_defaults():
    cfg = load_config(ROOT / "configs" / "default.toml")
    defaults = RunConfig()
    assert cfg.walkforward == defaults.walkforward
    assert cfg.forecast == defaults.forecast
    assert cfg.training == defaults.training
    assert cfg.backtest == defaults.backtest
    assert cfg.data.start == "2011-01-01"


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "configs").glob("*.toml")))
def test_every_shipped_config_loads(name):
    load_config(ROOT / "configs" / name)


def test_unknown_key_is_named_with_suggestion(tmp_path):
    with pytest.raises(ConfigError, match=r"\[training\] has no key 'epoch'. Did you mean 'epochs'\?"):
        load_config(write(tmp_path, "[training]\nepoch = 3\n"))


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown section \[trainig\]. Did you mean 'training'\?"):
        load_config(write(tmp_path, "[trainig]\nepochs = 3\n"))


def test_unknown_model_is_named_with_suggestion():
    with pytest.raises(ConfigError,
                       match=r"forecast.models: unknown model 'lstm_stack'. Did you mean 'lstm_stacked'\?"):
        load_config(None, ["forecast.models=['lstm_stack']"])


def test_unknown_rule():
    with pytest.raises(ConfigError, match=r"strategies.rules: unknown rule 'votes'. Did you mean 'vote'\?"):
        load_config(None, ["strategies.rules=['votes']"])


def test_set_override_is_type_checked():
    assert load_config(None, ["training.epochs=7"]).training.epochs == 7
    with pytest.raises(ConfigError, match=r"training.epochs: expected an integer. Got 'many'."):
        load_config(None, ["training.epochs=many"])
    with pytest.raises(ConfigError, match=r"--set expects section.key=value"):
        load_config(None, ["epochs=3"])


def test_literal_choices():
    with pytest.raises(ConfigError, match=r"walkforward.window: expected one of 'rolling', 'expanding'. "
                                          r"Got 'rolled'. Did you mean 'rolling'\?"):
        load_config(None, ["walkforward.window=rolled"])


def test_toml_dates_become_iso_strings(tmp_path):
    assert load_config(write(tmp_path, "[data]\nstart = 2019-01-01\n")).data.start == "2019-01-01"


def test_cross_field_checks():
    with pytest.raises(ConfigError, match="strategies.macd_fast must be below macd_slow"):
        load_config(None, ["strategies.macd_fast=30"])
    with pytest.raises(ConfigError, match=r"forecast.features must include 'close'"):
        load_config(None, ["forecast.features=['open']"])
    with pytest.raises(ConfigError, match='data.source = "csv" needs data.path'):
        load_config(None, ["data.source=csv"])


def test_missing_config_file():
    with pytest.raises(ConfigError, match=r"config file 'nope.toml' does not exist"):
        load_config("nope.toml")


def test_cuda_without_a_gpu_is_refused():
    import torch

    from backtest.engine import resolve_device

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match=r"run.device = 'cuda' but torch sees no CUDA GPU. Use --device cpu or auto."):
        resolve_device("cuda")
