"""A sweep in the terminal: its plan (cells and training groups) and its leaderboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from backtest.report.tables import cells, dropped_note, fit_columns, number_column
from backtest.report.wording import sweep_sentences

LEADERBOARD_SHOWN = ["best_strategy", "sharpe", "dsr", "buy_and_hold_sharpe", "best_model", "theil_u", "dm_p",
                     "equal_weight_sharpe", "rank_ic"]  # the last two: universe cells


# The columns that judge a cell (its best strategy, buy-and-hold or the equal-weighted universe beside it, its
# best network) go last at 80 columns
LEADERBOARD_PRIORITY = ["sharpe", "best_strategy", "buy_and_hold_sharpe", "equal_weight_sharpe", "best_model",
                        "dsr", "rank_ic", "theil_u", "dm_p"]


LEADERBOARD_COLUMNS = {"best_strategy": ("best strategy", 0), "sharpe": ("Sharpe", 2), "dsr": ("DSR", 3),
                       "buy_and_hold_sharpe": ("B&H", 2), "best_model": ("best net", 0), "theil_u": ("Theil U", 3),
                       "dm_p": ("DM p", 3), "equal_weight_sharpe": ("EW", 2), "rank_ic": ("rank IC", 4)}


TEXT_COLUMNS = {"best_strategy", "best_model"}


def leaderboard_table(table: pd.DataFrame, width: int | None = None, console: Console | None = None,
                      limit: int | None = None) -> Table:
    """One row per cell: its best strategy (by Sharpe) deflated over every cell's trials, and its best network."""
    rows = table if limit is None else table.head(limit)
    keys = [k for k in LEADERBOARD_SHOWN if k in rows.columns]

    def build(shown: list[str]) -> Table:
        out = Table(title=f"Sweep leaderboard: {len(table)} cells, by the best strategy's Sharpe", title_justify="left")
        out.add_column("cell", overflow="fold")
        for key in shown:
            if key in TEXT_COLUMNS:
                out.add_column(LEADERBOARD_COLUMNS[key][0], overflow="fold")
            else:
                number_column(out, LEADERBOARD_COLUMNS[key][0])
        for _, r in rows.iterrows():
            out.add_row(str(r["cell"]), *cells(r, shown, LEADERBOARD_COLUMNS))
        return out

    out, left_out = fit_columns(build, keys, LEADERBOARD_PRIORITY, width, console or Console())
    notes = ["DSR counts every strategy of every cell as a trial", "best net: lowest Theil U",
             "DM p: Diebold-Mariano against naive"]
    if limit is not None and len(table) > limit:
        notes.append(f"top {limit} of {len(table)} cells (all in leaderboard.csv)")
    out.caption = "; ".join(notes) + dropped_note(left_out, LEADERBOARD_COLUMNS)
    return out


def render_leaderboard(table: pd.DataFrame, tests: dict[str, Any], console: Console, root: Path) -> None:
    console.print(leaderboard_table(table, console.width, console))
    for sentence in sweep_sentences(table, tests):
        console.print(sentence, highlight=False)
    console.print(f"Sweep folder {root}/: sweep.json leaderboard.csv leaderboard.html and one run folder per cell "
                  "(wfbt show / wfbt compare read them)", highlight=False)


def sweep_plan_table(name: str, cells: list[tuple[str, str]], groups: list[tuple[str, int]], models: int,
                     workers: int, threads: int) -> Table:
    """`wfbt sweep --plan`: the cells (name, status) with their status, then the training groups (label, cells)
    and the model count."""
    summary = Text(f"Sweep {name}: {len(cells)} cells, {len(groups)} training groups, "
                   f"{models:,} models; {workers} worker(s) x {threads} thread(s)")
    table = Table()
    table.add_column("cell", overflow="fold")
    table.add_column("status", overflow="fold")
    for cell, status in cells:
        table.add_row(cell, status)
    group_table = Table(title="Training groups (one batched group each)", title_justify="left")
    group_table.add_column("group", overflow="fold")
    number_column(group_table, "cells")
    for label, count in groups:
        group_table.add_row(label, str(count))
    from rich.console import Group

    return Group(summary, table, group_table)  # type: ignore[return-value]
