"""Universe baselines and targets as pure functions of a close panel (dates x symbols).

NaN in a close panel means the symbol has no price that day (not listed yet, delisted, a gap). A
*score* dated t uses closes up to t only, so it can be traded from t+1's open. A *target* (label)
dated t is about day t+1: it uses the close of t+1 and exists for training and scoring only, never as
an input of a decision at t.
"""

from __future__ import annotations

import pandas as pd


def last_return(close: pd.DataFrame) -> pd.DataFrame:
    """Each symbol's return from the previous row's close to this row's close.

    Parameters
    ----------
    close : pd.DataFrame
        Close panel (dates x symbols).

    Returns
    -------
    pd.DataFrame
        ``close_t / close_{t-1} - 1``; NaN on a symbol's first row and wherever either close is
        missing (a gap is not bridged: the return across it is not a one-day return).
    """
    return close / close.shift(1) - 1.0


def naive_scores(close: pd.DataFrame) -> pd.DataFrame:
    """The naive forecast of tomorrow's return: zero for every symbol priced today.

    Parameters
    ----------
    close : pd.DataFrame
        Close panel (dates x symbols).

    Returns
    -------
    pd.DataFrame
        0.0 where the close is known, NaN elsewhere. Every name ties, so a ranking of it is decided by
        the strategies' tie-break alone: the baseline a score must beat.
    """
    return pd.DataFrame(0.0, index=close.index, columns=close.columns).where(close.notna())


def reversal_scores(close: pd.DataFrame) -> pd.DataFrame:
    """Short-term reversal: score = minus the last one-day return (yesterday's losers rank first).

    The rule Fischer & Krauss (2018) found to explain much of their LSTM's edge on the S&P 500.

    Parameters
    ----------
    close : pd.DataFrame
        Close panel (dates x symbols).

    Returns
    -------
    pd.DataFrame
        ``-(close_t / close_{t-1} - 1)``, dated t; NaN where :func:`last_return` is NaN.
    """
    return -last_return(close)


def next_return(close: pd.DataFrame) -> pd.DataFrame:
    """Target: the return from day t's close to day t+1's close, dated t (uses t+1; training only).

    Parameters
    ----------
    close : pd.DataFrame
        Close panel (dates x symbols).

    Returns
    -------
    pd.DataFrame
        ``close_{t+1} / close_t - 1``; NaN on the last row and where either close is missing.
    """
    return close.shift(-1) / close - 1.0


def above_median_target(close: pd.DataFrame) -> pd.DataFrame:
    """Target: 1 if a symbol's next return beats that day's cross-sectional median, else 0.

    The classification target of Fischer & Krauss (2018). The label dated t compares the returns
    from t to t+1 of the names that have one; the median is taken over those names only. A return
    equal to the median is not above it (0), so on a day with an odd count the median name is a 0.

    Parameters
    ----------
    close : pd.DataFrame
        Close panel (dates x symbols).

    Returns
    -------
    pd.DataFrame
        1.0 / 0.0 dated t, NaN where :func:`next_return` is NaN.
    """
    ahead = next_return(close)
    median = ahead.median(axis=1, skipna=True)
    return ahead.gt(median, axis=0).astype(float).where(ahead.notna())
