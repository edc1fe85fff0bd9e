"""Prices: load from a source, normalise column names, and check them where they enter.

A checked price frame has columns open, high, low, close, volume (float), a tz-naive DatetimeIndex
named ``date``, sorted and unique, and strictly positive prices. Problems with one unambiguous fix
(unsorted rows, Yahoo's all-empty ``null`` rows, exchange-holiday filler rows, identical duplicate
rows) are fixed with a warning; anything else is refused with a DataError naming the fix.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from backtest.config import DataSection
from backtest.errors import DataError

FIELDS = ("open", "high", "low", "close", "volume")
PRICE_FIELDS = ("open", "high", "low", "close")

# Header spellings seen in the wild, lower-cased, mapped to our field names.
ALIASES = {
    "date": "date", "datetime": "date", "timestamp": "date", "mdate": "date", "time": "date",
    "open": "open", "open_d": "open",
    "high": "high", "high_d": "high",
    "low": "low", "low_d": "low",
    "close": "close", "close_d": "close",
    "adj close": "adj_close", "adj_close": "adj_close", "adjclose": "adj_close",
    "volume": "volume", "vol": "volume",
}


class DataWarning(UserWarning):
    """A data problem wfbt fixed by itself; printed, never silent."""


def _warn(message: str) -> None:
    warnings.warn(message, DataWarning, stacklevel=3)


def _first_dates(index: pd.Index, limit: int = 3) -> str:
    shown = ", ".join(str(pd.Timestamp(d).date()) for d in index[:limit])
    return shown + (f" and {len(index) - limit} more" if len(index) > limit else "")


def normalise_columns(frame: pd.DataFrame, mapping: dict[str, str] | None = None, origin: str = "data"
                      ) -> pd.DataFrame:
    """Rename known header spellings (Yahoo, TEJ, lower-case) or an explicit mapping to our fields."""
    if mapping:
        unknown = [c for c in mapping if c not in frame.columns]
        if unknown:
            raise DataError(
                f"{origin}: data.columns maps {unknown} but the file has columns {list(frame.columns)}. "
                "Fix the mapping's keys to match the header."
            )
        frame = frame.rename(columns=mapping)
    renamed = {c: ALIASES.get(str(c).strip().lower(), str(c).strip().lower()) for c in frame.columns}
    return frame.rename(columns=renamed)


def check_prices(frame: pd.DataFrame, origin: str = "data") -> pd.DataFrame:
    """Validate and tidy a price frame; return a new frame with exactly FIELDS as columns.

    ``frame`` must carry the dates either as a ``date`` column or as its index.
    """
    frame = frame.copy()
    if "date" in frame.columns:
        frame = frame.set_index("date")
    missing = [c for c in PRICE_FIELDS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{origin}: missing column(s) {', '.join(missing)}. Found {list(frame.columns)}. "
            "Expected Yahoo's layout (Date,Open,High,Low,Close,Adj Close,Volume), TEJ's "
            "(mdate,open_d,high_d,low_d,close_d,volume) or lower-case date,open,high,low,close,volume; "
            "map other names with data.columns."
        )
    if "volume" not in frame.columns:
        frame["volume"] = np.nan
    frame = frame[list(FIELDS)]
    frame.columns.name = None  # yfinance names its column level "Price"
    try:
        index = pd.to_datetime(frame.index)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{origin}: dates could not be parsed ({exc}). Use ISO dates like 2020-01-31.") from None
    if index.hasnans:
        raise DataError(f"{origin}: {int(index.isna().sum())} row(s) have no date. Remove them.")
    if getattr(index, "tz", None) is not None:
        index = index.tz_localize(None)
    frame.index = pd.DatetimeIndex(index.normalize(), name="date")
    for col in FIELDS:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")

    if not frame.index.is_monotonic_increasing:
        _warn(f"{origin}: rows were not in date order; sorted them.")
        frame = frame.sort_index(kind="stable")

    duplicated = frame.index.duplicated(keep="first")
    if duplicated.any():
        dup_dates = frame.index[duplicated].unique()
        conflicting = [d for d in dup_dates if len(frame.loc[[d]].drop_duplicates()) > 1]
        if conflicting:
            raise DataError(
                f"{origin}: {len(conflicting)} date(s) appear more than once with different prices: "
                f"{_first_dates(pd.Index(conflicting))}. Keep one row per date."
            )
        _warn(f"{origin}: dropped {int(duplicated.sum())} exact duplicate row(s), e.g. {_first_dates(dup_dates)}.")
        frame = frame[~duplicated]

    prices = frame[list(PRICE_FIELDS)]
    empty = prices.isna().all(axis=1)
    if empty.any():
        _warn(f"{origin}: dropped {int(empty.sum())} row(s) with no prices at all (e.g. Yahoo 'null' rows): "
              f"{_first_dates(frame.index[empty])}.")
        frame = frame[~empty]
        prices = frame[list(PRICE_FIELDS)]
    partial = prices.isna().any(axis=1)
    if partial.any():
        cols = [c for c in PRICE_FIELDS if prices[c].isna().any()]
        raise DataError(
            f"{origin}: {int(partial.sum())} row(s) have missing (NaN) values in {', '.join(cols)}, first on "
            f"{_first_dates(frame.index[partial])}. Drop or fill those rows in the source, or start the "
            "range after them with data.start."
        )
    nonpos = (prices <= 0).any(axis=1)
    if nonpos.any():
        cols = [c for c in PRICE_FIELDS if (prices[c] <= 0).any()]
        last = frame.index[nonpos][-1]
        raise DataError(
            f"{origin}: {int(nonpos.sum())} row(s) have zero or negative {', '.join(cols)} between "
            f"{frame.index[nonpos][0].date()} and {last.date()}. Prices must be positive; start the range "
            f"after them, e.g. --set data.start={(last + pd.Timedelta(days=1)).date()}."
        )
    bad_range = (prices["high"] < prices[["open", "close", "low"]].max(axis=1) * (1 - 1e-9)) | (
        prices["low"] > prices[["open", "close", "high"]].min(axis=1) * (1 + 1e-9)
    )
    if bad_range.any():
        raise DataError(
            f"{origin}: {int(bad_range.sum())} row(s) have open/close outside [low, high], first on "
            f"{_first_dates(frame.index[bad_range])}. The columns may be mislabelled; check data.columns."
        )
    vol = frame["volume"]
    filler = (vol == 0) & prices.nunique(axis=1).eq(1)
    if filler.any():
        _warn(f"{origin}: dropped {int(filler.sum())} holiday filler row(s) (zero volume, open = high = low = "
              f"close), e.g. {_first_dates(frame.index[filler])}.")
        frame = frame[~filler]
    return frame


def _read_csv(path: str, mapping: dict[str, str]) -> pd.DataFrame:
    file = Path(path)
    if not file.is_file():
        raise DataError(f"data.path: file {path!r} does not exist. Check the path (relative to the current "
                        "directory).")
    try:
        raw = pd.read_csv(file, na_values=["null", "NaN", "nan", ""], skip_blank_lines=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"data.path: {path!r} is not a readable CSV ({exc}).") from None
    frame = normalise_columns(raw, mapping, origin=path)
    if "date" not in frame.columns:
        raise DataError(
            f"{path}: no date column. Found {list(raw.columns)}. Name it Date/date/mdate or map it with "
            "data.columns = {YourName = \"date\"}."
        )
    return frame


def _load_sample(symbol: str) -> pd.DataFrame:
    from arch.data import nasdaq, sp500

    samples = {"sp500": sp500, "nasdaq": nasdaq}
    if symbol not in samples:
        raise DataError(f"data.symbol: the sample source has {', '.join(samples)}. Got {symbol!r}.")
    frame = samples[symbol].load()
    return normalise_columns(frame.reset_index(), origin=f"sample:{symbol}")


def _clip_range(frame: pd.DataFrame, start: str | None, end: str | None, origin: str) -> pd.DataFrame:
    try:
        lo = pd.Timestamp(start) if start else None
        hi = pd.Timestamp(end) if end else None
    except ValueError as exc:
        raise DataError(f"data.start/end must be ISO dates like 2019-01-31 ({exc}).") from None
    if lo is not None and hi is not None and lo >= hi:
        raise DataError(f"data.start ({start}) must be before data.end ({end}).")
    out = frame.loc[(frame.index >= lo) if lo is not None else slice(None)]
    if hi is not None:
        out = out[out.index < hi]
    if out.empty:
        raise DataError(
            f"{origin}: no rows between {start or 'the start'} and {end or 'the end'}; the data covers "
            f"{frame.index[0].date()} to {frame.index[-1].date()}. Adjust data.start/data.end."
        )
    return out


def load_prices(cfg: DataSection) -> pd.DataFrame:
    """Load, check and clip the configured prices."""
    origin = f"{cfg.source}:{cfg.path or cfg.symbol}"
    if cfg.source == "sample":
        raw = _load_sample(cfg.symbol)
    elif cfg.source == "csv":
        raw = _read_csv(cfg.path or "", cfg.columns)
    else:
        from backtest import sources

        raw = sources.fetch(cfg)
    # Clip before the checks so that bad rows outside the chosen range (GSPC's Open = 0 before
    # 1982) do not stop a run that never uses them.
    dated = raw.set_index("date") if "date" in raw.columns else raw
    try:
        dated.index = pd.to_datetime(dated.index)
    except (ValueError, TypeError):
        check_prices(raw, origin)  # raises the DataError that names the unparseable dates
    if not dated.index.is_monotonic_increasing:
        _warn(f"{origin}: rows were not in date order; sorted them.")
        dated = dated.sort_index(kind="stable")
    return check_prices(_clip_range(dated, cfg.start, cfg.end, origin), origin)


def fingerprint(prices: pd.DataFrame) -> str:
    """SHA-256 of the checked prices, so a run records exactly which data it saw."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(prices, index=True).to_numpy().tobytes())
    return digest.hexdigest()
