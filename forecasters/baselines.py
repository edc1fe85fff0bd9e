"""Baseline forecasts that every model is measured against."""

from __future__ import annotations

import pandas as pd


def naive_forecast(close: pd.Series) -> pd.Series:
    """Tomorrow's close = today's close: the value indexed by day t is close[t - 1]."""
    return close.shift(1).rename("naive")
