import dataclasses
import re
import typing
from pathlib import Path

import pytest

from backtest.core.config import RunConfig, load_config
from backtest.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_default_toml_matches_built_in_defaults():
    cfg = load_config(ROOT / "configs" / "default.toml")
    defaults, no_file = RunConfig(), load_config(None)
    for section in dataclasses.fields(RunConfig):
        assert getattr(cfg, section.name) == getattr(defaults, section.name), section.name
        assert getattr(no_file, section.name) == getattr(defaults, section.name), section.name
    assert cfg.data.start == "2011-01-01"  # the sample's last 8 years: 20 folds


def test_keys_a_file_leaves_out_keep_the_built_in_run(tmp_path):
    cfg = load_config(write(tmp_path, '[data]\nsource = "csv"\npath = "p.csv"\n'))
    assert cfg.data.start == RunConfig().data.start == "2011-01-01"  # as `--set data.source=csv` on default.toml
    assert load_config(ROOT / "configs" / "default.toml", ["data.source='csv'", "data.path='p.csv'"]).data == cfg.data


RUN_CONFIGS = sorted(p.name for p in (ROOT / "configs").glob("*.toml") if not p.name.startswith("sweep"))


@pytest.mark.parametrize("name", RUN_CONFIGS)
def test_every_shipped_run_config_loads_and_is_named_for_its_file(name):
    cfg = load_config(ROOT / "configs" / name)
    assert cfg.run.name == name.removesuffix(".toml")  # its runs land in runs/<file name>


def test_the_shipped_sweep_expands_to_its_cells(monkeypatch):
    from backtest.sweep.spec import load_sweep, make_cells

    monkeypatch.chdir(ROOT)  # symbols_dir is relative to the current directory, as data.path is
    spec = load_sweep(ROOT / "configs" / "sweep_example.toml")
    cells = make_cells(spec, ROOT / "runs" / spec.name)
    assert len(spec.symbols) == 6 and len(cells) == 18
    assert {c.config.forecast.lookback for c in cells} == {5, 10, 20}
    assert all(c.config.data.source == "csv" and c.config.data.start == "2011-01-01" for c in cells)
    assert cells[0].config.forecast.models == load_config(ROOT / "configs" / "default.toml").forecast.models


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

    from backtest.engine.devices import resolve_device

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match=r"run.device = 'cuda' but torch sees no CUDA GPU. Use --device cpu or auto."):
        resolve_device("cuda")


@pytest.mark.parametrize("setting, shown", [
    ("training.lr=nan", "nan"), ("training.lr=inf", "inf"), ("training.min_delta=nan", "nan"),
    ("strategies.threshold=nan", "nan"), ("strategies.bollinger_k=inf", "inf"), ("strategies.bollinger_k=-inf", "-inf"),
    ("backtest.init_cash=nan", "nan"), ("backtest.fees=nan", "nan"), ("backtest.slippage=inf", "inf"),
    ("backtest.tax=nan", "nan"),
])
def test_non_finite_numbers_are_refused(setting, shown):
    where = setting.split("=")[0]
    with pytest.raises(ConfigError, match=rf"^{re.escape(where)}: expected a finite number. Got {shown}. Write a "
                                          r"number such as the default, "):
        load_config(None, [setting])


def test_every_float_setting_is_checked_for_finite_values():
    sections = [s for s in dataclasses.fields(RunConfig) if s.name != "networks"]  # networks: test_config_networks
    floats = [f"{s.name}.{f.name}" for s in sections
              for f in dataclasses.fields(typing.get_type_hints(RunConfig)[s.name])
              if typing.get_type_hints(typing.get_type_hints(RunConfig)[s.name])[f.name] is float]
    assert len(floats) >= 8  # lr, min_delta, threshold, bollinger_k, init_cash, fees, tax, slippage
    for where in floats:
        with pytest.raises(ConfigError, match=rf"^{re.escape(where)}: expected a finite number. Got nan."):
            load_config(None, [f"{where}=nan"])


def test_nan_in_a_toml_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"^training.lr: expected a finite number. Got nan."):
        load_config(write(tmp_path, "[training]\nlr = nan\n"))


@pytest.mark.parametrize("setting, message", [
    ("training.lr=0", "training.lr must be a learning rate in (0, 1], e.g. 0.001. Got 0.0."),
    ("training.lr=2.0", "training.lr must be a learning rate in (0, 1], e.g. 0.001. Got 2.0."),
    ("training.min_delta=-0.1", "training.min_delta must be a loss improvement >= 0, e.g. 0.0. Got -0.1."),
    ("strategies.threshold=1.5", "strategies.threshold must be a fraction of the close in (-1, 1), e.g. 0.002 for "
                                 "0.2 %. Got 1.5."),
    ("strategies.bollinger_k=0", "strategies.bollinger_k must be a band width in standard deviations, in (0, 10], "
                                 "e.g. 2.0. Got 0.0."),
    ("backtest.init_cash=0", "backtest.init_cash must be a positive amount up to 1e12, e.g. 100000.0. Got 0.0."),
    ("backtest.init_cash=1e300", "backtest.init_cash must be a positive amount up to 1e12, e.g. 100000.0. Got 1e+300."),
    ("backtest.fees=0.5", "backtest.fees must be a fraction of traded value in [0, 0.1), e.g. 0.001 for 10 bp. "
                          "Got 0.5."),
    ("backtest.tax=-0.01", "backtest.tax must be a fraction of traded value in [0, 0.1), e.g. 0.001 for 10 bp. "
                           "Got -0.01."),
    ("run.threads=0", "run.threads must be between 1 and 1024, or left out to use every core this process may use. "
                      "Got 0."),
])
def test_numbers_outside_their_range_are_refused(setting, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_config(None, [setting])


@pytest.mark.parametrize("name", ["../../x", "/tmp/abs", "", ".", "..", "a/b", "na me", "x\u00e9"])
def test_run_name_must_be_a_plain_folder_name(name):
    with pytest.raises(ConfigError, match=r"^run.name must be a plain folder name \(letters, digits, '.', '_', '-'; "
                                          rf"not '.' or '..'\), since the run is written to out_dir/<name>. "
                                          rf"Got {re.escape(repr(name))}. Pick a name like"):
        load_config(None, [f"run.name={name!r}"])


@pytest.mark.parametrize("name", ["default", "tsmc-2024", "a.b_c", "-x", "v1.2"])
def test_plain_run_names_are_accepted(name):
    assert load_config(None, [f"run.name={name!r}"]).run.name == name


def test_latin1_config_file_is_a_message(tmp_path):
    path = tmp_path / "c.toml"
    path.write_bytes('# café prices\n[run]\nname = "x"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=rf"^config file {re.escape(repr(str(path)))} is not UTF-8 text "
                                          r"\(byte 0xe9 on line 1\), which TOML requires. Save it as UTF-8"):
        load_config(path)


def test_config_path_that_is_a_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"is a folder. Pass a path to a .toml file"):
        load_config(tmp_path)


@pytest.mark.parametrize(("override", "message"), [
    ("statistics.significance=0.7",
     r"statistics.significance is a p-value threshold in \(0, 0.5\), e.g. 0.05. Got 0.7."),
    ("statistics.mcs_size=1.0", r"statistics.mcs_size must be in \(0, 1\), e.g. 0.10. Got 1.0."),
    ("statistics.bootstrap_reps=10", r"statistics.bootstrap_reps must be at least 100 \(1000 is usual\). Got 10."),
    ("statistics.pbo_blocks=15",
     r"statistics.pbo_blocks must be an even number from 4 to 20 \(16 is usual\). Got 15."),
    ("forecast.representation='price'", r"forecast.representation: expected one of 'return', 'level'. Got 'price'."),
])
def test_statistics_and_representation_settings_are_checked(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_an_unknown_source_is_named_with_the_sources_of_the_table_and_a_suggestion():
    with pytest.raises(ConfigError, match=r"data.source: expected one of 'sample', 'csv', 'yfinance', 'tej'\. "
                                          r"Got 'yfinanse'\. Did you mean 'yfinance'\?"):
        load_config(None, ["data.source='yfinanse'"])


@pytest.mark.parametrize(("sets", "message"), [
    (["strategies.fraction=0"], "strategies.fraction must be a share of equity in (0, 1], e.g. 0.5. Got 0.0."),
    (["strategies.fraction=1.5"], "strategies.fraction must be a share of equity in (0, 1], e.g. 0.5. Got 1.5."),
    (["strategies.target_vol=0"], "strategies.target_vol must be an annual volatility in (0, 2], e.g. 0.10. Got 0.0."),
    (["strategies.target_vol=2.5"], "strategies.target_vol must be an annual volatility in (0, 2], e.g. 0.10. "
                                    "Got 2.5."),
    (["strategies.vol_window=1"], "strategies.vol_window must be a number of days >= 2, e.g. 20. Got 1."),
    (["strategies.max_leverage=2"], "strategies.max_leverage must be a cap in (0, 1], e.g. 1.0 (vectorbt 1.2's "
                                    "from_signals lends no cash for longs, so a long cannot be larger than the "
                                    "cash). Got 2.0."),
    (["strategies.max_leverage=0"], "strategies.max_leverage must be a cap in (0, 1], e.g. 1.0 (vectorbt 1.2's "
                                    "from_signals lends no cash for longs, so a long cannot be larger than the "
                                    "cash). Got 0.0."),
    (["backtest.borrow=-0.01"], "backtest.borrow must be a yearly rate in [0, 1), e.g. 0.005 for 50 bp. Got -0.01."),
    (["backtest.borrow=1"], "backtest.borrow must be a yearly rate in [0, 1), e.g. 0.005 for 50 bp. Got 1.0."),
    (["strategies.stop_loss=1"], "strategies.stop_loss must be a fraction in [0, 1) (0.05 = 5 %), or 0 or left out "
                                 "for none. Got 1.0."),
    (["strategies.trailing_stop=-0.1"], "strategies.trailing_stop must be a fraction in [0, 1) (0.05 = 5 %), or 0 "
                                        "or left out for none. Got -0.1."),
    (["strategies.take_profit=10"], "strategies.take_profit must be a fraction in [0, 10) (0.05 = 5 %), or 0 or "
                                    "left out for none. Got 10.0."),
    (["strategies.stop_loss=0.05", "strategies.trailing_stop=0.1"],
     "strategies.stop_loss and trailing_stop are both set (0.05 and 0.1); vectorbt keeps one stop-loss per "
     "position. Set one of them and leave the other out."),
    (["strategies.take_profit=0.1", "backtest.execution='close'"],
     "strategies.stop_loss, take_profit and trailing_stop are checked against each day's open, high and low, which "
     "needs backtest.execution = \"next_open\". Got 'close'. Set execution = \"next_open\" or leave the stops out."),
    (["strategies.direction='sideways'"], "strategies.direction: expected one of 'long', 'short', 'both'. Got "
                                          "'sideways'."),
])
def test_trader_settings_outside_what_they_can_mean_are_refused(sets, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        load_config(None, sets)


@pytest.mark.parametrize("sets", [
    ["strategies.fraction=1", "strategies.target_vol=2", "strategies.vol_window=2", "strategies.max_leverage=1",
     "backtest.borrow=0", "strategies.stop_loss=0", "strategies.take_profit=9.5", "strategies.trailing_stop=0.99"],
    ["strategies.stop_loss=0.05", "strategies.trailing_stop=0", "strategies.direction='both'",
     "strategies.sizing='agreement'"],
    ["backtest.execution='close'", "strategies.stop_loss=0", "strategies.direction='short'"],
])
def test_the_edges_of_the_trader_settings_are_accepted(sets):
    load_config(None, sets)
