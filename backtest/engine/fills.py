"""How fills are sized and charged beyond a fraction of value: whole shares (lots) and a minimum commission.

Whole shares are vectorbt's ``size_granularity``: every order's size is rounded *down* to a multiple of it
(an all-in buy takes as many whole lots as the cash pays for, fee included; the change stays cash). A minimum
commission is a floor, ``max(fees * value, min_fee)``, which vectorbt's ``fixed_fees`` cannot say alone (it is
added to the proportional fee). So the portfolio is simulated, every fill whose proportional commission came to
less than ``min_fee`` is re-charged ``min_fee`` as a fixed fee instead (its tax stays proportional), and it is
simulated again, until no new fill falls below the floor. A fill once floored stays floored, so the loop ends
(at most once per fill); one whose size grew past the floor on a later pass pays at most ``min_fee``, never
less than the floor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import vectorbt as vbt

from backtest.core.config import BacktestSection

MAX_PASSES = 10  # the floor settles in 2 passes on the default run; each pass is one vectorbt call


def size_options(cfg: BacktestSection) -> dict[str, Any]:
    """``from_signals`` keywords for the order size: a granularity of ``lot_size`` shares with whole shares."""
    return {"size_granularity": float(cfg.lot_size)} if cfg.whole_shares else {}


def below_floor(pf: vbt.Portfolio, commission: float, min_fee: float) -> np.ndarray:
    """Days x columns: True where a fill's proportional commission (``commission`` times its value) < ``min_fee``."""
    rec = pf.orders.records
    out = np.zeros(pf.wrapper.shape_2d, dtype=bool)
    low = (commission * rec["size"] * rec["price"] < min_fee).to_numpy()
    out[rec["idx"].to_numpy()[low], rec["col"].to_numpy()[low]] = True
    return out


def with_min_fee(simulate: Callable[[pd.DataFrame, pd.DataFrame], vbt.Portfolio], fees: pd.DataFrame,
                 cfg: BacktestSection) -> vbt.Portfolio:
    """The portfolio ``simulate(fees, fixed_fees)`` gives once every fill pays at least ``cfg.min_fee``.

    ``fees`` are the proportional rates per day and column (commission plus the sell-side tax); a floored fill
    keeps its tax and pays ``min_fee`` in place of the commission.
    """
    floored = np.zeros(fees.shape, dtype=bool)
    pf = simulate(fees, fees * 0.0)
    for _ in range(MAX_PASSES):
        low = below_floor(pf, cfg.fees, cfg.min_fee) & ~floored
        if not low.any():
            return pf
        floored |= low
        pf = simulate(fees - cfg.fees * floored, fees * 0.0 + cfg.min_fee * floored)
    return pf


def fills_wording(cfg: BacktestSection) -> str:
    """The report's words for how fills are sized and charged."""
    if cfg.whole_shares:
        size = "whole shares" if cfg.lot_size == 1 else f"whole lots of {cfg.lot_size:,} shares"
    else:
        size = "fractional shares (backtest.whole_shares = false)"
    return f"fills: {size}, " + (f"commission at least {cfg.min_fee:g} a fill" if cfg.min_fee else "no minimum fee")
