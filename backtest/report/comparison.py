"""`wfbt compare` in the terminal: what differs between the runs (data, settings), their forecast and trading
tables side by side, and the paired tests of one run against another."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from rich.console import Console
from rich.table import Table

from backtest.report.console import FORECAST_PRIORITY
from backtest.report.tables import cells, dropped_note, fit_columns, number_column
from backtest.report.wording import (
    BASELINE_NAMES,
    FORECAST_COLUMNS,
    PAIRED_FORECAST_COLUMNS,
    PAIRED_TRADING_COLUMNS,
    TRADER_COLUMNS,
    TRADER_NOTE,
    TRADING_COLUMNS,
    paired_sentences,
)
from strategies.signals import BENCHMARK

if TYPE_CHECKING:  # only the type: showing a run must not load the statistics
    from backtest.runs.compare import Comparison
    from backtest.runs.universe_compare import UniverseComparison


COMPARE_FORECAST = ["rmse", "direction", "theil_u", "dm_p", "verdict", "n"]


COMPARE_TRADING = ["total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "trades", "psr", "dsr",
                   "verdict"]


COMPARE_TRADING_PRIORITY = ["sharpe", "verdict", "total_return", "psr", "max_drawdown", "dsr", "trades", "cagr",
                            "volatility", "sortino"]


# the trader's figures beside each strategy when the runs have them (metrics.json's trading rows since issue 23),
# after today's columns in the priority order: a narrow terminal drops them first and says so
COMPARE_TRADER = ["turnover", "profit_factor", "break_even_cost", "exposure_long", "exposure_short"]


def _run_table(title: str, frame: pd.DataFrame, first: str, keys: list[str], priority: list[str],
               columns: dict[str, tuple[str, int]], width: int, console: Console) -> tuple[Table, list[str]]:
    """A compare table: run and model/strategy columns, then the metrics that fit ``width``."""
    keys = [k for k in keys if k in frame.columns]

    def build(shown: list[str]) -> Table:
        table = Table(title=title, title_justify="left")
        table.add_column("run", overflow="fold")
        table.add_column(first, overflow="fold")
        for key in shown:
            number_column(table, columns[key][0])
        for _, r in frame.iterrows():
            dim = r[first] in BASELINE_NAMES if first == "model" else r[first] == BENCHMARK
            table.add_row(str(r["run"]), str(r[first]), *cells(r, shown, columns),
                          style=("dim" if first == "model" else "bold yellow") if dim else "")
        return table

    return fit_columns(build, keys, priority, width, console)


def compare_tables(comparison: Comparison, width: int, limit: int | None = None,
                   console: Console | None = None) -> list[Table]:
    """The forecast and trading tables of ``wfbt compare``: one row per run x model / strategy."""
    console = console or Console()
    fc, fc_out = _run_table("Forecast errors across runs (price units), each tested against its run's naive forecast",
                            comparison.forecast, "model", COMPARE_FORECAST, FORECAST_PRIORITY + ["n"],
                            FORECAST_COLUMNS, width, console)
    rows = comparison.trading if limit is None else comparison.trading.head(limit)
    columns = {**TRADING_COLUMNS, **TRADER_COLUMNS}
    tr, tr_out = _run_table("Trading across runs, after costs", rows, "strategy", COMPARE_TRADING + COMPARE_TRADER,
                            COMPARE_TRADING_PRIORITY + COMPARE_TRADER, columns, width, console)
    fc.caption = "≈: not distinguishable from naive (Diebold-Mariano, SPA)" + dropped_note(fc_out, FORECAST_COLUMNS)
    notes = ["≈: not distinguishable from buy-and-hold (PSR, SPA)"]
    if limit is not None and len(comparison.trading) > limit:
        notes.append(f"top {limit} of {len(comparison.trading)} rows; --limit 0 shows all")
    if any(k in rows.columns and k not in tr_out for k in COMPARE_TRADER):
        notes.append(TRADER_NOTE)
    tr.caption = "; ".join(notes) + dropped_note(tr_out, columns)
    return [fc, tr]




def settings_table(comparison: Comparison | UniverseComparison) -> Table | str:
    """The settings whose values differ between the runs (one row each), or the sentence that none does."""
    frame = comparison.settings
    if not len(frame):
        return "Settings: the same in every run (run.name and run.out_dir aside)."
    table = Table(title="Settings that differ between the runs (from each run's config.toml)", title_justify="left")
    table.add_column("setting", overflow="fold")
    for label in comparison.labels:
        table.add_column(label, overflow="fold")
    for _, row in frame.iterrows():
        table.add_row(str(row["setting"]), *(str(row[label]) for label in comparison.labels))
    return table


def paired_table(title: str, frame: pd.DataFrame, name: str, columns: dict[str, tuple[str, int]],
                  level: float, width: int, console: Console) -> Table:
    """One row per pair of runs and model / strategy: the two figures, the test's p-values and the verdict."""
    keys = [k for k in columns if k in frame.columns]

    def build(shown: list[str]) -> Table:
        table = Table(title=title, title_justify="left")
        for label in ("A", "B", name):
            table.add_column(label, overflow="fold")
        for key in shown:
            number_column(table, columns[key][0])
        for _, r in frame.iterrows():
            table.add_row(str(r["run_a"]), str(r["run_b"]), str(r[name]), *cells(r, shown, columns))
        return table

    holm_first = sorted(keys, key=lambda k: (k != "verdict", "holm" not in k, k == "days"))  # what decides, first
    table, left_out = fit_columns(build, keys, holm_first, width, console)
    table.caption = ("A vs B: better or worse only when the Holm-adjusted p-value is below "
                     f"{100 * level:g} %; ≈: indistinguishable; identical: the same figures on every day"
                     + dropped_note(left_out, columns))
    return table


def paired_tables(comparison: Comparison, width: int, console: Console | None = None) -> list[Table]:
    """The paired tests of run A against run B, when the runs are on the same data and have pairs."""
    console = console or Console()
    out = []
    for frame, name, title, columns in (
            (comparison.paired_forecast, "model", "Forecasts, run A against run B (Diebold-Mariano on the squared "
             "errors of the common days)", PAIRED_FORECAST_COLUMNS),
            (comparison.paired_trading, "strategy", "Strategies, run A against run B (Ledoit-Wolf test of equal "
             "Sharpe ratios, HAC)", PAIRED_TRADING_COLUMNS)):
        if len(frame):
            out.append(paired_table(title, frame, name, columns, comparison.significance, width, console))
    return out


def what_differs(comparison: Comparison) -> list[str]:
    """The sentences the paired tests allow, or why there are none."""
    if comparison.data_warning or len(comparison.labels) < 2:
        return []
    return paired_sentences(comparison.paired_forecast, comparison.paired_trading, comparison.significance)
