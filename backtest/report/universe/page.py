"""report.html of a universe run: how well each scorer ranks the stocks, what its books earned, what loading did.

Read from the run folder alone (``backtest.runs.universe_folder.UniverseSummary``), with plotly.js inline once
so the page opens offline. Every series is written as a plain JSON list (no binary arrays), rounded to what
a chart shows, so the numbers on the page can be read back and checked against the CSV files they came from.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from backtest.core.files import atomic_write_text
from backtest.report.console import BOOK_COLUMNS, IC_COLUMNS, TEST_COLUMNS
from backtest.report.pages import figures_html, page, table_html
from backtest.report.universe.tearsheet import tearsheet_html
from backtest.report.wording import IC_VERDICT_NOTE, legs_note
from backtest.runs.universe_folder import UniverseSummary

BENCHMARK = "equal_weight"  # the universe's benchmark book (backtest.engine.universe.BENCHMARK)
DIGITS = 6  # decimals kept in the charts' data: an IC of 0.012345, a turnover of 12.3456 %
SYMBOL_COUNTS = ["dropped_duplicate", "dropped_missing", "dropped_invalid", "dropped_outside", "dropped_checks",
                 "holes", "zero_volume", "jumps"]
SYMBOL_COLUMNS = {"status": ("status", 0), **{c: (c.replace("_", " "), 0) for c in SYMBOL_COUNTS},
                  "first_jump": ("first jump", 0), "notes": ("notes", 0)}


def series(values: pd.Series, digits: int = DIGITS) -> list[float | None]:
    """A chart's y values: rounded, NaN as JSON null (a gap in the line)."""
    return [None if not math.isfinite(v) else round(float(v), digits) for v in values.astype(float)]


def _dates(index: pd.Index) -> list[str]:
    return [f"{d:%Y-%m-%d}" for d in index]


def ic_figure(daily_ic: pd.DataFrame, cumulative: bool) -> go.Figure:
    """Every "scorer:ic" and "scorer:rank_ic" column of ic.csv by day, or summed day by day (NaN days add 0)."""
    columns = [c for c in daily_ic.columns if c.endswith((":ic", ":rank_ic"))]
    frame = daily_ic[columns].fillna(0.0).cumsum() if cumulative else daily_ic[columns]
    x = _dates(frame.index)
    traces = [go.Scatter(x=x, y=series(frame[c]), name=c, mode="lines", line={"width": 1.5 if cumulative else 1},
                         visible=True if cumulative or c.endswith(":rank_ic") else "legendonly") for c in columns]
    what = "Cumulative IC and rank IC (sum of the daily values; a steady rise is a steady edge)" if cumulative else \
        "Daily IC and rank IC across the stocks (click the legend for the Pearson IC)"
    fig = go.Figure(traces)
    fig.update_layout(title=what, height=420, hovermode="x unified", yaxis_title="sum of IC" if cumulative else "IC",
                      legend={"font": {"size": 10}})
    return fig


def decile_figure(deciles: pd.DataFrame, ic: pd.DataFrame) -> go.Figure:
    """Mean earnable return (%) by forecast decile, one group of bars per scorer; the spread in the title."""
    labels = [str(c) for c in deciles.columns]
    traces = [go.Bar(x=labels, y=series(100.0 * deciles.loc[name]), name=str(name)) for name in deciles.index]
    spreads = ", ".join(f"{name} {100.0 * ic.loc[name, 'spread']:.3f} %" for name in ic.index if name in deciles.index)
    fig = go.Figure(traces)
    fig.update_layout(title=f"Mean return a book can earn by forecast decile (1 = lowest scores); top − bottom per "
                            f"day: {spreads}", barmode="group", height=420, xaxis_title="decile",
                      yaxis_title="mean return %", legend={"font": {"size": 10}})
    return fig


def book_figure(frame: pd.DataFrame, title: str, y_title: str, scale: float = 1.0) -> go.Figure:
    """One line per book, the equal-weighted benchmark first (bold black; dotted when several runs' are drawn);
    ``scale`` multiplies the values."""
    x = _dates(frame.index)
    bench = [c for c in frame.columns if c == BENCHMARK or c.endswith(f":{BENCHMARK}")]
    one = len(bench) == 1
    names = bench + [c for c in frame.columns if c not in bench]
    traces = [go.Scatter(x=x, y=series(scale * frame[c]), name=c, mode="lines",
                         line=({"width": 3, "color": "black"} if one else {"width": 2.5, "dash": "dot"})
                         if c in bench else {"width": 1.5}) for c in names]
    fig = go.Figure(traces)
    fig.update_layout(title=title, height=480, hovermode="x unified", yaxis_title=y_title,
                      legend={"font": {"size": 10}})
    return fig


def _percent(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    out = frame.copy()
    for key in keys:
        if key in out:
            out[key] = 100.0 * out[key]
    return out


def tables_html(summary: UniverseSummary) -> list[str]:
    """The console's three tables: scores (IC), books, and the tests against the equal-weighted universe."""
    st = summary.trading_summary
    ic = _percent(summary.ic, ["positive", "spread", "accuracy"]).reset_index()
    trading = summary.trading.reset_index()
    return [
        "<h2>Scores across the cross-section</h2>", table_html(ic, IC_COLUMNS, "scorer"),
        f"<p class='note'>Every figure here is measured on the return a book dated t can earn: "
        f"{html.escape(summary.forecast_return)}. IC: Pearson, rank IC: Spearman, per day across the stocks, "
        "then averaged; ICIR = mean / sd per day; t HAC: Newey-West t-statistic of the daily IC; % &gt; 0: share "
        "of days with a positive IC; spread: top − bottom decile's mean of that return per day; — : undefined (a "
        "constant score); "
        + html.escape(IC_VERDICT_NOTE.format(level=_fmt(st.get("significance"), 2)))
        + ("; acc. %: share of (day, stock) calls of the median target right, a score above the day's median "
           "score calling 'above'" if "accuracy" in summary.ic else "") + ".</p>", *_horizon_note(summary),
        *_close_note(summary),
        f"<h2>Books out of sample (fills at the {html.escape(summary.fills)})</h2>",
        table_html(trading, BOOK_COLUMNS, "book", highlight=BENCHMARK),
        "<p class='note'>gross / net: mean daily return before / after costs (fees, slippage, borrow on shorts); "
        "turn: one-way turnover traded per day (the orders' value over the book's, drift back to the target "
        "weights included); target turn: the change of the target weights alone; "
        f"{html.escape(legs_note(summary.config.get('universe', {})))}every "
        "position closed on the last day.</p>",
        "<h2>Against the equal-weighted universe (after costs)</h2>",
        table_html(trading, TEST_COLUMNS, "book", highlight=BENCHMARK),
        f"<p class='note'>PSR: probability the Sharpe beats {html.escape(str(st.get('benchmark')))}'s; DSR counts "
        f"{st.get('trials', 0)} books; SPA p = {_fmt(st.get('spa_p'))}; PBO = {_fmt(st.get('pbo'))}; ≈: not "
        f"distinguishable at {_fmt(st.get('significance'), 2)}.</p>",
    ]


def _horizon_note(summary: UniverseSummary) -> list[str]:
    """The IC against the h-day earnable return, when the run's target looks h > 1 days ahead."""
    if summary.horizon_return is None or "ic_h" not in summary.ic:
        return []
    columns = {"rank_ic_h": ("rank IC", 4), "rank_t_hac_h": ("rank t HAC", 2), "ic_h": ("IC", 4),
               "t_hac_h": ("t HAC", 2), "lags_h": ("HAC lags", 0)}
    return [f"<h3>Beside it: against the h-day return the target is about ({html.escape(summary.horizon_return)}; "
            "HAC lags at least h - 1, for the days' overlap)</h3>",
            table_html(summary.ic.reset_index(), columns, "scorer")]


def _close_note(summary: UniverseSummary) -> list[str]:
    """The close-to-close reading beside the earnable one (no book earns it), when the run has it."""
    if "ic_close" not in summary.ic:
        return []
    rows = summary.ic[["ic_close", "rank_ic_close", "spread_close"]].copy()
    rows["spread_close"] = 100.0 * rows["spread_close"]
    columns = {"ic_close": ("IC", 4), "rank_ic_close": ("rank IC", 4), "spread_close": ("spread %", 3)}
    return ["<h3>Beside it: the close-to-close reading (close t → close t+1; no book can earn it)</h3>",
            table_html(rows.reset_index(), columns, "scorer")]


def _fmt(value: Any, digits: int = 3) -> str:
    return "—" if not isinstance(value, int | float) or not math.isfinite(value) else f"{value:.{digits}f}"


def data_html(summary: UniverseSummary) -> list[str]:
    """What loading did in total, the symbols refused (and why), the symbols with rows dropped or jumps."""
    totals = pd.DataFrame({"what": list(summary.totals), "count": list(summary.totals.values())})
    sym = summary.symbols.set_index("symbol")
    refused = sym[sym["status"] != "ok"].reset_index()
    counts = sym[[c for c in SYMBOL_COUNTS if c in sym]].fillna(0)
    touched = sym[counts.sum(axis=1) > 0].assign(_n=counts.sum(axis=1)).sort_values("_n", ascending=False)
    out = ["<h2>Data: what loading did</h2>", table_html(totals, {"count": ("count", 0)}, "what"),
           f"<h3>Symbols refused ({len(refused)})</h3>"]
    out.append(table_html(refused, {"status": ("status", 0), "reason": ("reason", 0)}, "symbol") if len(refused)
               else "<p class='note'>none: every symbol passed the checks.</p>")
    out.append(f"<h3>Symbols with rows dropped, holes, zero volume or jumps ({len(touched)})</h3>")
    out.append(table_html(touched.reset_index(), SYMBOL_COLUMNS, "symbol") if len(touched)
               else "<p class='note'>none.</p>")
    out.append("<p class='note'>Every symbol, with its first and last day: symbols.csv in the run folder.</p>")
    return out


TRAINING_COLUMNS = {"epochs": ("epochs run", 0), "best_epoch": ("best epoch", 0), "train_loss": ("train loss", 5),
                    "val_loss": ("validation loss", 5), "seconds": ("seconds", 1)}


def training_html(summary: UniverseSummary) -> list[str]:
    """The networks' training log (folds.csv): per network, fold and seed, where it stopped and its losses."""
    log = summary.training
    if log is None or log.empty:
        return []
    cap = summary.config.get("training", {}).get("epochs", "?")
    seeds = "seed" in log and log["seed"].nunique() > 1
    label = log.apply(lambda r: f"{r['model']} · fold {r['fold']}" + (f" · seed {r['seed']}" if seeds else "")
                      + (f" · {r['symbol']}" if "symbol" in log else "") + f" (test {r.get('test_start', '?')} → "
                      f"{r.get('test_end', '?')})" + (" · stopped early" if bool(r["stopped_early"]) else ""), axis=1)
    frame = log.assign(network=label)
    return ["<h2>Training</h2>",
            f"<p class='note'>Each network's epochs run of training.epochs = {cap}, the epoch whose weights it kept "
            "and that epoch's losses (folds.csv in the run folder).</p>",
            table_html(frame, TRAINING_COLUMNS, "network")]


def _placebo_note(summary: UniverseSummary) -> list[str]:
    """Scorers without an IC (a constant score, as naive's 0 for every stock): their deciles are name order."""
    flat = [str(n) for n in summary.ic.index if not math.isfinite(float(summary.ic.loc[n, "ic"]))]
    if not flat:
        return []
    return [f"<p class='note'>{html.escape(', '.join(flat))}: the same score for every stock, so no IC; its deciles "
            "(and its books) split the stocks by name order (ties broken by symbol), a placebo: what a ranking "
            "with no information gives on this universe.</p>"]


def _header(summary: UniverseSummary) -> list[str]:
    m, d = summary.manifest, summary.manifest["data"]
    first, last, days = (m["out_of_sample"][k] for k in ("first", "last", "days"))
    out = [f"<h1>wfbt universe run <code>{html.escape(summary.name)}</code></h1>",
           f"<p>{html.escape(str(d['origin']))}: {d['symbols']:,} symbols kept of {len(summary.symbols):,}, "
           f"{d['first']} → {d['last']} ({d['days']:,} days) · {m['folds']} walk-forward folds · out of sample "
           f"{first} → {last} ({days:,} days) · seed {m['seed']} · fills at the {html.escape(summary.fills)}"
           + (f" · {html.escape(str(m['prices']))}" if m.get("prices") else "") + "</p>"]
    if summary.survivorship:
        out.append(f"<p class='warning'>⚠ survivorship bias: {html.escape(summary.survivorship)}</p>")
    return out


def universe_report_html(summary: UniverseSummary) -> str:
    """The whole page: header and warning, IC charts, deciles, equity, turnover, the tables, the data."""
    figs = figures_html([
        ("ic-daily", ic_figure(summary.daily_ic, cumulative=False)),
        ("ic-cumulative", ic_figure(summary.daily_ic, cumulative=True)),
        ("deciles", decile_figure(summary.deciles, summary.ic)),
        ("equity", book_figure(summary.equity, "Equity after costs: each scorer's books and the equal-weighted "
                                               "universe (bold)", "portfolio value")),
        ("turnover", book_figure(summary.turnover, "One-way turnover traded per day (% of the book)", "%", 100.0)),
    ])
    body = [*_header(summary), "<h2>Information coefficients</h2>", figs[0], figs[1],
            "<h2>Forecast deciles</h2>", figs[2], *_placebo_note(summary), "<h2>Books</h2>", figs[3], figs[4],
            *tables_html(summary), *tearsheet_html(summary), *training_html(summary), *data_html(summary),
            "<h2>Configuration and manifest</h2>",
            f"<details><summary>config.toml</summary><pre>{html.escape(summary.config_text())}</pre></details>",
            f"<details><summary>manifest.json</summary><pre>{html.escape(json.dumps(summary.manifest, indent=2))}"
            "</pre></details>"]
    return page(f"wfbt · {summary.name}", body)


def write_universe_report(summary: UniverseSummary) -> Path:
    """Write report.html into the run folder."""
    path = summary.run_dir / "report.html"
    atomic_write_text(path, universe_report_html(summary))
    return path
