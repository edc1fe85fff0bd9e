"""Position sizes (strategies.sizing) worked by hand on named series: rising, falling, oscillating."""

import math

import numpy as np
import pandas as pd
import pytest

from backtest.core.config import StrategiesSection
from strategies.sizing import agreement_size, forecast_size, strategy_sizes, vol_target_size
from tests.conftest import synthetic_prices


def series(values):
    return pd.Series(values, index=pd.bdate_range("2020-01-01", periods=len(values)), dtype=float)


def test_vol_target_on_an_oscillating_series_by_hand():
    close = series([10, 12, 10, 12, 10])  # returns +20 %, -1/6, +20 %, -1/6
    size = vol_target_size(close, target_vol=0.5, window=2, cap=1.0)
    realised = np.std([0.2, -1 / 6], ddof=1) * math.sqrt(252)  # 4.116: every 2-day window has one of each
    assert size.iloc[:2].tolist() == [0.0, 0.0]  # fewer than 2 returns known: no position
    np.testing.assert_allclose(size.iloc[2:], 0.5 / realised, rtol=1e-12)


def test_vol_target_on_steady_rising_and_falling_series_is_the_cap():
    for step in (1.01, 0.99):
        close = series(100 * step ** np.arange(6))  # every return the same: volatility 0
        size = vol_target_size(close, target_vol=0.1, window=3, cap=0.8)
        assert size.iloc[:3].tolist() == [0.0] * 3 and size.iloc[3:].tolist() == pytest.approx([0.8] * 3)


def test_vol_target_caps_at_max_leverage_and_reads_the_window():
    close = series([100, 101, 100, 101, 100, 130])
    size = vol_target_size(close, target_vol=2.0, window=2, cap=0.7)
    assert size.iloc[2:5].tolist() == [0.7] * 3  # 1 % swings: 2.0 / 0.22 is far above the cap
    wide = vol_target_size(close, target_vol=0.1, window=4, cap=1.0)
    assert wide.iloc[:4].tolist() == [0.0] * 4
    assert wide.iloc[5] == pytest.approx(0.1 / (np.std(close.pct_change().iloc[2:6], ddof=1) * math.sqrt(252)))


# close 100, 110, 99, 108.9; predictions made at each close for the next:
# day 0 +5 % (happened +10 %: error -0.05, known at close 1); day 1 +10 % (happened -10 %: error +0.20);
# day 2 +2 % (happened +10 %: error -0.08); day 3 -3 %.
FC_CLOSE = [100.0, 110.0, 99.0, 108.9]
FC_PRED = [105.0, 121.0, 99.0 * 1.02, 108.9 * 0.97]


def test_forecast_size_by_hand():
    close, pred = series(FC_CLOSE), series(FC_PRED)
    size = forecast_size(close, pred, window=2, cap=1.0)
    assert size.iloc[:2].tolist() == [0.0, 0.0]  # day 1 knows one error only
    assert size.iloc[2] == pytest.approx(0.02 / math.sqrt((0.05**2 + 0.20**2) / 2), rel=1e-12)
    assert size.iloc[3] == pytest.approx(0.03 / math.sqrt((0.20**2 + 0.08**2) / 2), rel=1e-12)  # |-3 %|: shorts too
    capped = forecast_size(close, pred, window=2, cap=0.15)
    assert capped.iloc[3] == 0.15 and capped.iloc[2] == pytest.approx(size.iloc[2])


def test_forecast_size_is_zero_without_a_prediction_and_capped_when_the_past_was_perfect():
    close = series([100.0, 101.0, 102.01, 103.0301, 104.060401])
    pred = close.shift(-1).iloc[:3]  # perfect forecasts for days 0-2, none after
    size = forecast_size(close, pred, window=2, cap=0.9)
    assert size.tolist() == [0.0, 0.0, 0.9, 0.0, 0.0]  # day 2: errors 0, 0 and a +1 % forecast: the cap


def test_agreement_is_the_share_of_seeds_moving_with_their_mean():
    close = series([10.0, 10.0, 10.0, 10.0])
    seeds = pd.DataFrame({"seed_0": [11, 9, 10, 8], "seed_1": [12, 9, 10, 8], "seed_2": [9, 9, 10, 13.0]},
                         index=close.index[:4]).iloc[:3]
    size = agreement_size(close, seeds, cap=1.0)
    assert size.tolist() == pytest.approx([2 / 3, 1.0, 0.0, 0.0])  # day 2: no move predicted; day 3: none
    assert agreement_size(close, seeds, cap=0.5).tolist() == pytest.approx([0.5, 0.5, 0.0, 0.0])
    falling = pd.DataFrame({"seed_0": [9.0], "seed_1": [9.5], "seed_2": [10.2]}, index=close.index[:1])
    assert agreement_size(close, falling).iloc[0] == pytest.approx(2 / 3)  # mean 9.57: down, as two of three


def test_agreement_with_one_seed_is_all_in():
    close = series([10.0, 10.0, 10.0])
    one = pd.DataFrame({"predicted": [11.0, 9.0, 12.0]}, index=close.index)
    assert agreement_size(close, one).tolist() == [1.0, 1.0, 1.0]


def _cfg(**kw):
    return StrategiesSection(**{"vol_window": 2, **kw})


def test_strategy_sizes_give_each_strategy_its_sizing():
    close, pred = series(FC_CLOSE), series(FC_PRED)
    seeds = {"m": pd.DataFrame({"seed_0": [101.0, 99, 98, 97], "seed_1": [99.0, 99, 98, 97]}, index=close.index)}
    names = ["m:forecast", "bollinger", "buy_and_hold"]
    sizes = {s: strategy_sizes(names, close, {"m": pred}, seeds, _cfg(sizing=s, max_leverage=0.8, fraction=0.3))
             for s in ("all_in", "fixed", "vol_target", "forecast", "agreement")}
    for sizing, got in sizes.items():
        assert got["buy_and_hold"].tolist() == [1.0] * 4, sizing  # the benchmark is all in under every sizing
    assert sizes["all_in"]["m:forecast"].tolist() == [0.8] * 4 and sizes["fixed"]["bollinger"].tolist() == [0.3] * 4
    vol = vol_target_size(close, 0.10, 2, 0.8)
    assert sizes["vol_target"]["m:forecast"].equals(vol) and sizes["vol_target"]["bollinger"].equals(vol)
    assert sizes["forecast"]["m:forecast"].equals(forecast_size(close, pred, 2, 0.8))
    assert sizes["forecast"]["bollinger"].tolist() == [0.8] * 4  # no model: all in, capped
    assert sizes["agreement"]["m:forecast"].tolist() == pytest.approx([0.0, 0.8, 0.8, 0.8])  # day 0: 101 vs 99
    assert sizes["agreement"]["bollinger"].tolist() == [0.8] * 4
    steady = series(100 * 1.01 ** np.arange(4))  # volatility 0: vol_target gives the cap
    capped = strategy_sizes(names, steady, {"m": steady * 1.5}, seeds, _cfg(sizing="vol_target", max_leverage=0.6))
    assert capped["m:forecast"].iloc[2:].tolist() == pytest.approx([0.6, 0.6])
    perfect = strategy_sizes(names, steady, {"m": steady.shift(-1)}, seeds, _cfg(sizing="forecast", max_leverage=0.6))
    assert perfect["m:forecast"].iloc[2] == 0.6  # no past error: the cap
    fixed_cap = strategy_sizes(names, close, {}, {}, _cfg(sizing="fixed", fraction=0.9, max_leverage=0.5))
    assert fixed_cap["m:forecast"].tolist() == [0.5] * 4


@pytest.mark.parametrize("sizing", ["vol_target", "forecast", "agreement"])
def test_sizes_before_a_cut_ignore_prices_after_it(sizing):
    """No look-ahead: changing every price after a cut day leaves every size up to the cut bit-identical."""
    close = synthetic_prices(200)["close"]
    pred = close * (1 + 0.01 * np.sin(np.arange(len(close))))
    seeds = pd.DataFrame({"seed_0": pred, "seed_1": pred * 0.995, "seed_2": close * 1.001})
    cut = 120
    changed = close.copy()
    changed.iloc[cut + 1:] *= 1.3
    args = (["m:forecast", "macd"], {"m": pred}, {"m": seeds}, _cfg(sizing=sizing, vol_window=10))
    before = strategy_sizes(args[0], close, *args[1:])
    after = strategy_sizes(args[0], changed, *args[1:])
    for name in before:
        pd.testing.assert_series_equal(before[name].iloc[:cut + 1], after[name].iloc[:cut + 1])
    assert not before["m:forecast"].iloc[cut + 1:].equals(after["m:forecast"].iloc[cut + 1:])
