"""Signal rules: each turns prices (and a model's forecasts) into a desired position per day.

A rule returns a boolean *state* indexed by decision day t: True = hold the asset after day t's close.
Entries and exits are the state's rising and falling edges. States, not raw events, are what the
combinations join, so "forecast AND Bollinger" means "hold while both want to hold".

Rules
-----
forecast            hold while predicted close(t+1) > close(t) * (1 + threshold)
bollinger           enter when close(t) < lower band; hold until close(t) > middle band (mean reversion)
macd                hold while the MACD line is above its signal line (crossover rule)
forecast+bollinger  forecast AND bollinger (``combine = "all"``) or OR (``combine = "any"``)
forecast+macd       forecast AND/OR macd, likewise
vote                hold while at least two of forecast, bollinger, macd want to hold
buy_and_hold        hold from the first out-of-sample day to the end

With ``direction = "short"`` or ``"both"`` each rule has a mirror that says when to be short
(``short_states``): forecast short while predicted close(t+1) < close(t) * (1 - threshold); Bollinger
short from a close above the upper band until a close below the middle band; MACD short while the line
is below its signal line; the combinations join the short states the same way, and the vote is short
when at least two of the three say short. ``strategy_positions`` turns the two into +1 / -1 / 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import pandas as pd

from strategies.indicators import bollinger, macd


class RuleSettings(Protocol):
    """The parameters the rules read (backtest.core.config.StrategiesSection is one; any object with them will do)."""

    threshold: float
    bollinger_window: int
    bollinger_k: float
    macd_fast: int
    macd_slow: int
    macd_signal: int
    combine: Literal["all", "any"]
    rules: list[str]
    direction: Literal["long", "short", "both"]


BENCHMARK = "buy_and_hold"  # the strategy every other is measured against

Join = Callable[[pd.Series, pd.Series], pd.Series]  # AND or OR of two states (strategies.combine)


@dataclass(frozen=True)
class Rule:
    """A per-model rule: what it does, and how its state is built from the day's three basic states."""

    text: str
    build: Callable[[pd.Series, pd.Series, pd.Series, Join], pd.Series]  # (forecast, bollinger, macd, join)


# Every per-model rule by name (strategies.rules picks among them). A new rule is one entry here:
# docs/extending.md works an example.
RULES: dict[str, Rule] = {
    "forecast": Rule("hold while predicted next close > close * (1 + threshold)", lambda fc, b, m, join: fc),
    "forecast+bollinger": Rule("forecast rule joined with Bollinger (combine = all: both; any: either)",
                               lambda fc, b, m, join: join(fc, b)),
    "forecast+macd": Rule("forecast rule joined with MACD (combine = all: both; any: either)",
                          lambda fc, b, m, join: join(fc, m)),
    "vote": Rule("hold while at least two of forecast, Bollinger, MACD say hold",
                 lambda fc, b, m, join: (fc.astype(int) + b.astype(int) + m.astype(int)) >= 2),
}
STANDALONE = {
    "bollinger": "enter below the lower band, exit above the middle band (mean reversion)",
    "macd": "hold while the MACD line is above its signal line",
    BENCHMARK: "hold for the whole out-of-sample period (benchmark)",
}


def forecast_state(close: pd.Series, predicted_next: pd.Series, threshold: float = 0.0) -> pd.Series:
    """Hold after day t when the forecast for t+1 beats close(t) by ``threshold``; flat without a forecast."""
    pred = predicted_next.reindex(close.index)  # days without a forecast are NaN, which compares False: flat
    return (pred > close * (1.0 + threshold)).astype(bool)


def bollinger_state(close: pd.Series, window: int = 20, k: float = 2.0) -> pd.Series:
    """Mean reversion: enter when close < lower band, stay in until close > middle band."""
    bands = bollinger(close, window, k)
    events = pd.Series(np.nan, index=close.index)
    events[close < bands["lower"]] = 1.0
    events[close > bands["middle"]] = 0.0
    return events.ffill().fillna(0.0).astype(bool)


def macd_state(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.Series:
    """Hold while the MACD line is above its signal line."""
    m = macd(close, fast, slow, signal)
    return (m["macd"] > m["signal"]).astype(bool)


def forecast_short_state(close: pd.Series, predicted_next: pd.Series, threshold: float = 0.0) -> pd.Series:
    """Short after day t when the forecast for t+1 is below close(t) by ``threshold``; flat without a forecast."""
    pred = predicted_next.reindex(close.index)
    return (pred < close * (1.0 - threshold)).astype(bool)


def bollinger_short_state(close: pd.Series, window: int = 20, k: float = 2.0) -> pd.Series:
    """Mean reversion from above: short when close > upper band, stay short until close < middle band."""
    bands = bollinger(close, window, k)
    events = pd.Series(np.nan, index=close.index)
    events[close > bands["upper"]] = 1.0
    events[close < bands["middle"]] = 0.0
    return events.ffill().fillna(0.0).astype(bool)


def macd_short_state(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.Series:
    """Short while the MACD line is below its signal line."""
    m = macd(close, fast, slow, signal)
    return (m["macd"] < m["signal"]).astype(bool)


def edges(state: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Entries (False -> True) and exits (True -> False) of a state; day 0 counts from flat."""
    prev = state.shift(1, fill_value=False).astype(bool)
    return state & ~prev, ~state & prev


def strategy_states(
    close: pd.Series, forecasts: dict[str, pd.Series], cfg: RuleSettings,
) -> dict[str, pd.Series]:
    """Every strategy's state over ``close.index``; forecasts map model name -> predicted next close
    indexed by the decision day."""
    join: Join = (lambda a, b: a & b) if cfg.combine == "all" else (lambda a, b: a | b)
    boll = bollinger_state(close, cfg.bollinger_window, cfg.bollinger_k)
    trend = macd_state(close, cfg.macd_fast, cfg.macd_slow, cfg.macd_signal)
    states: dict[str, pd.Series] = {}
    for model, pred in forecasts.items():
        fc = forecast_state(close, pred, cfg.threshold)
        for rule in cfg.rules:
            states[f"{model}:{rule}"] = RULES[rule].build(fc, boll, trend, join).astype(bool)
    states["bollinger"] = boll
    states["macd"] = trend
    states[BENCHMARK] = pd.Series(True, index=close.index)
    return states


def short_states(close: pd.Series, forecasts: dict[str, pd.Series], cfg: RuleSettings) -> dict[str, pd.Series]:
    """Every strategy's short state (True = short after that close), the mirror of ``strategy_states``;
    buy-and-hold is never short."""
    join: Join = (lambda a, b: a & b) if cfg.combine == "all" else (lambda a, b: a | b)
    boll = bollinger_short_state(close, cfg.bollinger_window, cfg.bollinger_k)
    trend = macd_short_state(close, cfg.macd_fast, cfg.macd_slow, cfg.macd_signal)
    states: dict[str, pd.Series] = {}
    for model, pred in forecasts.items():
        fc = forecast_short_state(close, pred, cfg.threshold)
        for rule in cfg.rules:
            states[f"{model}:{rule}"] = RULES[rule].build(fc, boll, trend, join).astype(bool)
    states["bollinger"] = boll
    states["macd"] = trend
    states[BENCHMARK] = pd.Series(False, index=close.index)
    return states


def strategy_positions(close: pd.Series, forecasts: dict[str, pd.Series], cfg: RuleSettings) -> dict[str, pd.Series]:
    """Every strategy's position after each close for ``cfg.direction``: +1 long, -1 short, 0 flat.

    long: the long states (as 1 / 0); short: minus the short states; both: long minus short, so a day on which
    a combination is both long and short (``combine = "any"`` joining a long and a short signal) is flat.
    buy-and-hold is long throughout in every direction.
    """
    long = strategy_states(close, forecasts, cfg)
    short = short_states(close, forecasts, cfg)
    out: dict[str, pd.Series] = {}
    for name, up in long.items():
        up = up & (cfg.direction != "short")
        down = short[name] & (cfg.direction != "long")
        out[name] = up.astype(np.int64) - down.astype(np.int64)
    out[BENCHMARK] = pd.Series(1, index=close.index, dtype=np.int64)
    return out
