"""Technical indicators as pure functions of a close series."""

from __future__ import annotations

import pandas as pd


def bollinger(close: pd.Series, window: int = 20, k: float = 2.0) -> pd.DataFrame:
    """Bollinger Bands.

    Parameters
    ----------
    close : pd.Series
        Closing prices.
    window : int
        Rolling window of the middle band (simple moving average) and the standard deviation.
    k : float
        Width of the bands in standard deviations (population standard deviation, ddof=0, as
        Bollinger defines it).

    Returns
    -------
    pd.DataFrame
        Columns ``middle``, ``upper``, ``lower``; NaN for the first ``window - 1`` rows.
    """
    middle = close.rolling(window, min_periods=window).mean()
    std = close.rolling(window, min_periods=window).std(ddof=0)
    return pd.DataFrame({"middle": middle, "upper": middle + k * std, "lower": middle - k * std})


def macd(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """Moving Average Convergence Divergence.

    Parameters
    ----------
    close : pd.Series
        Closing prices.
    fast, slow : int
        Spans of the fast and slow exponential moving averages (``adjust=False``, the recursive form
        charting packages use).
    signal : int
        Span of the exponential moving average of the MACD line.

    Returns
    -------
    pd.DataFrame
        Columns ``macd`` (fast EMA - slow EMA), ``signal`` and ``hist`` (macd - signal). The first
        ``slow - 1`` rows are NaN: the slow average has not seen a full span yet.
    """
    ema_fast = close.ewm(span=fast, adjust=False).mean()
    ema_slow = close.ewm(span=slow, adjust=False).mean()
    line = ema_fast - ema_slow
    line.iloc[: slow - 1] = float("nan")
    sig = line.ewm(span=signal, adjust=False).mean()
    return pd.DataFrame({"macd": line, "signal": sig, "hist": line - sig})
