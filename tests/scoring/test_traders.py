"""The trader's figures and the break-even cost, against hand computations on tiny named series."""

import math

import numpy as np
import pandas as pd
import pytest

from backtest.core.config import BacktestSection, StatisticsSection
from backtest.engine.portfolio import holdings, simulate
from backtest.scoring.evaluation import evaluate_trading
from backtest.scoring.metrics import daily_rate, return_figures
from backtest.scoring.traders import (
    _benchmark_figures,
    break_even_cost,
    round_trip_cost,
    trader_figures,
    trader_table,
)

FREE = BacktestSection(init_cash=1000.0, fees=0.0, tax=0.0, slippage=0.0)


def _bars(closes: list[float]) -> pd.DataFrame:
    """Daily bars whose open is the close before (the first opens at its close): a fill at the open is at the
    last close, so every trade's price can be read off the list."""
    close = pd.Series(closes, index=pd.bdate_range("2021-01-04", periods=len(closes)))
    opens = close.shift(1).fillna(close.iloc[0])
    return pd.DataFrame({"open": opens, "high": np.maximum(opens, close), "low": np.minimum(opens, close),
                         "close": close, "volume": 1.0})


# Three trades, bought at the open (= the close before) and sold at a later open, 1000 cash, no costs:
#   T1 buys 10 at 100, sells at 110 (+100), held 1 day; T2 buys 10 at 110, sells at 99 (-110), held 2 days;
#   T3 buys 10 at 99, sells at 108.9 (+99), held 1 day. Rows 1..8 are out of sample.
THREE_TRADES = [100.0, 110.0, 110.0, 104.5, 99.0, 99.0, 108.9, 108.9, 108.9]
THREE_STATES = [True, False, True, True, False, True, False, False, False]  # decided at each close


def _three_trades():
    prices = _bars(THREE_TRADES)
    states = {"three": pd.Series(THREE_STATES, index=prices.index),
              "buy_and_hold": pd.Series(True, index=prices.index)}
    return simulate(prices, states, 1, FREE), holdings(states, 1)


def test_three_trades_profit_factor_win_rate_expectancy_and_holding_by_hand():
    pf, held = _three_trades()
    figures = trader_figures(pf, held, "buy_and_hold").loc["three"]
    assert figures["profit_factor"] == pytest.approx((100 + 99) / 110)
    assert figures["expectancy"] == pytest.approx((100 - 110 + 99) / 3)
    assert figures["holding_days"] == pytest.approx((1 + 2 + 1) / 3)
    assert figures["exposure_long"] == pytest.approx(100 * 4 / 8) and figures["exposure_short"] == 0.0
    assert trader_table(pf, held, "buy_and_hold").loc["three", "win_rate"] == pytest.approx(100 * 2 / 3)


def test_three_trades_turnover_by_hand():
    pf, held = _three_trades()
    traded = 1000 + 1100 + 1100 + 990 + 990 + 1089  # every buy and sell, at its fill price
    values = [1100, 1100, 1045, 990, 990, 1089, 1089, 1089]  # the closes of rows 1..8, 10 shares or cash
    expected = traded / np.mean(values) * 252 / 8
    assert trader_figures(pf, held, "buy_and_hold").loc["three", "turnover"] == pytest.approx(expected)


def test_a_column_without_a_losing_trade_has_no_profit_factor():
    pf, held = _three_trades()
    assert math.isnan(trader_figures(pf, held, "buy_and_hold").loc["buy_and_hold", "profit_factor"])


def test_alpha_beta_information_ratio_and_tracking_error_by_hand():
    bench = np.array([0.01, -0.02, 0.03, 0.0])
    returns = pd.DataFrame({"b": bench, "half": 0.5 * bench + 0.001})
    figures = _benchmark_figures(returns, "b", 0.0).loc["half"]
    assert figures["beta"] == pytest.approx(0.5)
    assert figures["alpha"] == pytest.approx(100 * (1.001 ** 252 - 1))  # vectorbt: mean daily alpha, compounded
    active = -0.5 * bench + 0.001
    sd = math.sqrt(((active - active.mean()) ** 2).sum() / 3)  # ddof 1: 0.5 x 0.0208167
    assert figures["tracking_error"] == pytest.approx(100 * sd * math.sqrt(252))
    assert figures["information_ratio"] == pytest.approx(active.mean() / sd * math.sqrt(252))
    assert _benchmark_figures(returns, "b", 0.0).loc["b", "beta"] == pytest.approx(1.0)


def test_without_the_benchmark_column_the_benchmark_figures_are_nan():
    returns = pd.DataFrame({"a": [0.01, 0.02, -0.01]})
    assert _benchmark_figures(returns, "buy_and_hold", 0.0).isna().all().all()


def test_the_daily_risk_free_rate_compounds_to_the_yearly_one():
    assert (1 + daily_rate(0.05)) ** 252 == pytest.approx(1.05)
    assert daily_rate(0.0) == 0.0


def test_sharpe_and_sortino_over_the_risk_free_rate_are_those_of_the_excess_returns():
    rng = np.random.default_rng(3)
    returns = pd.DataFrame({"a": rng.normal(0.0005, 0.01, 300)})
    total = (1 + returns).prod() - 1
    over = return_figures(returns, total, risk_free=0.04)
    excess = return_figures(returns - daily_rate(0.04), total, risk_free=0.0)
    assert over["sharpe"].iloc[0] == pytest.approx(excess["sharpe"].iloc[0])
    assert over["sortino"].iloc[0] == pytest.approx(excess["sortino"].iloc[0])
    assert over["sharpe"].iloc[0] < return_figures(returns, total)["sharpe"].iloc[0]


def test_the_tests_see_the_same_excess_returns_as_the_sharpe_in_the_table():
    rng = np.random.default_rng(4)
    returns = pd.DataFrame({"buy_and_hold": rng.normal(0.0004, 0.01, 200), "a": rng.normal(0.0006, 0.01, 200)})
    table = pd.DataFrame(index=pd.Index(["buy_and_hold", "a"], name="strategy"))
    cfg = StatisticsSection(bootstrap_reps=100, pbo_blocks=4)
    over = evaluate_trading(table, returns, "buy_and_hold", cfg, 0, risk_free=0.03)
    excess = evaluate_trading(table, returns - daily_rate(0.03), "buy_and_hold", cfg, 0)
    assert over.table.loc["a", "psr"] == pytest.approx(excess.table.loc["a", "psr"])
    assert over.table.loc["a", "dsr"] == pytest.approx(excess.table.loc["a", "dsr"])
    assert over.summary["risk_free"] == 0.03


# Break-even by hand. Closes 100 (before), then +10 %, -10 %, +10 %, flat; opens are the close before.
# Buy-and-hold (1000 cash): returns 0.1, -0.1, 0.1, 0; it trades 1000 on day 1 and 1089 on day 4, each the whole
# value before, so its turnover rates are 1, 0, 0, 1 (mean 0.5) and its mean return 0.025.
# "ups" holds days 1 and 3 only: returns 0.1, 0, 0.1, 0 (mean 0.05); it trades its whole value every day
# (buy, sell, buy, sell): turnover rates 1, 1, 1, 1 (mean 1).
# Mean excess 0.025 falls by c/2 x (1 - 0.5) as the round-trip cost c rises: zero at c = 2 x 0.025 / 0.5 = 0.1.
UPS = [100.0, 110.0, 99.0, 108.9, 108.9]


def test_break_even_cost_by_hand():
    prices = _bars(UPS)
    states = {"ups": pd.Series([True, False, True, False, False], index=prices.index),
              "buy_and_hold": pd.Series(True, index=prices.index)}
    pf = simulate(prices, states, 1, FREE)
    cost = break_even_cost(pf, "buy_and_hold", 0.0)
    assert cost["ups"] == pytest.approx(0.1)
    assert math.isnan(cost["buy_and_hold"])


def test_break_even_cost_counts_the_cost_already_paid():
    """At today's costs the edge is smaller, but the cost that erases it is the same round trip (to first order)."""
    prices = _bars(UPS)
    states = {"ups": pd.Series([True, False, True, False, False], index=prices.index),
              "buy_and_hold": pd.Series(True, index=prices.index)}
    cfg = BacktestSection(init_cash=1000.0, fees=0.002, tax=0.0, slippage=0.0)
    cost = break_even_cost(simulate(prices, states, 1, cfg), "buy_and_hold", round_trip_cost(0.002, 0.0, 0.0))
    assert cost["ups"] == pytest.approx(0.1, abs=0.002)


def test_a_column_trading_no_more_than_the_benchmark_has_no_break_even_cost():
    prices = _bars(UPS)
    states = {"hold": pd.Series(True, index=prices.index), "buy_and_hold": pd.Series(True, index=prices.index)}
    assert math.isnan(break_even_cost(simulate(prices, states, 1, FREE), "buy_and_hold", 0.0)["hold"])


def _walk(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = pd.Series(100 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, n))), index=pd.bdate_range("2020-01-01",
                                                                                                  periods=n))
    opens = close.shift(1).fillna(100.0) * np.exp(rng.normal(0, 0.003, n))
    return pd.DataFrame({"open": opens, "high": np.maximum(opens, close), "low": np.minimum(opens, close),
                         "close": close, "volume": 1.0})


def test_re_simulating_at_the_break_even_cost_leaves_no_mean_excess_return():
    """Charged c/2 a side (no tax, no slippage), each strategy's mean daily return equals buy-and-hold's.

    The linear model neglects only second-order terms: a buy's fee is marked at the close rather than at its
    fill price (a factor close/open, within ~1 % here) and the smaller positions after earlier fees (c/2, under
    1 %). So what is left is within 2 % of the mean excess return the cost had to erase."""
    prices = _walk()
    rng = np.random.default_rng(1)
    close = prices["close"]
    states = {"peek": (close.shift(-1) > close) ^ (rng.random(len(close)) < 0.3),  # a strong edge, much traded
              "trend": close > close.rolling(10).mean(), "buy_and_hold": pd.Series(True, index=close.index)}
    now = BacktestSection(init_cash=1000.0, fees=0.001, tax=0.001, slippage=0.0005)
    pf = simulate(prices, states, 20, now)
    cost = break_even_cost(pf, "buy_and_hold", round_trip_cost(now.fees, now.tax, now.slippage))
    excess_now = pf.returns().sub(pf.returns()["buy_and_hold"], axis=0).mean()
    for col in ("peek", "trend"):
        again = simulate(prices, states, 20, BacktestSection(init_cash=1000.0, fees=cost[col] / 2, tax=0.0,
                                                             slippage=0.0)).returns()
        left = (again[col] - again["buy_and_hold"]).mean()
        erased = abs(excess_now[col] - left)
        assert erased > 0 and abs(left) <= 0.02 * erased, (col, cost[col], left, excess_now[col])


def test_without_held_the_figures_read_vectorbt_positions_and_durations():
    # buy_and_hold is held over all 8 days (the rule's view) but vectorbt's position is 0 at the last close
    # (sold there) and its one trade lasts 7 bars: exposure 7/8 and 7 days instead of 100 % and 8
    pf, held = _three_trades()
    rule = trader_figures(pf, held, "buy_and_hold").loc["buy_and_hold"]
    assert rule["exposure_long"] == 100.0 and rule["holding_days"] == 8.0 and rule["exposure_short"] == 0.0
    bars = trader_figures(pf, None, "buy_and_hold").loc["buy_and_hold"]
    assert bars["exposure_long"] == 87.5 and bars["holding_days"] == 7.0
    assert np.isfinite(trader_figures(pf, held, "buy_and_hold").loc["three", "beta"])  # against the benchmark


def test_exposure_counts_long_and_short_days():
    from backtest.scoring.traders import _exposure
    long, short = _exposure(None, pd.DataFrame({"x": [1, -1, -1, 0]}))
    assert (long["x"], short["x"]) == (25.0, 50.0)


def test_alpha_reads_the_risk_free_rate_and_the_defaults_are_zero():
    # a short has a beta of about -1: its alpha changes with the risk-free rate (a beta-1 column's would not)
    from backtest.engine.portfolio import simulate_trader, trader_stops
    prices = _bars([100.0, 98.0, 101.0, 97.0, 99.0, 95.0])
    pos = {"z": pd.Series(-1, index=prices.index), "buy_and_hold": pd.Series(1, index=prices.index)}
    size = {k: pd.Series(1.0, index=prices.index) for k in pos}
    pf = simulate_trader(prices, pos, size, 1, FREE, trader_stops(None, None, None))
    held = pd.DataFrame({k: pd.Series(v, index=prices.index).iloc[1:] for k, v in pos.items()}).astype(float)
    zero, rate = trader_figures(pf, held, "buy_and_hold"), trader_figures(pf, held, "buy_and_hold", 0.05)
    assert zero.loc["z", "beta"] < 0 and rate.loc["z", "alpha"] != pytest.approx(zero.loc["z", "alpha"])
    assert zero.equals(trader_figures(pf, held, "buy_and_hold", 0.0))
    table = trader_table(pf, held, "buy_and_hold")
    assert table.equals(trader_table(pf, held, "buy_and_hold", 0.0, 0.0))
    assert table.loc["z", "alpha"] == zero.loc["z", "alpha"] and table.loc["z", "exposure_short"] == 100.0
    assert trader_table(pf, held, "buy_and_hold", 0.05).loc["z", "alpha"] == rate.loc["z", "alpha"]  # passed on
    returns = pd.DataFrame({"s": [0.01, -0.02, 0.03], "b": [0.02, -0.02, 0.01]})
    assert _benchmark_figures(returns, "b", 0.001).loc["s", "alpha"] != _benchmark_figures(returns, "b", 0.0).loc[
        "s", "alpha"]


def test_benchmark_figures_of_two_days_and_the_nan_frame_without_a_benchmark():
    idx = pd.bdate_range("2021-01-04", periods=2)
    two = pd.DataFrame({"s": [0.01, -0.02], "b": [0.02, -0.02]}, index=idx)
    assert _benchmark_figures(two, "b", 0.0).loc["s", "beta"] == pytest.approx(0.75)  # cov / var of two days
    none = _benchmark_figures(two, "missing", 0.0)
    assert list(none.columns) == ["alpha", "beta", "information_ratio", "tracking_error"]
    assert list(none.index) == ["s", "b"] and all(d == np.float64 for d in none.dtypes) and none.isna().all().all()


def test_break_even_without_the_benchmark_column_is_a_named_nan_series():
    pf, _ = _three_trades()
    out = break_even_cost(pf, "missing", 0.0)
    assert out.name == "break_even_cost" and list(out.index) == list(pf.wrapper.columns) and out.isna().all()
    assert out.dtype == float and break_even_cost(pf, "buy_and_hold", 0.0).name == "break_even_cost"


def test_traded_value_of_a_long_short_portfolio_is_per_strategy_in_its_order():
    from backtest.engine.portfolio import simulate_trader, trader_stops
    from backtest.scoring.traders import traded_value
    prices = _bars([100.0, 98.0, 96.0, 94.0])  # opens 100, 100, 98, 96
    pos = {"z": pd.Series([-1, -1, -1, -1], index=prices.index), "a": pd.Series([1, 1, 1, 1], index=prices.index)}
    size = {k: pd.Series(0.5, index=prices.index) for k in pos}
    pf = simulate_trader(prices, pos, size, 1, BacktestSection(init_cash=1000.0, fees=0.0, tax=0.0, slippage=0.0,
                                                               borrow=0.0), trader_stops(None, None, None))
    value = traded_value(pf)
    assert list(value.columns) == ["z", "a"]
    # z: 500 / 100 = 5 shares sold at 100 on row 0 and covered at the last close 94; a: then 500 buys 5 at 100
    assert value["z"].tolist() == pytest.approx([500.0, 0.0, 5 * 94.0])
    assert value["a"].tolist() == pytest.approx([500.0, 0.0, 5 * 94.0])


def test_trader_table_passes_the_rate_and_the_cost_now_on():
    from backtest.scoring.metrics import trading_table
    pf, held = _three_trades()
    table = trader_table(pf, held, "buy_and_hold")
    assert np.isfinite(table.loc["three", "break_even_cost"])
    assert table["break_even_cost"].equals(break_even_cost(pf, "buy_and_hold", 0.0))  # cost_now defaults to 0
    rated = trader_table(pf, held, "buy_and_hold", 0.05, 0.01)
    assert rated["sharpe"].equals(trading_table(pf, held, 0.05)["sharpe"])
    assert rated.loc["three", "sharpe"] != table.loc["three", "sharpe"]
    assert rated["alpha"].equals(trader_figures(pf, held, "buy_and_hold", 0.05)["alpha"])
    assert rated["break_even_cost"].equals(break_even_cost(pf, "buy_and_hold", 0.01))
