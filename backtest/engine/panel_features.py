"""A universe run's inputs per stock: ``forecast.features`` as (dates x symbols) panels, checked where they enter.

Each name becomes the window column(s) the pooled networks read (forecasters.panel), every value of a
window dated t computed from prices up to t:

* ``close``: the one-day returns ``close_s / close_(s-1) - 1``, standardised with their pooled mean and sd
  (Fischer & Krauss's input; ``["close"]`` alone is the universe's default and its scores are unchanged);
* ``open``, ``high``, ``low``: ``ln(price_s / close_t)``, relative to the stock's last close;
* ``volume``: ``log1p(volume_s) - log1p(volume_t)``, relative to its own last volume (the single-symbol
  return representation's rules for these four);
* a derived feature of docs/features.md (``ret_5``, ``rsi_14``, ...): computed per stock on its own priced
  days (strategies.features), entering as it is;
* the preset ``alpha360``: in the spirit of qlib's Alpha360, the window of open, high, low, close and
  vwap-or-close each relative to today's close, and volume to today's volume (six columns; the file's
  vwap is its close when it has none).
* a column of the user's own long file (``backtest.core.config.factor_names``: a factor they computed): its
  level on day s, as it is (not relative to the close, not differenced), NaN where the file has no value.

Every column but the returns is standardised with its own mean and sd over the fold's training windows.
Checks, with the single-symbol messages: a feature whose input the data lacks on every row the folds read
(or a volume of zeros) is refused; so is a column that is constant or not finite there. A derived
feature's warm-up and missing values drop the windows that reach into them (nothing is filled), with a
warning naming how many, and a fold left with too few fitting days after the warm-up is refused. A factor
column is checked the same way: no value on any row the folds read, a constant or an infinite value is
refused; its leading rows without a value for any stock are its warm-up; values missing where a stock has a
close are warned about (their windows left out).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from backtest.core.config import factor_names
from backtest.core.errors import DataError, DataWarning
from backtest.data.universe import Universe
from backtest.engine.schedule import Fold
from forecasters.panel import InputColumn
from strategies.features import IndicatorParams, compute, is_derived, warmup
from strategies.features import inputs as derived_inputs

PRESETS = {"alpha360": ("open", "high", "low", "close", "vwap", "volume")}  # name -> its columns, in order
RELATIVE = ("open", "high", "low")  # entered as ln(price_s / close_t)


def input_width(features: list[str]) -> int:
    """How many window columns ``features`` make in a universe run (a preset counts its columns)."""
    return sum(len(PRESETS[name]) if name in PRESETS else 1 for name in features)


def reads(name: str) -> tuple[str, ...]:
    """The price fields a universe input is computed from (none for a column of the user's file)."""
    if name in PRESETS:
        return ("open", "high", "low", "close", "volume")
    if factor_names([name]):
        return ()
    return derived_inputs(name)


def panel_inputs(universe: Universe, features: list[str], params: IndicatorParams, folds: list[Fold],
                 lookback: int) -> tuple[list[InputColumn], bool]:
    """The input columns of ``features`` beyond the close's returns, checked, and whether the returns enter.

    ``folds`` give the rows the run reads (the first fold's training start to the last test end); ``lookback``
    the least fitting days a fold must keep after a derived feature's warm-up (lookback + 1).
    """
    used = slice(folds[0].train_start, folds[-1].test_end)
    origin = universe.origin
    for name in features:
        for field in reads(name):
            _check_field(universe, name, field, features, used, origin)
    close = universe.field("close").to_numpy(dtype=np.float64)
    log_close = np.log(close)
    derived = [name for name in features if is_derived(name)]
    values = _derived(universe, derived, params) if derived else {}
    columns: list[InputColumn] = []
    factors = factor_names(features)
    for name in features:
        if name in PRESETS:
            columns += _preset(universe, name, log_close)
        elif name in RELATIVE:
            columns.append(InputColumn(name, np.log(universe.field(name).to_numpy(dtype=np.float64)), log_close))
        elif name == "volume":
            columns.append(_volume(universe, name))
        elif name in values:
            columns.append(InputColumn(name, values[name]))
        elif name in factors:  # a column of the user's file: its level, as it is
            columns.append(InputColumn(name, universe.factor(name).to_numpy(dtype=np.float64)))
    for column in columns:
        if column.name in factors:
            _check_factor_values(column, universe, used, features)
        _check_column(column, universe, used, origin, features)
    if derived:
        _check_warmup(derived, params, values, close, folds, lookback, universe)
    for column in (c for c in columns if c.name in factors):
        _check_factor_gaps(column, close, folds, lookback, universe)
    return columns, "close" in features


def _volume(universe: Universe, name: str) -> InputColumn:
    """log1p(volume_s) - log1p(volume_t): the volume relative to the stock's last volume."""
    logged = np.log1p(universe.field("volume").to_numpy(dtype=np.float64))
    return InputColumn(name, logged, logged)


def _preset(universe: Universe, name: str, log_close: np.ndarray) -> list[InputColumn]:
    """The preset's columns: each price relative to today's close, the volume to today's volume."""
    out = []
    for field in PRESETS[name]:
        if field == "volume":
            out.append(_volume(universe, f"{name}:volume"))
            continue
        price = log_close if field in ("close", "vwap") else np.log(universe.field(field).to_numpy(dtype=np.float64))
        out.append(InputColumn(f"{name}:{field}" if field != "vwap" else f"{name}:vwap=close", price, log_close))
    return out


def _derived(universe: Universe, names: list[str], params: IndicatorParams) -> dict[str, np.ndarray]:
    """Each derived feature as a (T, S) panel, computed per stock on its own priced days (NaN elsewhere)."""
    fields = sorted({field for name in names for field in derived_inputs(name)} | {"close"})
    panels = {field: universe.field(field).to_numpy(dtype=np.float64) for field in fields}
    shape = panels["close"].shape
    out = {name: np.full(shape, np.nan) for name in names}
    for j in range(shape[1]):
        priced = np.isfinite(panels["close"][:, j])
        frame = pd.DataFrame({field: panels[field][priced, j] for field in fields})
        for name, series in compute(frame, names, params).items():
            out[name][priced, j] = series.to_numpy()
    return out


def _fix(name: str, features: list[str], column: str) -> str:
    """The end of a refusal: remove the feature, or use data that has the column (as for one symbol)."""
    kept = [f for f in features if f != name] or ["close"]
    return (f"{name!r} from forecast.features (e.g. --set \"forecast.features={kept}\"), or use data that has "
            f"{column} (map its column with data.columns).")


def _check_field(universe: Universe, name: str, field: str, features: list[str], used: slice, origin: str) -> None:
    """Refuse a feature whose input field has no value on any stock's row the folds read, or only zero volume."""
    values = universe.field(field).iloc[used].to_numpy(dtype=np.float64) if field in universe.fields else None
    what = f"{name!r}" if name == field else f"{name!r}, computed from {field},"
    if values is None or not np.isfinite(values).any():
        raise DataError(f"{origin}: forecast.features includes {what} but the data has no {field} values (the "
                        f"column is absent or empty). Remove {_fix(name, features, field)}")
    if field == "volume" and not (values[np.isfinite(values)] != 0).any():
        raise DataError(f"{origin}: forecast.features includes {what} but the volume is 0 on every row the folds "
                        f"use: the source records none. Remove {_fix(name, features, field)}")


def _check_column(column: InputColumn, universe: Universe, used: slice, origin: str, features: list[str]) -> None:
    """Refuse a column that is infinite somewhere, or the same value on every priced row the folds read."""
    values = column.values[used]
    infinite = np.isinf(values)
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        raise DataError(f"{origin}: forecast.features: {column.name!r} is infinite on {int(infinite.sum())} (day, "
                        f"stock) pair(s) the folds read, first {universe.symbols[col]} on "
                        f"{universe.calendar[used.start + row].date()}. Fix them in the source, or remove "
                        f"{column.name!r} from forecast.features.")
    finite = values[np.isfinite(values)]
    if finite.size and column.anchor is None and np.all(finite == finite[0]):
        raise DataError(f"{origin}: forecast.features: {column.name!r} is {finite[0]:g} on every (day, stock) the "
                        f"folds read: a constant carries nothing a model can learn from. Remove it from "
                        "forecast.features, or check the column in the source.")


def _check_warmup(names: list[str], params: IndicatorParams, values: dict[str, np.ndarray], close: np.ndarray,
                  folds: list[Fold], lookback: int, universe: Universe) -> None:
    """Warn of fitting rows in the warm-up and of values missing after it; refuse a fold left too short."""
    longest = max(names, key=lambda name: warmup(name, params))
    rows = warmup(longest, params)
    if rows:
        _check_fitting_days(longest, rows, folds, lookback, universe,
                            f"each stock's first {rows} rows, to {universe.calendar[rows - 1].date()} for a stock "
                            "listed from the start, have no value")
    _warn_gaps(names, params, values, close, slice(folds[0].train_start, folds[-1].test_end), universe)


def _check_factor_values(column: InputColumn, universe: Universe, used: slice, features: list[str]) -> None:
    """Refuse a factor column without a single value on the (day, stock) pairs the folds read."""
    if not np.isfinite(column.values[used]).any():
        calendar = universe.calendar
        raise DataError(
            f"{universe.origin}: forecast.features includes {column.name!r}, a column of the file, but it has no "
            f"value on any (day, stock) the folds read ({calendar[used.start].date()} to "
            f"{calendar[used.stop - 1].date()}). Fill it in the file, or remove {column.name!r} from "
            f"forecast.features (e.g. --set \"forecast.features={[f for f in features if f != column.name]}\").")


def _check_factor_gaps(column: InputColumn, close: np.ndarray, folds: list[Fold], lookback: int,
                       universe: Universe) -> None:
    """A factor's warm-up (its leading rows with no value for any stock) and its values missing where a stock
    has a close: the first as a derived feature's warm-up, the second warned about (those windows left out)."""
    has = np.isfinite(column.values)
    rows = int(np.argmax(has.any(axis=1)))  # a value somewhere on the rows the folds read (checked above)
    if rows:
        _check_fitting_days(column.name, rows, folds, lookback, universe,
                            f"its first {rows} rows, to {universe.calendar[rows - 1].date()}, have no value for any "
                            "stock", f"give {column.name!r} values from earlier days in the file")
    used = slice(max(folds[0].train_start, rows), folds[-1].test_end)  # after the warm-up said above
    gap = (np.isfinite(close) & ~has)[used]
    if gap.any():
        row, col = np.argwhere(gap)[0]
        warnings.warn(
            f"{universe.origin}: {column.name!r} has no value on {int(gap.sum())} (day, stock) pair(s) where the "
            f"stock has a close, first {universe.symbols[col]} on {universe.calendar[used.start + row].date()}; the "
            "windows reaching them are left out (nothing is filled; a fill processor in universe.processors fills "
            "them).", DataWarning, stacklevel=3)


def _check_fitting_days(longest: str, rows: int, folds: list[Fold], lookback: int, universe: Universe,
                        what: str, fix: str | None = None) -> None:
    """Refuse a fold left with fewer than lookback + 1 fitting days after ``rows`` leading rows without a value
    of ``longest``; warn of the folds that fit after them."""
    origin = universe.origin
    for fold in folds:
        kept = fold.val_start - max(fold.train_start, rows)
        if fold.train_start < rows and kept < lookback + 1:
            raise DataError(
                f"{origin}: fold {fold.index} keeps {max(kept, 0)} of its {fold.val_start - fold.train_start} fitting "
                f"days after the warm-up of {longest!r} (its first {rows} rows have no value); need at least "
                f"lookback + 1 = {lookback + 1}. Raise walkforward.train_days, drop the first folds with "
                f"walkforward.max_folds, or {fix or f'use a shorter window than {longest!r}'}.")
    short = [f for f in folds if f.train_start < rows]
    if short:
        warnings.warn(
            f"{origin}: {len(short)} fold(s) fit after the warm-up of {longest!r} ({what}; nothing is filled): "
            f"fold {short[0].index} fits on {short[0].val_start - max(short[0].train_start, rows)} of its "
            f"{short[0].val_start - short[0].train_start} days.", DataWarning, stacklevel=4)


def _warn_gaps(names: list[str], params: IndicatorParams, values: dict[str, np.ndarray], close: np.ndarray,
               used: slice, universe: Universe) -> None:
    """Warn of derived values missing after each stock's warm-up where it has a close (windows left out)."""
    priced = np.isfinite(close)
    since = np.cumsum(priced, axis=0)  # the stock's priced days so far
    for name in names:
        gap = (priced & (since > warmup(name, params)) & ~np.isfinite(values[name]))[used]
        if gap.any():
            row, col = np.argwhere(gap)[0]
            warnings.warn(
                f"{universe.origin}: {name!r} has no value on {int(gap.sum())} (day, stock) pair(s) after the "
                f"stock's warm-up, first {universe.symbols[col]} on {universe.calendar[used.start + row].date()} "
                "(a volume feature: the trailing mean volume is 0 there); the windows reaching them are left out "
                f"(nothing is filled). Start the range after them with data.start, or remove {name!r}.",
                DataWarning, stacklevel=4)
