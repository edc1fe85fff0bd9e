"""A multi-asset book in vectorbt: target-weight panels traded at the next open with shared cash.

``book`` runs every strategy's weight panel (decision days x symbols, decided at day t's close) as one
``vbt.Portfolio.from_orders`` call: one group per strategy with cash sharing, one column per symbol and
leg, target-percent orders, sells before buys (``call_seq="auto"``). The rules it applies:

* **Fills at the next open.** The weights dated t become target percents of the group's value at
  t+1's open, filled at that open with ``fees`` (a share of the order value) and ``slippage`` (a
  share of the price, against the trader) on every order, i.e. per half-turn. A day without an open
  for a symbol places no order in it: the position is held.
* **A stock whose prices stop** (no close after its last one) is closed on the next row at its last
  close, and not traded after. A gap inside a symbol's history only holds the position.
* **Every position is closed on the last day**, at that day's close, paying fees and slippage; the
  weights decided at the day before's close are not traded (they would be held for hours only).
* **Books that trade on change only** (``on_change``): a book named there places orders only on the
  fills after a decision day whose weights differ from the day before's (the first decision day
  counts as a change); between them its positions drift with prices, untouched. Exits after a stop
  and on the last day still happen. The universe's rule books use it: equal weights among the held
  stocks, rebalanced when the held set changes (``strategies.rulebooks``).
* **Books that trade on a schedule** (``rebalance``): every book places orders only on the fills after
  the decision days marked there (``strategies.crosssection.rebalance_days``: every n days, weekly, month
  end); between them its positions drift with prices, untouched, as a held book does. Exits after a
  stop and on the last day still happen.
* **Borrow on shorts.** vectorbt 1.2's ``from_orders`` has no borrow fee nor cash-flow input, so
  the short side of each symbol trades in a column of its own whose prices are the market prices
  times ``(1 + borrow / periods) ** row``: a short held from one row to the next loses that factor's
  growth, ``borrow / periods`` of its value, every day, compounded inside vectorbt's own cash and
  value. The long side trades the market prices. The short leg's fill prices (in its trade records)
  therefore include the accrued borrow; its returns and its share of the book's value are exact.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd
import vectorbt as vbt

from backtest.core.config import BacktestSection
from backtest.engine.fills import with_min_fee


def book(weights: Mapping[str, pd.DataFrame], open_: pd.DataFrame, close: pd.DataFrame, *,
         fees: float = 0.0, slippage: float = 0.0, borrow: float = 0.0, periods: int = 252,
         init_cash: float = 1_000_000.0, on_change: Collection[str] = (), rebalance: pd.Series | None = None,
         lot: int | None = None, min_fee: float = 0.0) -> vbt.Portfolio:
    """Trade several target-weight panels in one vectorbt portfolio.

    Parameters
    ----------
    weights : mapping of str to pd.DataFrame
        Book name -> weights (days x symbols, decided at the day's close; NaN or a missing symbol = 0).
        Positive is long, negative short, as a share of the book's value.
    open_, close : pd.DataFrame
        Price panels (days x symbols) with the same labels; NaN = no price that day.
    fees, slippage : float, default 0.0
        Per half-turn, as fractions (0.0005 = 5 bp).
    borrow : float, default 0.0
        Yearly borrow rate on the value of short positions, charged daily (simple rate / ``periods``).
    periods : int, default 252
        Trading days in a year.
    init_cash : float, default 1,000,000
        Starting cash of each book.
    on_change : collection of str, default ()
        Books that trade only after a day whose weights changed (see the module's rules); the others
        trade to their weights every day.
    rebalance : pd.Series of bool, optional
        By decision day (the index of ``close``): the days after whose close every book may trade; None =
        every day. A day missing from it does not trade.
    lot : int, optional
        Every order a whole number of ``lot`` shares, rounded down (vectorbt's ``size_granularity``), the
        short legs' too; None = fractional shares.
    min_fee : float, default 0.0
        Floor on each order's commission in cash (``engine.fills.with_min_fee``); 0 = none.

    Returns
    -------
    vbt.Portfolio
        Columns ``(book, leg, symbol)`` grouped by book; ``pf.value()`` is each book's value.
    """
    _check_prices(open_, close)
    last_row, priced = _stops(close)
    parts = {}
    for name, panel in weights.items():
        target = _targets(panel.reindex(index=close.index, columns=close.columns), open_, last_row, priced,
                          name in on_change, rebalance)
        parts[name] = _legs(target)
    size = pd.concat(parts, axis=1, names=["book", "leg", "symbol"])
    price, value_at = _prices(open_, close, last_row)
    carry = _borrow_factor(len(close), borrow, periods)
    leg = size.columns.get_level_values("leg")
    symbol = size.columns.get_level_values("symbol")
    factor = np.where(leg == "short", carry[:, None], 1.0)
    granularity = {"size_granularity": float(lot)} if lot else {}

    def simulate(rates: pd.DataFrame, fixed: pd.DataFrame) -> vbt.Portfolio:
        return vbt.Portfolio.from_orders(
            value_at[symbol].set_axis(size.columns, axis=1) * factor,
            size, size_type="targetpercent", direction="both",
            price=price[symbol].set_axis(size.columns, axis=1) * factor, fees=rates, fixed_fees=fixed,
            slippage=slippage, init_cash=init_cash, cash_sharing=True, group_by="book", call_seq="auto", freq="1D",
            engine=_engine(), **granularity)

    rates = pd.DataFrame(fees, index=size.index, columns=size.columns)
    if not min_fee:
        return simulate(rates, rates * 0.0)
    return with_min_fee(simulate, rates, BacktestSection(fees=fees, min_fee=min_fee))


def _check_prices(open_: pd.DataFrame, close: pd.DataFrame) -> None:
    """Refuse price panels whose labels differ or that are too short to trade."""
    if not (open_.index.equals(close.index) and open_.columns.equals(close.columns)):
        raise ValueError("open_ and close must have the same dates and symbols: reindex one to the other.")
    if len(close) < 2:
        raise ValueError(f"a book needs at least 2 days (decide, then fill). Got {len(close)}.")


def _stops(close: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Each symbol's last row with a close, and where a symbol is inside its priced span."""
    rows = np.arange(len(close))[:, None]
    has = close.notna().to_numpy()
    last = pd.Series(np.where(has, rows, -1).max(axis=0), index=close.columns)
    first = np.where(has, rows, len(close)).min(axis=0)
    inside = (rows >= first) & (rows <= last.to_numpy())
    return last, pd.DataFrame(inside, index=close.index, columns=close.columns)


def _targets(weights: pd.DataFrame, open_: pd.DataFrame, last_row: pd.Series, priced: pd.DataFrame,
             on_change: bool = False, rebalance: pd.Series | None = None) -> pd.DataFrame:
    """Target percents by fill row: yesterday's weights at today's open, exits after a stop and at the end.

    NaN means no order (first row, no open, outside a symbol's priced span, a symbol never priced, and
    with ``on_change`` a row after a decision day whose weights equal the day before's, with ``rebalance``
    a row after a decision day it does not mark).
    """
    decided = weights.fillna(0.0)
    target = decided.shift(1)
    target = target.where(priced & open_.notna())
    if on_change:
        changed = decided.ne(decided.shift(1)).any(axis=1)
        changed.iloc[0] = True
        trades = changed.shift(1, fill_value=True).to_numpy(dtype=bool)[:, None]
        target = target.where(np.broadcast_to(trades, target.shape))
    if rebalance is not None:
        marked = rebalance.reindex(weights.index, fill_value=False).astype(bool)
        trades = marked.shift(1, fill_value=False).to_numpy(dtype=bool)[:, None]
        target = target.where(np.broadcast_to(trades, target.shape))
    rows = np.arange(len(target))[:, None]
    target = target.mask(rows == (last_row.to_numpy() + 1), 0.0)
    target.iloc[-1] = 0.0
    return target.where(last_row >= 0, axis=1)


def _legs(target: pd.DataFrame) -> pd.DataFrame:
    """Split targets into a long and a short leg (NaN = no order stays NaN in both); drop an unused leg."""
    long, short = target.clip(lower=0.0), target.clip(upper=0.0)
    legs = {"long": long} if not (short < 0).to_numpy().any() else {"long": long, "short": short}
    return pd.concat(legs, axis=1)


def _prices(open_: pd.DataFrame, close: pd.DataFrame, last_row: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fill prices (open; last close on the row after a stop; close on the last row) and valuation prices."""
    value_at = close.ffill().bfill()
    price = open_.copy()
    rows = np.arange(len(close))[:, None]
    price = price.mask(rows == (last_row.to_numpy() + 1), value_at)
    price.iloc[-1] = value_at.iloc[-1]
    return price, value_at


def _borrow_factor(n: int, borrow: float, periods: int) -> np.ndarray:
    """Price multiplier of the short leg by row: one day of borrow accrues per row."""
    if borrow < 0 or periods < 1:
        raise ValueError(f"borrow must be >= 0 and periods >= 1. Got borrow={borrow}, periods={periods}.")
    return (1.0 + borrow / periods) ** np.arange(n, dtype=float)


def _engine() -> str | None:
    """vectorbt-rust when installed (same results, no numba compile per process), else numba."""
    try:
        from vectorbt._engine import is_rust_available
    except ImportError:  # pragma: no cover - older vectorbt
        return None
    return "rust" if is_rust_available() else None
