"""A universe's groups (sectors, industries): a CSV of symbol -> group, checked where it enters.

``universe.groups = "path.csv"`` names a file with a symbol column (named like one of the universe's
``SYMBOL_NAMES``: Name, symbol, ticker, ...; else the first column) and a group column (named ``group``,
``sector`` or ``industry``; else the other column of a two-column file). Any delimiter and encoding the price
files may have is read (``data.universe.read_table``). Refused with a message that names the fix: a missing
path or a folder, a file without rows, no group column to be found, a symbol listed twice. Said, not refused:
a stock of the universe without a group (or with an empty group cell), and symbols of the file that the
universe does not hold. ``load_groups`` returns symbol -> group for the universe's stocks that have one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from backtest.core.errors import DataError
from backtest.data import load as data
from backtest.data.universe import SYMBOL_NAMES, read_table

GROUP_NAMES = ("group", "sector", "industry", "gics_sector", "gics sector")
WHERE = "universe.groups"


def load_groups(path: str | Path, symbols: Sequence[str]) -> pd.Series:
    """Symbol -> group of the universe's ``symbols`` that the file gives a group (see the module's rules).

    Warns (DataWarning) naming the stocks without a group and counting the file's symbols not in the universe.
    """
    cells = _cells(str(path))
    symbol_col, group_col = _columns(cells.columns, str(path))
    names, groups = cells[symbol_col], cells[group_col]
    twice = names[names.duplicated(keep=False) & (names != "")]
    if len(twice):
        listed = ", ".join(f"{s} (lines {', '.join(map(str, twice.index[twice == s]))})" for s in twice.unique()[:5])
        raise DataError(f"{WHERE}: {path}: a symbol is listed more than once: {listed}. Give each symbol one row "
                        "and one group.")
    mapping = pd.Series(groups.to_numpy(), index=names.to_numpy())
    mapping = mapping[(mapping.index != "") & (mapping != "")]
    held = mapping.reindex(list(symbols)).dropna()
    _report(held, mapping, symbols, str(path))
    return held.rename("group")


def _cells(path: str) -> pd.DataFrame:
    """The file's cells, or a DataError naming universe.groups when there is no file or nothing in it."""
    file = Path(path)
    if file.is_dir():
        raise DataError(f"{WHERE}: {path!r} is a folder. Point universe.groups at a CSV file of symbol, group rows, "
                        "e.g. ../shared/data/groups/sp500_sectors.csv.")
    if not file.is_file():
        raise DataError(f"{WHERE}: file {path!r} does not exist. Check the path (relative to the current directory), "
                        "or leave universe.groups out.")
    lines = [line for line in file.read_bytes().splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{WHERE}: {path} is empty. It needs a header (e.g. Name,sector) and one row per symbol.")
    if len(lines) == 1:
        raise DataError(f"{WHERE}: {path} has a header but no rows. Add one row per symbol: symbol, group.")
    cells = read_table(path, f"{WHERE}: {path}")
    cells = cells[(cells != "").any(axis=1)]
    if cells.empty:
        raise DataError(f"{WHERE}: {path} has a header but no rows. Add one row per symbol: symbol, group.")
    return cells


def _columns(columns: pd.Index, path: str) -> tuple[str, str]:
    """The symbol column and the group column of the file's header."""
    lower = {str(c).strip().lower(): c for c in columns}
    symbol = next((lower[n] for n in SYMBOL_NAMES if n in lower), columns[0])
    found = [lower[n] for n in GROUP_NAMES if n in lower and lower[n] != symbol]
    others = [c for c in columns if c != symbol]
    if found:
        return symbol, found[0]
    if len(others) == 1:
        return symbol, others[0]
    raise DataError(f"{WHERE}: {path}: no group column among {list(columns)}. Name it \"group\" or \"sector\", or "
                    f"keep two columns only (symbol, group).")


def _report(held: pd.Series, mapping: pd.Series, symbols: Sequence[str], path: str) -> None:
    """Say which stocks have no group, and how many of the file's symbols the universe does not hold."""
    missing = [s for s in symbols if s not in held.index]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        data._warn(f"{WHERE}: {len(missing)} of the universe's {len(symbols)} stocks have no group in {path} "
                   f"({shown}); they are left out of the group-neutral books (universe.neutral) and of the IC "
                   "within groups. Add them to the file to include them.")
    extra = len(set(mapping.index) - set(symbols))
    if extra:
        data._warn(f"{WHERE}: {extra} symbol(s) of {path} are not in the universe (or were refused); ignored.")
