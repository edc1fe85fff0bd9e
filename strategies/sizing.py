"""Position sizes: the share of equity a position opened after day t's close takes, from what is known then.

Every function returns a size per decision day t (indexed like ``close``), a number in [0, cap]. The
portfolio reads the size of the decision day before an entry (the position filled at t+1's open) and keeps
it until the position is closed: sizes are not rebalanced while a position is held.

Sizings
-------
all_in      1
fixed       ``fraction``
vol_target  ``target_vol`` / the annualised standard deviation of the last ``window`` daily returns up to
            close(t) (sample standard deviation x sqrt(252)); 0 until ``window`` returns are known
forecast    |predicted return for t+1| / the RMSE of the last ``window`` predicted returns against what
            happened, each error known at the close after the day it predicted; 0 until ``window`` are known
agreement   the share of the seeds whose predicted move has the sign of their mean's (1 with one seed)
"""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np
import pandas as pd

from strategies.signals import BENCHMARK


class SizeSettings(Protocol):
    """The parameters the sizings read (backtest.core.config.StrategiesSection is one)."""

    sizing: Literal["all_in", "fixed", "vol_target", "forecast", "agreement"]
    fraction: float
    target_vol: float
    vol_window: int
    max_leverage: float


TRADING_DAYS = 252  # annualisation of the daily volatility


def vol_target_size(close: pd.Series, target_vol: float, window: int, cap: float = 1.0) -> pd.Series:
    """``target_vol`` over the trailing realised volatility known at each close, capped at ``cap``.

    Parameters
    ----------
    close : pd.Series
        Closing prices.
    target_vol : float
        Annual volatility aimed at (0.10 = 10 %).
    window : int
        Daily returns in the trailing standard deviation (ddof=1), the last one ending at close(t).
    cap : float, default 1.0
        Largest size; a flat window (volatility 0) gets it.

    Returns
    -------
    pd.Series
        Size per decision day; 0 before ``window`` returns exist.
    """
    realised = close.pct_change().rolling(window, min_periods=window).std() * np.sqrt(TRADING_DAYS)
    with np.errstate(divide="ignore"):
        size = target_vol / realised
    return size.clip(upper=cap).fillna(0.0)


def forecast_size(close: pd.Series, predicted_next: pd.Series, window: int, cap: float = 1.0) -> pd.Series:
    """|predicted return| over the rolling RMSE of the past predicted returns, capped at ``cap``.

    The prediction made at close(s) for s+1 has the error ``predicted/close(s) - close(s+1)/close(s)``, known
    at close(s+1); the RMSE at day t uses the ``window`` errors known by close(t). Days without a
    prediction, or with fewer than ``window`` known errors, get 0.
    """
    predicted = predicted_next.reindex(close.index) / close - 1.0
    realised = close.shift(-1) / close - 1.0
    known_error = (predicted - realised).shift(1)  # the error of day t-1's prediction is known at close(t)
    rmse = np.sqrt((known_error**2).rolling(window, min_periods=window).mean())
    with np.errstate(divide="ignore", invalid="ignore"):
        size = predicted.abs() / rmse
    return size.clip(upper=cap).fillna(0.0)


def agreement_size(close: pd.Series, seeds: pd.DataFrame, cap: float = 1.0) -> pd.Series:
    """The share of the seeds' predictions (columns of ``seeds``) moving the way their mean moves, capped.

    With one seed the share is 1 on every day with a prediction: the size is ``cap``, the same as all in.
    A day without predictions, or whose mean predicts no move, gets 0.
    """
    seeds = seeds.reindex(close.index)
    moves = np.sign(seeds.sub(close, axis=0))
    mean = np.sign(seeds.mean(axis=1) - close)
    share = moves.eq(mean, axis=0).mean(axis=1).where(mean != 0, 0.0)
    return share.clip(upper=cap).fillna(0.0)


SIZINGS = ("all_in", "fixed", "vol_target", "forecast", "agreement")  # strategies.sizing's choices


def strategy_sizes(names: list[str], close: pd.Series, forecasts: dict[str, pd.Series],
                   seeds: dict[str, pd.DataFrame], cfg: SizeSettings) -> dict[str, pd.Series]:
    """The size of every strategy in ``names`` per decision day, for ``cfg.sizing``.

    ``forecasts`` and ``seeds`` map a model to its prediction (a Series) and its seeds' predictions (a
    DataFrame, one column per seed), indexed by decision day. A per-model strategy is ``model:rule``; the
    strategies without a model (bollinger, macd) are sized all in (capped) under ``forecast`` and
    ``agreement`` sizing, and the benchmark (``BENCHMARK``) is all in under every sizing.
    """
    cap = cfg.max_leverage
    whole = pd.Series(min(1.0, cap), index=close.index)
    common = {"all_in": whole, "fixed": pd.Series(min(cfg.fraction, cap), index=close.index)}
    if cfg.sizing == "vol_target":
        common["vol_target"] = vol_target_size(close, cfg.target_vol, cfg.vol_window, cap)
    out = {}
    for name in names:
        model = name.split(":")[0] if ":" in name else None
        if name == BENCHMARK:
            out[name] = pd.Series(1.0, index=close.index)
        elif cfg.sizing in common:
            out[name] = common[cfg.sizing]
        elif model is None:
            out[name] = whole
        elif cfg.sizing == "forecast":
            out[name] = forecast_size(close, forecasts[model], cfg.vol_window, cap)
        else:
            out[name] = agreement_size(close, seeds[model], cap)
    return out
