import numpy as np
import pandas as pd

from backtest.core.config import StrategiesSection
from strategies.indicators import bollinger, macd
from strategies.signals import bollinger_state, edges, forecast_state, macd_state, strategy_states
from tests.conftest import synthetic_prices


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


# Named series checked day by day. Bands of bollinger(close, 3, 1.0), population std:
#   day   close  middle  upper   lower    state  why
#   2     10.0   10.000  10.000  10.000   out    close == lower: not below it
#   3      7.0    9.000  10.414   7.586   in     close < lower: enter
#   4      8.0    8.333   9.581   7.086   in     below the middle: hold
#   5      8.2    7.733   8.258   7.208   out    above the middle (not yet the upper band): exit
#   6-7                                   out    no new entry
#   8      6.0    8.500  10.280   6.720   in     below the lower band again
#   9      6.5    7.500   9.280   5.720   in
#   10     7.5    6.667   7.290   6.043   out
BOLLINGER_CLOSE = [10, 10, 10, 7, 8, 8.2, 9.5, 10, 6, 6.5, 7.5]
BOLLINGER_STATE = [False, False, False, True, True, False, False, False, True, True, False]


def test_bollinger_state_day_by_day():
    assert bollinger_state(series(BOLLINGER_CLOSE), window=3, k=1.0).tolist() == BOLLINGER_STATE


def test_bollinger_bands_day_by_day():
    bands = bollinger(series(BOLLINGER_CLOSE), window=3, k=1.0)
    mean = (7 + 8 + 8.2) / 3
    std = (((7 - mean) ** 2 + (8 - mean) ** 2 + (8.2 - mean) ** 2) / 3) ** 0.5  # population std: divide by 3
    np.testing.assert_allclose(bands.loc[bands.index[5]], [mean, mean + std, mean - std], rtol=1e-12)


# MACD(2, 4, 2) of a rise, a dip and a recovery: the line stays above zero throughout, so only the
# comparison with the signal line decides; it equals the signal on the first defined day (day 3).
#   day    3      4      5      6      7      8      9      10     11     12
#   macd   0.695  0.812  0.885  0.931  0.558  0.255  0.100  0.095  0.256  0.486
#   signal 0.695  0.773  0.848  0.903  0.673  0.394  0.198  0.129  0.214  0.395
MACD_CLOSE = [1, 2, 3, 4, 5, 6, 7, 6.5, 6.2, 6.1, 6.3, 7, 8]
MACD_STATE = [False, False, False, False, True, True, True, False, False, False, False, True, True]


def test_macd_state_day_by_day():
    assert macd_state(series(MACD_CLOSE), 2, 4, 2).tolist() == MACD_STATE


def test_macd_line_and_signal_by_hand():
    m = macd(series(MACD_CLOSE), 2, 4, 2)
    np.testing.assert_allclose(m[["macd", "signal"]].iloc[7], [0.5583, 0.6729], atol=5e-4)
    assert (m["hist"] == m["macd"] - m["signal"]).iloc[3:].all()


def test_forecast_state_needs_to_beat_the_threshold_strictly():
    close = series([100, 100, 100, 100])
    pred = pd.Series([101.0, 100.5, 100.0, 99.0], index=close.index)
    assert forecast_state(close, pred, 0.01).tolist() == [False, False, False, False]  # 101 is not > 101
    assert forecast_state(close, pred, 0.0).tolist() == [True, True, False, False]
    assert forecast_state(close, pred, -0.0075).tolist() == [True, True, True, False]


def test_combinations_and_vote_day_by_day():
    close = series(BOLLINGER_CLOSE + [7.0, 7.0])
    boll = bollinger_state(close, 3, 1.0).tolist()
    pred = pd.Series([c * (1.01 if i % 2 else 0.99) for i, c in enumerate(close)], index=close.index)
    cfg = StrategiesSection(bollinger_window=3, bollinger_k=1.0, macd_fast=2, macd_slow=4, macd_signal=2)
    st = strategy_states(close, {"m": pred}, cfg)
    fc = [bool(i % 2) for i in range(len(close))]
    trend = st["macd"].tolist()
    assert st["m:forecast"].tolist() == fc and st["bollinger"].tolist() == boll
    assert st["m:forecast+bollinger"].tolist() == [a and b for a, b in zip(fc, boll, strict=True)]
    assert st["m:forecast+macd"].tolist() == [a and b for a, b in zip(fc, trend, strict=True)]
    assert st["m:vote"].tolist() == [a + b + c >= 2 for a, b, c in zip(fc, boll, trend, strict=True)]
    anyone = strategy_states(close, {"m": pred}, StrategiesSection(bollinger_window=3, bollinger_k=1.0,
                                                                  combine="any"))
    assert anyone["m:forecast+bollinger"].tolist() == [a or b for a, b in zip(fc, boll, strict=True)]
    assert set(st) == {"m:forecast", "m:forecast+bollinger", "m:forecast+macd", "m:vote", "bollinger", "macd",
                       "buy_and_hold"}


def test_edges_count_day_zero_from_flat():
    entries, exits = edges(pd.Series([True, False, False, True, True]))
    assert entries.tolist() == [True, False, False, True, False]
    assert exits.tolist() == [False, True, False, False, False]


def test_macd_signal_is_the_recursive_ema_of_the_line_from_its_first_value():
    m = macd(series(MACD_CLOSE), 2, 4, 2)
    line, a = m["macd"].to_numpy(), 2 / 3  # span 2: alpha = 2 / (2 + 1)
    expected = [line[3]]
    for x in line[4:]:
        expected.append(a * x + (1 - a) * expected[-1])
    np.testing.assert_allclose(m["signal"].iloc[3:], expected, rtol=1e-12)
    assert m["signal"].iloc[:3].isna().all()


def test_indicator_columns_are_named():
    assert list(bollinger(series(BOLLINGER_CLOSE), 3, 1.0).columns) == ["middle", "upper", "lower"]
    assert list(macd(series(MACD_CLOSE), 2, 4, 2).columns) == ["macd", "signal", "hist"]


def test_strategy_states_pass_every_setting_to_its_rule():
    close = series(BOLLINGER_CLOSE + MACD_CLOSE)
    pred = close * 1.004
    cfg = StrategiesSection(threshold=0.005, bollinger_window=3, bollinger_k=1.0, macd_fast=2, macd_slow=4,
                            macd_signal=2)
    st = strategy_states(close, {"m": pred}, cfg)
    assert not st["m:forecast"].any()  # +0.4 % does not beat a 0.5 % threshold
    assert st["macd"].equals(macd_state(close, 2, 4, 2)) and st["bollinger"].equals(bollinger_state(close, 3, 1.0))
    assert not st["macd"].equals(macd_state(close, 12, 26, 9))
    assert st["buy_and_hold"].dtype == bool and st["buy_and_hold"].index.equals(close.index)
    assert st["buy_and_hold"].all()
    for name in ("m:vote", "bollinger", "macd"):
        assert st[name].dtype == bool


def test_documented_default_parameters():
    rng = np.random.default_rng(2)
    close = series(100 + rng.normal(0, 1, 120).cumsum())
    assert bollinger(close).equals(bollinger(close, 20, 2.0))
    assert macd(close).equals(macd(close, 12, 26, 9))
    assert bollinger_state(close).equals(bollinger_state(close, 20, 2.0))
    assert macd_state(close).equals(macd_state(close, 12, 26, 9))
    pred = close * 1.0001
    assert forecast_state(close, pred).equals(forecast_state(close, pred, 0.0)) and forecast_state(close, pred).all()


def test_bollinger_state_defaults_are_the_studies_20_days_and_2_sd():
    close = synthetic_prices(400, seed=3)["close"]
    assert bollinger_state(close).equals(bollinger_state(close, 20, 2.0))
    assert not bollinger_state(close).equals(bollinger_state(close, 21, 2.0))  # the check can tell them apart


# ---- the short mirrors and the positions of strategies.direction ------------------------------------------------
from strategies.signals import (  # noqa: E402
    BENCHMARK,
    bollinger_short_state,
    forecast_short_state,
    macd_short_state,
    short_states,
    strategy_positions,
)

RISING = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29]
FALLING = RISING[::-1]
OSCILLATING = [10, 12, 10, 12, 10, 12, 10, 12, 10, 12]


def test_forecast_short_state_needs_the_forecast_below_close_by_the_threshold():
    close = series([10, 10, 10, 10])
    pred = pd.Series([9.5, 9.95, 11.0], index=close.index[:3])
    assert forecast_short_state(close, pred, 0.01).tolist() == [True, False, False, False]  # 9.95 > 9.9: not enough
    assert forecast_short_state(close, pred).tolist() == [True, True, False, False]
    assert forecast_short_state(close, pred.iloc[:1] * 0 + 10.0).tolist() == [False] * 4  # equal: no move, no short


def test_bollinger_short_state_enters_above_upper_and_covers_below_middle():
    # window 3, k 1: day 3 (10 -> 12) closes above its upper band 11.61; day 4's 12 is above the middle 11.33
    # (short stays), day 5's 11.9 below the middle 11.97: covered
    close = series([10, 10, 10, 12, 12, 11.9, 10, 10])
    bands = bollinger(close, 3, 1.0)
    state = bollinger_short_state(close, window=3, k=1.0)
    assert close.iloc[3] > bands["upper"].iloc[3] and close.iloc[4] < bands["upper"].iloc[4]
    assert close.iloc[5] < bands["middle"].iloc[5] and close.iloc[4] > bands["middle"].iloc[4]
    assert state.tolist() == [False, False, False, True, True, False, False, False]


def test_bollinger_short_state_defaults_are_20_days_and_2_sd():
    close = series(list(np.r_[np.full(19, 10.0), 10.0, 14.0]))  # day 20: far above the 20-day band
    assert bollinger_short_state(close).iloc[-1]
    assert not bollinger_short_state(close, k=20.0).iloc[-1]


def test_macd_short_state_on_a_falling_then_a_rising_series():
    falling = macd_short_state(series(FALLING + FALLING), fast=3, slow=5, signal=2)
    assert not falling.iloc[:4].any()  # no MACD line yet: not short
    assert falling.iloc[5:20].all()  # a falling line stays below its lagging signal
    rising = macd_short_state(series(RISING), fast=3, slow=5, signal=2)
    assert not rising.any()
    assert macd_short_state(series(FALLING * 2)).iloc[30:].any()  # the defaults (12, 26, 9) reach a verdict


def test_macd_short_defaults_are_12_26_9():
    close = series(list(np.linspace(30, 10, 60)))
    np.testing.assert_array_equal(macd_short_state(close), macd_short_state(close, 12, 26, 9))
    assert not macd_short_state(close).iloc[:25].any() and macd_short_state(close).iloc[40:].all()


def _cfg(**kw):
    return StrategiesSection(bollinger_window=3, bollinger_k=1.0, macd_fast=3, macd_slow=5, macd_signal=2, **kw)


def test_positions_long_short_and_both_on_a_forecast_that_swings():
    close = series(OSCILLATING)
    pred = close * np.where(np.arange(len(close)) % 2 == 0, 1.05, 0.95)  # up after a 10, down after a 12
    fc = {"m": pd.Series(pred.to_numpy(), index=close.index)}
    up = [1, 0] * 5
    for direction, expected in (("long", up), ("short", [0, -1] * 5), ("both", [1, -1] * 5)):
        pos = strategy_positions(close, fc, _cfg(rules=["forecast"], direction=direction))
        assert pos["m:forecast"].tolist() == expected, direction
        assert pos[BENCHMARK].tolist() == [1] * 10  # buy-and-hold stays long in every direction


def test_positions_on_a_rising_and_a_falling_forecast():
    for values, sign in ((RISING, 1), (FALLING, -1)):
        close = series(values)
        fc = {"m": close * (1 + 0.02 * sign)}
        pos = strategy_positions(close, fc, _cfg(rules=["forecast"], direction="both"))
        assert pos["m:forecast"].tolist() == [sign] * len(values)
        short = strategy_positions(close, fc, _cfg(rules=["forecast"], direction="short"))
        assert short["m:forecast"].tolist() == [min(sign, 0)] * len(values)


def test_a_day_both_long_and_short_is_flat():
    close = series([10, 10, 10, 12, 12, 11.9, 10, 10])  # Bollinger short on days 3 and 4 (as above)
    fc = {"m": close * 1.05}  # the forecast is long every day
    pos = strategy_positions(close, fc, _cfg(rules=["forecast+bollinger"], combine="any", direction="both"))
    assert pos["m:forecast+bollinger"].tolist() == [1, 1, 1, 0, 0, 1, 1, 1]
    assert pos["bollinger"].tolist() == [0, 0, 0, -1, -1, 1, 1, 1]  # day 5's 11.9 < lower 11.92: long from there


def test_short_combinations_and_vote_join_the_short_states():
    close = series([10, 10, 10, 12, 12, 11.9, 10, 10])
    down = {"m": close * 0.95}  # the forecast is short every day
    rules = ["forecast+bollinger", "forecast+macd", "vote"]
    states = short_states(close, down, _cfg(rules=rules, combine="all"))
    boll = bollinger_short_state(close, 3, 1.0)
    trend = macd_short_state(close, 3, 5, 2)
    assert states["m:forecast+bollinger"].equals(boll)  # AND with an always-short forecast
    assert states["m:forecast+macd"].equals(trend)
    assert states["m:vote"].equals(boll | trend)  # the forecast's vote plus one more
    assert not states[BENCHMARK].any() and states[BENCHMARK].index.equals(close.index)
    anyof = short_states(close, {"m": close * 1.05}, _cfg(rules=rules, combine="any"))
    assert anyof["m:forecast+bollinger"].equals(boll) and anyof["m:vote"].equals(boll & trend)


def test_short_states_read_every_setting():
    close = series(list(np.r_[np.linspace(10, 14, 12), np.linspace(14, 9, 12)]))
    fc = {"m": close * 0.999}
    base = short_states(close, fc, _cfg(rules=["forecast"]))
    assert base["m:forecast"].all()
    assert not short_states(close, fc, _cfg(rules=["forecast"], threshold=0.01))["m:forecast"].any()
    close = synthetic_prices(120)["close"]
    base = short_states(close, {}, _cfg(rules=["forecast"]))
    for key, value in (("bollinger_window", 5), ("bollinger_k", 3.0), ("macd_fast", 2), ("macd_slow", 7),
                       ("macd_signal", 4)):
        other = short_states(close, {}, StrategiesSection(**{**_cfg(rules=["forecast"]).__dict__, key: value}))
        name = "bollinger" if key.startswith("bollinger") else "macd"
        assert not other[name].equals(base[name]), key
