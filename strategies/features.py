"""Derived forecast inputs: indicators of a price frame, each row's value from that row and the rows before it.

A derived feature is named by a pattern and its window, e.g. ``ret_5`` (the 5-day log return) or
``rsi_14``; ``bb_pctb`` and ``macd_hist`` without a number take the strategies' Bollinger and MACD
parameters. Every value is scale-free (a return, a ratio, a fraction of the close, an index from 0 to
100), so it means the same at any price level and enters a forecaster's window as it is. The first
``warmup(name)`` rows have no value (NaN): nothing is filled. docs/features.md has every formula.

    compute(prices, ["ret_5", "rsi_14"], IndicatorParams())  # DataFrame, one column per name
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from strategies.indicators import bollinger, macd, rsi, wilder_mean

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
FLAT_BAND = 1e-12  # a Bollinger band narrower than this fraction of its middle counts as flat: %b = 0.5


@dataclass(frozen=True)
class IndicatorParams:
    """The strategies' indicator settings, which ``bb_pctb`` and ``macd_hist`` (no number) take."""

    bollinger_window: int = 20
    bollinger_k: float = 2.0
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9


Compute = Callable[[pd.DataFrame, int, IndicatorParams], pd.Series]


@dataclass(frozen=True)
class Feature:
    """One derived feature: its name pattern, what it is, its formula, inputs and warm-up."""

    prefix: str  # the name before ``_<n>``: ret_5 -> "ret"
    text: str
    formula: str  # exact, with n the window of the name
    inputs: tuple[str, ...]  # the price columns it reads
    minimum: int  # the smallest window that has a meaning
    example: int | None  # the window of the name `wfbt models` lists (None: the name takes no window)
    compute: Compute
    warmup: Callable[[int, IndicatorParams], int]  # leading rows without a value

    @property
    def pattern(self) -> str:
        """How it is named: ``ret_<n>``, ``bb_pctb[_<n>]`` (no number: the strategies' window), ``macd_hist``."""
        if self.example is None:
            return self.prefix
        return f"{self.prefix}[_<n>]" if self.prefix in _TAKES_STRATEGY_PARAMS else f"{self.prefix}_<n>"


def _ret(prices: pd.DataFrame, n: int, p: IndicatorParams) -> pd.Series:
    close = prices["close"]
    return np.log(close / close.shift(n))


def _vol(prices: pd.DataFrame, n: int, p: IndicatorParams) -> pd.Series:
    daily = np.log(prices["close"] / prices["close"].shift(1))
    return daily.rolling(n, min_periods=n).std(ddof=1)


def _pctb(prices: pd.DataFrame, n: int, p: IndicatorParams) -> pd.Series:
    bands = bollinger(prices["close"], n, p.bollinger_k)
    width = bands["upper"] - bands["lower"]
    flat = width <= FLAT_BAND * bands["middle"].abs()
    return ((prices["close"] - bands["lower"]) / width.mask(flat)).mask(flat & width.notna(), 0.5)


def _macd_hist(prices: pd.DataFrame, n: int, p: IndicatorParams) -> pd.Series:
    return macd(prices["close"], p.macd_fast, p.macd_slow, p.macd_signal)["hist"] / prices["close"]


def _rsi(prices: pd.DataFrame, n: int, p: IndicatorParams) -> pd.Series:
    return rsi(prices["close"], n)


def _volume_rel(prices: pd.DataFrame, n: int, p: IndicatorParams) -> pd.Series:
    mean = prices["volume"].rolling(n, min_periods=n).mean()
    return prices["volume"] / mean.where(mean > 0)


def _atr(prices: pd.DataFrame, n: int, p: IndicatorParams) -> pd.Series:
    before = prices["close"].shift(1)
    ranges = pd.concat([prices["high"] - prices["low"], (prices["high"] - before).abs(),
                        (prices["low"] - before).abs()], axis=1)
    true_range = ranges.max(axis=1).where(before.notna())  # the first day has no previous close
    return wilder_mean(true_range, n) / prices["close"]


def _ma_gap(prices: pd.DataFrame, n: int, p: IndicatorParams) -> pd.Series:
    close = prices["close"]
    return np.log(close / close.rolling(n, min_periods=n).mean())


FEATURES: dict[str, Feature] = {f.prefix: f for f in [
    Feature("ret", "log return over the last n days", "ln(close_t / close_(t-n))", ("close",), 1, 5, _ret,
            lambda n, p: n),
    Feature("vol", "realised volatility: daily log returns' sample standard deviation over n days",
            "std(ln(close_s / close_(s-1)) for s in t-n+1..t; ddof=1), daily units", ("close",), 2, 20, _vol,
            lambda n, p: n),
    Feature("bb_pctb", "Bollinger %b: where the close sits in its bands (0 lower, 1 upper)",
            "(close_t - lower_t) / (upper_t - lower_t), bands of strategies.bollinger(close, n, bollinger_k); "
            "0.5 on a flat band", ("close",), 2, 20, _pctb, lambda n, p: n - 1),
    Feature("macd_hist", "MACD histogram as a fraction of the close",
            "(macd_t - signal_t) / close_t, strategies.macd(close, macd_fast, macd_slow, macd_signal)",
            ("close",), 0, None, _macd_hist, lambda n, p: p.macd_slow - 1),
    Feature("rsi", "Wilder's relative strength index, 0 to 100",
            "100 * G_t / (G_t + L_t), G and L Wilder means of n daily gains and losses; 50 when flat",
            ("close",), 1, 14, _rsi, lambda n, p: n),
    Feature("volume_rel", "volume relative to its trailing mean",
            "volume_t / mean(volume_s for s in t-n+1..t)", ("volume",), 2, 20, _volume_rel, lambda n, p: n - 1),
    Feature("atr", "Wilder's average true range as a fraction of the close",
            "wilder_mean(TR, n)_t / close_t, TR_s = max(high_s - low_s, |high_s - close_(s-1)|, "
            "|low_s - close_(s-1)|)", ("high", "low", "close"), 1, 14, _atr, lambda n, p: n),
    Feature("ma_gap", "log distance of the close from its n-day simple moving average",
            "ln(close_t / mean(close_s for s in t-n+1..t))", ("close",), 2, 20, _ma_gap, lambda n, p: n - 1),
]}
_NAME = re.compile(r"(?P<prefix>[a-z_]+?)(?:_(?P<n>[1-9][0-9]*))?")
_TAKES_STRATEGY_PARAMS = {"bb_pctb": lambda p: p.bollinger_window, "macd_hist": lambda p: 0}


def parse(name: str) -> tuple[Feature, int | None] | None:
    """``(feature, window)`` of a derived feature's name (window None: the strategies' parameter); None if
    ``name`` names no derived feature (a price column, a typo, a window below the feature's minimum)."""
    match = _NAME.fullmatch(name)
    if match is None or match["prefix"] not in FEATURES:
        return None
    feature, n = FEATURES[match["prefix"]], match["n"]
    if n is None:
        return (feature, None) if feature.prefix in _TAKES_STRATEGY_PARAMS else None
    if feature.example is None or int(n) < feature.minimum:
        return None
    return feature, int(n)


def is_derived(name: str) -> bool:
    """Whether ``name`` is a derived feature (not one of the price columns)."""
    return parse(name) is not None


def examples() -> list[str]:
    """One name per derived feature (and the strategy-parameter forms), as `wfbt models` lists them."""
    out = [f"{f.prefix}_{f.example}" if f.example is not None else f.prefix for f in FEATURES.values()]
    return out + ["bb_pctb", "ret_1", "ret_20"]


def _window(name: str, params: IndicatorParams) -> tuple[Feature, int]:
    found = parse(name)
    if found is None:
        raise ValueError(f"{name!r} is not a derived feature. Known: {', '.join(examples())} (any window n).")
    feature, n = found
    return feature, n if n is not None else _TAKES_STRATEGY_PARAMS[feature.prefix](params)


def inputs(name: str) -> tuple[str, ...]:
    """The price columns a feature reads: itself for a price column."""
    return (name,) if name in PRICE_COLUMNS else _window(name, IndicatorParams())[0].inputs


def warmup(name: str, params: IndicatorParams | None = None) -> int:
    """Leading rows without a value: a price column has none, ``ret_5`` five, ``bb_pctb_20`` nineteen."""
    if name in PRICE_COLUMNS:
        return 0
    params = params or IndicatorParams()
    feature, n = _window(name, params)
    return feature.warmup(n, params)


def compute(prices: pd.DataFrame, names: list[str], params: IndicatorParams | None = None) -> pd.DataFrame:
    """The derived features ``names`` of ``prices`` (float64 columns in ``names`` order, the prices' index).

    Each row's value is computed from that row and the rows before it; the first ``warmup(name)`` rows are
    NaN, and so is a row where the formula has no value (a trailing mean volume of 0).
    """
    params = params or IndicatorParams()
    out = {}
    for name in names:
        feature, n = _window(name, params)
        out[name] = feature.compute(prices, n, params).astype(np.float64)
    return pd.DataFrame(out, index=prices.index, columns=list(names))
