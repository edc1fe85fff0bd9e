"""The rich console summary of a run, rendered from its saved artifacts (so `show` prints the same)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from backtest.report.wording import (
    BASELINE_NAMES,
    FORECAST_COLUMNS,
    TRADING_COLUMNS,
    fmt,
    forecast_sentences,
    sweep_sentences,
    trading_sentences,
)
from backtest.runs.store import RunSummary
from strategies.signals import BENCHMARK

if TYPE_CHECKING:  # only the type: showing a run must not load the statistics
    from backtest.runs.compare import Comparison

CHART_COLOURS = ["bright_white", "cyan", "magenta", "yellow", "green", "red"]
CHART_MARKS = ["#", "*", "o", "+", "x", "%"]


# Columns in the order shown, and the order they are dropped in when the terminal is too narrow (last first).
FORECAST_SHOWN = ["rmse", "mae", "mape", "direction", "theil_u", "seeds", "dm_p", "verdict", "in_mcs"]
FORECAST_PRIORITY = ["theil_u", "verdict", "dm_p", "direction", "rmse", "in_mcs", "seeds", "mae", "mape"]
TRADING_SHOWN = ["total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "trades",
                 "win_rate", "exposure", "fees_paid", "psr", "dsr", "verdict"]
TRADING_PRIORITY = ["sharpe", "verdict", "total_return", "psr", "dsr", "max_drawdown", "trades", "exposure",
                    "win_rate", "cagr", "volatility", "sortino", "calmar", "fees_paid"]
SEEDS_COLUMN = ("U seeds", 3)  # min-max Theil U of the single seeds when forecast.seeds > 1
WIDE = 100_000


def _cells(row: pd.Series, keys: list[str], columns: dict[str, tuple[str, int]]) -> list[str]:
    """Formatted cells of ``row`` for ``keys``; a metric the row lacks shows as a dash."""
    return [_seed_cell(row) if k == "seeds" else fmt(row.get(k, math.nan), columns[k][1]) for k in keys]


def _seed_cell(row: pd.Series) -> str:
    lo, hi = row.get("theil_u_seed_min", math.nan), row.get("theil_u_seed_max", math.nan)
    return f"{fmt(lo, 3)}–{fmt(hi, 3)}" if pd.notna(lo) and pd.notna(hi) else "—"


def _fmt(value: float, digits: int = 2, suffix: str = "") -> str:
    return fmt(value, digits) + ("" if fmt(value, digits) == "—" else suffix)


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


def _number_column(table: Table, label: str) -> None:
    table.add_column(label, justify="right", no_wrap=True)


REPRESENTATION_NOTES = {
    "return": "forecasts: each window relative to its last close, target the next return (representation return)",
    "level": "forecasts: price levels scaled per fold, as the studies did (representation level; networks "
             "cannot extrapolate beyond the training range)",
}


def header(summary: RunSummary) -> Panel:
    m = summary.manifest
    d, oos = m["data"], m["out_of_sample"]
    lines = [
        f"[bold]{escape(str(m['name']))}[/]  data {escape(str(d['source']))}:"
        f"{escape(str(d.get('path') or d['symbol']))}  {d['first']} → {d['last']} ({d['rows']} rows)",
        f"{m['folds']} walk-forward folds · out of sample {oos['first']} → {oos['last']} ({oos['days']} days) · "
        f"seed {m['seed']} · device {m['device']}" + (f" ({m['kernels']})" if m.get("kernels") else ""),
        "timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in m.get("timings_s", {}).items()),
    ]
    if m.get("representation"):
        lines.append(REPRESENTATION_NOTES.get(m["representation"], f"representation: {m['representation']}"))
    if summary.execution == "close":
        lines.append("[bold red]⚠ orders fill at the signal day's close (backtest.execution = \"close\"): "
                     "this assumes the close was known before it happened; results are optimistic.[/]")
    else:
        lines.append("orders fill at the next day's open after each signal (no look-ahead)")
    return Panel("\n".join(lines), title="wfbt run", expand=False)


def _forecast_rows(summary: RunSummary) -> pd.DataFrame:
    """Baselines first (naive, drift, linear), then the models by RMSE."""
    fc = summary.forecast
    base = [fc[fc["model"] == b] for b in BASELINE_NAMES]
    return pd.concat([*base, fc[~fc["model"].isin(BASELINE_NAMES)].sort_values("rmse")])


def forecast_table(summary: RunSummary, width: int | None = None, console: Console | None = None) -> Table:
    rows = _forecast_rows(summary)
    columns = {**FORECAST_COLUMNS, "seeds": SEEDS_COLUMN}
    keys = [k for k in FORECAST_SHOWN if k in rows.columns or (k == "seeds" and "theil_u_seed_min" in rows)]
    days = int(rows["n"].max()) if len(rows) else 0

    def build(shown: list[str]) -> Table:
        table = Table(title=f"Forecasts out of sample, {days:,} days (price units), tested against naive",
                      title_justify="left")
        table.add_column("model", overflow="fold")
        for key in shown:
            _number_column(table, columns[key][0])
        for i, (_, row) in enumerate(rows.iterrows()):
            name = str(row["model"])
            last_baseline = name in BASELINE_NAMES and (i + 1 == len(rows) or rows["model"].iloc[i + 1]
                                                        not in BASELINE_NAMES)
            table.add_row(name, *_cells(row, shown, columns), style="dim" if name in BASELINE_NAMES else "",
                          end_section=last_baseline)
        return table

    table, left_out = fit_columns(build, keys, FORECAST_PRIORITY, width, console or Console())
    notes = ["naive, drift, linear: baselines (dim)", "Theil U = RMSE / naive RMSE",
             "DM p: Diebold-Mariano vs naive", "≈: not distinguishable from naive"]
    if "in_mcs" in keys and "in_mcs" not in left_out:
        notes.append("MCS ✓: in the model confidence set")
    if left_out:
        notes.append("not shown at this width: " + ", ".join(columns[k][0] for k in left_out) + " (metrics.json)")
    table.caption = "; ".join(notes)
    return table


def trading_table(summary: RunSummary, limit: int | None = None, width: int | None = None,
                  console: Console | None = None) -> Table:
    rows = summary.trading
    if limit is not None and len(rows) > limit:
        keep = list(rows.index[:limit])
        if BENCHMARK in rows.index and BENCHMARK not in keep:
            keep.append(BENCHMARK)
        rows = rows.loc[keep]
    keys = [k for k in TRADING_SHOWN if k in rows.columns]
    bench_sharpe = summary.trading["sharpe"].get(BENCHMARK, np.nan)

    def build(shown: list[str]) -> Table:
        table = Table(title="Trading out of sample, after fees, tax and slippage (by Sharpe)", title_justify="left")
        table.add_column("strategy", overflow="fold")
        for key in shown:
            _number_column(table, TRADING_COLUMNS[key][0])
        for name, r in rows.iterrows():
            is_bench = name == BENCHMARK
            style = "bold yellow" if is_bench else ("green" if r.get("verdict") == "better" else "")
            table.add_row(f"{name} ★" if is_bench else str(name), *_cells(r, shown, TRADING_COLUMNS), style=style)
        return table

    table, left_out = fit_columns(build, keys, TRADING_PRIORITY, width, console or Console())
    notes = ["★ buy-and-hold benchmark", "annualised with 252 days, risk-free rate 0",
             "PSR: probability the Sharpe beats buy-and-hold's", "DSR: deflated Sharpe ratio",
             "≈: not distinguishable from buy-and-hold"]
    if np.isfinite(bench_sharpe) and "verdict" not in rows:
        notes.append("green: better than it")
    if left_out:
        notes.append("not shown at this width: " + ", ".join(TRADING_COLUMNS[k][0] for k in left_out)
                     + " (metrics.json)")
    table.caption = "; ".join(notes)
    return table


def equity_chart(equity: pd.DataFrame, columns: list[str], width: int, height: int = 14) -> Text:
    """A plain-character line chart of several equity curves; one mark and colour per curve."""
    width = max(20, width)
    plot_w = width - 12
    data = equity[columns].dropna(how="all")
    lo, hi = float(np.nanmin(data.to_numpy())), float(np.nanmax(data.to_numpy()))
    if not math.isfinite(lo) or hi <= lo:
        hi = lo + 1.0
    grid = [[" "] * plot_w for _ in range(height)]
    colours = [[""] * plot_w for _ in range(height)]
    n = len(data)
    for k, col in enumerate(columns):
        values = data[col].to_numpy()
        for x in range(plot_w):
            v = values[min(n - 1, int(x * n / plot_w))]
            if not math.isfinite(v):
                continue
            y = int(round((v - lo) / (hi - lo) * (height - 1)))
            grid[height - 1 - y][x] = CHART_MARKS[k % len(CHART_MARKS)]
            colours[height - 1 - y][x] = CHART_COLOURS[k % len(CHART_COLOURS)]
    text = Text()
    for row in range(height):
        level = hi - (hi - lo) * row / (height - 1)
        text.append(f"{level:>10,.0f} │" if row % 3 == 0 or row == height - 1 else f"{'':>10} │")
        for x in range(plot_w):
            text.append(grid[row][x], style=colours[row][x] or None)
        text.append("\n")
    first, last = data.index[0], data.index[-1]
    axis = f"{first:%Y-%m-%d}"
    text.append(" " * 11 + "└" + "─" * (plot_w) + "\n")
    text.append(" " * 12 + axis + " " * max(1, plot_w - len(axis) - 10) + f"{last:%Y-%m-%d}\n")
    for k, col in enumerate(columns):
        text.append(f"  {CHART_MARKS[k % len(CHART_MARKS)]} {col}", style=CHART_COLOURS[k % len(CHART_COLOURS)])
    text.append("\n")
    return text


def chart_columns(summary: RunSummary, best: int = 3) -> list[str]:
    others = [c for c in summary.trading.index if c != BENCHMARK][:best]
    return [BENCHMARK, *others] if BENCHMARK in summary.equity.columns else others


def render(summary: RunSummary, console: Console) -> None:
    console.print(header(summary))
    console.print(forecast_table(summary, width=console.width, console=console))
    for sentence in forecast_sentences(summary.forecast, summary.statistics.get("forecast", {})):
        console.print(sentence, highlight=False)
    console.print(trading_table(summary, width=console.width, console=console))
    for sentence in trading_sentences(summary.trading, summary.statistics.get("trading", {})):
        console.print(sentence, highlight=False)
    cols = chart_columns(summary)
    console.print(Panel(equity_chart(summary.equity, cols, console.width - 4),
                        title="Equity: buy-and-hold and the best strategies by Sharpe", expand=False))
    console.print(f"Artifacts in {summary.run_dir}/: report.html equity.png config.toml manifest.json "
                  "predictions.csv folds.csv equity.csv orders.csv metrics.json", highlight=False)


COMPARE_FORECAST = ["rmse", "direction", "theil_u", "dm_p", "verdict", "n"]
COMPARE_TRADING = ["total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "trades", "psr", "dsr",
                   "verdict"]
COMPARE_TRADING_PRIORITY = ["sharpe", "verdict", "total_return", "psr", "max_drawdown", "dsr", "trades", "cagr",
                            "volatility", "sortino"]


def _run_table(title: str, frame: pd.DataFrame, first: str, keys: list[str], priority: list[str],
               columns: dict[str, tuple[str, int]], width: int, console: Console) -> tuple[Table, list[str]]:
    """A compare table: run and model/strategy columns, then the metrics that fit ``width``."""
    keys = [k for k in keys if k in frame.columns]

    def build(shown: list[str]) -> Table:
        table = Table(title=title, title_justify="left")
        table.add_column("run", overflow="fold")
        table.add_column(first, overflow="fold")
        for key in shown:
            _number_column(table, columns[key][0])
        for _, r in frame.iterrows():
            dim = r[first] in BASELINE_NAMES if first == "model" else r[first] == BENCHMARK
            table.add_row(str(r["run"]), str(r[first]), *_cells(r, shown, columns),
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
    tr, tr_out = _run_table("Trading across runs, after costs", rows, "strategy", COMPARE_TRADING,
                            COMPARE_TRADING_PRIORITY, TRADING_COLUMNS, width, console)
    fc.caption = "≈: not distinguishable from naive (Diebold-Mariano, SPA)" + _left_out(fc_out, FORECAST_COLUMNS)
    notes = ["≈: not distinguishable from buy-and-hold (PSR, SPA)"]
    if limit is not None and len(comparison.trading) > limit:
        notes.append(f"top {limit} of {len(comparison.trading)} rows; --limit 0 shows all")
    tr.caption = "; ".join(notes) + _left_out(tr_out, TRADING_COLUMNS)
    return [fc, tr]


def _left_out(keys: list[str], columns: dict[str, tuple[str, int]]) -> str:
    return "; not shown at this width: " + ", ".join(columns[k][0] for k in keys) if keys else ""


LEADERBOARD_SHOWN = ["best_strategy", "sharpe", "dsr", "buy_and_hold_sharpe", "best_model", "theil_u", "dm_p"]
LEADERBOARD_PRIORITY = ["sharpe", "dsr", "theil_u", "dm_p", "best_strategy", "buy_and_hold_sharpe", "best_model"]
LEADERBOARD_COLUMNS = {"best_strategy": ("best strategy", 0), "sharpe": ("Sharpe", 2), "dsr": ("DSR", 3),
                       "buy_and_hold_sharpe": ("B&H", 2), "best_model": ("best net", 0), "theil_u": ("Theil U", 3),
                       "dm_p": ("DM p", 3)}
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
                _number_column(out, LEADERBOARD_COLUMNS[key][0])
        for _, r in rows.iterrows():
            out.add_row(str(r["cell"]), *_cells(r, shown, LEADERBOARD_COLUMNS))
        return out

    out, left_out = fit_columns(build, keys, LEADERBOARD_PRIORITY, width, console or Console())
    notes = ["DSR counts every strategy of every cell as a trial", "best net: lowest Theil U",
             "DM p: Diebold-Mariano against naive"]
    if limit is not None and len(table) > limit:
        notes.append(f"top {limit} of {len(table)} cells (all in leaderboard.csv)")
    out.caption = "; ".join(notes) + _left_out(left_out, LEADERBOARD_COLUMNS)
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
    _number_column(group_table, "cells")
    for label, count in groups:
        group_table.add_row(label, str(count))
    from rich.console import Group

    return Group(summary, table, group_table)  # type: ignore[return-value]
