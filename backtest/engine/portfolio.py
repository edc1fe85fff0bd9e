"""One vectorbt Portfolio over every strategy column, with fees, sell-side tax and slippage."""

from __future__ import annotations

import pandas as pd
import vectorbt as vbt

from backtest.core.config import BacktestSection
from strategies.signals import edges


def simulate(prices: pd.DataFrame, states: dict[str, pd.Series], start: int, cfg: BacktestSection
             ) -> vbt.Portfolio:
    """Backtest every state from row ``start`` (the first out-of-sample day) to the end.

    ``states`` are indexed by decision day over all of ``prices``. With ``execution = "next_open"`` a
    decision made at day t's close fills at day t+1's open (the honest default); with ``"close"`` it
    fills at day t's close, which assumes the signal was known before the close it is computed from.
    """
    frame = pd.DataFrame(states)
    if cfg.execution == "next_open":
        held = frame.shift(1, fill_value=False).astype(bool).iloc[start:]
        price = prices["open"].iloc[start:]
    else:
        held = frame.iloc[start - 1:-1].astype(bool)
        price = prices["close"].iloc[start - 1:-1]
    close = prices["close"].loc[held.index]
    entries, exits = {}, {}
    for col in held.columns:
        entries[col], exits[col] = edges(held[col])
    entries_df, exits_df = pd.DataFrame(entries), pd.DataFrame(exits)
    fees = cfg.fees + cfg.tax * exits_df.astype(float)  # the tax is charged on sells only
    return vbt.Portfolio.from_signals(
        close, entries_df, exits_df, price=price, fees=fees, slippage=cfg.slippage,
        init_cash=cfg.init_cash, freq="1D", engine=_engine(),
    )


def _engine() -> str | None:
    """vectorbt-rust when installed (same results, no ~8 s numba compile per process), else numba."""
    try:
        from vectorbt._engine import is_rust_available
    except ImportError:  # pragma: no cover - older vectorbt
        return None
    return "rust" if is_rust_available() else None
