"""Altering prices after a date must leave everything decided before that date unchanged."""

import numpy as np
import pandas as pd
import pytest

import forecasters.windows as windows
from backtest.engine.pipeline import run
from tests.conftest import synthetic_prices, tiny_config


def altered_after(prices: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    """Every day from ``cut`` on gets its own price factor (so every return after the cut changes, not only
    the jump day's) and its own volume; each bar stays a valid OHLC bar."""
    out = prices.copy()
    after = out.index >= cut
    rng = np.random.default_rng(11)
    factor = rng.uniform(1.05, 1.4, after.sum())
    ohlc = ["open", "high", "low", "close"]
    out.loc[after, ohlc] = out.loc[after, ohlc].mul(factor, axis=0)
    if "volume" in out:
        out.loc[after, "volume"] = out.loc[after, "volume"] * rng.uniform(0.5, 2.0, after.sum())
    return out


def before_cut_differences(prices: pd.DataFrame, cut: pd.Timestamp, representation: str = "return", *extra: str
                           ) -> list[str]:
    cfg = tiny_config("forecast.models=['gru', 'linear', 'drift']", "training.epochs=3",
                      f"forecast.representation={representation!r}", *extra)
    a, b = run(cfg, prices=prices), run(cfg, prices=altered_after(prices, cut))
    problems = []
    # A prediction for the cut day is made from data up to the day before; its `actual` is altered.
    cols = ["date", "model", "fold", "predicted", "naive"]
    pa = a.predictions.loc[a.predictions.date <= cut, cols].reset_index(drop=True)
    pb = b.predictions.loc[b.predictions.date <= cut, cols].reset_index(drop=True)
    if len(pa) == 0 or not pa.equals(pb):
        problems.append("predictions")
    if not a.states[a.states.index < cut].equals(b.states[b.states.index < cut]):
        problems.append("signals")
    oa, ob = a.orders[a.orders.date < cut], b.orders[b.orders.date < cut]
    if not oa.reset_index(drop=True).equals(ob.reset_index(drop=True)):
        problems.append("fills")
    return problems


@pytest.mark.parametrize("representation", ["return", "level"])
def test_future_prices_do_not_change_the_past(representation):
    prices = synthetic_prices(420)
    cut = prices.index[300]  # inside the out-of-sample period (first test day is row 160)
    assert before_cut_differences(prices, cut, representation) == []


@pytest.mark.parametrize("representation", ["return", "level"])
def test_the_check_catches_a_scaler_fit_on_the_whole_series(monkeypatch, representation):
    prices = synthetic_prices(420)
    monkeypatch.setattr(windows, "fit_rows", lambda fold: slice(None))  # the studies' leak
    assert "predictions" in before_cut_differences(prices, prices.index[300], representation)


STUDY = ("walkforward.protocol='study'",)  # 420 rows: fit on rows [0, 336), test [336, 420)


@pytest.mark.parametrize("representation", ["return", "level"])
def test_the_study_protocol_with_its_scaler_fit_on_the_training_rows_has_no_look_ahead(representation):
    prices = synthetic_prices(420)
    assert before_cut_differences(prices, prices.index[380], representation, *STUDY) == []


@pytest.mark.parametrize("representation", ["return", "level"])
def test_the_studies_whole_series_scaler_is_caught_as_look_ahead(representation):
    prices = synthetic_prices(420)
    problems = before_cut_differences(prices, prices.index[380], representation, *STUDY,
                                      "forecast.scaler_fit='whole_series'")
    assert "predictions" in problems


def test_the_check_catches_a_window_that_sees_the_day_it_predicts(monkeypatch):
    prices = synthetic_prices(420)
    real = windows.relative_windows

    def peeking(raw, close, days, lookback, volume_col, as_is=()):  # the window ends on the predicted day
        return real(raw, close, days + 1, lookback, volume_col, as_is)

    monkeypatch.setattr(windows, "relative_windows", peeking)
    assert "predictions" in before_cut_differences(prices, prices.index[300], "return")


@pytest.mark.parametrize("execution", ["next_open", "close"])
def test_fills_happen_after_the_decision(execution):
    prices = synthetic_prices(420)
    res = run(tiny_config(f"backtest.execution={execution!r}", "backtest.slippage=0.0"), prices=prices)
    bh = res.orders[res.orders.strategy == "buy_and_hold"].iloc[0]
    first_test = prices.index[res.folds[0].test_start]
    if execution == "next_open":  # decided at the close before the first test day, filled at its open
        assert bh.date == first_test and bh.price == pytest.approx(prices.open[first_test])
    else:
        decision = prices.index[res.folds[0].test_start - 1]
        assert bh.date == decision and bh.price == pytest.approx(prices.close[decision])


@pytest.mark.parametrize("execution", ["next_open", "close"])
def test_both_executions_cover_exactly_the_out_of_sample_days_and_end_in_cash(execution):
    prices = synthetic_prices(420)
    res = run(tiny_config(f"backtest.execution={execution!r}", "backtest.tax=0.003"), prices=prices)
    oos = res.manifest["out_of_sample"]
    days = res.equity.index
    assert (str(days[0].date()), str(days[-1].date()), len(days)) == (oos["first"], oos["last"], oos["days"])
    assert days.equals(prices.index[res.folds[0].test_start:res.folds[-1].test_end])
    assert res.trading_metrics.loc["buy_and_hold", "exposure"] == 100.0

    bh = res.orders[res.orders.strategy == "buy_and_hold"]
    assert list(bh.side) == ["Buy", "Sell"] and bh.date.iloc[1] == days[-1]  # the closing sell, in orders.csv
    cost = res.config.backtest
    last_close = prices.close.iloc[-1]
    sold = bh["size"].iloc[0] * last_close * (1 - cost.slippage) * (1 - cost.fees - cost.tax)
    assert res.equity["buy_and_hold"].iloc[-1] == pytest.approx(sold, rel=1e-12)
    into_last = res.states.iloc[-3]  # held over the day before the last (decided two closes before the end)
    kept = into_last & res.states.iloc[-2]  # ... and kept over the last day: sold at its close
    sold_there = into_last if execution == "next_open" else kept  # next_open: rule exits fill at that open too
    sells = res.orders[(res.orders.date == days[-1]) & (res.orders.side == "Sell")]
    assert sorted(sells.strategy) == sorted(sold_there[sold_there].index) and kept.any()
    decision = prices.index[res.folds[0].test_start - 1]  # the first fill can be at its close ("close")
    assert not (res.orders.date > days[-1]).any() and (res.orders.date >= decision).all()
