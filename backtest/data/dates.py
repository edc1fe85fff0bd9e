"""Reading a price file's dates: one calendar date per bar, the trading day in the exchange's time zone.

What is read without asking (docs/data.md has the long form, with examples):

- ISO dates and timestamps (``2019-01-31``, ``2019-01-31 09:00``, ``2019-01-31T00:00:00Z``, ``...+08:00``),
  year-first dates with ``/`` or ``.``, compact ``20190131``, and epoch seconds or milliseconds.
- Day and month in either order (``31/01/2019``, ``01/31/2019``): a field above 12 decides. If no row has
  one, the reading that gives consecutive trading days is taken with a warning; if neither or both do, the
  file is refused, naming ``data.date_format``. ``data.date_format`` (a strptime format) overrides all of it.

The time zone rule:

- A value at midnight, with or without a zone, is a date label and keeps the date written (TEJ's
  ``2019-01-31T00:00:00Z`` is the 31st wherever the exchange is).
- A value with a time of day is converted to ``data.timezone`` when that is set (naive times are taken as
  UTC), then dated. Without it, a time written with a local offset (``09:00+08:00``) is dated where it was
  written, a naive time is taken as the exchange's clock, and a UTC time (``16:00Z``, epoch numbers) is
  refused: whether 16:00 UTC is the same day or the next depends on the exchange.
- Times of day that land many bars on weekends, with weekdays missing, are refused naming
  ``data.timezone``: they were dated in the wrong zone (a Monday-to-Friday market seen a day early).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from backtest.core.errors import DataError

NA_TEXT = frozenset({"", "null", "nan", "none", "na", "n/a", "#n/a", "nat"})

_TIME = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_ZONE = r"(?:\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2}))?"
_CLASSES = {  # how a date is written -> the pattern of one value
    "year-first": re.compile(rf"\d{{4}}([-/.])\d{{1,2}}\1\d{{1,2}}{_TIME}{_ZONE}"),
    "day/month": re.compile(rf"\d{{1,2}}([-/.])\d{{1,2}}\1(?:\d{{4}}|\d{{2}}){_TIME}{_ZONE}"),
    "yyyymmdd": re.compile(r"\d{8}"),
    "epoch": re.compile(r"\d{9,13}(?:\.\d+)?"),
}
_ZONE_SUFFIX = re.compile(r"\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})$")
_UTC_NAMES = {"Z", "UTC", "GMT", "+00:00", "+0000", "-00:00", "-0000"}


@dataclass
class Stamps:
    """Parsed values before dating: the clock time as written, and the instant when a zone was given."""

    wall: pd.DatetimeIndex  # naive: the clock reading as written (UTC for epoch numbers)
    utc: pd.DatetimeIndex | None  # aware UTC where every value carried a zone; None for naive values
    utc_written: bool  # the zone written was UTC (Z, +00:00, epoch numbers), not a local offset
    text: pd.Series  # the values as written, for messages


def rows_text(labels: pd.Index | np.ndarray | list, unit: str = "row", limit: int = 3) -> str:
    """``line 4, line 9 and 3 more`` for messages."""
    labels = list(labels)
    shown = ", ".join(f"{unit} {label}" for label in labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def _examples(text: pd.Series, mask: np.ndarray | pd.Series, unit: str, limit: int = 3) -> str:
    picked = text[np.asarray(mask)]
    shown = ", ".join(f"{unit} {label}: {value!r}" for label, value in picked.iloc[:limit].items())
    return shown + (f" and {len(picked) - limit} more" if len(picked) > limit else "")


def parse_dates(values: pd.Series, origin: str, date_format: str | None = None, timezone: str | None = None,
                unit: str = "row") -> tuple[pd.DatetimeIndex, str | None]:
    """The bar dates (naive, at midnight) for ``values``, and a note when a guess was made (to warn about).

    ``values.index`` labels rows in messages; ``unit`` names those labels ("line" for a file's line
    numbers, "row" for positions).
    """
    values = pd.Series(values)
    text = values.astype(str).str.strip()  # None, NaN and NaT become spellings in NA_TEXT
    missing = text.str.lower().isin(NA_TEXT).to_numpy()
    if missing.any():
        raise DataError(f"{origin}: {int(missing.sum())} {unit}(s) have no date: "
                        f"{rows_text(values.index[missing], unit)}. Fill in the date or remove those rows.")
    note = None
    if pd.api.types.is_datetime64_any_dtype(values) or all(isinstance(v, datetime) for v in values):
        stamps = _from_datetimes(values, text, origin, unit)
    elif date_format:
        stamps = _with_format(text, date_format, origin, unit)
    else:
        stamps, note = _detect(text, origin, unit)
    return _to_dates(stamps, timezone, origin, unit), note


def _from_datetimes(values: pd.Series, text: pd.Series, origin: str, unit: str) -> Stamps:
    """Datetime objects from a client (yfinance, tejapi, the sample): possibly aware, possibly mixed zones."""
    if pd.api.types.is_datetime64_any_dtype(values):
        index = pd.DatetimeIndex(values)
        if index.tz is None:
            return Stamps(index, None, False, text)
        wall = index.tz_localize(None)
        utc = index.tz_convert("UTC")
        return Stamps(wall, utc, bool((wall == utc.tz_localize(None)).all()), text)
    aware = [v.tzinfo is not None and v.utcoffset() is not None for v in values]
    if not any(aware):
        return Stamps(pd.DatetimeIndex(list(values)), None, False, text)
    if not all(aware):
        return _mixed_zones(text, np.asarray(aware), origin, unit)
    wall = pd.DatetimeIndex([v.replace(tzinfo=None) for v in values])
    utc = pd.DatetimeIndex(pd.to_datetime(list(values), utc=True))
    return Stamps(wall, utc, all(v.utcoffset().total_seconds() == 0 for v in values), text)


def _with_format(text: pd.Series, fmt: str, origin: str, unit: str) -> Stamps:
    """Every value read with the user's strptime format; the ones that do not match are refused by row."""
    parsed: list[datetime | None] = []
    for value in text:
        try:
            parsed.append(datetime.strptime(value, fmt))
        except ValueError:
            parsed.append(None)
    bad = np.array([p is None for p in parsed])
    if bad.any():
        raise DataError(f"{origin}: {int(bad.sum())} date(s) do not match data.date_format {fmt!r}: "
                        f"{_examples(text, bad, unit)}. Fix those rows or the format (strptime codes, "
                        "e.g. \"%d/%m/%Y\" for 31/01/2019).")
    aware = np.array([p.tzinfo is not None for p in parsed])  # type: ignore[union-attr]
    if aware.any() and not aware.all():
        return _mixed_zones(text, aware, origin, unit)
    wall = pd.DatetimeIndex([p.replace(tzinfo=None) for p in parsed])  # type: ignore[union-attr]
    if not aware.any():
        return Stamps(wall, None, False, text)
    utc = pd.DatetimeIndex(pd.to_datetime(parsed, utc=True))
    return Stamps(wall, utc, all(p.utcoffset().total_seconds() == 0 for p in parsed), text)  # type: ignore


def _classify(text: pd.Series) -> pd.Series:
    for name, pattern in _CLASSES.items():  # the usual case: every value written the same way
        if text.str.fullmatch(pattern.pattern).all():
            return pd.Series(name, index=text.index)
    kinds = pd.Series("other", index=text.index)
    for name, pattern in reversed(_CLASSES.items()):  # first listed wins
        kinds[text.map(lambda v, p=pattern: p.fullmatch(v) is not None).to_numpy()] = name
    return kinds


def _detect(text: pd.Series, origin: str, unit: str) -> tuple[Stamps, str | None]:
    """Recognise how the dates are written (one way for the whole file) and read them; note any guess."""
    kinds = _classify(text)
    found = list(dict.fromkeys(kinds))
    if len(found) > 1:
        ways = "; ".join(f"{kind} ({_examples(text, kinds == kind, unit, 2)})" for kind in found)
        raise DataError(f"{origin}: dates are written in more than one way: {ways}. Write every date the same way "
                        "(ISO 2019-01-31 is safest), or set data.date_format to the one format they all use.")
    kind = found[0]
    if kind == "epoch":
        return _from_epoch(text, origin, unit), None
    if kind == "yyyymmdd":
        parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
        _refuse_unreadable(text, parsed.isna().to_numpy(), origin, unit, "are not dates in yyyymmdd form")
        return Stamps(pd.DatetimeIndex(parsed), None, False, text), None
    if kind == "day/month":
        iso, note = _day_month_to_iso(text, origin, unit)
        return _from_iso(iso, text, origin, unit), note
    if kind == "year-first":
        iso = text.str.replace(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})", r"\1-\2-\3", regex=True)
        return _from_iso(iso, text, origin, unit), None
    try:
        parsed = pd.to_datetime(text, format=None)
    except (ValueError, TypeError, OverflowError):
        raise DataError(f"{origin}: could not read dates such as {_examples(text, np.ones(len(text), bool), unit, 2)}. "
                        "Write them as ISO dates (2019-01-31), or set data.date_format to their strptime format, "
                        "e.g. \"%d %b %Y\" for 31 Jan 2019.") from None
    return _from_datetimes(parsed, text, origin, unit), None


def _refuse_unreadable(text: pd.Series, bad: np.ndarray, origin: str, unit: str, what: str) -> None:
    if bad.any():
        raise DataError(f"{origin}: {int(bad.sum())} value(s) in the date column {what}: {_examples(text, bad, unit)}. "
                        "Fix those rows, or set data.date_format to the format the dates use.")


def _from_epoch(text: pd.Series, origin: str, unit: str) -> Stamps:
    """Epoch seconds (9-10 digits: 1973-2286) or milliseconds (12-13 digits); always UTC instants."""
    numbers = text.astype(float)
    seconds = numbers.between(1e8, 4.2e9)
    millis = numbers.between(1e11, 4.2e12)
    if not (seconds.all() or millis.all()):
        raise DataError(f"{origin}: the date column holds numbers that are neither all epoch seconds "
                        f"(e.g. 1546387200) nor all epoch milliseconds: {_examples(text, ~(seconds | millis), unit)}"
                        ". Write dates as ISO dates (2019-01-31), or set data.date_format for another form.")
    utc = pd.DatetimeIndex(pd.to_datetime(numbers, unit="s" if seconds.all() else "ms", utc=True))
    return Stamps(utc.tz_localize(None), utc, True, text)


def _from_iso(iso: pd.Series, text: pd.Series, origin: str, unit: str) -> Stamps:
    """ISO text, some of it possibly with a zone suffix (all or none must have one)."""
    zones = iso.str.extract(_ZONE_SUFFIX.pattern, expand=False).fillna("")
    has_zone = (zones != "").to_numpy()
    if has_zone.any() and not has_zone.all():
        return _mixed_zones(text, has_zone, origin, unit)
    bare = iso.str.replace(_ZONE_SUFFIX.pattern, "", regex=True) if has_zone.any() else iso
    try:
        wall = pd.DatetimeIndex(pd.to_datetime(bare, format="ISO8601", errors="coerce"))
    except (ValueError, OverflowError):
        wall = pd.DatetimeIndex(pd.to_datetime(bare, format="mixed", errors="coerce"))
    _refuse_unreadable(text, np.asarray(wall.isna()), origin, unit, "are not valid dates")
    if not has_zone.any():
        return Stamps(wall, None, False, text)
    offsets = zones.map(lambda z: "+00:00" if z in _UTC_NAMES else z)
    utc = pd.DatetimeIndex(pd.to_datetime(bare + offsets, format="ISO8601", utc=True))
    return Stamps(wall, utc, bool(zones.isin(list(_UTC_NAMES)).all()), text)


def _mixed_zones(text: pd.Series, aware: np.ndarray, origin: str, unit: str) -> Stamps:
    raise DataError(f"{origin}: some dates carry a time zone and some do not ({_examples(text, aware, unit, 1)}; "
                    f"{_examples(text, ~aware, unit, 1)}). Write them all one way.")


def _day_month_to_iso(text: pd.Series, origin: str, unit: str) -> tuple[pd.Series, str | None]:
    """Decide day-first or month-first for d/m/y text and rewrite it year-first; note a decision by evidence."""
    parts = text.str.extract(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{2,4})(.*)$")
    first, second = parts[0].astype(int), parts[1].astype(int)
    year = parts[2].map(lambda y: y if len(y) == 4 else (f"20{y}" if int(y) < 69 else f"19{y}"))  # strptime's %y
    day_first = year + "-" + parts[1] + "-" + parts[0] + parts[3]
    month_first = year + "-" + parts[0] + "-" + parts[1] + parts[3]
    if (first > 12).any() and (second > 12).any():
        raise DataError(f"{origin}: some dates put the day first and some the month first "
                        f"({_examples(text, (first > 12).to_numpy(), unit, 1)}; "
                        f"{_examples(text, (second > 12).to_numpy(), unit, 1)}). Write them all one way.")
    if (first > 12).any():
        return day_first, None
    if (second > 12).any():
        return month_first, None
    readings = {"day-first": day_first, "month-first": month_first}
    parsed = {name: pd.to_datetime(v.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
              for name, v in readings.items()}
    if parsed["day-first"].equals(parsed["month-first"]):
        return day_first, None
    daily = [name for name, dates in parsed.items() if _consecutive_trading_days(pd.DatetimeIndex(dates))]
    example = text.iloc[int(np.argmax((first != second).to_numpy()))]
    formats = {"day-first": "%d/%m/%Y", "month-first": "%m/%d/%Y"}
    if len(daily) != 1:
        raise DataError(
            f"{origin}: dates such as {example!r} can be read day-first or month-first, no day is above 12, and "
            "neither reading stands out as consecutive trading days. Say which: --set "
            f"data.date_format=\"{formats['day-first']}\" (31/01/2019) or \"{formats['month-first']}\" (01/31/2019)."
        )
    note = (f"{origin}: dates such as {example!r} have no day above 12; read them {daily[0]} "
            f"({formats[daily[0]]}), the only reading that gives consecutive trading days. Set "
            f"data.date_format = \"{formats[daily[0]]}\" to say so and silence this.")
    return readings[daily[0]], note


def _consecutive_trading_days(dates: pd.DatetimeIndex) -> bool:
    """Whether dates in file order step like daily bars: mostly 1-4 days apart, in one direction, few weekends."""
    if dates.hasnans or len(dates) < 3:
        return False
    steps = np.diff(dates.asi8) / 86_400e9
    forward, backward = (steps > 0).mean(), (steps < 0).mean()
    gaps = np.abs(steps)
    return bool(max(forward, backward) >= 0.9 and np.median(gaps) <= 4 and (gaps <= 7).mean() >= 0.9
                and (dates.dayofweek >= 5).mean() <= 0.05)


def _to_dates(stamps: Stamps, timezone: str | None, origin: str, unit: str) -> pd.DatetimeIndex:
    """Apply the time zone rule (module docstring) and return naive dates at midnight."""
    wall = stamps.wall
    timed = np.asarray(wall != wall.normalize())  # values with a time of day; midnight ones are date labels
    local = wall
    if timed.any() and timezone:
        instants = stamps.utc if stamps.utc is not None else wall.tz_localize("UTC")
        local = wall.where(~timed, instants.tz_convert(timezone).tz_localize(None))
    elif timed.any() and stamps.utc is not None and stamps.utc_written:
        first = _examples(stamps.text, timed, unit, 1)
        raise DataError(
            f"{origin}: the dates are UTC times of day ({first}), and which calendar day a UTC time falls on "
            "depends on the exchange (16:00 UTC is already the next morning in Taipei). Set data.timezone to the "
            "exchange's zone, e.g. --set data.timezone=Asia/Taipei or America/New_York; each time is converted "
            "to it, then dated."
        )
    dates = pd.DatetimeIndex(local.normalize(), name="date")
    if timed.any() and (timezone or stamps.utc is None):
        _refuse_shifted_week(dates, stamps, timezone, origin, unit)
    return dates


def _refuse_shifted_week(dates: pd.DatetimeIndex, stamps: Stamps, timezone: str | None, origin: str,
                         unit: str) -> None:
    """Times of day dated in the wrong zone turn a Monday-Friday market into Sunday-Thursday (or Tuesday-Saturday)."""
    counts = np.bincount(dates.dayofweek, minlength=7)
    weekend = counts[5:].sum()
    weekdays = counts[:5]
    if weekend <= 0.05 * len(dates) or weekdays.min() >= 0.25 * weekdays.max():
        return  # a few weekend sessions, or a market open every day
    on_weekend = np.flatnonzero(dates.dayofweek >= 5)
    first = ", ".join(f"{unit} {stamps.text.index[i]}: {stamps.text.iloc[i]!r} -> {dates[i].date()} "
                      f"({dates[i].day_name()})" for i in on_weekend[:2])
    fix = (f"Is data.timezone = {timezone!r} the exchange's zone? Naive times are read as UTC when it is set."
           if timezone else "If the times are UTC, set data.timezone to the exchange's zone, e.g. "
           "--set data.timezone=Asia/Taipei; each time is converted to it, then dated.")
    raise DataError(f"{origin}: {int(weekend)} of {len(dates)} bars fall on a Saturday or Sunday ({first}) while "
                    f"a weekday is nearly empty: the times of day were dated in the wrong time zone. {fix}")
