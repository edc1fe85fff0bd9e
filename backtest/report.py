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

BENCHMARK = "buy_and_hold"
CHART_COLOURS = ["bright_white", "cyan", "magenta", "yellow", "green", "red"]
CHART_MARKS = ["#", "*", "o", "+", "x", "%"]


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
        f"seed {m['seed']} · device {m['device']}",
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
        table.add_row(
            str(row["model"]) + (" (baseline)" if row["model"] == "naive" else ""),
            _fmt(row["rmse"]), _fmt(row["mae"]), _fmt(row["mape"]), _fmt(row["direction"], 1),
            _fmt(row["theil_u"], 3), f"{int(row['n'])}", style=style,
        )
    table.caption = ("Theil U = RMSE / naive RMSE (below 1 beats 'tomorrow = today'); "
                     "direction: share of days the predicted move had the right sign")
    return table


def trading_table(summary: RunSummary, limit: int | None = None, width: int | None = None) -> Table:
    table = Table(title="Trading, out of sample, after fees, tax and slippage (sorted by Sharpe)",
                  title_justify="left")
    wide = width is None or width >= 140
    cols = ["return %", "CAGR %", "vol %", "Sharpe", "Sortino", "max DD %", "Calmar", "trades", "win %",
            "exposure %", "fees"]
    if not wide:
        cols = ["return %", "Sharpe", "max DD %", "trades", "win %", "exp. %"]
    table.add_column("strategy", no_wrap=True)
    for col in cols:
        table.add_column(col, justify="right")
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
        if wide:
            cells = [_fmt(r["total_return"]), _fmt(r["cagr"]), _fmt(r["volatility"]), _fmt(r["sharpe"]),
                     _fmt(r["sortino"]), _fmt(r["max_drawdown"]), _fmt(r["calmar"]), _fmt(r["trades"], 0),
                     _fmt(r["win_rate"], 1), _fmt(r["exposure"], 1), _fmt(r["fees_paid"], 0)]
        else:
            cells = [_fmt(r["total_return"]), _fmt(r["sharpe"]), _fmt(r["max_drawdown"]), _fmt(r["trades"], 0),
                     _fmt(r["win_rate"], 1), _fmt(r["exposure"], 1)]
        table.add_row(f"{name} ★" if is_bench else str(name), *cells, style=style)
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


def compare_tables(comparison: Any, width: int, limit: int | None = None) -> list[Any]:
    """The forecast and trading tables of ``wfbt compare``: one row per run x model / strategy."""
    fc = Table(title="Forecast errors across runs (price units; Theil U below 1 beats the naive forecast)",
               title_justify="left")
    for col in ["run", "model", "RMSE", "MAE", "MAPE %", "direction %", "Theil U", "days"]:
        fc.add_column(col, justify="left" if col in ("run", "model") else "right", no_wrap=col in ("run", "model"))
    for _, r in comparison.forecast.iterrows():
        fc.add_row(str(r["run"]), str(r["model"]), _fmt(r["rmse"]), _fmt(r["mae"]), _fmt(r["mape"]),
                   _fmt(r["direction"], 1), _fmt(r["theil_u"], 3), _fmt(r["n"], 0),
                   style="dim" if r["model"] == "naive" else "")
    tr = Table(title="Trading across runs, after costs", title_justify="left")
    wide = width >= 140
    cols = ["return %", "CAGR %", "vol %", "Sharpe", "Sortino", "max DD %", "trades"]
    if not wide:
        cols = ["return %", "Sharpe", "max DD %", "trades"]
    for col in ["run", "strategy", *cols]:
        tr.add_column(col, justify="left" if col in ("run", "strategy") else "right", no_wrap=True)
    rows = comparison.trading if limit is None else comparison.trading.head(limit)
    for _, r in rows.iterrows():
        trades = _fmt(r["trades"], 0) if "trades" in r and r["trades"] == r["trades"] else "—"
        cells = ([_fmt(r["total_return"]), _fmt(r["cagr"]), _fmt(r["volatility"]), _fmt(r["sharpe"]),
                  _fmt(r["sortino"]), _fmt(r["max_drawdown"]), trades] if wide
                 else [_fmt(r["total_return"]), _fmt(r["sharpe"]), _fmt(r["max_drawdown"]), trades])
        tr.add_row(str(r["run"]), str(r["strategy"]), *cells,
                   style="bold yellow" if r["strategy"] == BENCHMARK else "")
    if limit is not None and len(comparison.trading) > limit:
        tr.caption = f"top {limit} of {len(comparison.trading)} rows; --limit 0 shows all"
    return [fc, tr]
