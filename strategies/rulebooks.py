"""The single-symbol rules applied to every stock of a universe, the held stocks sharing one book equally.

The rules of ``strategies.signals`` (forecast, Bollinger, MACD, their AND/OR joins and the vote) decide,
per stock and from what is known at each day's close, whether to hold it. Here they run on panels
(decision days x symbols) instead of one series:

* **forecast**: hold stock s after day t while its score (a forecast of its next return) beats
  ``threshold``, i.e. ``signals.forecast_state`` with a predicted close of ``close * (1 + score)``;
  ``centre`` shifts the bar for scores that are not returns (0.5 for a chance of beating the median).
  A stock without a score that day is not held.
* **bollinger**, **macd**: ``signals.bollinger_state`` and ``signals.macd_state`` on each stock's own
  priced days (its history without the days it has no close), so a stock's bands and averages are those
  a single-symbol run on that stock would compute. A day without a close holds nothing in that stock.
* the joins and the vote are ``signals.RULES``' own builds, applied element-wise.

:func:`equal_weights` turns a held-or-not panel into target weights: ``1 / n`` on each of the n stocks
held that day, 0 elsewhere, nothing (all 0) on a day holding none. The weights of a day change only
when the set of held stocks changes, so a book that trades only on changed days (``engine.book``'s
``on_change``) rebalances to equal weights exactly when a stock enters or leaves.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from strategies.signals import (
    RULES,
    RuleSettings,
    bollinger_short_state,
    bollinger_state,
    macd_short_state,
    macd_state,
)

STANDALONE_RULES = ("bollinger", "macd")  # rules that need no forecast: one book each, whatever the scorers
PANEL_RULES = (*RULES, *STANDALONE_RULES)  # every rule a universe can run, by config name


def per_stock(close: pd.DataFrame, state: Callable[[pd.Series], pd.Series]) -> pd.DataFrame:
    """``state`` run on each stock's priced days, False where the stock has no close.

    Parameters
    ----------
    close : pd.DataFrame
        Close panel (days x symbols); NaN = no price that day.
    state : callable
        A single-series rule, close series in, boolean state out (e.g. ``signals.bollinger_state``).

    Returns
    -------
    pd.DataFrame
        Boolean panel with the labels of ``close``.
    """
    columns = {s: state(close[s].dropna()).reindex(close.index, fill_value=False) for s in close.columns}
    return pd.DataFrame(columns, index=close.index, columns=close.columns).fillna(False).astype(bool)


def forecast_states(scores: pd.DataFrame, threshold: float = 0.0, centre: float = 0.0) -> pd.DataFrame:
    """Hold a stock after day t while its score for t+1 beats ``centre + threshold``; NaN holds nothing."""
    return scores.gt(centre + threshold).astype(bool)


def indicator_states(close: pd.DataFrame, cfg: RuleSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every stock's Bollinger and MACD states (the settings of ``strategies``), computed once per run."""
    boll = per_stock(close, lambda c: bollinger_state(c, cfg.bollinger_window, cfg.bollinger_k))
    trend = per_stock(close, lambda c: macd_state(c, cfg.macd_fast, cfg.macd_slow, cfg.macd_signal))
    return boll, trend


def rule_states(fc: pd.DataFrame, boll: pd.DataFrame, trend: pd.DataFrame, rules: list[str],
                combine: str = "all") -> dict[str, pd.DataFrame]:
    """The states of the forecast rules named in ``rules`` (keys of ``signals.RULES``) from the basic ones."""
    join = (lambda a, b: a & b) if combine == "all" else (lambda a, b: a | b)
    return {rule: RULES[rule].build(fc, boll, trend, join).astype(bool) for rule in rules if rule in RULES}


def equal_weights(held: pd.DataFrame) -> pd.DataFrame:
    """Target weights: ``1 / n`` on each of the n stocks held that day, 0 elsewhere (all 0 when n = 0).

    Examples
    --------
    >>> held = pd.DataFrame({"A": [True, True, False], "B": [True, False, False]})
    >>> equal_weights(held).to_dict("list")
    {'A': [0.5, 1.0, 0.0], 'B': [0.5, 0.0, 0.0]}
    """
    on = held.fillna(False).astype(float)
    return on.div(on.sum(axis=1).where(lambda n: n > 0), axis=0).fillna(0.0)


def short_indicator_states(close: pd.DataFrame, cfg: RuleSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every stock's Bollinger and MACD short states (``signals``' mirrors: above the upper band until below the
    middle; MACD below its signal line)."""
    boll = per_stock(close, lambda c: bollinger_short_state(c, cfg.bollinger_window, cfg.bollinger_k))
    trend = per_stock(close, lambda c: macd_short_state(c, cfg.macd_fast, cfg.macd_slow, cfg.macd_signal))
    return boll, trend


def forecast_short_states(scores: pd.DataFrame, threshold: float = 0.0, centre: float = 0.0) -> pd.DataFrame:
    """Short a stock after day t while its score for t+1 is below ``centre - threshold``; NaN holds nothing."""
    return scores.lt(centre - threshold).astype(bool)


def sided_weights(long: pd.DataFrame, short: pd.DataFrame, direction: str) -> pd.DataFrame:
    """Target weights of a rule book for ``strategies.direction``: long = :func:`equal_weights` of the long states;
    short = minus those of the short states; both = +1 / -1 / 0 per stock (a stock both long and short is flat),
    each of the n stocks held either way at 1 / n of the value.

    Examples
    --------
    >>> long = pd.DataFrame({"A": [True], "B": [False], "C": [True], "D": [False]})
    >>> short = pd.DataFrame({"A": [False], "B": [True], "C": [True], "D": [False]})
    >>> sided_weights(long, short, "both").iloc[0].tolist()
    [0.5, -0.5, 0.0, 0.0]
    """
    if direction == "long":
        return equal_weights(long)
    if direction == "short":
        return -equal_weights(short)
    side = long.fillna(False).astype(float) - short.fillna(False).astype(float)
    held = side.ne(0).sum(axis=1)
    return side.div(held.where(held > 0), axis=0).fillna(0.0)
