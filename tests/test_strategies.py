import numpy as np
import pandas as pd

from backtest.config import StrategiesSection
from strategies.indicators import bollinger, macd
from strategies.signals import bollinger_state, edges, forecast_state, strategy_states


def series(values):
    return pd.Series(values, index=pd.bdate_range("2020-01-01", periods=len(values)), dtype=float)


def test_bollinger_by_hand():
    close = series([1, 2, 3, 4, 5])
    bands = bollinger(close, window=3, k=2.0)
    assert bands.iloc[:2].isna().all().all()
    std = np.std([3, 4, 5])  # population std, as Bollinger defines the bands
    assert bands.iloc[-1].tolist() == [4.0, 4.0 + 2 * std, 4.0 - 2 * std]


def test_macd_by_hand():
    close = series(np.arange(1, 41))
    m = macd(close, fast=3, slow=5, signal=2)
    a3, a5 = 2 / 4, 2 / 6
    ema3 = ema5 = 1.0
    for x in range(2, 41):
        ema3, ema5 = a3 * x + (1 - a3) * ema3, a5 * x + (1 - a5) * ema5
    assert m["macd"].iloc[:4].isna().all()
    np.testing.assert_allclose(m["macd"].iloc[-1], ema3 - ema5)


def test_forecast_state_uses_threshold_and_is_flat_without_forecast():
    close = series([10, 10, 10, 10])
    pred = pd.Series([10.5, 10.05, 9.0], index=close.index[:3])
    assert forecast_state(close, pred, 0.01).tolist() == [True, False, False, False]


def test_bollinger_state_enters_below_lower_and_leaves_above_middle():
    close = series([10, 10.1, 9.9, 10, 10.1, 8.0, 8.5, 9.5, 10.5, 10.4])
    state = bollinger_state(close, window=3, k=1.0)
    bands = bollinger(close, 3, 1.0)
    first_in = state.idxmax()
    assert close[first_in] < bands["lower"][first_in]
    first_out = state[first_in:].idxmin()
    assert close[first_out] > bands["middle"][first_out]


def test_edges():
    entries, exits = edges(pd.Series([True, True, False, True]))
    assert entries.tolist() == [True, False, False, True]
    assert exits.tolist() == [False, False, True, False]


def test_combinations_and_vote():
    rng = np.random.default_rng(1)
    close = series(100 + rng.normal(0, 1, 200).cumsum())
    pred = close * (1 + rng.normal(0, 0.01, 200))
    cfg = StrategiesSection()
    st = strategy_states(close, {"m": pred}, cfg)
    assert (st["m:forecast+bollinger"] == (st["m:forecast"] & st["bollinger"])).all()
    assert (st["m:forecast+macd"] == (st["m:forecast"] & st["macd"])).all()
    votes = st["m:forecast"].astype(int) + st["bollinger"].astype(int) + st["macd"].astype(int)
    assert (st["m:vote"] == (votes >= 2)).all()
    any_cfg = StrategiesSection(combine="any")
    st2 = strategy_states(close, {"m": pred}, any_cfg)
    assert (st2["m:forecast+macd"] == (st2["m:forecast"] | st2["macd"])).all()
    assert st["buy_and_hold"].all()
