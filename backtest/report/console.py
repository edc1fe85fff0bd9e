"""The rich console summary of a run, rendered from its saved artifacts (so `show` prints the same)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from backtest.report.chart import equity_chart
from backtest.report.tables import cells, fit_columns, number_column
from backtest.report.wording import (
    BASELINE_NAMES,
    FORECAST_COLUMNS,
    LAST_DAY_NOTE,
    TRADING_COLUMNS,
    fmt,
    forecast_sentences,
    trading_sentences,
)
from backtest.runs.store import RunSummary
from strategies.signals import BENCHMARK

# Columns in the order shown, and the order they are dropped in when the terminal is too narrow (last first).
FORECAST_SHOWN = ["rmse", "mae", "mape", "direction", "theil_u", "seeds", "dm_p", "verdict", "in_mcs"]
FORECAST_PRIORITY = ["theil_u", "verdict", "dm_p", "direction", "rmse", "in_mcs", "seeds", "mae", "mape"]
TRADING_SHOWN = ["total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "trades",
                 "win_rate", "exposure", "fees_paid", "psr", "dsr", "verdict"]
TRADING_PRIORITY = ["sharpe", "verdict", "total_return", "psr", "dsr", "max_drawdown", "trades", "exposure",
                    "win_rate", "cagr", "volatility", "sortino", "calmar", "fees_paid"]
SEEDS_COLUMN = ("U seeds", 3)  # min-max Theil U of the single seeds when forecast.seeds > 1


def _fmt(value: float, digits: int = 2, suffix: str = "") -> str:
    return fmt(value, digits) + ("" if fmt(value, digits) == "—" else suffix)


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


def forecast_view(summary: RunSummary, width: int | None = None, console: Console | None = None) -> Table:
    rows = _forecast_rows(summary)
    columns = {**FORECAST_COLUMNS, "seeds": SEEDS_COLUMN}
    keys = [k for k in FORECAST_SHOWN if k in rows.columns or (k == "seeds" and "theil_u_seed_min" in rows)]
    days = int(rows["n"].max()) if len(rows) else 0

    def build(shown: list[str]) -> Table:
        table = Table(title=f"Forecasts out of sample, {days:,} days (price units), tested against naive",
                      title_justify="left")
        table.add_column("model", overflow="fold")
        for key in shown:
            number_column(table, columns[key][0])
        for i, (_, row) in enumerate(rows.iterrows()):
            name = str(row["model"])
            last_baseline = name in BASELINE_NAMES and (i + 1 == len(rows) or rows["model"].iloc[i + 1]
                                                        not in BASELINE_NAMES)
            table.add_row(name, *cells(row, shown, columns), style="dim" if name in BASELINE_NAMES else "",
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


def trading_view(summary: RunSummary, limit: int | None = None, width: int | None = None,
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
            number_column(table, TRADING_COLUMNS[key][0])
        for name, r in rows.iterrows():
            is_bench = name == BENCHMARK
            style = "bold yellow" if is_bench else ("green" if r.get("verdict") == "better" else "")
            table.add_row(f"{name} ★" if is_bench else str(name), *cells(r, shown, TRADING_COLUMNS), style=style)
        return table

    table, left_out = fit_columns(build, keys, TRADING_PRIORITY, width, console or Console())
    notes = ["★ buy-and-hold benchmark", "annualised with 252 days, risk-free rate 0",
             "PSR: probability the Sharpe beats buy-and-hold's", "DSR: deflated Sharpe ratio",
             "≈: not distinguishable from buy-and-hold", LAST_DAY_NOTE]
    if np.isfinite(bench_sharpe) and "verdict" not in rows:
        notes.append("green: better than it")
    if left_out:
        notes.append("not shown at this width: " + ", ".join(TRADING_COLUMNS[k][0] for k in left_out)
                     + " (metrics.json)")
    table.caption = "; ".join(notes)
    return table


def chart_columns(summary: RunSummary, best: int = 3) -> list[str]:
    others = [c for c in summary.trading.index if c != BENCHMARK][:best]
    return [BENCHMARK, *others] if BENCHMARK in summary.equity.columns else others


def render(summary: RunSummary, console: Console) -> None:
    console.print(header(summary))
    console.print(forecast_view(summary, width=console.width, console=console))
    for sentence in forecast_sentences(summary.forecast, summary.statistics.get("forecast", {})):
        console.print(sentence, highlight=False)
    console.print(trading_view(summary, width=console.width, console=console))
    for sentence in trading_sentences(summary.trading, summary.statistics.get("trading", {})):
        console.print(sentence, highlight=False)
    cols = chart_columns(summary)
    console.print(Panel(equity_chart(summary.equity, cols, console.width - 4),
                        title="Equity: buy-and-hold and the best strategies by Sharpe", expand=False))
    console.print(f"Artifacts in {summary.run_dir}/: report.html equity.png config.toml manifest.json "
                  "predictions.csv folds.csv equity.csv orders.csv metrics.json", highlight=False)


