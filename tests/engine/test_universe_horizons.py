"""Universe runs with multi-day targets: the gap they default to, purged folds end to end, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backtest.core.config import load_config
from backtest.core.errors import ConfigError
from backtest.engine import pooled
from backtest.engine.schedule import Fold, make_folds
from backtest.engine.universe import run_universe
from forecasters.trainer import TrainSettings
from tests.conftest import synthetic_universe, universe_config, write_long_csv

pytestmark = pytest.mark.filterwarnings("ignore::backtest.core.errors.DataWarning")


class TestConfig:
    def test_the_gap_defaults_to_horizon_minus_one_in_a_universe_run(self, tmp_path):
        assert universe_config(tmp_path / "x.csv").walkforward.gap == 0
        five = universe_config(tmp_path / "x.csv", "universe.horizon=5")
        assert five.walkforward.gap == 4
        assert make_folds(300, five.walkforward)[0].test_start == 160 + 4  # train_days + gap
        assert universe_config(tmp_path / "x.csv", "universe.horizon=5", "walkforward.gap=0").walkforward.gap == 0
        assert load_config(None, []).walkforward.gap == 0
        assert five.to_dict()["walkforward"]["gap"] == 4  # the resolved config records the number

    @pytest.mark.parametrize(("setting", "message"), [
        ("universe.horizon=21", "universe.horizon is the days the target looks ahead, from 1 to 20"),
        ("universe.horizon=0", "from 1 to 20"),
        ("walkforward.embargo=-1", "walkforward.embargo must be >= 0 days"),
        ("universe.target='rnk'", "Did you mean 'rank'"),
        ("walkforward.val_days=5", r"val_days = 5 holds no validation target.*Raise val_days above 5"),
    ])
    def test_settings_that_have_no_meaning_are_refused(self, setting, message, tmp_path):
        with pytest.raises(ConfigError, match=message):
            universe_config(tmp_path / "x.csv", "universe.horizon=5", setting)

    @pytest.mark.parametrize("setting", ["walkforward.embargo=2", "universe.horizon=5", "universe.rebalance=5",
                                         "universe.rebalance_on='friday'", "universe.groups='g.csv'"])
    def test_a_single_symbol_run_refuses_them_by_name(self, setting):
        key = setting.partition("=")[0]
        with pytest.raises(ConfigError, match=f"{key} = .* does not apply to a single-symbol run"):
            load_config(None, [setting])

    @pytest.mark.parametrize(("setting", "message"), [
        ("universe.rebalance=0", "universe.rebalance is the days between a book's trades, from 1 to 252"),
        ("universe.rebalance_on='fri'", "Did you mean 'friday'"),
    ])
    def test_a_schedule_without_meaning_is_refused(self, setting, message, tmp_path):
        with pytest.raises(ConfigError, match=message):
            universe_config(tmp_path / "x.csv", setting)
        with pytest.raises(ConfigError, match="both set a schedule. Keep one"):
            universe_config(tmp_path / "x.csv", "universe.rebalance=5", "universe.rebalance_on='month_end'")

    def test_fitting_days_count_the_horizon_and_the_embargo(self, tmp_path):
        with pytest.raises(ConfigError, match=r"need at least lookback \+ universe.horizon \+ embargo = 121"):
            universe_config(tmp_path / "x.csv", "forecast.lookback=116", "universe.horizon=3",
                            "walkforward.embargo=2")


FOLDS = [Fold(0, 0, 80, 100, 104, 144), Fold(1, 40, 124, 144, 148, 188)]  # gap 4, as horizon 5 defaults


def _close():
    import pandas as pd

    return pd.concat({s: f["close"] for s, f in synthetic_universe(8, 200).items()}, axis=1)


@pytest.mark.parametrize("target", ["return", "rank"])
def test_no_score_moves_when_prices_after_its_day_change_with_a_five_day_target(target):
    close = _close()
    settings = TrainSettings(epochs=2, batch_size=64, patience=2)

    def scores(c):
        return pooled.pooled_scores(c, FOLDS, ["lstm"], 5, target, seed=3, settings=settings,
                                    device=torch.device("cpu"), horizon=5)

    cut = 130  # inside fold 0's test block: its scores up to row 130 read nothing after it
    moved = close.copy()
    moved.iloc[cut + 1:] *= np.random.default_rng(1).uniform(0.8, 1.2, moved.iloc[cut + 1:].shape)
    base, after = scores(close), scores(moved)
    for name in ("lstm", "linear"):
        np.testing.assert_array_equal(after[name].loc[:close.index[cut]].to_numpy(),
                                      base[name].loc[:close.index[cut]].to_numpy())
        assert base[name].notna().to_numpy().sum() > 0


def test_a_universe_run_with_a_weekly_rank_target(tmp_path):
    path = write_long_csv(synthetic_universe(8, 300), tmp_path / "long.csv")
    result = run_universe(universe_config(path, "forecast.models=['linear']", "universe.target='rank'",
                                          "universe.horizon=5", "walkforward.embargo=1"))
    assert result.folds[0].test_start - result.folds[0].train_end == 4
    linear = result.scores["linear"]
    assert linear.notna().to_numpy().mean() > 0.9 and linear.abs().max().max() < 1.5  # ranks live in [-1, 1]
    assert set(result.ic.index) >= {"linear", "reversal", "naive"}
    # beside the one-day reading: the IC against the 5-day earnable return, HAC lags at least 4
    from backtest.runs.universe import metrics

    assert (result.ic.loc[["linear", "reversal"], "lags_h"] >= 4).all()
    assert np.isfinite(result.ic.loc["linear", "rank_t_hac_h"]) and np.isnan(result.ic.loc["naive", "lags_h"])
    written = metrics(result)
    assert written["horizon_return"] == "open t+1 → open t+6" and written["horizon"] == 5
    assert {"ic_h", "rank_ic_h", "t_hac_h", "rank_t_hac_h"} <= set(written["ic"][0])


class TestTargetProcessors:
    @pytest.mark.parametrize(("setting", "message"), [
        ("universe.target_processors=['robust_zscore']", r"'robust_zscore' does not process a target: it is fitted"),
        ("universe.target_processors=['fill_median']", "nothing to fill"),
        ("universe.target_processors=['cs_rank01']", "cs_rank is the same ranking in"),
        ("universe.target_processors=['cs_rnak']", "Did you mean 'cs_rank'"),
        ("universe.target_processors=['cs_rank', 'cs_rank']", "lists a processor twice"),
    ])
    def test_a_processor_a_label_cannot_take_is_refused_by_name(self, setting, message, tmp_path):
        with pytest.raises(ConfigError, match=message):
            universe_config(tmp_path / "x.csv", setting)

    @pytest.mark.parametrize(("target", "why"), [("rank", "is already ranked within the day"),
                                                 ("zscore", "is already z-scored"), ("above_median", "is a 0/1 label")])
    def test_a_target_already_within_the_day_or_binary_is_refused(self, target, why, tmp_path):
        with pytest.raises(ConfigError, match=f"apply to target = \"return\"; universe.target = '{target}' {why}"):
            universe_config(tmp_path / "x.csv", "universe.target_processors=['cs_rank']", f"universe.target='{target}'",
                            "training.loss='bce'" if target == "above_median" else "training.loss='mse'")

    def test_a_single_symbol_run_refuses_it_by_name(self):
        with pytest.raises(ConfigError, match="universe.target_processors = .* does not apply to a single-symbol run"):
            load_config(None, ["universe.target_processors=['cs_rank']"])

    def test_a_run_trains_on_the_ranked_labels(self, tmp_path):
        path = write_long_csv(synthetic_universe(8, 300), tmp_path / "long.csv")
        config = universe_config(path, "forecast.models=['linear']", "universe.target_processors=['cs_rank']",
                                 "universe.horizon=5", "strategies.rules=[]", "universe.books=['long_short']",
                                 "walkforward.max_folds=1")
        result = run_universe(config)
        close = result.universe.field("close")
        windows = pooled.fold_windows(close, result.folds, config.forecast.lookback, "return", horizon=5,
                                      target_processors=["cs_rank"])
        assert all(np.isin(np.round(w.y_train * 7, 4), np.arange(-7, 8)).all() for w in windows)  # ranks of 8
        expected = pooled._to_frame(close, result.folds, pooled.linear_parts(windows, result.folds))
        np.testing.assert_array_equal(result.scores["linear"].to_numpy(), expected.to_numpy())
