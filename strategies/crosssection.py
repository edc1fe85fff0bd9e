"""Cross-sectional books: a forecast panel in, target-weight panels out.

A *forecast panel* is a DataFrame indexed by decision day with one column per symbol: the score known
at that day's close, higher meaning "expected to do better tomorrow", NaN meaning the symbol is not in
that day's cross-section (not listed yet, delisted, no forecast). A *weight panel* has the same shape:
the fraction of the book's value to hold in each symbol from the next open on (positive long, negative
short, 0 not held). Executing it (next-open fills, costs, borrow) is the engine's job, not this module's.

One total order decides every ranking: score descending, ties broken by symbol name ascending. So the
top of ``{"B": 1.0, "A": 1.0}`` is ``A``, the bottom is ``B``, and no result depends on the column order
of the input (the output keeps the input's column order).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

Few = Literal["flat", "shrink"]
FEW = ("flat", "shrink")


def long_short_top_k(scores: pd.DataFrame, k: int, gross: float = 1.0, few: Few = "flat") -> pd.DataFrame:
    """Long the k best-ranked names and short the k worst, equal weights, rebalanced every day.

    Each leg holds ``gross / 2`` of the book's value, so every name weighs ``gross / (2 k)``: dollar
    neutral with gross exposure ``gross``. The default ``gross = 1`` makes the book's daily return
    half of (mean long return - mean short return); ``gross = 2`` is Fischer & Krauss's "long the top
    10, short the flop 10" with each leg fully invested, whose return is that difference itself.

    Parameters
    ----------
    scores : pd.DataFrame
        Forecast panel (decision days x symbols); NaN = not in the cross-section that day.
    k : int
        Names per leg, at least 1.
    gross : float, default 1.0
        Sum of absolute weights on a full day.
    few : {"flat", "shrink"}, default "flat"
        A day with fewer than ``2 k`` scored names: ``"flat"`` holds nothing that day (every weight 0);
        ``"shrink"`` uses ``k' = n // 2`` names per leg at ``gross / (2 k')`` each (flat when n < 2).

    Returns
    -------
    pd.DataFrame
        Weights with the index and columns of ``scores``; 0 where not held.

    Examples
    --------
    >>> s = pd.DataFrame({"A": [3.0], "B": [1.0], "C": [2.0], "D": [0.0]})
    >>> long_short_top_k(s, k=1).iloc[0].tolist()
    [0.5, 0.0, 0.0, -0.5]
    """
    _check(k, few)
    rank, n = _ranks(scores)
    per_leg = (n // 2).clip(upper=k) if few == "shrink" else n.where(n >= 2 * k, 0).clip(upper=k)
    top = rank.le(per_leg, axis=0)
    bottom = rank.gt(n - per_leg, axis=0) & rank.notna()
    size = (gross / (2 * per_leg)).where(per_leg > 0, 0.0)
    weights = top.astype(float).mul(size, axis=0) - bottom.astype(float).mul(size, axis=0)
    return weights[scores.columns]


def long_top_k(scores: pd.DataFrame, k: int, gross: float = 1.0, few: Few = "flat") -> pd.DataFrame:
    """Long the k best-ranked names at ``gross / k`` each, rebalanced every day.

    Parameters
    ----------
    scores : pd.DataFrame
        Forecast panel (decision days x symbols); NaN = not in the cross-section that day.
    k : int
        Names held, at least 1.
    gross : float, default 1.0
        Sum of the weights on a full day (1 = fully invested, no leverage).
    few : {"flat", "shrink"}, default "flat"
        A day with fewer than ``k`` scored names: ``"flat"`` holds nothing that day; ``"shrink"``
        holds all n of them at ``gross / n`` each.

    Returns
    -------
    pd.DataFrame
        Weights with the index and columns of ``scores``; 0 where not held.
    """
    _check(k, few)
    rank, n = _ranks(scores)
    held = n.clip(upper=k) if few == "shrink" else n.where(n >= k, 0).clip(upper=k)
    size = (gross / held).where(held > 0, 0.0)
    return rank.le(held, axis=0).astype(float).mul(size, axis=0)[scores.columns]


def topk_dropout(scores: pd.DataFrame, topk: int, n_drop: int, gross: float = 1.0) -> pd.DataFrame:
    """Hold ``topk`` names and replace at most ``n_drop`` of them a day (Qlib's TopkDropoutStrategy).

    Matches ``qlib.contrib.strategy.signal_strategy.TopkDropoutStrategy.generate_trade_decision`` with
    its defaults (``method_sell="bottom"``, ``method_buy="top"``, ``hold_thresh=1``), read from
    microsoft/qlib: each day the held names are ranked by today's score (a held name without a score
    ranks last); the ``n_drop + topk - held`` best names not held are the candidates; of held names
    plus candidates ranked together, the held names among the ``n_drop`` lowest are sold (so a
    candidate never replaces a better-ranked held name); the best candidates fill the freed places up
    to ``topk``. Hence at most ``n_drop`` names leave a day, and at most ``n_drop`` plus the empty
    places enter (``topk`` on the first day).

    Where it differs from Qlib, on purpose: ties are broken by symbol name (Qlib's order of equal
    scores is the sort's); ``n_drop = 0`` sells nothing (Qlib's ``list(l)[-0:]`` would sell every
    held name); the held names are re-weighted to ``gross / topk`` every day, where Qlib leaves held
    positions as they drifted and spends its cash on the new names, so this book trades a little more.

    Parameters
    ----------
    scores : pd.DataFrame
        Forecast panel (decision days x symbols); NaN = not in the cross-section that day.
    topk : int
        Names held, at least 1.
    n_drop : int
        Most names sold a day, 0 to ``topk``.
    gross : float, default 1.0
        Weight of a full book; each held name weighs ``gross / topk`` (fewer names leave cash).

    Returns
    -------
    pd.DataFrame
        Weights with the index and columns of ``scores``; 0 where not held.
    """
    if topk < 1 or not 0 <= n_drop <= topk:
        raise ValueError(f"topk_dropout needs topk >= 1 and 0 <= n_drop <= topk. Got topk={topk}, n_drop={n_drop}.")
    weights = pd.DataFrame(0.0, index=scores.index, columns=scores.columns)
    held: list[str] = []
    for day, row in scores.iterrows():
        held = dropout_step(held, row, topk, n_drop)
        weights.loc[day, held] = gross / topk
    return weights


def dropout_step(held: list[str], scores: pd.Series, topk: int, n_drop: int) -> list[str]:
    """One day of :func:`topk_dropout`: the names held after trading on ``scores`` (see there).

    Parameters
    ----------
    held : list of str
        Names held before the day's trades.
    scores : pd.Series
        The day's scores by symbol; NaN = not in the cross-section.
    topk, n_drop : int
        As in :func:`topk_dropout`.

    Returns
    -------
    list of str
        Names held after the day's trades: those kept (best first), then those bought (best first).

    Examples
    --------
    >>> s = pd.Series({"A": 4.0, "B": 3.0, "C": 2.0, "D": 1.0})
    >>> dropout_step(["C", "D"], s, topk=2, n_drop=1)
    ['C', 'A']
    """
    last = _ranked(scores.reindex(held))
    candidates = _ranked(scores.drop(held, errors="ignore").dropna())
    today = candidates[: max(n_drop + topk - len(last), 0)]
    comb = _ranked(scores.reindex(last.append(today)))
    sell = last[last.isin(comb[len(comb) - n_drop:])]
    buy = today[: len(sell) + topk - len(last)]
    return [name for name in last if name not in sell] + list(buy)


def _ranked(scores: pd.Series) -> pd.Index:
    """Symbols best first: score descending, ties by name ascending, NaN last."""
    by_name = scores.sort_index()
    return by_name.sort_values(ascending=False, kind="stable", na_position="last").index


def _ranks(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Each day's rank (1 = best; ties by symbol name) over symbols sorted by name, and the day's count."""
    by_name = scores.reindex(columns=sorted(scores.columns)).astype(float)
    rank = by_name.rank(axis=1, ascending=False, method="first")
    return rank, by_name.notna().sum(axis=1)


def _check(k: int, few: str) -> None:
    """Refuse a k or a few-names policy that has no meaning."""
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a whole number of names per leg, at least 1. Got k={k!r}.")
    if few not in FEW:
        raise ValueError(f"few must be one of {FEW}: what to do on a day with too few names. Got {few!r}.")


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
CALENDARS = ("days", *WEEKDAYS, "month_end")  # universe.rebalance_on


def rebalance_days(days: pd.DatetimeIndex, every: int = 1, on: str = "days") -> pd.Series:
    """Which decision days a book trades after: the first day always, then every ``every`` days or on a calendar.

    Parameters
    ----------
    days : pd.DatetimeIndex
        The decision days, sorted (a run's out-of-sample days).
    every : int, default 1
        With ``on = "days"``: trade after days 0, n, 2n, ... (1 = every day, 5 ~ a week, 21 ~ a month).
    on : str, default "days"
        ``"days"``; a weekday (``"friday"``): in each calendar week the last day on or before that weekday
        (a week that has none trades on its first day); ``"month_end"``: each month's last day in ``days``.

    Returns
    -------
    pd.Series
        Bool by day.

    Examples
    --------
    >>> d = pd.bdate_range("2024-01-01", periods=8)  # Mon 1 .. Wed 10 January
    >>> rebalance_days(d, on="wednesday").to_numpy().nonzero()[0].tolist()
    [0, 2, 7]
    """
    if int(every) != every or every < 1:
        raise ValueError(f"every must be a whole number of days >= 1. Got {every!r}.")
    if on not in CALENDARS:
        raise ValueError(f"on must be one of {CALENDARS}. Got {on!r}.")
    if on == "days":
        marked = np.arange(len(days)) % int(every) == 0
    elif on == "month_end":
        months = days.to_period("M")
        marked = np.append(months[1:] != months[:-1], True) if len(days) else np.zeros(0, bool)
    else:
        marked = _weekly(days, WEEKDAYS.index(on))
    out = pd.Series(np.asarray(marked, dtype=bool), index=days)
    if len(out):
        out.iloc[0] = True  # the book is built on the first day
    return out


def _weekly(days: pd.DatetimeIndex, weekday: int) -> np.ndarray:
    """Each calendar week's last day on or before ``weekday`` (0 = Monday), or its first day if none is."""
    frame = pd.DataFrame({"week": days.to_period("W").asi8, "day": days.weekday, "row": np.arange(len(days))})
    early = frame[frame["day"] <= weekday].groupby("week")["row"].max()
    first = frame.groupby("week")["row"].min()
    rows = early.reindex(first.index).fillna(first).astype(int)
    marked = np.zeros(len(days), dtype=bool)
    marked[rows.to_numpy()] = True
    return marked


def hold_between(weights: pd.DataFrame, marked: pd.Series) -> pd.DataFrame:
    """The weights decided on the marked days, held (as targets) until the next marked day."""
    return weights.where(marked.reindex(weights.index, fill_value=False), axis=0).ffill().fillna(0.0)
