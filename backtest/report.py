"""The rich console summary of a run, rendered from its saved artifacts (so `show` prints the same)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from backtest.store import RunSummary
from strategies.signals import BENCHMARK

CHART_COLOURS = ["bright_white", "cyan", "magenta", "yellow", "green", "red"]
CHART_MARKS = ["#", "*", "o", "+", "x", "%"]


# metric key -> (column label, digits); shared by the console tables and the HTML pages
FORECAST_COLUMNS = {"rmse": ("RMSE", 2), "mae": ("MAE", 2), "mape": ("MAPE %", 2), "direction": ("direction %", 1),
                    "theil_u": ("Theil U", 3), "n": ("days", 0)}
TRADING_COLUMNS = {"total_return": ("return %", 2), "cagr": ("CAGR %", 2), "volatility": ("vol %", 2),
                   "sharpe": ("Sharpe", 2), "sortino": ("Sortino", 2), "max_drawdown": ("max DD %", 2),
                   "calmar": ("Calmar", 2), "trades": ("trades", 0), "win_rate": ("win %", 1),
                   "exposure": ("exposure %", 1), "fees_paid": ("fees", 0)}
NARROW_TRADING = ["total_return", "sharpe", "max_drawdown", "trades", "win_rate", "exposure"]  # < 140 columns


def _cells(row: pd.Series, keys: list[str], columns: dict[str, tuple[str, int]]) -> list[str]:
    """Formatted cells of ``row`` for ``keys``; a metric the row lacks shows as a dash."""
    return [_fmt(row.get(k, math.nan), columns[k][1]) for k in keys]


def _fmt(value: float, digits: int = 2, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:,.{digits}f}{suffix}"


def header(summary: RunSummary) -> Panel:
    m = summary.manifest
    d, oos = m["data"], m["out_of_sample"]
    lines = [
        f"[bold]{m['name']}[/]  data {d['source']}:{d.get('path') or d['symbol']}  "
        f"{d['first']} → {d['last']} ({d['rows']} rows)",
        f"{m['folds']} walk-forward folds · out of sample {oos['first']} → {oos['last']} ({oos['days']} days) · "
        f"seed {m['seed']} · device {m['device']}" + (f" ({m['kernels']})" if m.get("kernels") else ""),
        "timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in m.get("timings_s", {}).items()),
    ]
    if summary.execution == "close":
        lines.append("[bold red]⚠ orders fill at the signal day's close (backtest.execution = \"close\"): "
                     "this assumes the close was known before it happened; results are optimistic.[/]")
    else:
        lines.append("orders fill at the next day's open after each signal (no look-ahead)")
    return Panel("\n".join(lines), title="wfbt run", expand=False)


def forecast_table(summary: RunSummary) -> Table:
    table = Table(title="Forecast errors, out of sample (price units)", title_justify="left")
    for col, justify in [("model", "left"), ("RMSE", "right"), ("MAE", "right"), ("MAPE %", "right"),
                         ("direction %", "right"), ("Theil U", "right"), ("days", "right")]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    fc = summary.forecast
    naive = fc[fc["model"] == "naive"]
    models = fc[fc["model"] != "naive"].sort_values("rmse")
    for _, row in pd.concat([naive, models]).iterrows():
        style = "dim" if row["model"] == "naive" else ("green" if row["theil_u"] < 1 else "")
        table.add_row(str(row["model"]) + (" (baseline)" if row["model"] == "naive" else ""),
                      *_cells(row, list(FORECAST_COLUMNS), FORECAST_COLUMNS), style=style)
    table.caption = ("Theil U = RMSE / naive RMSE (below 1 beats 'tomorrow = today'); "
                     "direction: share of days the predicted move had the right sign")
    return table


def trading_table(summary: RunSummary, limit: int | None = None, width: int | None = None) -> Table:
    table = Table(title="Trading, out of sample, after fees, tax and slippage (sorted by Sharpe)",
                  title_justify="left")
    wide = width is None or width >= 140
    keys = list(TRADING_COLUMNS) if wide else NARROW_TRADING
    table.add_column("strategy", no_wrap=True)
    for key in keys:
        table.add_column(TRADING_COLUMNS[key][0], justify="right")
    rows = summary.trading
    if limit is not None and len(rows) > limit:
        keep = list(rows.index[:limit])
        if BENCHMARK in rows.index and BENCHMARK not in keep:
            keep.append(BENCHMARK)
        rows = rows.loc[keep]
    bench_sharpe = summary.trading["sharpe"].get(BENCHMARK, np.nan)
    for name, r in rows.iterrows():
        is_bench = name == BENCHMARK
        style = "bold yellow" if is_bench else ("green" if r["sharpe"] > bench_sharpe else "")
        table.add_row(f"{name} ★" if is_bench else str(name), *_cells(r, keys, TRADING_COLUMNS), style=style)
    table.caption = ("★ buy-and-hold benchmark; green: Sharpe above it; annualised with 252 trading days, "
                     "risk-free rate 0" + ("" if wide else "; all columns in metrics.json or a terminal >= 140 wide"))
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
    console.print(forecast_table(summary))
    console.print(trading_table(summary, width=console.width))
    cols = chart_columns(summary)
    console.print(Panel(equity_chart(summary.equity, cols, console.width - 4),
                        title="Equity: buy-and-hold and the best strategies by Sharpe", expand=False))
    console.print(f"Artifacts in {summary.run_dir}/: report.html equity.png config.toml manifest.json "
                  "predictions.csv folds.csv equity.csv orders.csv metrics.json", highlight=False)


def compare_tables(comparison: Any, width: int, limit: int | None = None) -> list[Table]:
    """The forecast and trading tables of ``wfbt compare``: one row per run x model / strategy."""
    fc = Table(title="Forecast errors across runs (price units; Theil U below 1 beats the naive forecast)",
               title_justify="left")
    tr = Table(title="Trading across runs, after costs", title_justify="left")
    trading_keys = (["total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "trades"]
                    if width >= 140 else ["total_return", "sharpe", "max_drawdown", "trades"])
    for table, first, keys, columns in ((fc, "model", list(FORECAST_COLUMNS), FORECAST_COLUMNS),
                                        (tr, "strategy", trading_keys, TRADING_COLUMNS)):
        table.add_column("run", no_wrap=True)
        table.add_column(first, no_wrap=True)
        for key in keys:
            table.add_column(columns[key][0], justify="right")
    for _, r in comparison.forecast.iterrows():
        fc.add_row(str(r["run"]), str(r["model"]), *_cells(r, list(FORECAST_COLUMNS), FORECAST_COLUMNS),
                   style="dim" if r["model"] == "naive" else "")
    rows = comparison.trading if limit is None else comparison.trading.head(limit)
    for _, r in rows.iterrows():
        tr.add_row(str(r["run"]), str(r["strategy"]), *_cells(r, trading_keys, TRADING_COLUMNS),
                   style="bold yellow" if r["strategy"] == BENCHMARK else "")
    if limit is not None and len(comparison.trading) > limit:
        tr.caption = f"top {limit} of {len(comparison.trading)} rows; --limit 0 shows all"
    return [fc, tr]
