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


def forward_return(close: pd.DataFrame, horizon: int = 1) -> pd.DataFrame:
    """Target: the return from day t's close to day t+h's close, dated t (uses t+h; training only).

    Parameters
    ----------
    close : pd.DataFrame
        Close panel (dates x symbols).
    horizon : int, default 1
        Days ahead, h >= 1; ``horizon = 1`` is :func:`next_return`.

    Returns
    -------
    pd.DataFrame
        ``close_{t+h} / close_t - 1``; NaN on the last h rows and where either close is missing (the
        closes in between are not required: a gap inside the h days is held through).
    """
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a whole number of days >= 1. Got {horizon!r}.")
    return close.shift(-int(horizon)) / close - 1.0


def above_median_target(close: pd.DataFrame, horizon: int = 1) -> pd.DataFrame:
    """Target: 1 if a symbol's return over the next h days beats that day's cross-sectional median, else 0.

    The classification target of Fischer & Krauss (2018) (h = 1). The label dated t compares the
    returns from t to t+h of the names that have one; the median is taken over those names only. A
    return equal to the median is not above it (0), so on a day with an odd count the median name is a 0.

    Parameters
    ----------
    close : pd.DataFrame
        Close panel (dates x symbols).
    horizon : int, default 1
        Days ahead (:func:`forward_return`).

    Returns
    -------
    pd.DataFrame
        1.0 / 0.0 dated t, NaN where :func:`forward_return` is NaN.
    """
    ahead = forward_return(close, horizon)
    median = ahead.median(axis=1, skipna=True)
    return ahead.gt(median, axis=0).astype(float).where(ahead.notna())


def rank_target(close: pd.DataFrame, horizon: int = 1) -> pd.DataFrame:
    """Target: the h-day return's rank within its day, mapped to [-1, 1] (qlib ranks its label per day).

    Ties share their mean rank; the worst name of a day is -1, the best +1, and a day with one name gives
    it 0. Only the day's names with a return take part.

    Examples
    --------
    >>> c = pd.DataFrame({"A": [10.0, 11.0], "B": [10.0, 9.0], "C": [10.0, 10.0]})
    >>> rank_target(c).iloc[0].tolist()
    [1.0, -1.0, 0.0]
    """
    ahead = forward_return(close, horizon)
    rank, n = ahead.rank(axis=1, method="average"), ahead.notna().sum(axis=1)
    scaled = rank.sub(1.0).div((n - 1).where(n > 1), axis=0) * 2.0 - 1.0
    return scaled.where(n.gt(1), 0.0, axis=0).where(ahead.notna())


def zscore_target(close: pd.DataFrame, horizon: int = 1) -> pd.DataFrame:
    """Target: the h-day return z-scored within its day (minus the day's mean, over its standard deviation).

    The standard deviation is the population one (ddof 0); a day whose names all return the same gives
    them 0. Only the day's names with a return take part.
    """
    ahead = forward_return(close, horizon)
    mean, std = ahead.mean(axis=1), ahead.std(axis=1, ddof=0)
    z = ahead.sub(mean, axis=0).div(std.where(std > 0), axis=0)
    return z.where(std.gt(0), 0.0, axis=0).where(ahead.notna())


# The universe's targets by the name forecasters.panel takes: each a function of (close, horizon), dated t.
TARGETS = {"return": forward_return, "rank": rank_target, "zscore": zscore_target, "median": above_median_target}
