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


def wilder_mean(values: pd.Series, window: int) -> pd.Series:
    """Wilder's smoothing: the mean of the first ``window`` values, then ``m_t = m_(t-1) + (x_t - m_(t-1)) / window``.

    NaN until ``window`` values have been seen (leading NaN in ``values`` are skipped first). Each value uses
    the values up to its own row only.
    """
    out = pd.Series(float("nan"), index=values.index)
    valid = values.loc[values.first_valid_index():] if values.notna().any() else values.iloc[:0]
    if len(valid) < window:
        return out
    seeded = valid.iloc[window - 1:].copy()
    seeded.iloc[0] = valid.iloc[:window].mean()
    out.loc[seeded.index] = seeded.ewm(alpha=1.0 / window, adjust=False).mean()
    return out


def rsi(close: pd.Series, window: int = 14) -> pd.Series:
    """Wilder's relative strength index, 0 to 100.

    Parameters
    ----------
    close : pd.Series
        Closing prices.
    window : int
        Days of Wilder's smoothing of the daily gains and losses.

    Returns
    -------
    pd.Series
        ``100 - 100 / (1 + G / L)`` with G, L the Wilder means of the gains and of the losses (as positive
        numbers) of the last ``window`` close-to-close changes: 100 when there was no loss, 50 when the
        closes did not move at all. NaN for the first ``window`` rows.
    """
    change = close.diff()
    gain = wilder_mean(change.clip(lower=0.0), window)
    loss = wilder_mean((-change).clip(lower=0.0), window)
    total = gain + loss
    out = 100.0 * gain / total.where(total > 0)
    return out.where(total != 0, 50.0).where(total.notna())
