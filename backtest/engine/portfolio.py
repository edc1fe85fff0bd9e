"""One vectorbt Portfolio over every strategy column, with fees, sell-side tax and slippage.

Every position still open on the last out-of-sample day is sold at that day's close, paying the fee,
slippage and tax a real exit pays, so a final value is cash, not a price on a screen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import vectorbt as vbt

from backtest.core.config import BacktestSection
from backtest.engine.fills import size_options, with_min_fee
from strategies.signals import edges


def holdings(states: dict[str, pd.Series], start: int) -> pd.DataFrame:
    """True where a strategy holds the asset over an out-of-sample day (rows ``start`` to the end).

    The position over day t is the one decided at day t-1's close, in both execution modes. On the last
    day only a position held into it counts: one the rule would open there could not be held past that
    day's close, so it is not opened (see ``simulate``).
    """
    held = pd.DataFrame(states).astype(bool).shift(1, fill_value=False).iloc[start:]
    carried = held.iloc[-2] if len(held) > 1 else pd.Series(False, index=held.columns)
    held.iloc[-1] = held.iloc[-1] & carried
    return held


def simulate(prices: pd.DataFrame, states: dict[str, pd.Series], start: int, cfg: BacktestSection
             ) -> vbt.Portfolio:
    """Backtest every state over exactly the out-of-sample rows, ``start`` (the first) to the end.

    ``states`` are indexed by decision day over all of ``prices``. The position over day t is decided at
    day t-1's close; with ``execution = "next_open"`` it is traded at day t's open (the honest default),
    with ``"close"`` at day t-1's close itself, which assumes the signal was known before the close it is
    computed from. Either way the portfolio's rows are the out-of-sample days and each is marked at its
    close.

    On the last day every position still held is sold at that day's close, with fee, slippage and tax,
    buy-and-hold included; a column the rule leaves at that day's open (next_open) or the close before
    (close) has nothing left to sell. A position the rule would open on the last day is not opened: it
    could be held at most until the same day's close, a round trip that measures where the test stops
    rather than the rule (with "next_open" bought at the last open and sold at its close; with "close"
    bought at the close before, so that day's return is given up), and vectorbt fills one order per
    column and day. Staying flat that day uses no price of that day.
    """
    held = holdings(states, start)
    traded = held.copy()
    traded.iloc[-1] = False  # flat after the last close: whatever is held is sold there
    entries, exits = {}, {}
    for col in traded.columns:
        entries[col], exits[col] = edges(traded[col])
    entries_df, exits_df = pd.DataFrame(entries), pd.DataFrame(exits)
    close = prices["close"].iloc[start:]
    fill = (prices["open"] if cfg.execution == "next_open" else prices["close"].shift(1)).iloc[start:]
    price = pd.DataFrame(np.repeat(fill.to_numpy()[:, None], len(held.columns), axis=1),
                         index=held.index, columns=held.columns)
    price.iloc[-1] = np.where(held.iloc[-1], close.iloc[-1], fill.iloc[-1])  # the closing sells: at the close
    fees = cfg.fees + cfg.tax * exits_df.astype(float)  # the tax is charged on sells only

    def run(fees: pd.DataFrame, fixed_fees: pd.DataFrame | float = 0.0) -> vbt.Portfolio:
        return vbt.Portfolio.from_signals(
            close, entries_df, exits_df, price=price, fees=fees, fixed_fees=fixed_fees, slippage=cfg.slippage,
            init_cash=cfg.init_cash, freq="1D", engine=_engine(), **size_options(cfg),
        )

    return with_min_fee(run, fees, cfg) if cfg.min_fee > 0 else run(fees)


def fill_dates(orders: pd.DataFrame, index: pd.DatetimeIndex, closed: pd.Series, execution: str) -> pd.Series:
    """The day each of ``orders`` (strategy, date = its portfolio row, side) was filled.

    With "next_open" that is its row. With "close" an order on row t was filled at day t-1's close (the
    decision day's), except the closing sells of the columns in ``closed`` (True = sold at the last close).
    """
    if execution == "next_open" or orders.empty:
        return orders["date"]
    position = index.get_indexer(pd.DatetimeIndex(orders["date"]))
    closing = (orders["date"] == index[-1]).to_numpy() & orders["strategy"].map(closed).fillna(False).to_numpy(bool)
    return pd.Series(index[np.where(closing, position, position - 1)], index=orders.index, name="date")


def _engine() -> str | None:
    """vectorbt-rust when installed (same results, no ~8 s numba compile per process), else numba."""
    try:
        from vectorbt._engine import is_rust_available
    except ImportError:  # pragma: no cover - older vectorbt
        return None
    return "rust" if is_rust_available() else None
