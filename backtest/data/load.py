"""Prices: load from a source, normalise column names, and check them where they enter.

A checked price frame has columns open, high, low, close, volume (float), a tz-naive DatetimeIndex
named ``date``, sorted and unique, and finite, strictly positive prices. Problems with one unambiguous fix
(unsorted rows, Yahoo's all-empty ``null`` rows, exchange-holiday filler rows, identical duplicate
rows, empty lines) are fixed with a warning; anything else is refused with a DataError naming the fix.
How dates, time zones and CSV dialects are read: backtest/data/dates.py, backtest/data/csvfile.py, docs/data.md.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from backtest.core.config import DataSection, ForecastSection, RunConfig
from backtest.core.errors import DataError, DataWarning
from backtest.data import cache
from backtest.data import csvfile as csvread
from backtest.data.adjust import adjust_prices
from backtest.data.columns import FIELDS, PRICE_FIELDS, normalise_columns
from backtest.data.dates import NA_TEXT, parse_dates
from strategies.features import inputs as derived_inputs

__all__ = ["DataWarning", "READERS", "check_close_only", "check_features", "check_prices", "data_origin", "fingerprint",
           "for_close_only", "is_close_only", "load_prices", "normalise_columns"]
# Larger values are a unit or parsing error (1e308 is the float limit) and overflow the models' float32 math.
MAX_PRICE = 1e15
MAX_VOLUME = 1e18

def _warn(message: str) -> None:
    warnings.warn(message, DataWarning, stacklevel=3)


def _first_dates(index: pd.Index, limit: int = 3) -> str:
    shown = ", ".join(str(pd.Timestamp(d).date()) for d in index[:limit])
    return shown + (f" and {len(index) - limit} more" if len(index) > limit else "")


# --- checks, in the order check_prices applies them ---------------------------------------------------

def _select_fields(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Dates as the index and exactly FIELDS as columns (volume may be absent: NaN)."""
    frame = frame.copy()
    if "date" in frame.columns:
        dates, note = parse_dates(frame.pop("date"), origin)
        if note:
            _warn(note)
        frame.index = dates
    elif not isinstance(frame.index, pd.DatetimeIndex):
        dates, _ = parse_dates(pd.Series(frame.index, index=range(1, len(frame) + 1)), origin)
        frame.index = dates
    missing = [c for c in PRICE_FIELDS if c not in frame.columns]
    if missing and missing != list(CLOSE_ONLY_ABSENT):  # a date and a close alone is close-only data: kept
        raise DataError(
            f"{origin}: missing column(s) {', '.join(missing)}. Found {list(frame.columns)}. "
            "Expected Yahoo's layout (Date,Open,High,Low,Close,Adj Close,Volume), TEJ's "
            "(mdate,open_d,high_d,low_d,close_d,volume), lower-case date,open,high,low,close,volume, or a date "
            "and a close alone (close-only data); map other names with data.columns."
        )
    for name in missing:  # close-only: no open, high or low to check or to fill at
        frame[name] = np.nan
    if "volume" not in frame.columns:
        frame["volume"] = np.nan
    frame = frame[list(FIELDS)]
    frame.columns.name = None  # yfinance names its column level "Price"
    index = frame.index
    if index.tz is not None:
        index = index.tz_localize(None)
    frame.index = pd.DatetimeIndex(index.normalize(), name="date")
    return frame


def _as_numbers(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Text cells (from a CSV) read with the file's decimal mark; a cell that is not a number is refused."""
    text_cols = [c for c in FIELDS if frame[c].map(lambda v: isinstance(v, str)).any()]
    if not text_cols:
        return frame.apply(pd.to_numeric).astype("float64")  # numbers from a client; None -> NaN
    cells = frame[text_cols].astype(str)
    commas = any(cells[c].str.contains(",", regex=False).any() for c in text_cols)
    mark = csvread.decimal_mark([v for c in text_cols for v in cells[c]], origin) if commas else "."
    out = frame.copy()
    for col in text_cols:
        out[col] = csvread.parse_numbers(cells[col], mark)
        bad = out[col].isna() & ~cells[col].str.strip().str.lower().isin(NA_TEXT)
        if bad.any():
            shown = ", ".join(f"{cells[col][bad].iloc[i]!r} on {frame.index[bad][i].date()}"
                              for i in range(min(3, int(bad.sum()))))
            raise DataError(
                f"{origin}: {int(bad.sum())} {col} value(s) are not numbers: {shown}. Expected numbers such as "
                f"1991.72{' or 1991,72' if mark == ',' else ''}; fix those cells (or map the right column with "
                "data.columns)."
            )
    return out.astype("float64")


def _sorted(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    if frame.index.is_monotonic_increasing:
        return frame
    _warn(f"{origin}: rows were not in date order; sorted them.")
    return frame.sort_index(kind="stable")


def _without_duplicates(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    duplicated = frame.index.duplicated(keep="first")
    if not duplicated.any():
        return frame
    dup_dates = frame.index[duplicated].unique()
    conflicting = [d for d in dup_dates if len(frame.loc[[d]].drop_duplicates()) > 1]
    if len(conflicting) >= 5 and duplicated.sum() >= len(frame) / 2:
        raise DataError(
            f"{origin}: {len(conflicting)} date(s) appear more than once with different prices, e.g. "
            f"{_first_dates(pd.Index(conflicting))}: these look like intraday bars. wfbt needs one row per "
            "trading day: resample to daily bars (first open, highest high, lowest low, last close, summed volume)."
        )
    if conflicting:
        raise DataError(
            f"{origin}: {len(conflicting)} date(s) appear more than once with different prices: "
            f"{_first_dates(pd.Index(conflicting))}. Keep one row per date."
        )
    _warn(f"{origin}: dropped {int(duplicated.sum())} exact duplicate row(s), e.g. {_first_dates(dup_dates)}.")
    return frame[~duplicated]


def _without_empty_rows(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    empty = frame[list(PRICE_FIELDS)].isna().all(axis=1)
    if not empty.any():
        return frame
    _warn(f"{origin}: dropped {int(empty.sum())} row(s) with no prices at all (e.g. Yahoo 'null' rows): "
          f"{_first_dates(frame.index[empty])}.")
    return frame[~empty]


CLOSE_ONLY_ABSENT = ("open", "high", "low")  # what close-only data (an index level, a NAV, a FRED series) lacks


def is_close_only(prices: pd.DataFrame) -> bool:
    """Whether ``prices`` hold closes only: open, high and low are empty on every row (read from a date+close file)."""
    return bool(len(prices)) and all(prices[c].isna().all() for c in CLOSE_ONLY_ABSENT)


def _refuse_missing(frame: pd.DataFrame, origin: str) -> None:
    prices = frame[["close"] if is_close_only(frame) else list(PRICE_FIELDS)]
    partial = prices.isna().any(axis=1)
    if partial.any():
        cols = [c for c in PRICE_FIELDS if prices[c].isna().any()]
        raise DataError(
            f"{origin}: {int(partial.sum())} row(s) have missing (NaN) values in {', '.join(cols)}, first on "
            f"{_first_dates(frame.index[partial])}. Drop or fill those rows in the source, or start the "
            "range after them with data.start."
        )


def _refuse_out_of_bounds(frame: pd.DataFrame, origin: str) -> None:
    """inf, -inf and absurd magnitudes (1e308) in any column."""
    limits = {c: MAX_VOLUME if c == "volume" else MAX_PRICE for c in FIELDS}
    for col, limit in limits.items():
        values = frame[col]
        bad = ~np.isfinite(values.fillna(0.0)) | (values.abs() > limit)
        if bad.any():
            shown = ", ".join(f"{v:g} on {d.date()}" for d, v in values[bad].iloc[:3].items())
            raise DataError(
                f"{origin}: {int(bad.sum())} {col} value(s) are infinite or above {limit:g}: {shown}. No real "
                f"{'volume' if col == 'volume' else 'price'} is that large: a unit or export error. Fix those rows, "
                "or start the range after them with data.start."
            )


def _refuse_non_positive(frame: pd.DataFrame, origin: str) -> None:
    prices = frame[list(PRICE_FIELDS)]
    nonpos = (prices <= 0).any(axis=1)
    if nonpos.any():
        cols = [c for c in PRICE_FIELDS if (prices[c] <= 0).any()]
        last = frame.index[nonpos][-1]
        raise DataError(
            f"{origin}: {int(nonpos.sum())} row(s) have zero or negative {', '.join(cols)} between "
            f"{frame.index[nonpos][0].date()} and {last.date()}. Prices must be positive; start the range "
            f"after them, e.g. --set data.start={(last + pd.Timedelta(days=1)).date()}."
        )
    negative = frame["volume"] < 0
    if negative.any():
        raise DataError(
            f"{origin}: {int(negative.sum())} row(s) have a negative volume, first on "
            f"{_first_dates(frame.index[negative])}. Volume counts shares traded and cannot be negative; fix "
            "those rows, or map the right column with data.columns."
        )


def outside_range(frame: pd.DataFrame) -> pd.Series:
    """Rows whose open or close (or low/high themselves) fall outside [low, high]; False where a price is NaN."""
    prices = frame[list(PRICE_FIELDS)]
    return (prices["high"] < prices[["open", "close", "low"]].max(axis=1) * (1 - 1e-9)) | (
        prices["low"] > prices[["open", "close", "high"]].min(axis=1) * (1 + 1e-9)
    )


def _refuse_outside_range(frame: pd.DataFrame, origin: str) -> None:
    bad_range = outside_range(frame)
    if bad_range.any():
        raise DataError(
            f"{origin}: {int(bad_range.sum())} row(s) have open/close outside [low, high], first on "
            f"{_first_dates(frame.index[bad_range])}. The columns may be mislabelled; check data.columns."
        )


def _without_filler(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    flat = (frame["open"] == frame["high"]) & (frame["high"] == frame["low"]) & (frame["low"] == frame["close"])
    filler = (frame["volume"] == 0) & flat
    if not filler.any():
        return frame
    _warn(f"{origin}: dropped {int(filler.sum())} holiday filler row(s) (zero volume, open = high = low = "
          f"close), e.g. {_first_dates(frame.index[filler])}.")
    return frame[~filler]


def _refuse_flat(frame: pd.DataFrame, origin: str) -> None:
    """No rows left, or a close that never moves: nothing to forecast, and nothing to scale by."""
    if frame.empty:
        raise DataError(f"{origin}: no rows are left after the checks above. Check the file and the date range.")
    close = frame["close"]
    if len(frame) > 1 and close.nunique() == 1:
        raise DataError(
            f"{origin}: every close is {close.iloc[0]:g} ({len(frame)} rows, {frame.index[0].date()} to "
            f"{frame.index[-1].date()}): a series that never moves cannot be forecast or scaled. Check that "
            "data.path is the right file and the close column is mapped right (data.columns)."
        )


MAX_GAP_DAYS = 31  # longest calendar gap between bars: markets close for days (13 on the TWSE at New Year), not months
JUMP = 2.0  # a close more than doubling or halving overnight: a split not adjusted for, or a wrong row


def _day_gaps(frame: pd.DataFrame) -> np.ndarray:
    """Calendar days between consecutive bars."""
    return np.diff(frame.index.to_numpy()) / np.timedelta64(1, "D")


def _refuse_not_daily(frame: pd.DataFrame, origin: str) -> None:
    """Weekly or monthly bars read as days make every annualised figure and every test wrong."""
    if len(frame) < 10:
        return
    spacing = float(np.median(_day_gaps(frame)))
    if spacing > 4:
        kind = "weekly" if spacing < 20 else "monthly" if spacing < 60 else "sparser than monthly"
        raise DataError(
            f"{origin}: the bars are {spacing:g} calendar days apart (median): {kind} bars, but wfbt needs daily "
            "bars (folds, annualisation and the tests count trading days). Download daily prices (Yahoo's "
            "interval 1d) or give a file with one row per trading day."
        )


def _refuse_gaps(frame: pd.DataFrame, origin: str) -> None:
    """A hole of months in the data would count months of price change as one day's return."""
    gaps = _day_gaps(frame)
    if not len(gaps) or gaps.max() <= MAX_GAP_DAYS:
        return
    i = int(gaps.argmax())
    before, after = frame.index[i].date(), frame.index[i + 1].date()
    raise DataError(
        f"{origin}: no rows from {before} to {after} ({gaps[i]:g} days; {int((gaps > MAX_GAP_DAYS).sum())} gap(s) "
        f"over {MAX_GAP_DAYS} days in all): the move across it would count as one day's return. Fill the missing "
        f"rows, or use one side: --set data.start={after} or --set data.end={before}."
    )


def _warn_jumps(frame: pd.DataFrame, origin: str) -> None:
    ratio = (frame["close"] / frame["close"].shift(1)).to_numpy()[1:]
    jumps = np.flatnonzero((ratio > JUMP) | (ratio < 1 / JUMP))
    if not len(jumps):
        return
    i = int(jumps[0]) + 1
    _warn(f"{origin}: the close moves from {frame['close'].iloc[i - 1]:g} to {frame['close'].iloc[i]:g} on "
          f"{frame.index[i].date()} ({len(jumps)} such overnight jump(s) of more than {JUMP:g}x): a stock split "
          "not adjusted for? Use split-adjusted prices if so; the trades and tests take the jump as a real return.")


def check_prices(frame: pd.DataFrame, origin: str = "data") -> pd.DataFrame:
    """Validate and tidy a price frame; return a new frame with exactly FIELDS as float columns.

    ``frame`` must carry the dates either as a ``date`` column or as its index; its cells may be
    numbers or text (a CSV's cells, read with the file's decimal mark).
    """
    frame = _select_fields(frame, origin)
    frame = _as_numbers(frame, origin)
    frame = _sorted(frame, origin)
    frame = _without_duplicates(frame, origin)
    frame = _without_empty_rows(frame, origin)
    _refuse_missing(frame, origin)
    _refuse_out_of_bounds(frame, origin)
    _refuse_non_positive(frame, origin)
    _refuse_outside_range(frame, origin)
    frame = _without_filler(frame, origin)
    _refuse_flat(frame, origin)
    _refuse_not_daily(frame, origin)
    _refuse_gaps(frame, origin)
    _warn_jumps(frame, origin)
    return frame


def _feature_fix(name: str, features: list[str], column: str | None = None) -> str:
    """The end of a feature refusal: '... remove <that>' completes it."""
    kept = [f for f in features if f != name]
    return (f"{name!r} from forecast.features (e.g. --set \"forecast.features={kept}\"), or use data that has "
            f"{column or name} (map its column with data.columns).")


def check_features(prices: pd.DataFrame, features: list[str], origin: str = "data", rows: slice | None = None
                   ) -> None:
    """Refuse a forecast feature the prices lack where the folds read it, naming the column and the fix.

    Where the run's config meets its (checked) prices: the prices always hold every price column, but
    volume may be absent (a CSV without it reads as NaN) or missing on some days, and no model is fit on
    a missing input. ``rows`` are the rows the folds read (all rows when None). A volume that is 0 on
    every one of them is refused too: the source records none (an index, or years before it kept any).
    A derived feature (``strategies.features``) is checked by the price columns it is computed from.
    """
    used = prices.iloc[rows if rows is not None else slice(None)]
    for name in features:
        for column in derived_inputs(name):
            _check_column(used, name, column, features, origin)


def _check_column(used: pd.DataFrame, name: str, column: str, features: list[str], origin: str) -> None:
    """Refuse feature ``name`` when its input ``column`` is absent, has holes, or is a volume of zeros."""
    values = used[column] if column in used.columns else pd.Series(np.nan, index=used.index)
    missing, fix = values.isna(), _feature_fix(name, features, column)
    what = f"{name!r}" if name == column else f"{name!r}, computed from {column},"
    if missing.all():
        raise DataError(f"{origin}: forecast.features includes {what} but the data has no {column} values "
                        f"(the column is absent or empty). Remove {fix}")
    if missing.any():
        raise DataError(
            f"{origin}: forecast.features includes {what} but {int(missing.sum())} of the {len(used)} rows the "
            f"folds use have no {column}, first on {_first_dates(used.index[missing])}. Fill them in the source, "
            f"start the range after them with data.start, or remove {fix}"
        )
    if column == "volume" and (values == 0).all():
        raise DataError(
            f"{origin}: forecast.features includes {what} but the volume is 0 on every row the folds use "
            f"({used.index[0].date()} to {used.index[-1].date()}): the source records none. Remove {fix}"
        )


def for_close_only(config: RunConfig, prices: pd.DataFrame) -> RunConfig:
    """The run close-only prices allow, when the config left the choice to wfbt: its default inputs become the
    close, and next-open fills become fills at the signal day's close (with no open there is nothing else to fill
    at; the header says so and flags it as optimistic). Inputs the user chose are kept, and refused by
    ``check_close_only`` when they read an open, high or low; so are stops, which need each day's high and low.
    """
    if not is_close_only(prices):
        return config
    st, fc, bt = config.strategies, config.forecast, config.backtest
    if st.stop_loss or st.take_profit or st.trailing_stop:
        raise DataError(f"{data_origin(config.data)}: the data has closes only (no open, high or low column), and "
                        "the stops (strategies.stop_loss, take_profit, trailing_stop) are checked against each "
                        "day's high and low. Leave the stops out, or give a file with open, high and low columns.")
    if fc.features == ForecastSection().features:
        config = replace(config, forecast=replace(fc, features=["close"]))
    if bt.execution == "next_open":
        config = replace(config, backtest=replace(bt, execution="close"))
    return config


def check_close_only(prices: pd.DataFrame, features: list[str], execution: str, origin: str = "data") -> None:
    """Close-only prices run with features drawn from close (and volume) and fills at the close, or are refused.

    With no open there is no next day's open to fill at, and no open, high or low to feed a model: the
    refusal names every setting the run needs, so one fix is enough.
    """
    if not is_close_only(prices):
        return
    fixes = []
    lacking = [f for f in features if set(derived_inputs(f)) & set(CLOSE_ONLY_ABSENT)]  # atr_14 reads high, low
    if lacking:
        kept = [f for f in features if f not in lacking]
        fixes.append(f"--set \"forecast.features={kept}\" (it lists {', '.join(lacking)})")
    if execution == "next_open":
        fixes.append("--set backtest.execution=close (orders then fill at the signal day's close: there is no "
                     "next open to fill at)")
    if fixes:
        raise DataError(f"{origin}: the data has closes only (no open, high or low column), so the run needs "
                        f"{' and '.join(fixes)}. Or give a file with open, high and low columns.")


# --- sources ---------------------------------------------------------------------------------------------

def _read_csv(path: str, mapping: dict[str, str]) -> pd.DataFrame:
    raw = csvread.read_text_csv(path)
    empty = (raw == "").all(axis=1).to_numpy()
    if empty.any():
        _warn(f"{path}: dropped {int(empty.sum())} empty line(s) (line "
              f"{', '.join(map(str, raw.index[empty][:3]))}{' ...' if empty.sum() > 3 else ''}).")
        raw = raw[~empty]
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


def _bound(name: str, value: str | None) -> pd.Timestamp | None:
    """data.start/data.end as a date; a time of day or a zone is refused (the bars are dates)."""
    if not value:
        return None
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        stamp = None
    if stamp is None or stamp is pd.NaT or stamp.tz is not None or stamp != stamp.normalize():
        raise DataError(f"data.{name}: expected a date like 2019-01-31. Got {value!r}.")
    return stamp


def _clip_range(frame: pd.DataFrame, start: str | None, end: str | None, origin: str) -> pd.DataFrame:
    lo, hi = _bound("start", start), _bound("end", end)
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


def _sample_reader(cfg: DataSection) -> tuple[pd.DataFrame, str, str]:
    return _load_sample(cfg.symbol), "row", f"sample:{cfg.symbol}"


def _csv_reader(cfg: DataSection) -> tuple[pd.DataFrame, str, str]:
    return _read_csv(cfg.path or "", cfg.columns), "line", cfg.path or "csv"


def _network_reader(cfg: DataSection) -> tuple[pd.DataFrame, str, str]:
    return cache.fetch(cfg), "row", f"{cfg.source}:{cfg.symbol}"


Reader = Callable[[DataSection], tuple[pd.DataFrame, str, str]]

# Every price source, by data.source: a reader returns the raw frame (a "date" column and price columns
# named as backtest.data.columns knows them), what its rows are called in messages ("row" or "line"), and the
# name messages give the data. Dating, sorting, clipping and every check happen after, in one place.
READERS: dict[str, Reader] = {"sample": _sample_reader, "csv": _csv_reader, "yfinance": _network_reader,
                              "tej": _network_reader}


def load_prices(cfg: DataSection) -> pd.DataFrame:
    """Read the configured prices with their source's reader, then date, sort, clip and check them."""
    raw, unit, origin = READERS[cfg.source](cfg)
    if unit == "row":
        raw = raw.set_axis(pd.RangeIndex(1, len(raw) + 1))
    dates, note = parse_dates(raw["date"], origin, cfg.date_format, cfg.timezone, unit)
    if note:
        _warn(note)
    dated = adjust_prices(raw.drop(columns="date").set_axis(dates), cfg, origin)
    # Clip before the checks so that bad rows outside the chosen range (GSPC's Open = 0 before
    # 1982) do not stop a run that never uses them.
    return check_prices(_clip_range(_sorted(dated, origin), cfg.start, cfg.end, origin), origin)


def data_origin(cfg: DataSection) -> str:
    """The name messages give the configured data: the CSV's path, or source:symbol."""
    return (cfg.path or "csv") if cfg.source == "csv" else f"{cfg.source}:{cfg.symbol}"


def fingerprint(prices: pd.DataFrame) -> str:
    """SHA-256 of the checked prices, so a run records exactly which data it saw."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(prices, index=True).to_numpy().tobytes())
    return digest.hexdigest()
