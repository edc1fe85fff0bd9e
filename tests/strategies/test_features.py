"""Derived features on tiny named series checked by hand, their warm-up, their names, and no look-ahead."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

import strategies.features as features
from strategies.features import IndicatorParams, compute, examples, inputs, is_derived, parse, warmup
from strategies.indicators import rsi, wilder_mean
from tests.conftest import synthetic_prices
from tests.engine.test_pipeline_lookahead import altered_after

NAN = math.nan


def bars(close, high=None, low=None, volume=None) -> pd.DataFrame:
    """A price frame from closes (open = close; high, low = close unless given)."""
    close = np.asarray(close, dtype=float)
    index = pd.bdate_range("2020-01-01", periods=len(close), name="date")
    return pd.DataFrame({"open": close, "high": close if high is None else high, "low": close if low is None else low,
                         "close": close, "volume": 1.0 if volume is None else volume}, index=index)


def values(frame: pd.DataFrame, name: str, params: IndicatorParams | None = None) -> list[float]:
    return compute(frame, [name], params)[name].tolist()


def test_ret_is_the_n_day_log_return():
    assert values(bars([100, 110, 121, 121]), "ret_2") == pytest.approx(
        [NAN, NAN, math.log(1.21), math.log(1.1)], nan_ok=True)


def test_vol_is_the_sample_std_of_daily_log_returns():
    # daily returns: -, ln 1.1, ln 1.1, -ln 1.1 -> row 2: std of two equal returns = 0; row 3: sqrt(2) ln 1.1
    got = values(bars([100, 110, 121, 110]), "vol_2")
    assert got == pytest.approx([NAN, NAN, 0.0, math.sqrt(2) * math.log(1.1)], nan_ok=True)


def test_bb_pctb_by_hand_with_a_flat_band_at_one_half():
    # k = 1, window 2: row 1 bands 2 +- 1, close 3 -> 1; row 2 [3, 3] flat -> 0.5; row 3 bands 2.5 +- 0.5, close 2 -> 0
    params = IndicatorParams(bollinger_window=2, bollinger_k=1.0)
    assert values(bars([1, 3, 3, 2]), "bb_pctb", params) == pytest.approx([NAN, 1.0, 0.5, 0.0], nan_ok=True)
    assert values(bars([1, 3, 3, 2]), "bb_pctb_2", params)[1:] == [1.0, 0.5, 0.0]


def test_bb_pctb_without_a_number_takes_the_strategies_window():
    frame = synthetic_prices(60)
    assert values(frame, "bb_pctb", IndicatorParams(bollinger_window=10)) == pytest.approx(
        values(frame, "bb_pctb_10"), nan_ok=True)
    assert warmup("bb_pctb", IndicatorParams(bollinger_window=10)) == 9


def test_macd_hist_by_hand_divided_by_the_close():
    # spans 2, 3, 2 (alphas 2/3, 1/2, 2/3) on 10, 11, 13, 12: fast 10, 32/3, 110/9, 326/27; slow 10, 21/2, 47/4,
    # 95/8; MACD from row 2: 17/36, 43/216; signal 17/36, 47/162; histogram 0, -59/648
    params = IndicatorParams(macd_fast=2, macd_slow=3, macd_signal=2)
    assert values(bars([10, 11, 13, 12]), "macd_hist", params) == pytest.approx(
        [NAN, NAN, 0.0, -59 / 648 / 12], nan_ok=True)


def test_rsi_by_hand_and_on_flat_and_rising_series():
    # changes +1, -1, +1, +1, 0, 0 with n = 3: row 3 G = 2/3, L = 1/3 -> 66.7; row 4 G = 7/9, L = 2/9 -> 77.8
    got = values(bars([1, 2, 1, 2, 3, 3, 3]), "rsi_3")
    assert got == pytest.approx([NAN, NAN, NAN, 200 / 3, 700 / 9, 700 / 9, 700 / 9], nan_ok=True)
    assert values(bars([5, 5, 5, 5]), "rsi_2")[2:] == [50.0, 50.0]
    assert values(bars([1, 2, 3, 4]), "rsi_2")[2:] == [100.0, 100.0]


def test_wilder_mean_seeds_with_the_plain_mean_then_recurses():
    x = pd.Series([NAN, 2.0, 4.0, 6.0, 0.0])
    assert wilder_mean(x, 2).tolist() == pytest.approx([NAN, NAN, 3.0, 4.5, 2.25], nan_ok=True)
    assert wilder_mean(x, 5).isna().all()  # fewer values than the window: none


def test_volume_rel_by_hand_and_no_value_on_a_zero_mean():
    got = values(bars([1, 1, 1, 1, 1], volume=[10.0, 30, 0, 0, 20]), "volume_rel_2")
    assert got == pytest.approx([NAN, 1.5, 0.0, NAN, 2.0], nan_ok=True)


def test_atr_by_hand_as_a_fraction_of_the_close():
    # true ranges from row 1: 1.5, 1.5, 2.5; Wilder n = 2: 1.5, then 1.5 + (2.5 - 1.5) / 2 = 2.0
    frame = bars([10, 11, 10, 12], high=[10.5, 11.5, 11, 12.5], low=[9.5, 10, 9.5, 11])
    assert values(frame, "atr_2") == pytest.approx([NAN, NAN, 1.5 / 10, 2.0 / 12], nan_ok=True)


def test_ma_gap_is_the_log_distance_from_the_moving_average():
    assert values(bars([100, 110, 121]), "ma_gap_2") == pytest.approx(
        [NAN, math.log(110 / 105), math.log(121 / 115.5)], nan_ok=True)


@pytest.mark.parametrize("name", examples())
def test_the_warmup_is_exactly_the_leading_rows_without_a_value(name):
    got = compute(synthetic_prices(80), [name])[name]
    assert got.iloc[:warmup(name)].isna().all() and got.iloc[warmup(name):].notna().all()


def test_names_parse_to_a_feature_and_its_window():
    assert parse("ret_20")[1] == 20 and parse("volume_rel_5")[0].prefix == "volume_rel"
    assert parse("bb_pctb") == (features.FEATURES["bb_pctb"], None) and parse("macd_hist")[1] is None
    for name in ["close", "ret", "ret_0", "vol_1", "rsi", "macd_hist_3", "ret_05", "rsi14", "RSI_14"]:
        assert parse(name) is None, name
    assert is_derived("rsi_14") and not is_derived("volume")
    assert inputs("volume_rel_20") == ("volume",) and inputs("atr_14") == ("high", "low", "close")
    assert inputs("open") == ("open",) and warmup("close") == 0


def test_rsi_is_the_one_in_the_strategies_indicators():
    frame = synthetic_prices(60)
    assert values(frame, "rsi_14") == pytest.approx(rsi(frame["close"], 14).tolist(), nan_ok=True)


# --- no look-ahead: altering every price from a cut date on leaves every value before it bit-identical ----------

def _changed_before(prices: pd.DataFrame, cut: pd.Timestamp, names: list[str]) -> list[str]:
    a, b = compute(prices, names), compute(altered_after(prices, cut), names)
    before = a.index < cut
    return [n for n in names if not np.array_equal(a.loc[before, n].to_numpy(), b.loc[before, n].to_numpy(),
                                                   equal_nan=True)]


@pytest.mark.parametrize("name", examples())
def test_future_prices_do_not_change_a_feature_before_them(name):
    prices = synthetic_prices(200)
    cut = prices.index[120]
    assert _changed_before(prices, cut, [name]) == []
    after = compute(prices, [name])[name].iloc[120:].to_numpy()
    assert not np.array_equal(after, compute(altered_after(prices, cut), [name])[name].iloc[120:].to_numpy())


def test_the_check_catches_a_feature_that_peeks_one_day_ahead(monkeypatch):
    ret = features.FEATURES["ret"]
    peeking = dataclasses.replace(ret, compute=lambda p, n, q: ret.compute(p, n, q).shift(-1))
    monkeypatch.setitem(features.FEATURES, "ret", peeking)
    prices = synthetic_prices(200)
    assert _changed_before(prices, prices.index[120], ["ret_5"]) == ["ret_5"]
