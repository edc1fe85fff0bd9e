"""The figures a trader reads first, per strategy column of one vectorbt Portfolio, and the break-even cost.

Trade figures come from vectorbt's own trade records (``pf.trades``: profit factor, expectancy, win rate);
alpha, beta and the information ratio from its returns accessor against the benchmark column's returns.
What vectorbt has no figure for (turnover, tracking error, exposure by side, break-even cost) is computed here
from its order records and values. Pure functions: too little data gives NaN, never an exception.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import vectorbt as vbt

from backtest.scoring.metrics import TRADING_DAYS, daily_rate, trading_table


def traded_value(pf: vbt.Portfolio) -> pd.DataFrame:
    """Days x columns (x groups for a grouped portfolio): the cash value of the shares each fill traded (size times
    fill price, after slippage)."""
    rec = pf.orders.records
    out = np.zeros(pf.wrapper.shape_2d)
    np.add.at(out, (rec["idx"].to_numpy(), rec["col"].to_numpy()), (rec["size"] * rec["price"]).to_numpy())
    frame = pd.DataFrame(out, index=pf.wrapper.index, columns=pf.wrapper.columns)
    grouper = pf.wrapper.grouper
    if not grouper.is_grouped():
        return frame
    # a cash-sharing group (a long and a short leg of one strategy) trades as one strategy
    return frame.T.groupby(np.asarray(grouper.group_by), sort=False).sum().T.reindex(columns=pf.wrapper.get_columns())


def turnover_rates(pf: vbt.Portfolio) -> pd.DataFrame:
    """Days x columns: each day's traded value over the portfolio's value at the close before (init_cash first)."""
    value = pf.value()
    before = value.shift(1)
    before.iloc[0] = pf.init_cash
    return traded_value(pf) / before


def _exposure(pf: vbt.Portfolio, held: pd.DataFrame | None) -> tuple[pd.Series, pd.Series]:
    """Share of days held long and held short (``held`` > 0 and < 0; without it, the position at each close)."""
    position = pf.assets() if held is None else held.astype(float)
    return 100.0 * (position > 0).mean(), 100.0 * (position < 0).mean()


def _benchmark_figures(returns: pd.DataFrame, benchmark: str, rf_daily: float) -> pd.DataFrame:
    """Alpha (yearly, %), beta, information ratio (yearly) and tracking error (yearly, %) against ``benchmark``."""
    nan = pd.Series(math.nan, index=returns.columns)
    if benchmark not in returns.columns or len(returns) < 2:
        return pd.DataFrame({"alpha": nan, "beta": nan, "information_ratio": nan, "tracking_error": nan})
    bench = returns[benchmark]
    acc = returns.vbt.returns(freq="1D", year_freq=f"{TRADING_DAYS} days")
    active = returns.sub(bench, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({
            "alpha": 100.0 * acc.alpha(bench, risk_free=rf_daily),  # vectorbt: annualised Jensen's alpha
            "beta": acc.beta(bench),
            "information_ratio": acc.information_ratio(bench) * math.sqrt(TRADING_DAYS),  # vectorbt's is per day
            "tracking_error": 100.0 * active.std(ddof=1) * math.sqrt(TRADING_DAYS),
        })


def trader_figures(pf: vbt.Portfolio, held: pd.DataFrame | None, benchmark: str, risk_free: float = 0.0
                   ) -> pd.DataFrame:
    """Per column: turnover, holding period, profit factor, expectancy, exposure by side, alpha, beta, IR, TE.

    - ``turnover``: traded value (buys plus sells) over the mean portfolio value, per year of 252 days; buying
      with all the cash and selling it all once a year is 2.0.
    - ``holding_days``: days a position was held over (``held``, else vectorbt's entry-to-exit bars) per trade.
    - ``profit_factor``: vectorbt's gross profit over gross loss of the closed trades, after fees (NaN without
      a losing trade); ``expectancy``: vectorbt's mean P&L per trade, in cash.
    - ``exposure_long``, ``exposure_short``: % of days held long, short.
    - ``alpha`` (%, yearly), ``beta``, ``information_ratio`` (yearly), ``tracking_error`` (%, yearly) against
      the ``benchmark`` column's daily returns, with the daily ``risk_free`` rate in alpha.
    """
    trades = pf.trades
    days = max(len(pf.wrapper.index), 1)
    count = trades.count()
    held_days = held.astype(float).abs().sum() if held is not None else trades.duration.sum()
    long, short = _exposure(pf, held)
    table = pd.DataFrame({
        "turnover": traded_value(pf).sum() / pf.value().mean() * (TRADING_DAYS / days),
        "holding_days": held_days / count.where(count > 0),
        "profit_factor": trades.profit_factor(),
        "expectancy": trades.expectancy(),
        "exposure_long": long,
        "exposure_short": short,
    })
    table = table.join(_benchmark_figures(pf.returns(), benchmark, daily_rate(risk_free)))
    return table.replace([np.inf, -np.inf], np.nan)


def round_trip_cost(fees: float, tax: float, slippage: float) -> float:
    """What one round trip costs as a fraction of traded value: a fee and slippage each way, the tax once."""
    return 2.0 * fees + tax + 2.0 * slippage


def break_even_cost(pf: vbt.Portfolio, benchmark: str, cost_now: float) -> pd.Series:
    """Per column: the round-trip cost (fraction of traded value) at which its mean daily return over the
    benchmark's would be zero.

    Every fill's cost is proportional to the value it trades, so a round-trip cost ``c`` takes ``c / 2``
    times each day's turnover rate (traded value over the value before) from that day's return. The mean
    daily excess return ``m`` at today's cost ``cost_now`` then falls linearly with ``c``, at the rate
    ``(tau_s - tau_b) / 2``, the mean turnover rates of the strategy and the benchmark (which pays the new
    cost too), and is zero at ``cost_now + 2 m / (tau_s - tau_b)``. NaN for the benchmark and for a column
    that trades no more than the benchmark (no cost erases its edge or closes its gap); below zero when the
    edge is gone at no cost at all.
    """
    if benchmark not in pf.wrapper.columns:
        return pd.Series(math.nan, index=pf.wrapper.columns, name="break_even_cost")
    returns = pf.returns()
    excess = returns.sub(returns[benchmark], axis=0).mean()
    tau = turnover_rates(pf).mean()
    extra = tau - tau[benchmark]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (cost_now + 2.0 * excess / extra).where(extra > 1e-12)
    out[benchmark] = math.nan
    return out.rename("break_even_cost")


def trader_table(pf: vbt.Portfolio, held: pd.DataFrame | None, benchmark: str, risk_free: float = 0.0,
                 cost_now: float = 0.0) -> pd.DataFrame:
    """``trading_table`` (Sharpe and Sortino over ``risk_free``) with ``trader_figures`` and ``break_even_cost``
    beside it, one row per strategy column; ``cost_now`` is the run's ``round_trip_cost``."""
    table = trading_table(pf, held, risk_free)
    table = table.join(trader_figures(pf, held, benchmark, risk_free)).join(break_even_cost(pf, benchmark, cost_now))
    return table.replace([np.inf, -np.inf], np.nan)
