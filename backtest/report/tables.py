"""Rich tables that fit the terminal: formatted cells, and columns dropped by priority until the table fits."""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from backtest.report.wording import fmt

WIDE = 100_000


def cells(row: pd.Series, keys: list[str], columns: dict[str, tuple[str, int]]) -> list[str]:
    """Formatted cells of ``row`` for ``keys``; a metric the row lacks shows as a dash."""
    return [_seed_cell(row) if k == "seeds" else fmt(row.get(k, math.nan), columns[k][1]) for k in keys]


def _seed_cell(row: pd.Series) -> str:
    lo, hi = row.get("theil_u_seed_min", math.nan), row.get("theil_u_seed_max", math.nan)
    return f"{fmt(lo, 3)}–{fmt(hi, 3)}" if pd.notna(lo) and pd.notna(hi) else "—"


def natural_width(table: Table, console: Console) -> int:
    """The width ``table`` takes when nothing is wrapped or cut."""
    return Measurement.get(console, console.options.update_width(WIDE), table).maximum


def fit_columns(build: Callable[[list[str]], Table], keys: list[str], priority: list[str], width: int | None,
                console: Console) -> tuple[Table, list[str]]:
    """Build the table with ``keys``, dropping the lowest-priority columns until it fits ``width``.

    Numbers are never cut: a column is either shown whole or left out (and named by the caller). Returns
    the table and the keys left out.
    """
    shown = list(keys)
    while True:
        table = build(shown)
        droppable = [k for k in reversed(priority) if k in shown]
        if width is None or natural_width(table, console) <= width or len(droppable) <= 2:
            return table, [k for k in keys if k not in shown]
        shown.remove(droppable[0])


def number_column(table: Table, label: str) -> None:
    table.add_column(label, justify="right", no_wrap=True)


def dropped_note(keys: list[str], columns: dict[str, tuple[str, int]]) -> str:
    return "; not shown at this width: " + ", ".join(columns[k][0] for k in keys) if keys else ""
