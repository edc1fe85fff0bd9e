"""A universe as input: many stocks' daily prices, each checked like one symbol's file, on one calendar.

``load_universe`` reads a long file with a symbol column, a wide close-only file (dates x symbols), a
folder of per-symbol files (the symbol is the file's stem), or a list of yfinance tickers / TEJ company
ids (through backtest.sources and its download cache). ``.gz``, ``.bz2``, ``.xz`` and ``.zip`` files are
read as they are. The result is a ``Universe``: every kept symbol's checked prices on the union of their
trading days, NaN where a stock has no row, with a per-symbol summary of what was done.

Every check of the single-symbol path (``backtest.data.check_prices``) runs on each symbol. A symbol it
refuses is dropped from the universe with the refusal as its reason, not the whole run, unless fewer than
``min_symbols`` remain. Before those checks one rule decides a bad row, whatever is wrong with it: a row
that cannot be one day's prices (an exact repeat, some prices missing, a price or volume that cannot be,
open or close outside [low, high]) is dropped, counted by its cause and named in the symbol's notes, and
the stock keeps its other rows (``bad_rows="refuse"`` restores the single-symbol rule, which refuses the
stock). One-day moves above ``jump`` (40 %) and zero-volume rows are warned about and kept. docs/data.md
("One rule for a bad row") gives each decision.
"""

from __future__ import annotations

import bz2
import csv
import io
import lzma
import re
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from backtest.core.config import DataSection
from backtest.core.errors import DataError, DataWarning, SourceError, WfbtError, suggest
from backtest.data import cache as sources
from backtest.data import csvfile as csvread
from backtest.data import load as data
from backtest.data import yahoo
from backtest.data.adjust import ratio_adjust, require_adj_close, unadjustable
from backtest.data.columns import FIELDS, PRICE_FIELDS, normalise_columns
from backtest.data.dates import NA_TEXT, parse_dates, rows_text
from strategies.features import PRICE_COLUMNS, examples

__all__ = ["SYMBOL_NAMES", "Universe", "load_universe", "read_symbols", "read_table", "totals"]

# Header spellings of a long file's symbol column (lower-cased): Kaggle's "Name", TEJ's "coid", ...
SYMBOL_NAMES = ("symbol", "name", "ticker", "code", "coid", "stock", "permno", "instrument", "asset", "sid")
JUMP = 0.4  # a one-day close move above 40 %: a spin-off or glitch not adjusted for, or a real shock
_TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
_COMPRESSED = (".gz", ".bz2", ".xz", ".zip")
SURVIVORSHIP_NOTE = (
    "Every one of the {n} stocks still trades on the last day ({last}): the list was most likely drawn at the "
    "end, so stocks that were delisted, merged or went bankrupt on the way are missing, and a backtest on it "
    "overstates what a trader could have picked at the start (survivorship bias). Use a point-in-time "
    "constituent list to remove it."
)
Member = Callable[[], tuple[pd.DataFrame, bool]]  # a symbol's dated frame, and whether its cells are numbers


@dataclass(frozen=True)
class Universe:
    """Checked prices of many symbols on one trading calendar.

    Attributes
    ----------
    prices : pd.DataFrame
        One row per (date, symbol) of the calendar x the kept symbols (MultiIndex, both sorted), columns
        ``FIELDS`` as floats; NaN where the stock has no row (before its listing, after its last day, a
        dropped row). Fields the input did not carry (a wide file's open/high/low/volume) are NaN.
    summary : pd.DataFrame
        One row per symbol read (kept and refused), index ``symbol``: ``status`` (ok, refused), ``first``,
        ``last``, ``rows``, ``rows_in``, ``dropped_missing``, ``dropped_outside``, ``dropped_checks``,
        ``holes`` (calendar days inside its listing without a row), ``zero_volume``, ``jumps``,
        ``first_jump``, ``ends_early``, ``listed_late``, ``reason`` (why refused) and ``notes`` (the
        single-symbol checks' warnings).
    fields : tuple of str
        The fields the input carried: all of ``FIELDS`` (or without volume), or ``("close",)`` for a
        wide file.
    origin : str
        The input's name, for messages.
    factors : pd.DataFrame, optional
        The user's own numeric columns asked for (``load_universe(factors=...)``), on the rows of ``prices``,
        NaN where the file has no value or the stock no checked row; None when none was asked for.
    """

    prices: pd.DataFrame
    summary: pd.DataFrame
    fields: tuple[str, ...]
    origin: str
    factors: pd.DataFrame | None = None

    @property
    def symbols(self) -> list[str]:
        """The kept symbols, sorted."""
        return list(self.prices.index.levels[1])

    @property
    def calendar(self) -> pd.DatetimeIndex:
        """Every date on which at least one kept symbol has a row."""
        return pd.DatetimeIndex(self.prices.index.levels[0], name="date")

    @property
    def refused(self) -> dict[str, str]:
        """Symbol -> the reason it was dropped from the universe."""
        gone = self.summary[self.summary["status"] == "refused"]
        return dict(zip(gone.index, gone["reason"], strict=True))

    @property
    def ends(self) -> pd.Series:
        """The last date of every kept symbol whose prices stop before the calendar's end (to close it there)."""
        kept = self.summary[self.summary["status"] == "ok"]
        return kept.loc[kept["ends_early"], "last"]

    @property
    def executions(self) -> tuple[str, ...]:
        """The fills the input allows: ``next_open`` needs opens, which a close-only universe lacks."""
        return ("next_open", "close") if "open" in self.fields else ("close",)

    @property
    def survivorship(self) -> bool:
        """True when every kept symbol has a row on the calendar's last day (no stock left the universe)."""
        kept = self.summary[self.summary["status"] == "ok"]
        return bool(len(kept)) and not kept["ends_early"].any()

    @property
    def survivorship_note(self) -> str | None:
        """The report's wording of the survivorship-bias flag, or None when some stock stops early."""
        if not self.survivorship:
            return None
        return SURVIVORSHIP_NOTE.format(n=len(self.symbols), last=self.calendar[-1].date())

    def field(self, name: str) -> pd.DataFrame:
        """One field as a dates x symbols frame (NaN where a stock has no row)."""
        if name not in FIELDS:
            raise DataError(f"Universe.field: expected one of {', '.join(FIELDS)}. Got {name!r}."
                            f"{suggest(name, FIELDS)}")
        return self.prices[name].unstack("symbol")

    def factor(self, name: str) -> pd.DataFrame:
        """One of the user's factor columns as a dates x symbols frame (NaN where a stock has no value)."""
        if self.factors is None or name not in self.factors.columns:
            kept = [] if self.factors is None else list(self.factors.columns)
            raise DataError(f"Universe.factor: {name!r} is not a factor column read ({kept}).{suggest(name, kept)}")
        return self.factors[name].unstack("symbol")

    def frame(self, symbol: str) -> pd.DataFrame:
        """One symbol's checked rows (its own dates only), like ``backtest.data.check_prices`` returns."""
        if symbol not in self.symbols:
            raise DataError(f"Universe.frame: {symbol!r} is not in the universe ({len(self.symbols)} symbols)."
                            f"{suggest(symbol, self.symbols)}")
        rows = self.prices.xs(symbol, level="symbol")
        return rows[rows["close"].notna()]

    def totals(self) -> pd.DataFrame:
        """What loading did, in total (see ``totals``)."""
        return totals(self.summary)


@dataclass(frozen=True)
class _Reading:
    """How to read the input: the plain parameters of ``load_universe`` that every symbol shares."""

    columns: dict[str, str]
    date_format: str | None
    timezone: str | None
    start: str | None
    end: str | None
    bad_rows: Literal["drop", "refuse"]
    jump: float
    adjust: bool = False  # data.adjust = "adjusted": each stock's OHLC scaled by its Adj Close / Close
    factors: tuple[str, ...] = ()  # the user's own numeric columns to keep (a long file's only)


def load_universe(where: str | Path | Sequence[str], *, source: Literal["csv", "yfinance", "tej"] = "csv",
                  layout: Literal["auto", "long", "wide"] = "auto", symbol_column: str | None = None,
                  columns: dict[str, str] | None = None, start: str | None = None, end: str | None = None,
                  date_format: str | None = None, timezone: str | None = None, min_symbols: int = 2,
                  bad_rows: Literal["drop", "refuse"] = "drop", jump: float = JUMP, table: str = "TWN/APRCD",
                  adjusted: bool = False, refresh: bool = False, screen: bool = True, adjust: bool = False,
                  factors: Sequence[str] = ()) -> Universe:
    """Read a universe of stocks and check every symbol as the single-symbol path would.

    Parameters
    ----------
    where : str, Path or sequence of str
        ``source="csv"``: a long file (a symbol column), a wide close-only file (dates x symbols) or a
        folder of per-symbol files. ``source="yfinance"``/``"tej"``: the tickers or company ids.
    layout : {"auto", "long", "wide"}
        For a file: ``auto`` takes it as long when a symbol column is found, else as wide.
    symbol_column : str, optional
        The long file's symbol column as its header writes it; None detects one of ``SYMBOL_NAMES``.
    columns, date_format, timezone, start, end
        As ``data.columns``, ``data.date_format``, ``data.timezone``, ``data.start``, ``data.end``.
    min_symbols : int
        Fewest symbols that must pass the checks; fewer is refused with every symbol's reason.
    bad_rows : {"drop", "refuse"}
        Rows that cannot be one day's prices (``BAD_ROWS``): dropped, counted and noted (default), or left
        to the single-symbol checks, which refuse the symbol.
    jump : float
        One-day close moves above this fraction are counted and warned about (kept).
    table, adjusted, refresh
        As ``data.table``, ``data.adjusted``, ``data.refresh`` for the network sources.
    adjust : bool
        ``data.adjust = "adjusted"`` for a long file or a folder: each stock's open, high, low and close times its
        ``Adj Close / Close`` (``data.adjust.ratio_adjust``) before the checks. A file without an Adj Close
        column is refused (a wide close-only file has none); a stock with a close but no positive Adj Close on
        some day is dropped with that reason. yfinance adjusts at download (``adjusted``).
    screen : bool
        True: a vectorised screen sends only the symbols a single-symbol check could act on through
        ``check_prices`` (the rest it would return unchanged). False: every symbol goes through it.
    factors : sequence of str
        Numeric columns of a long file to keep beside the prices (the user's own factors, named as the header
        reads lower-cased): each must be a column, and every cell a number or empty (in a folder, a file without
        the column, or with a cell that is neither, has its stock refused with that reason). A wide file and the
        network sources have none, and are refused by name when some are asked for.

    Returns
    -------
    Universe
        The kept symbols' prices on one calendar, with the summary of what was done; a DataWarning
        states the totals.

    Examples
    --------
    >>> u = load_universe("../shared/data/sp500_5yr.csv.gz")  # doctest: +SKIP
    >>> len(u.symbols), u.survivorship                         # doctest: +SKIP
    (505, True)
    """
    if bad_rows not in ("drop", "refuse"):
        raise DataError(f"bad_rows: expected 'drop' or 'refuse'. Got {bad_rows!r}.")
    if not (isinstance(jump, int | float) and jump > 0):
        raise DataError(f"jump: expected a fraction above 0, e.g. 0.4 for 40 %. Got {jump!r}.")
    reading = _Reading(dict(columns or {}), date_format, timezone, start, end, bad_rows, jump,
                       adjust=adjust and source == "csv", factors=tuple(factors))
    batch, members, origin, fields = _members(where, source, layout, symbol_column, reading,
                                              (table, adjusted, refresh))
    long, summary, values = _check_all(batch, members, fields, origin, reading, screen)
    _refuse_too_few(summary, min_symbols, origin)
    universe = _assemble(long, summary, fields, origin, jump)
    if values is not None:
        universe = replace(universe, factors=_factor_grid(values, universe))
    _warn_totals(universe)
    return universe


def _members(where: str | Path | Sequence[str], source: str, layout: str, symbol_column: str | None,
             reading: _Reading, network: tuple[str, bool, bool]
             ) -> tuple[pd.DataFrame | None, dict[str, Member], str, tuple[str, ...]]:
    """A long file's numeric rows (column symbol), the symbols read one by one, the input's name, its fields."""
    if source in ("yfinance", "tej"):
        if isinstance(where, str | Path):
            what = "tickers" if source == "yfinance" else "company ids"
            raise DataError(f"source={source!r}: expected a list of {what} such as ['AAPL', 'MSFT']. "
                            f"Got {str(where)!r}.")
        ids = [str(s).strip() for s in where]
        _refuse_factors(reading, f"source={source!r}", f"the {source} source gives prices only")
        return None, _network_members(ids, source, reading, *network), source, FIELDS
    if source != "csv":
        raise DataError(f"source: expected 'csv', 'yfinance' or 'tej'. Got {source!r}."
                        f"{suggest(source, ['csv', 'yfinance', 'tej'])}")
    if not isinstance(where, str | Path):
        raise DataError(f"source='csv': expected a file or folder path. Got a list ({list(where)[:3]}); for tickers "
                        "set source='yfinance' or 'tej'.")
    path = str(where)
    if Path(path).is_dir():
        return None, _folder_members(path, reading), path, FIELDS
    cells = _nonempty(read_table(path), path)
    symbol = _symbol_column(cells.columns, symbol_column, path) if layout != "wide" else None
    if symbol is None and layout == "long":
        raise DataError(f"{path}: no symbol column among {list(cells.columns)}; expected one named like "
                        f"{', '.join(SYMBOL_NAMES[:4])}. Name it with symbol_column.")
    if symbol is not None:
        batch, members, fields = _long_members(cells, symbol, reading, path)
        return batch, members, path, fields
    if reading.adjust:
        raise DataError(f"{path}: data.adjust = \"adjusted\" needs each stock's Adj Close, and a wide file holds one "
                        "price per stock and day. Give a long file (or a folder of files) with an Adj Close column, "
                        "a wide file of adjusted closes with data.adjust = \"none\", or leave data.adjust out.")
    _refuse_factors(reading, path, "a wide file holds one close column per symbol")
    return None, _wide_members(cells, reading, path), path, ("close",)


def _refuse_factors(reading: _Reading, origin: str, why: str) -> None:
    """Factor columns come from a long file or a folder of per-symbol files: anything else is refused by name."""
    if reading.factors:
        raise DataError(f"{origin}: forecast.features includes {', '.join(map(repr, reading.factors))}, read as "
                        f"column(s) of your own file, but {why}. Give a long file (date, symbol, open, high, low, "
                        "close, volume and your columns, one row per stock and day) or a folder of per-symbol files "
                        "with those columns, or remove them from forecast.features.")


# --- reading files ---------------------------------------------------------------------------------------

def _unzip(raw: bytes, path: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/") and not n.startswith("__MACOSX")]
        if len(names) != 1:
            raise DataError(f"{path}: the zip archive holds {len(names)} files ({', '.join(names[:3])}); expected "
                            "exactly one CSV. Extract the one you mean, or zip it alone.")
        return archive.read(names[0])


_DECOMPRESS: dict[str, Callable[[bytes, str], bytes]] = {
    ".bz2": lambda raw, _: bz2.decompress(raw), ".xz": lambda raw, _: lzma.decompress(raw), ".zip": _unzip}


def read_bytes(path: str) -> bytes:
    """The file's bytes, decompressed when its name ends in .gz, .bz2, .xz or .zip.

    Everything else (and .gz) goes through ``backtest.csvread``'s checks of what the file really is.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _DECOMPRESS or not Path(path).is_file():
        return csvread._read_bytes(path)
    try:
        return _DECOMPRESS[suffix](Path(path).read_bytes(), path)
    except (OSError, EOFError, ValueError, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: the {suffix[1:]} file is damaged ({exc}). Download or compress it again.") from None


def read_table(path: str, origin: str | None = None) -> pd.DataFrame:
    """A CSV file's cells as stripped strings, columns as in the header, index = line numbers; fast.

    The encoding, the delimiter and what the file really is are found by ``backtest.csvread``; the split
    is pandas' C parser (a 600,000-line file in under a second). A file that parser would read otherwise
    than csvread (an Excel ``sep=`` line, a leading blank line, a repeated header name, a line it cannot
    split) is read by ``csvread.read_text_csv`` instead, whose messages name the line.
    """
    origin = origin or path
    raw = read_bytes(path)
    text = csvread._decode(path, raw, origin)
    head = text[:200_000].splitlines()
    if not head or not head[0].strip() or head[0].strip().lower().startswith("sep="):
        return csvread.read_text_csv(path, origin, raw)
    csvread._refuse_other_formats(text, origin)
    delimiter = csvread._sniff_delimiter(head[:51], origin)
    header = [h.strip() for h in next(csv.reader([head[0]], delimiter=delimiter))]
    if len(set(header)) < len(header) or len(head) < 2:
        return csvread.read_text_csv(path, origin, raw)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            cells = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, na_filter=False,
                                skip_blank_lines=False, index_col=False, engine="c")
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError):
        return csvread.read_text_csv(path, origin, raw)
    cells.columns = header
    blanks = " " if delimiter == "\t" else " \t"
    if any(b in text for b in blanks):  # csvread strips every cell; a file without blanks needs no pass
        cells = cells.fillna("").apply(lambda col: col.str.strip())
    else:
        cells = cells.fillna("")
    return cells.set_axis(pd.RangeIndex(2, 2 + len(cells), name="line"))


def read_symbols(path: str) -> list[str]:
    """The symbols a text file lists: one a line (or several parted by commas, semicolons or blanks), ``#``
    comments and blank lines left out, a first line that is a header (``symbol``, ``ticker``, ...) skipped. A
    CSV file with a symbol column gives that column. A symbol listed twice is kept once, with a warning."""
    if not Path(path).is_file():
        raise DataError(f"data.path {path!r} is not a file. Point it at a text file of the universe's symbols, one "
                        "a line, or list them in data.symbols instead.")
    text = csvread._decode(path, read_bytes(path), path)
    csvread._refuse_other_formats(text, path)
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    first = [t.strip().lower() for t in re.split(r"[,;\t]", lines[0])] if lines else []
    if len(first) > 1 and set(first) & set(SYMBOL_NAMES):  # a table: its symbol column
        cells = _nonempty(read_table(path), path)
        column = _symbol_column(cells.columns, None, path)
        tokens = [str(v).strip() for v in cells[column]] if column else []
    else:
        tokens = [t for line in lines for t in re.split(r"[,;\s]+", line) if t]
        tokens = tokens[1:] if tokens and tokens[0].lower() in SYMBOL_NAMES else tokens
    symbols = list(dict.fromkeys(t for t in tokens if t))
    if not symbols:
        raise DataError(f"{path}: lists no symbol. Write the universe's tickers or company ids one a line "
                        "(AAPL, MSFT, ...), or list them in data.symbols.")
    twice = sorted({t for t in tokens if tokens.count(t) > 1})
    if twice:
        data._warn(f"{path}: {', '.join(twice[:5])}{' ...' if len(twice) > 5 else ''} listed more than once; "
                   "each is read once.")
    return symbols


def _nonempty(cells: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Blank lines and lines of delimiters only dropped, with a warning naming them (as for one symbol)."""
    empty = (cells == "").all(axis=1).to_numpy()
    if empty.any():
        data._warn(f"{origin}: dropped {int(empty.sum())} empty line(s) ({rows_text(cells.index[empty], 'line')}).")
    return cells[~empty]


def _symbol_column(columns: pd.Index, wanted: str | None, origin: str) -> str | None:
    """The header of the symbol column: ``wanted`` if given (it must exist), else the one named like a symbol."""
    if wanted is not None:
        if wanted in columns:
            return wanted
        raise DataError(f"{origin}: symbol_column {wanted!r} is not a column; the file has {list(columns)}."
                        f"{suggest(wanted, columns)} Set universe.symbol_column to the header of the column holding "
                        "the tickers, or leave it out to detect it.")
    found = [c for c in columns if str(c).strip().lower() in SYMBOL_NAMES]
    if len(found) > 1:
        raise DataError(f"{origin}: the columns {found} could each be the symbol column. Say which with "
                        f"universe.symbol_column = {found[0]!r}.")
    return found[0] if found else None


def _dates(values: pd.Series, origin: str, reading: _Reading, unit: str) -> pd.DatetimeIndex:
    """``parse_dates`` over the distinct values (a long file repeats each date once per symbol), mapped back."""
    codes, _ = pd.factorize(values.to_numpy())
    distinct = values[~pd.Series(codes).duplicated().to_numpy()]  # first line of each, in order of the codes
    parsed, note = parse_dates(distinct, origin, reading.date_format, reading.timezone, unit)
    if note:
        data._warn(note)
    return pd.DatetimeIndex(parsed.take(codes), name="date")


def _numbers(cells: pd.DataFrame, origin: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Floats read with one decimal mark for the whole file, and where a cell is not a number.

    ``csvread.parse_numbers`` reads each column's distinct cells; cells of digits only (volumes) are
    plain numbers for every mark and are read by ``pd.to_numeric`` directly.
    """
    factors = {col: pd.factorize(cells[col].to_numpy()) for col in cells}
    distincts = {col: pd.Series(uniques, dtype=object) for col, (_, uniques) in factors.items()}
    digit = {col: d.str.isdigit().to_numpy(dtype=bool) for col, d in distincts.items()}
    commas = any(d[~digit[c]].str.contains(",", regex=False).any() for c, d in distincts.items())
    mark = csvread.decimal_mark([v for c in cells for v in cells[c]], origin) if commas else "."
    out, bad = {}, {}
    for col in cells:
        distinct, digits = distincts[col], digit[col]
        values = np.full(len(distinct), np.nan)
        values[digits] = pd.to_numeric(distinct[digits]).to_numpy(dtype=float)
        values[~digits] = csvread.parse_numbers(distinct[~digits].astype(str), mark).to_numpy()
        where = factors[col][0]
        out[col] = values[where]
        bad[col] = (np.isnan(values) & ~distinct.str.lower().isin(NA_TEXT).to_numpy())[where]
    return pd.DataFrame(out, index=cells.index), pd.DataFrame(bad, index=cells.index)


def _in_range(dates: pd.DatetimeIndex, reading: _Reading) -> np.ndarray:
    """Rows inside data.start (inclusive) .. data.end (exclusive); the bounds are checked like one symbol's."""
    lo, hi = data._bound("start", reading.start), data._bound("end", reading.end)
    if lo is not None and hi is not None and lo >= hi:
        raise DataError(f"start ({reading.start}) must be before end ({reading.end}).")
    keep = np.ones(len(dates), dtype=bool)
    if lo is not None:
        keep &= dates >= lo
    if hi is not None:
        keep &= dates < hi
    return keep


def _require_prices(frame: pd.DataFrame, origin: str) -> tuple[str, ...]:
    """The fields a long file carries; the date and every price column must be there."""
    missing = [c for c in ("date", *PRICE_FIELDS) if c not in frame.columns]
    if missing:
        raise DataError(f"{origin}: missing column(s) {', '.join(missing)}. Found {list(frame.columns)}. A long "
                        "universe file needs date, open, high, low, close (and volume) beside the symbol column; "
                        "map other names with columns={'YourName': 'close'}, or give a wide close-only file.")
    return tuple(c for c in FIELDS if c in frame.columns)


def _long_members(cells: pd.DataFrame, symbol_col: str, reading: _Reading, origin: str
                  ) -> tuple[pd.DataFrame, dict[str, Member], tuple[str, ...]]:
    """A long file's rows as numbers (dates and numbers read once for the file), with a symbol column; the
    symbols with a cell that is not a number apart, as text, for check_prices to refuse by name."""
    symbols = cells[symbol_col]
    blank = symbols.str.lower().isin(NA_TEXT).to_numpy()
    if blank.any():
        raise DataError(f"{origin}: {int(blank.sum())} line(s) have no symbol in column {symbol_col!r}: "
                        f"{rows_text(cells.index[blank], 'line')}. Fill it in or remove those lines.")
    frame = normalise_columns(cells.drop(columns=symbol_col), reading.columns, origin)
    fields = _require_prices(frame, origin)
    if reading.adjust:
        require_adj_close(frame.columns, origin)
    _require_factors(frame, reading.factors, origin)
    dates = _dates(frame["date"], origin, reading, "line")
    keep = _in_range(dates, reading)
    extra = [*(["adj_close"] if reading.adjust else []), *reading.factors]
    numbers, bad = _numbers(frame.loc[keep, [*fields, *extra]], origin)  # one decimal mark for every column
    _refuse_text_factors(frame.loc[keep], bad, symbols[keep], reading.factors, origin)
    text = frame.loc[keep, list(fields)]
    numbers, text = numbers.set_axis(dates[keep]), text.set_axis(dates[keep])
    numbers["symbol"] = symbols[keep].to_numpy()
    # a cell of the prices that is not a number: check_prices refuses the stock naming it (an Adj Close that is
    # not one is the adjustment's to refuse)
    with_text = np.unique(numbers["symbol"].to_numpy()[bad[list(fields)].any(axis=1).to_numpy()])
    apart = numbers["symbol"].isin(with_text).to_numpy()
    members = {str(s): _frozen(text[numbers["symbol"].to_numpy() == s], False) for s in with_text}
    batch = numbers[~apart]
    if reading.adjust:
        batch, unadjusted = _adjusted_batch(batch, origin)
        members |= unadjusted
    return batch, members, fields


def _adjusted_batch(batch: pd.DataFrame, origin: str) -> tuple[pd.DataFrame, dict[str, Member]]:
    """A long file's numeric rows with every stock's prices scaled by its Adj Close / Close (ratio_adjust), and
    the stocks with a day it cannot adjust apart, as members whose reading refuses them with ratio_adjust's
    reason."""
    symbol = batch["symbol"].to_numpy()
    refused = np.unique(symbol[unadjustable(batch).to_numpy()])
    apart = np.isin(symbol, refused)
    members = {str(s): _refused_adjustment(batch[symbol == s].drop(columns="symbol"), f"{origin}:{s}")
               for s in refused}
    return ratio_adjust(batch[~apart], origin), members


def _refused_adjustment(rows: pd.DataFrame, origin: str) -> Member:
    return lambda: (ratio_adjust(rows, origin), True)


def _require_factors(frame: pd.DataFrame, factors: tuple[str, ...], origin: str) -> None:
    """Every factor asked for is a column of the file (headers lower-cased), or refused naming the columns."""
    others = [str(c) for c in frame.columns if c != "date" and c not in FIELDS]
    for name in factors:
        if name not in frame.columns:
            raise DataError(
                f"{origin}: forecast.features includes {name!r}, which is neither a known feature nor a column of "
                f"the file.{suggest(name, [*others, *PRICE_COLUMNS, *examples()])} The file's other columns "
                f"(read lower-cased): {others or 'none'}. Name one of them, a price column or a derived feature "
                "(`wfbt models`), or add the column to the file.")


def _refuse_text_factors(frame: pd.DataFrame, bad: pd.DataFrame, symbols: pd.Series, factors: tuple[str, ...],
                         origin: str) -> None:
    """A factor cell that is neither a number nor empty is refused with its first line, stock and text."""
    for name in factors:
        wrong = bad[name].to_numpy()
        if wrong.any():
            first = int(np.argmax(wrong))
            raise DataError(
                f"{origin}: forecast.features includes {name!r}, a column of the file, but {int(wrong.sum())} of "
                f"its cells are not numbers, first {frame[name].iloc[first]!r} on line {frame.index[first]} "
                f"({symbols.iloc[first]}). Write numbers there (an empty cell is a missing value), or remove "
                f"{name!r} from forecast.features.")


def _frozen(frame: pd.DataFrame, numeric: bool) -> Member:
    return lambda: (frame, numeric)


def _refuse_bad_headers(symbols: list[str], origin: str) -> None:
    """A wide file's symbol headers: each named, each once (two columns of one symbol would be merged)."""
    blank = [i + 2 for i, s in enumerate(symbols) if not s.strip()]
    if blank:
        raise DataError(f"{origin}: column {blank[0]} of the wide file has no symbol in its header. Name every close "
                        "column after its symbol, or remove the column.")
    twice = sorted({s for s in symbols if symbols.count(s) > 1})
    if twice:
        raise DataError(f"{origin}: the wide file has more than one column for {', '.join(twice[:5])}. Keep one column "
                        "per symbol (rename or remove the others); wfbt does not merge them.")


def _wide_members(cells: pd.DataFrame, reading: _Reading, origin: str) -> dict[str, Member]:
    """One close-only member per column of a wide file (the first date column gives the dates)."""
    renamed = normalise_columns(cells, {k: v for k, v in reading.columns.items() if v == "date"}, origin)
    if "date" not in renamed.columns:
        raise DataError(f"{origin}: no date column and no symbol column among {list(cells.columns)[:6]}. A wide file "
                        "has a date column (Date/date) and one close column per symbol; a long file has a symbol "
                        "column (set symbol_column).")
    position = list(renamed.columns).index("date")
    dates = _dates(renamed["date"], origin, reading, "line")
    keep = _in_range(dates, reading)
    close_cells = cells.drop(columns=cells.columns[position]).loc[keep]
    if close_cells.shape[1] == 0:
        raise DataError(f"{origin}: the wide file has a date column but no symbol columns. Add one close column "
                        "per symbol.")
    _refuse_bad_headers([str(c) for c in close_cells.columns], origin)
    numbers, bad = _numbers(close_cells, origin)
    members: dict[str, Member] = {}
    for symbol in close_cells.columns:
        close = pd.Series(numbers[symbol].to_numpy(), index=dates[keep])
        listed = close.notna().to_numpy()
        if not listed.any():
            members[str(symbol)] = _frozen(pd.DataFrame({"close": close}), True)  # refused: no rows
            continue
        span = slice(int(listed.argmax()), len(listed) - int(listed[::-1].argmax()))  # first..last price
        if bad[symbol].any():
            text = pd.Series(close_cells[symbol].to_numpy(), index=dates[keep])
            members[str(symbol)] = _frozen(pd.DataFrame({"close": text}).iloc[span], False)
        else:
            members[str(symbol)] = _frozen(pd.DataFrame({"close": close}).iloc[span], True)
    return members


def _symbol_of(file: Path) -> str:
    """AAPL for AAPL.csv, AAPL.csv.gz, AAPL.txt.zip."""
    name = file.name
    for suffix in _COMPRESSED:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    stem = Path(name)
    return stem.stem if stem.suffix.lower() in _TEXT_SUFFIXES else name


def _folder_members(folder: str, reading: _Reading) -> dict[str, Member]:
    """One member per price file in the folder; files of another kind are skipped with a warning."""
    files, skipped = {}, []
    for file in sorted(Path(folder).iterdir()):
        base = file.name.lower()
        for suffix in _COMPRESSED:
            base = base.removesuffix(suffix)
        if file.name.startswith(".") or not file.is_file():
            continue
        if not base.endswith(_TEXT_SUFFIXES):
            skipped.append(file.name)
            continue
        symbol = _symbol_of(file)
        if symbol in files:
            raise DataError(f"{folder}: {files[symbol].name} and {file.name} both hold symbol {symbol!r}. Keep one.")
        files[symbol] = file
    if skipped:
        data._warn(f"{folder}: skipped {len(skipped)} file(s) that are not CSV text: {', '.join(skipped[:5])}.")
    if not files:
        raise DataError(f"{folder}: the folder holds no price files (*.csv, *.txt, *.tsv, optionally .gz, .bz2, .xz "
                        "or .zip). Put one file per symbol in it, named by the symbol (AAPL.csv).")
    return {symbol: _file_member(str(file), reading) for symbol, file in files.items()}


def _file_member(path: str, reading: _Reading) -> Member:
    """A per-symbol file read like one symbol's CSV (its own dialect and dates) when the member is checked."""

    def read() -> tuple[pd.DataFrame, bool]:
        cells = _nonempty(read_table(path), path)
        frame = normalise_columns(cells, reading.columns, path)
        fields = _require_prices(frame, path)
        if reading.adjust:
            require_adj_close(frame.columns, path)
        _require_factors(frame, reading.factors, path)  # in each file: a stock without one is refused naming it
        dates = _dates(frame["date"], path, reading, "line")
        keep = _in_range(dates, reading)
        text = frame.loc[keep, [*fields, *(["adj_close"] if reading.adjust else []), *reading.factors]]
        numbers, bad = _numbers(text, path)
        _refuse_text_factors(text, bad, pd.Series(Path(path).name, index=text.index), reading.factors, path)
        text, numbers, bad = text.set_axis(dates[keep]), numbers.set_axis(dates[keep]), bad.set_axis(dates[keep])
        if bad[list(fields)].to_numpy().any():  # check_prices refuses it naming the cell
            return text[list(fields)], False
        return (ratio_adjust(numbers, path) if reading.adjust else numbers), True

    return read


def _network_members(ids: list[str], source: str, reading: _Reading, table: str, adjusted: bool,
                     refresh: bool) -> dict[str, Member]:
    """One member per ticker or company id, read through the download cache (one Yahoo request for the rest)."""
    if not ids or any(not s for s in ids):
        raise DataError(f"source={source!r}: expected a list of non-empty symbols. Got {ids!r}.")
    cfgs = {s: DataSection(source=source, symbol=s, start=reading.start, end=reading.end, table=table,  # type: ignore[arg-type]
                           adjusted=adjusted, refresh=refresh, timezone=reading.timezone) for s in ids}
    fetched = set()
    if source == "yfinance":
        wanted = [s for s in ids if refresh or sources.read_cache(cfgs[s]) is None]
        if len(wanted) > 1:
            try:
                frames = yahoo.yfinance_frames(cfgs[wanted[0]], wanted)
            except SourceError:
                frames = {}  # one bad ticker fails the batch: each is then downloaded alone, with its own error
            for symbol, frame in frames.items():
                sources.write_cache(cfgs[symbol], frame)
                fetched.add(symbol)
    return {s: _network_member(cfgs[s], s in fetched, reading) for s in ids}


def _network_member(cfg: DataSection, fetched: bool, reading: _Reading) -> Member:
    def read() -> tuple[pd.DataFrame, bool]:
        raw = sources.read_cache(cfg) if fetched else sources.fetch(cfg)
        if raw is None:
            raw = sources.fetch(cfg)
        origin = f"{cfg.source}:{cfg.symbol}"
        raw = raw.set_axis(pd.RangeIndex(1, len(raw) + 1))
        dates, note = parse_dates(raw["date"], origin, reading.date_format, cfg.timezone, "row")
        if note:
            data._warn(note)
        frame = raw[[c for c in FIELDS if c in raw.columns]].set_axis(dates)
        frame = frame[_in_range(pd.DatetimeIndex(frame.index), reading)]
        numeric = all(pd.api.types.is_numeric_dtype(frame[c]) for c in frame)
        return frame, numeric

    return read


# --- checking each symbol ------------------------------------------------------------------------------------

BAD_ROWS = ("dropped_duplicate", "dropped_missing", "dropped_invalid", "dropped_outside")  # in the order decided


def _bad_rows(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each row's one cause to be dropped, in the order of BAD_ROWS (docs/data.md, "One rule for a bad row"):
    a repeat of an earlier row (same symbol, date and values), some (not all) prices missing, a value that
    cannot be (a price zero, negative, infinite or absurd; a volume negative, infinite or absurd), open or
    close outside [low, high]."""
    prices, volume = frame[list(PRICE_FIELDS)].to_numpy(), frame["volume"].to_numpy()
    duplicate = frame.assign(_date=frame.index).duplicated(keep="first").to_numpy()
    gaps = np.isnan(prices)
    missing = gaps.any(axis=1) & ~gaps.all(axis=1) & ~duplicate
    with np.errstate(invalid="ignore"):
        impossible = ((np.isinf(prices) | (prices <= 0) | (np.abs(prices) > data.MAX_PRICE)).any(axis=1)
                      | np.isinf(volume) | (volume < 0) | (np.abs(volume) > data.MAX_VOLUME))
    invalid = impossible & ~missing & ~duplicate
    outside = data.outside_range(frame).to_numpy() & ~(duplicate | missing | invalid)
    return dict(zip(BAD_ROWS, (duplicate, missing, invalid, outside), strict=True))


def _prepared(batch: pd.DataFrame, close_only: bool, reading: _Reading) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The row quirks decided here, on every symbol at once: the rows kept, and per-row counts to sum."""
    if "volume" not in batch:
        batch = batch.assign(volume=np.nan)
    flags = pd.DataFrame({"zero_volume": (batch["volume"] == 0).to_numpy(), "symbol": batch["symbol"].to_numpy()})
    if close_only:  # one price stands for all four, so that every check of check_prices applies to it
        batch = batch.assign(open=batch["close"], high=batch["close"], low=batch["close"])
    bad = _bad_rows(batch)
    if reading.bad_rows == "refuse":  # every row rule left to check_prices, which refuses the stock
        bad = {cause: np.zeros(len(batch), dtype=bool) for cause in bad}
    for cause, rows in bad.items():
        flags[cause] = rows
    flags["rows_in"] = 1
    dropped = np.logical_or.reduce(list(bad.values()))
    return batch[~dropped], flags.groupby("symbol").sum().assign(notes=_dropped_notes(batch, bad))


_SAID = {"dropped_duplicate": "exact duplicate", "dropped_missing": "some prices missing",
         "dropped_invalid": "a price or volume zero or negative, infinite or absurdly large",
         "dropped_outside": "open/close outside [low, high]"}


def _dropped_notes(batch: pd.DataFrame, bad: dict[str, np.ndarray]) -> pd.Series:
    """Per symbol with dropped rows, a note naming each cause with its count and first date."""
    parts: dict[str, list[str]] = {}
    for cause, rows in bad.items():
        if not rows.any():
            continue
        hit = pd.Series(batch.index[rows], index=batch["symbol"].to_numpy()[rows])
        for symbol, dates in hit.groupby(level=0):
            parts.setdefault(str(symbol), []).append(f"{len(dates)} row(s) dropped ({_SAID[cause]}), first on "
                                                     f"{pd.Timestamp(dates.min()).date()}")
    return pd.Series({symbol: "; ".join(text) for symbol, text in parts.items()}, dtype=object)


def _needs_checks(frame: pd.DataFrame, codes: np.ndarray, n: int) -> np.ndarray:
    """Per symbol code: whether ``check_prices`` could do anything to it (warn, drop, sort or refuse).

    A screen, not a check: it flags every symbol with a row or a step that one of check_prices' rules
    looks at (a NaN, a bound, a non-positive price, a row outside [low, high], a filler row, dates out
    of order or repeated, a gap, a jump, a wide median spacing, a close that never moves). Flagged
    symbols go through check_prices, which decides; the others it would return as they are
    (``load_universe(screen=False)`` runs it on every symbol, and the tests compare the two).
    """
    p, v = frame[list(PRICE_FIELDS)].to_numpy(), frame["volume"].to_numpy()
    with np.errstate(invalid="ignore"):
        row = ~np.isfinite(p).all(axis=1) | (np.abs(p) > data.MAX_PRICE).any(axis=1) | (p <= 0).any(axis=1)
        row |= ~np.isfinite(np.nan_to_num(v, nan=0.0)) | (np.abs(v) > data.MAX_VOLUME) | (v < 0)
        row |= data.outside_range(frame).to_numpy() | ((v == 0) & (p == p[:, :1]).all(axis=1))
    flagged = np.bincount(codes[row], minlength=n) > 0
    order = np.argsort(codes, kind="stable")
    code, close = codes[order], frame["close"].to_numpy()[order]
    same = code[1:] == code[:-1]
    step = np.diff(frame.index.asi8[order]) / 86_400e9
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = close[1:] / close[:-1]
    odd = (step <= 0) | (step > data.MAX_GAP_DAYS) | (ratio > data.JUMP) | (ratio < 1 / data.JUMP)
    flagged[code[1:][same & odd]] = True
    spacing = pd.Series(step[same]).groupby(code[1:][same])
    sparse = (spacing.median() > 4) & (spacing.size() + 1 >= 10)
    flagged[sparse.index[sparse.to_numpy()]] = True
    moves = pd.Series(close).groupby(code)
    flat = (moves.nunique() == 1) & (moves.size() > 1)
    flagged[flat.index[flat.to_numpy()]] = True
    return flagged


def _guarded(symbol: str, call: Callable[[], object]) -> tuple[object | None, dict[str, str]]:
    """``call()`` for one symbol: its result (None when it raised a WfbtError), the error as its reason,
    and the DataWarnings it gave as notes (other warnings pass on)."""
    record = {"reason": "", "notes": ""}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        try:
            result = call()
        except WfbtError as exc:
            record["reason"], result = str(exc), None
    record["notes"] = " | ".join(str(w.message) for w in caught if issubclass(w.category, DataWarning))
    for w in caught:
        if not issubclass(w.category, DataWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, record


def _checked(symbol: str, origin: str, rows: pd.DataFrame) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """``check_prices`` on one symbol's rows: the checked rows (None when refused) and its record."""
    checked, record = _guarded(symbol, lambda: data.check_prices(rows, f"{origin}:{symbol}"))
    return checked, record  # type: ignore[return-value]


def _check_batch(batch: pd.DataFrame, close_only: bool, reading: _Reading, origin: str, screen: bool
                 ) -> tuple[list[pd.DataFrame], dict[str, dict]]:
    """Every symbol of a numeric batch through the single-symbol checks: kept rows (with symbol), records."""
    kept, counts = _prepared(batch, close_only, reading)
    codes, names = pd.factorize(kept["symbol"].to_numpy(), sort=True)
    flagged = _needs_checks(kept, codes, len(names)) if screen else np.ones(len(names), dtype=bool)
    notes = counts.pop("notes").fillna("")
    records = {str(s): {"status": "ok", **counts.loc[s].to_dict(), "reason": "", "notes": notes[s]}
               for s in counts.index}
    for s in set(counts.index) - set(names):  # every row dropped above
        records[str(s)] |= {"status": "refused", "reason": f"{origin}:{s}: no rows are left after dropping rows with "
                            "missing prices or open/close outside [low, high]. Check its rows in the file."}
    frames = [kept[~flagged[codes]]]
    for code in np.flatnonzero(flagged):
        rows = kept[codes == code].drop(columns="symbol")
        checked, record = _checked(str(names[code]), origin, rows)
        record["notes"] = " | ".join(filter(None, [notes[names[code]], record["notes"]]))
        records[str(names[code])] |= record | ({} if checked is not None else {"status": "refused"})
        if checked is not None:
            frames.append(checked.assign(symbol=names[code]))
    return frames, records


def _check_all(batch: pd.DataFrame | None, members: dict[str, Member], fields: tuple[str, ...], origin: str,
               reading: _Reading, screen: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Read the members, check everything; the kept rows (index date, column symbol), the records, and the
    factor columns asked for as read (index date, columns the factors and symbol; None when none was)."""
    numeric, frames, records, notes = [] if batch is None else [batch], [], {}, {}
    for symbol, member in members.items():
        got, record = _guarded(symbol, member)
        if got is None:
            records[symbol] = record | {"status": "refused", "rows_in": 0}
            continue
        frame, is_numeric = got  # type: ignore[misc]
        notes[symbol] = record["notes"]
        if is_numeric:  # numbers: checked with the rest below, after the row quirks
            numeric.append(frame.assign(symbol=symbol))
            continue
        checked, record = _checked(symbol, origin, frame)
        records[symbol] = record | {"status": "ok" if checked is not None else "refused", "rows_in": len(frame)}
        if checked is not None:
            frames.append(checked.assign(symbol=symbol))
    values = None
    if numeric:
        rows = pd.concat(numeric)
        if reading.factors:  # kept apart from the checks, joined back onto the rows they keep (_factor_grid)
            values, rows = rows[[*reading.factors, "symbol"]], rows.drop(columns=list(reading.factors))
        more, numeric_records = _check_batch(rows, fields == ("close",), reading, origin, screen)
        frames, records = frames + more, records | numeric_records
    for symbol, note in notes.items():
        if note:
            records[symbol]["notes"] = " | ".join(filter(None, [note, str(records[symbol].get("notes", ""))]))
    long = pd.concat(frames) if frames else pd.DataFrame(columns=[*FIELDS, "symbol"])
    return long, pd.DataFrame.from_dict(records, orient="index").rename_axis("symbol"), values


def _refuse_too_few(summary: pd.DataFrame, least: int, origin: str) -> None:
    """Fewer than ``least`` symbols passed: refused, with why each was dropped (or the server's error)."""
    kept = int((summary["status"] == "ok").sum())
    if kept >= least:
        return
    refused = summary[summary["status"] == "refused"]
    if len(refused) and not kept and refused["reason"].str.contains("TEJ|Yahoo").all():
        raise SourceError(str(refused["reason"].iloc[0]))
    why = "; ".join(f"{s}: {r}" for s, r in refused["reason"].iloc[:3].items())
    more = f" (and {len(refused) - 3} more)" if len(refused) > 3 else ""
    dropped = f" Dropped: {why}{more}." if why else " None was dropped: the input holds too few stocks."
    raise DataError(f"{origin}: only {kept} of {len(summary)} symbol(s) passed the checks, fewer than "
                    f"min_symbols = {least}.{dropped} Fix those inputs, or lower universe.min_symbols.")


_COUNTS = ("rows_in", "rows", *BAD_ROWS, "dropped_checks", "holes", "zero_volume", "jumps")


def _per_symbol(long: pd.DataFrame, limit: float) -> pd.DataFrame:
    """Rows, first and last date, and one-day moves above ``limit`` (count, first) of each kept symbol."""
    close = long["close"]
    move = close.groupby(level="symbol").pct_change()
    big = move[move.abs() > limit]
    first_big = big.groupby(level="symbol").head(1)
    dates = long.index.get_level_values("date").to_series(index=long.index)
    out = pd.DataFrame({"rows": close.groupby(level="symbol").size(),
                        "first": dates.groupby(level="symbol").min(), "last": dates.groupby(level="symbol").max(),
                        "jumps": big.groupby(level="symbol").size()})
    out["first_jump"] = pd.Series({s: f"{d.date()} ({m:+.0%})" for (d, s), m in first_big.items()}, dtype=object)
    return out


def _assemble(long: pd.DataFrame, summary: pd.DataFrame, fields: tuple[str, ...], origin: str,
              limit: float) -> Universe:
    """The kept symbols' rows on the union of their dates, and the summary completed with the calendar."""
    day, calendar = pd.factorize(pd.DatetimeIndex(long.index), sort=True)
    sym, symbols = pd.factorize(long["symbol"].to_numpy(), sort=True)
    values = np.full((len(calendar) * len(symbols), len(FIELDS)), np.nan)
    values[day * len(symbols) + sym] = long[list(FIELDS)].to_numpy(dtype="float64")
    if fields == ("close",):
        values[:, :3] = np.nan
    grid = pd.MultiIndex.from_product([pd.DatetimeIndex(calendar, name="date"), pd.Index(symbols, name="symbol")])
    long = pd.DataFrame(values, index=grid, columns=list(FIELDS))
    long = long[long["close"].notna().to_numpy()]
    summary = summary.drop(columns=[c for c in ("rows", "first", "last") if c in summary]).join(
        _per_symbol(long, limit))
    for col in _COUNTS:
        summary[col] = summary.get(col, pd.Series(0, index=summary.index)).fillna(0).astype(int)
    summary["first_jump"] = summary["first_jump"].fillna("")
    ok = (summary["status"] == "ok").to_numpy()
    removed = summary[list(BAD_ROWS)].sum(axis=1) + summary["rows"]
    summary["dropped_checks"] = np.where(ok, summary["rows_in"] - removed, 0)
    span = calendar.searchsorted(summary["last"][ok], "right") - calendar.searchsorted(summary["first"][ok], "left")
    summary.loc[ok, "holes"] = span - summary.loc[ok, "rows"].to_numpy()
    summary["ends_early"] = ok & (summary["last"] < calendar[-1]).to_numpy()
    summary["listed_late"] = ok & (summary["first"] > calendar[0]).to_numpy()
    order = ["status", "first", "last", *_COUNTS, "first_jump", "ends_early", "listed_late", "reason", "notes"]
    prices = pd.DataFrame(values, index=grid, columns=list(FIELDS))
    return Universe(prices, summary[order].sort_index(), fields, origin)


def _factor_grid(values: pd.DataFrame, universe: Universe) -> pd.DataFrame:
    """The factor values (index date, column symbol) on the universe's rows: NaN where the stock has no checked
    row (refused, dropped by the checks) or the file no value. A (date, symbol) given two values is refused."""
    keyed = values.set_index("symbol", append=True)
    keyed.index.names = ["date", "symbol"]
    twice = keyed.index.duplicated(keep=False)
    if twice.any():
        clash = keyed[twice].groupby(level=["date", "symbol"]).nunique(dropna=False).gt(1).any(axis=1)
        if clash.any():
            date, symbol = clash.index[clash.to_numpy()][0]
            raise DataError(f"{universe.origin}: {symbol} has more than one row on {pd.Timestamp(date).date()} with "
                            f"different values of {', '.join(map(repr, keyed.columns))}. Keep one row per stock and "
                            "day.")
        keyed = keyed[~keyed.index.duplicated(keep="first")]
    grid = keyed.reindex(universe.prices.index)
    return grid.where(universe.prices["close"].notna().to_numpy()[:, None])


def totals(summary: pd.DataFrame) -> pd.DataFrame:
    """What loading a universe did, in total: one row per item, column ``count``, for the report to print.

    Parameters
    ----------
    summary : pd.DataFrame
        ``Universe.summary``.

    Returns
    -------
    pd.DataFrame
        Index ``what`` (symbols read, kept, refused, listed late, ending early, rows read, kept and
        dropped by each rule, holes, zero-volume rows, jumps warned), column ``count``.
    """
    ok = summary["status"] == "ok"
    items = {
        "symbols read": len(summary), "symbols kept": int(ok.sum()), "symbols refused": int((~ok).sum()),
        "symbols listed after the first day": int(summary["listed_late"].sum()),
        "symbols ending before the last day": int(summary["ends_early"].sum()),
        "rows read": int(summary["rows_in"].sum()), "rows kept": int(summary["rows"].sum()),
        "rows dropped: exact duplicates": int(summary["dropped_duplicate"].sum()),
        "rows dropped: some prices missing": int(summary["dropped_missing"].sum()),
        "rows dropped: a price or volume that cannot be": int(summary["dropped_invalid"].sum()),
        "rows dropped: open/close outside [low, high]": int(summary["dropped_outside"].sum()),
        "rows dropped by the single-symbol checks": int(summary.loc[ok, "dropped_checks"].sum()),
        "rows of refused symbols": int(summary.loc[~ok, "rows_in"].sum()),
        "days without a row inside a listing": int(summary["holes"].sum()),
        "zero-volume rows": int(summary["zero_volume"].sum()),
        "one-day moves over the jump limit (kept, warned)": int(summary["jumps"].sum()),
    }
    return pd.DataFrame({"count": list(items.values())}, index=pd.Index(list(items), name="what"))


def _warn_totals(universe: Universe) -> None:
    """One warning with the totals, so that nothing done to a universe is silent."""
    t = universe.totals()["count"]
    refused = universe.refused
    gone = f" ({', '.join(list(refused)[:5])}{' ...' if len(refused) > 5 else ''})" if refused else ""
    jumpers = universe.summary.index[universe.summary["jumps"] > 0]
    named = f" ({', '.join(jumpers[:5])}{' ...' if len(jumpers) > 5 else ''})" if len(jumpers) else ""
    data._warn(
        f"{universe.origin}: {t['symbols kept']} of {t['symbols read']} symbols kept, {t['symbols refused']} refused"
        f"{gone}; {t['rows dropped: exact duplicates']} exact duplicate row(s), "
        f"{t['rows dropped: some prices missing']} with missing prices, "
        f"{t['rows dropped: a price or volume that cannot be']} with a price or volume that cannot be (zero or "
        "negative, infinite, absurdly large) "
        f"and {t['rows dropped: open/close outside [low, high]']} with open/close outside [low, high] dropped, "
        f"{t['rows dropped by the single-symbol checks']} more by the single-symbol checks; "
        f"{t['one-day moves over the jump limit (kept, warned)']} one-day move(s) over the jump limit kept"
        f"{named}; {t['zero-volume rows']} zero-volume row(s). "
        "A run's symbols.csv (Universe.summary in Python) has every symbol's counts and reasons."
        + (f" {universe.survivorship_note}" if universe.survivorship else "")
    )
