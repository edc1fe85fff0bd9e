"""Settings of a single-symbol run that no other test sets in such a run: each test sets one and shows what it
changes there.

The series: 200 seeded business days (``synthetic_prices``), one fold (rows 0..160 to fit, the last 40 of them
to validate, 160..200 tested). The network is a two-unit LSTM, ``tiny``, trained three epochs beside the linear
baseline; every variant is the module's base run with one setting changed. The statistics and sizing settings
are shown on the functions ``trade_and_score`` calls with them, on named seeded returns and a named close.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from backtest.core.config import StatisticsSection, StrategiesSection, load_config
from backtest.engine import devices, pipeline
from backtest.kinds import read_folder, write_run
from backtest.scoring.evaluation import evaluate_trading
from strategies.sizing import strategy_sizes
from tests.conftest import synthetic_prices

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

PRICES = synthetic_prices(200)
BASE = ["networks.tiny.cell='lstm'", "networks.tiny.hidden=[2]", "forecast.models=['tiny', 'linear']",
        "forecast.lookback=3", "training.epochs=3", "training.patience=3", "training.batch_size=32",
        "walkforward.train_days=160", "walkforward.val_days=40", "walkforward.test_days=40",
        "strategies.rules=['forecast']", "statistics.bootstrap_reps=100", "statistics.pbo_blocks=4"]


def _run(*sets: str):  # type: ignore[no-untyped-def]
    return pipeline.run(load_config(None, [*BASE, *sets]), prices=PRICES)


@pytest.fixture(scope="module")
def base():  # type: ignore[no-untyped-def]
    return _run()


def _predicted(result, model: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    return result.predictions.loc[result.predictions.model == model, "predicted"].to_numpy()


def test_the_same_settings_give_the_same_predictions(base):  # what changes below is the setting's doing
    np.testing.assert_array_equal(_predicted(_run(), "tiny"), _predicted(base, "tiny"))


@pytest.mark.parametrize("setting", ["run.seed=1", "training.lr=0.05", "training.batch_size=16",
                                     "forecast.lookback=5"])
def test_each_training_setting_changes_the_networks_predictions(base, setting):
    other = _run(setting)
    assert len(_predicted(other, "tiny")) == len(_predicted(base, "tiny")) == 40
    assert not np.allclose(_predicted(other, "tiny"), _predicted(base, "tiny"))


def _epochs(result) -> list[int]:  # type: ignore[no-untyped-def]
    return result.fold_log.loc[result.fold_log.model == "tiny", "epochs"].tolist()


def test_training_min_delta_stops_when_no_epoch_improves_by_that_much(base):
    assert _epochs(base) == [3]
    # the validation loss falls every epoch (1.2690, 1.2651, 1.2606): by any amount, training goes on to the end;
    # by a million (no loss falls that far), epoch 2 does not count as better and patience 1 stops there
    assert _epochs(_run("training.min_delta=0.0", "training.patience=1")) == [3]
    stopped = _run("training.min_delta=1e6", "training.patience=1")
    assert _epochs(stopped) == [2] and stopped.fold_log["best_epoch"].iloc[0] == 1


def test_forecast_representation_level_changes_the_linear_forecast(base):
    level = _run("forecast.representation='level'")
    assert not np.allclose(_predicted(level, "linear"), _predicted(base, "linear"))
    assert level.manifest["representation"] == "level" and base.manifest["representation"] == "return"


def test_strategies_rules_are_the_per_model_strategies_traded(base):
    assert {"tiny:forecast", "linear:forecast"} <= set(base.trading_metrics.index)
    assert not any(name.endswith((":vote", ":forecast+macd")) for name in base.trading_metrics.index)
    more = _run("strategies.rules=['forecast+macd', 'vote']")
    per_model = {n for n in more.trading_metrics.index if ":" in n}
    assert per_model == {"tiny:forecast+macd", "tiny:vote", "linear:forecast+macd", "linear:vote"}


def test_run_device_is_the_device_the_run_trains_on_and_records(base, monkeypatch):
    assert base.manifest["device"] == "cpu"  # auto, on a machine without a GPU
    asked = []
    monkeypatch.setattr(pipeline, "prepare_device", lambda choice: asked.append(choice) or torch.device("cpu"))
    assert _run("run.device='cpu'").manifest["device"] == "cpu" and asked == ["cpu"]  # the setting picks it
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # auto takes a GPU when torch sees one
    assert devices.resolve_device("auto") == torch.device("cuda")
    assert devices.resolve_device("cpu") == torch.device("cpu")


def test_run_out_dir_is_where_the_run_folder_goes(base, tmp_path):
    config = load_config(None, [*BASE, f"run.out_dir={str(tmp_path / 'elsewhere')!r}", "run.name='one'"])
    folder = write_run(replace(base, config=config))
    assert folder == tmp_path / "elsewhere" / "one" and read_folder(folder).manifest["kind"] == "single"


def test_strategies_vol_window_is_the_window_vol_target_sizing_reads():
    close = pd.Series([100.0, 101, 100, 101, 100, 130, 128, 131], index=pd.bdate_range("2024-01-01", periods=8))
    sizes = {w: strategy_sizes(["m:forecast"], close, {}, {}, StrategiesSection(
        sizing="vol_target", target_vol=0.1, vol_window=w))["m:forecast"] for w in (2, 4)}
    for w, size in sizes.items():
        vol = np.std(close.pct_change().iloc[-w:], ddof=1) * math.sqrt(252)
        assert size.iloc[-1] == pytest.approx(min(1.0, 0.1 / vol))
    assert sizes[2].iloc[-1] != pytest.approx(sizes[4].iloc[-1])


def test_statistics_bootstrap_reps_and_pbo_blocks_are_the_tests_resamples_and_blocks():
    rng = np.random.default_rng(3)
    returns = pd.DataFrame({"buy_and_hold": rng.normal(0.0004, 0.01, 240),
                            **{f"s{k}": rng.normal(0.0006, 0.01, 240) for k in range(4)}})
    table = pd.DataFrame(index=pd.Index(list(returns), name="strategy"))

    def summary(**cfg):  # type: ignore[no-untyped-def]
        return evaluate_trading(table, returns, "buy_and_hold", StatisticsSection(**cfg), 0).summary

    few, many = summary(bootstrap_reps=100, pbo_blocks=4), summary(bootstrap_reps=1000, pbo_blocks=4)
    assert few["spa_p"] != many["spa_p"] and (few["pbo"], few["pbo_splits"]) == (many["pbo"], many["pbo_splits"])
    six = summary(bootstrap_reps=100, pbo_blocks=6)
    assert (few["pbo_splits"], six["pbo_splits"]) == (6, 20)  # C(4, 2) and C(6, 3) ways to split the blocks in half
    assert six["spa_p"] == few["spa_p"]
