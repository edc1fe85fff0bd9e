"""Total return: trade dividend-adjusted prices when data.adjust asks for them, and say which prices were traded.

Yahoo's ``Adj Close`` is the close adjusted for dividends (and splits); scaling open, high and low by the same
day's ``Adj Close / Close`` gives bars whose every ratio is the total return, as yfinance's ``auto_adjust`` does.
Volume is left as traded. Raw prices (``none``) leave the dividends uncredited: a buy-and-hold of a stock that pays
them is understated by about its dividend yield a year.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtest.core.config import DataSection, yahoo_adjusted
from backtest.core.errors import DataError

RATIO_FIELDS = ("open", "high", "low", "close")

PRICES_WORDING = {  # data.adjust -> what the report says the prices were
    "none": "prices: raw, dividends not credited",
    "adjusted": "prices: dividend-adjusted (total return)",
    "dividends": "prices: raw, cash dividends credited on the ex-date",
}


def prices_wording(cfg: DataSection) -> str:
    """The report's words for the traded prices (``data.adjusted = true`` is yfinance's adjusted download)."""
    return PRICES_WORDING["adjusted" if yahoo_adjusted(cfg) else cfg.adjust]


def require_adj_close(columns: pd.Index, origin: str) -> None:
    """Refuse, naming the fix, prices without the Adj Close column data.adjust = "adjusted" scales them by."""
    if "adj_close" not in columns:
        raise DataError(f"{origin}: data.adjust = \"adjusted\" needs an Adj Close column; the file has "
                        f"{list(columns)}. Use Yahoo's layout (Date,Open,High,Low,Close,Adj Close,Volume), "
                        "map the column with data.columns = {YourName = \"adj_close\"}, or set data.adjust = \"none\".")


def unadjustable(frame: pd.DataFrame) -> pd.Series:
    """Rows with a close but no positive, finite Adj Close: they cannot be adjusted."""
    adj = pd.to_numeric(frame["adj_close"], errors="coerce").astype("float64")
    close = pd.to_numeric(frame["close"], errors="coerce").astype("float64")
    return ~(np.isfinite(adj) & (adj > 0)) & np.isfinite(close)


def ratio_adjust(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Open, high, low and close times ``adj_close / close``, row by row; the ``adj_close`` column is dropped.

    A row without a positive, finite Adj Close is refused: it cannot be adjusted, and dropping it would
    hide a day.
    """
    require_adj_close(frame.columns, origin)
    adj = pd.to_numeric(frame["adj_close"], errors="coerce").astype("float64")
    close = pd.to_numeric(frame["close"], errors="coerce").astype("float64")
    bad = unadjustable(frame)
    if bad.any():
        raise DataError(f"{origin}: {int(bad.sum())} row(s) have no positive Adj Close, e.g. on "
                        f"{pd.Timestamp(frame.index[bad][0]).date()}. Fill them, or set data.adjust = \"none\".")
    out = frame.drop(columns="adj_close")
    ratio = adj / close
    for col in RATIO_FIELDS:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64") * ratio
    return out


def adjust_prices(frame: pd.DataFrame, cfg: DataSection, origin: str) -> pd.DataFrame:
    """The frame a reader returned, as data.adjust asks (before the checks, which keep the five fields only).

    yfinance applies the same adjustment itself at download (``auto_adjust``), so its frame is left as it comes.
    """
    if cfg.adjust != "adjusted" or cfg.source == "yfinance":
        return frame
    return ratio_adjust(frame, origin)
