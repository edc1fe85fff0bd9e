"""The rich console summaries: of a run, rendered from its saved artifacts (so `show` prints the same), and of a
universe run (``render_universe``), readable at 80 columns: its trading figures and their tests are two tables,
and a table that still does not fit drops whole columns (named in its caption), so a number is never cut."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from backtest.report.chart import equity_chart
from backtest.report.tables import cells, dropped_note, fit_columns, number_column
from backtest.report.wording import (
    BASELINE_NAMES,
    DIRECTION_NOTE,
    FORECAST_COLUMNS,
    IC_VERDICT_NOTE,
    LAST_DAY_NOTE,
    LOOK_AHEAD_WARNING,
    PSR_DSR_NOTE,
    STUDY_COLUMNS,
    TRADER_COLUMNS,
    TRADER_NOTE,
    TRADING_COLUMNS,
    fmt,
    forecast_sentences,
    legs_note,
    strategy_note,
    study_lines,
    terms_line,
    trader_note,
    trading_sentences,
)
from backtest.runs.store import RunSummary
from backtest.runs.universe_folder import UniverseSummary
from strategies.signals import BENCHMARK

# Columns in the order shown, and the order they are dropped in when the terminal is too narrow (last first).
FORECAST_SHOWN = ["rmse", "mae", "mape", "direction", "theil_u", "seeds", "dm_p", "verdict", "in_mcs"]
FORECAST_PRIORITY = ["theil_u", "verdict", "dm_p", "direction", "rmse", "in_mcs", "seeds", "mae", "mape"]
TRADING_SHOWN = ["total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "trades",
                 "win_rate", "exposure", "fees_paid", "psr", "dsr", "verdict"]
TRADING_PRIORITY = ["sharpe", "verdict", "total_return", "psr", "dsr", "max_drawdown", "trades", "exposure",
                    "win_rate", "cagr", "volatility", "sortino", "calmar", "fees_paid"]
# The trader's figures come after today's columns, below them in priority: shown only once all of today's fit
TRADER_SHOWN = list(TRADER_COLUMNS)
TRADER_PRIORITY = ["break_even_cost", "turnover", "holding_days", "profit_factor", "alpha", "beta",
                   "information_ratio", "tracking_error", "exposure_long", "exposure_short", "expectancy"]
SEEDS_COLUMN = ("U seeds", 3)  # min-max Theil U of the single seeds when forecast.seeds > 1



SINGLE_ARTIFACTS = ("report.html", "equity.png", "config.toml", "manifest.json", "predictions.csv", "folds.csv",
                    "equity.csv", "orders.csv", "metrics.json", "insample.csv.gz")
UNIVERSE_ARTIFACTS = ("report.html", "config.toml", "manifest.json", "scores.csv.gz", "equity.csv",
                      "equity_gross.csv", "ic.csv", "turnover.csv", "symbols.csv", "metrics.json", "folds.csv")


OPTIONAL_ARTIFACTS = ("equity_gross.csv", "folds.csv", "insample.csv.gz")  # not in every run's folder


def artifacts_line(run_dir: Path | str, names: tuple[str, ...]) -> str:
    """"Artifacts in <folder>/: ..." naming ``names``, the optional ones only where the folder holds them (an
    older run's folder lacks the files added since, a run without networks has no folds.csv). The others are
    named always: a run prints this line before its report and manifest are written."""
    folder = Path(run_dir)
    held = [n for n in names if n not in OPTIONAL_ARTIFACTS or not folder.is_dir() or (folder / n).is_file()]
    return f"Artifacts in {escape(str(run_dir))}/: " + " ".join(held)

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
        f"{_folds_words(m)} · out of sample {oos['first']} → {oos['last']} ({oos['days']} days) · "
        f"seed {m['seed']} · device {m['device']}" + (f" ({m['kernels']})" if m.get("kernels") else ""),
        "timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in m.get("timings_s", {}).items()),
    ]
    if terms_line(m):
        lines.append(escape(terms_line(m)))
    if m.get("representation"):
        note = REPRESENTATION_NOTES.get(m["representation"], f"representation: {m['representation']}")
        lines.append(note.replace("scaled per fold", "scaled on the whole series") if summary.look_ahead else note)
    if summary.look_ahead:
        lines.append(f"[bold red]⚠ {escape(LOOK_AHEAD_WARNING)}.[/]")
    if m.get("features"):
        lines.append(f"inputs: {', '.join(map(str, m['features']))} of each day" + (
            " (close-only data: the file has no open, high or low)" if d.get("close_only") else ""))
    lines.append(fill_note(summary.execution, bool(d.get("close_only"))))
    return Panel("\n".join(lines), title="wfbt run", expand=False)


def fill_note(execution: str, close_only: bool = False) -> str:
    """The header's line on when orders fill (rich markup): a same-close fill is flagged as optimistic."""
    if execution != "close":
        return "orders fill at the next day's open after each signal (no look-ahead)"
    why = ("the data has no open, so there is no next open to fill at" if close_only
           else "backtest.execution = \"close\"")
    return (f"[bold red]⚠ orders fill at the signal day's close ({why}): this assumes the close was known "
            "before it happened; results are optimistic.[/]")


def _folds_words(manifest: dict) -> str:
    """"20 walk-forward folds", or the study protocol's one split."""
    if manifest.get("protocol") == "study":
        return "study protocol: one chronological split"
    return f"{manifest['folds']} walk-forward folds"


def study_view(summary: RunSummary, console: Console) -> Table | None:
    """A study-protocol run's errors on its test block in the study's scaled units beside price units, naive first
    (None for a walk-forward run)."""
    if not summary.study:
        return None
    rows = pd.DataFrame(summary.study["table"])
    rows = pd.concat([rows[rows["model"].isin(BASELINE_NAMES)], rows[~rows["model"].isin(BASELINE_NAMES)]])
    look = " [bold red](LOOK-AHEAD scaler)[/]" if summary.look_ahead else ""
    table, _ = fit_columns(lambda shown: _study_table(rows, shown, look), list(STUDY_COLUMNS),
                           ["rmse_scaled", "mse_scaled", "theil_u", "rmse", "mae_scaled", "mae", "n"], console.width,
                           console)
    table.caption = "scaled: in the study's scaler units (price error / scale); naive on the same days and units"
    return table


def _study_table(rows: pd.DataFrame, shown: list[str], look: str) -> Table:
    table = Table(title=f"As published: the study's split and units{look}", title_justify="left")
    table.add_column("model", overflow="fold")
    for key in shown:
        number_column(table, STUDY_COLUMNS[key][0])
    for _, row in rows.iterrows():
        table.add_row(str(row["model"]), *cells(row, shown, STUDY_COLUMNS),
                      style="dim" if row["model"] in BASELINE_NAMES else "")
    return table


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
    notes = ["naive, drift, linear: baselines (dim)", "Theil U = RMSE / naive RMSE", DIRECTION_NOTE,
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
    keys = [k for k in TRADING_SHOWN + TRADER_SHOWN if k in rows.columns]
    columns = {**TRADING_COLUMNS, **TRADER_COLUMNS}
    bench_sharpe = summary.trading["sharpe"].get(BENCHMARK, np.nan)

    def build(shown: list[str]) -> Table:
        table = Table(title="Trading out of sample, after fees, tax and slippage (by Sharpe)", title_justify="left")
        table.add_column("strategy", overflow="fold")
        for key in shown:
            number_column(table, columns[key][0])
        for name, r in rows.iterrows():
            is_bench = name == BENCHMARK
            style = "bold yellow" if is_bench else ("green" if r.get("verdict") == "better" else "")
            table.add_row(f"{name} ★" if is_bench else str(name), *cells(r, shown, columns), style=style)
        return table

    table, dropped = fit_columns(build, keys, TRADING_PRIORITY + TRADER_PRIORITY, width, console or Console())
    left_out = _named_left_out(dropped)
    rf = float(summary.manifest.get("risk_free") or 0.0)
    notes = ["★ buy-and-hold benchmark", f"annualised with 252 days, risk-free rate {100 * rf:g} %" if rf else
             "annualised with 252 days, risk-free rate 0",
             PSR_DSR_NOTE,
             "≈: not distinguishable from buy-and-hold", LAST_DAY_NOTE]
    names = strategy_note(list(rows.index), str(summary.config().get("strategies", {}).get("combine", "all")))
    if names:
        notes.insert(1, names)
    config = summary.config()
    if rules := trader_note(config.get("strategies", {}), config.get("backtest", {})):
        notes.append(rules)
    if np.isfinite(bench_sharpe) and "verdict" not in rows:
        notes.append("green: better than it")
    if any(k in keys and k not in dropped for k in TRADER_COLUMNS):
        notes.append(TRADER_NOTE)
    if left_out:
        notes.append("not shown at this width: " + ", ".join(columns[k][0] for k in left_out)
                     + " (metrics.json)")
    table.caption = "; ".join(notes)
    return table


def _named_left_out(left_out: list[str]) -> list[str]:
    """The columns a caption names as left out: the trader's figures only when all of today's columns fit
    (at 80 columns today's table, caption included, is unchanged; its figures are in metrics.json and the HTML)."""
    today = [k for k in left_out if k in TRADING_COLUMNS]
    return today if today else left_out


def chart_columns(summary: RunSummary, best: int = 3) -> list[str]:
    others = [c for c in summary.trading.index if c != BENCHMARK][:best]
    return [BENCHMARK, *others] if BENCHMARK in summary.equity.columns else others


def render(summary: RunSummary, console: Console) -> None:
    console.print(header(summary))
    if (study := study_view(summary, console)) is not None:
        console.print(study)
        for line in study_lines(summary.study):
            console.print(line, highlight=False)
    console.print(forecast_view(summary, width=console.width, console=console))
    for sentence in forecast_sentences(summary.forecast, summary.statistics.get("forecast", {})):
        console.print(sentence, highlight=False)
    console.print(trading_view(summary, width=console.width, console=console))
    for sentence in trading_sentences(summary.trading, summary.statistics.get("trading", {})):
        console.print(sentence, highlight=False)
    cols = chart_columns(summary)
    console.print(Panel(equity_chart(summary.equity, cols, console.width - 4),
                        title="Equity: buy-and-hold and the best strategies by Sharpe", expand=False))
    console.print(artifacts_line(summary.run_dir, SINGLE_ARTIFACTS), highlight=False)


# The universe run's summary. metric key -> (column label, digits)
IC_COLUMNS = {"rank_ic": ("rank IC", 4), "rank_t_hac": ("rank t", 2), "rank_ic_verdict": ("rank vs 0", 0),
              "ic": ("IC", 4), "t_hac": ("IC t", 2), "ic_verdict": ("IC vs 0", 0), "icir": ("ICIR", 3),
              "positive": ("% > 0", 1), "spread": ("spread %", 3), "accuracy": ("acc. %", 1)}
IC_PRIORITY = ["rank_ic", "rank_t_hac", "rank_ic_verdict", "spread", "accuracy", "ic", "t_hac", "ic_verdict", "icir",
               "positive"]
# the IC against the h-day return, beside the one-day table when universe.horizon > 1
HORIZON_COLUMNS = {"rank_ic_h": ("rank IC", 4), "rank_t_hac_h": ("rank t", 2), "ic_h": ("IC", 4),
                   "t_hac_h": ("IC t", 2), "lags_h": ("HAC lags", 0)}
HORIZON_PRIORITY = ["rank_ic_h", "rank_t_hac_h", "ic_h", "t_hac_h", "lags_h"]
BOOK_COLUMNS = {"mean_gross": ("gross %", 3), "mean_net": ("net %", 3), "sharpe": ("Sharpe", 2),
                "turnover": ("turn %", 1), "max_drawdown": ("max DD %", 1), "weight_turnover": ("target turn %", 1)}
BOOK_PRIORITY = ["mean_net", "sharpe", "mean_gross", "max_drawdown", "turnover", "weight_turnover"]
TEST_COLUMNS = {"psr": ("PSR", 3), "psr_holm": ("PSR Holm", 3), "dsr": ("DSR", 3), "verdict": ("vs EW", 0)}
TEST_PRIORITY = ["verdict", "psr", "dsr", "psr_holm"]
# Longer scorer or book names fold onto a second line (text may wrap; numbers never): "reversal:topk_dropout"
# fits a book's line, and the IC table's seven numbers fit 80 columns beside a name of 16.
BOOK_WIDTH, SCORER_WIDTH = 22, 16


def _percent(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Shares and daily returns as percents, for the cells."""
    out = table.copy()
    for key in keys:
        if key in out:
            out[key] = 100.0 * out[key]
    return out


def _view(title: str, first: str, rows: pd.DataFrame, columns: dict[str, tuple[str, int]], priority: list[str],
          console: Console, name_width: int = BOOK_WIDTH) -> tuple[Table, list[str]]:
    """A table of ``rows`` (index = names) with the ``columns`` it has, fitted to the console's width."""
    keys = [k for k in columns if k in rows.columns]
    benchmark = "equal_weight"  # the universe's benchmark book (backtest.engine.universe.BENCHMARK)

    def build(shown: list[str]) -> Table:
        table = Table(title=title, title_justify="left")
        table.add_column(first, overflow="fold", max_width=name_width)
        for key in shown:
            number_column(table, columns[key][0])
        for name, row in rows.iterrows():
            table.add_row(escape(str(name)), *cells(row, shown, columns),
                          style="bold yellow" if name == benchmark else "")
        return table

    return fit_columns(build, keys, priority, console.width, console)


def ic_view(summary: UniverseSummary, console: Console) -> Table:
    """Scorer, IC, rank IC, ICIR, HAC t, share of days > 0 and the decile spread."""
    ic = _percent(summary.ic, ["positive", "spread", "accuracy"])
    days = int(ic["days"].max()) if len(ic) else 0
    table, left = _view(f"Scores across the cross-section, {days:,} days, on {summary.forecast_return}",
                        "scorer", ic, IC_COLUMNS, IC_PRIORITY, console, SCORER_WIDTH)
    table.caption = (f"IC: Pearson, rank IC: Spearman, per day against the return the books can earn "
                     f"({summary.forecast_return}), then averaged; ICIR = mean / sd per day; t: "
                     "Newey-West; spread: top - bottom decile's mean of that return per day; — : undefined "
                     "(a constant score); "
                     + IC_VERDICT_NOTE.format(level=fmt(summary.trading_summary.get("significance"), 2))
                     + ("; acc. %: share of (day, stock) calls of the median target right, a score above the "
                        "day's median score calling 'above'" if "accuracy" in ic else "")
                     + dropped_note(left, IC_COLUMNS))
    return table


def horizon_view(summary: UniverseSummary, console: Console) -> Table | None:
    """Scorer, rank IC and IC against the h-day return with their HAC t; None for a one-day target."""
    if summary.horizon_return is None or "ic_h" not in summary.ic:
        return None
    horizon = summary.config.get("universe", {}).get("horizon", "h")
    days = int(summary.ic["days_h"].max()) if len(summary.ic) else 0
    table, left = _view(f"The same scores against the {horizon}-day return the target is about, {days:,} days, on "
                        f"{summary.horizon_return}", "scorer", summary.ic, HORIZON_COLUMNS, HORIZON_PRIORITY,
                        console, SCORER_WIDTH)
    table.caption = (f"per day against the {horizon}-day return a book dated t can earn held {horizon} days, then "
                     f"averaged; t: Newey-West with at least {horizon} - 1 lags (consecutive days' {horizon}-day "
                     "returns overlap); a reading beside the one-day table above, whose verdicts are the run's"
                     + dropped_note(left, HORIZON_COLUMNS))
    return table


def book_view(summary: UniverseSummary, console: Console) -> Table:
    """Book, mean daily return before and after costs, Sharpe, turnover, max drawdown."""
    bt, un = summary.config["backtest"], summary.config["universe"]
    borrow = un.get("borrow", bt["borrow"])  # a folder from before backtest.borrow served both kinds: universe's
    table, left = _view(f"Books out of sample (fills at the {summary.fills})", "book",
                        summary.trading, BOOK_COLUMNS, BOOK_PRIORITY, console)
    table.caption = ("gross / net: mean daily return before / after costs; turn: one-way turnover traded per day (the "
                     "orders, drift back to the targets included; target turn: the target weights' change only); "
                     f"net: fees {fmt(1e4 * bt['fees'], 1)} bp + slippage {fmt(1e4 * bt['slippage'], 1)} bp per "
                     f"half-turn, borrow {fmt(100 * borrow, 2)} %/year on shorts; k = {un['k']}, n_drop = "
                     f"{un['n_drop']}; {legs_note(un)}Sharpe annualised (252 days){_over_risk_free(bt)}; every "
                     "position closed on the last day"
                     + dropped_note(left, BOOK_COLUMNS))
    return table


def _over_risk_free(bt: dict[str, Any]) -> str:
    """How the books' Sharpe, Sortino, PSR and DSR are measured, when over a risk-free rate."""
    rf = float(bt.get("risk_free") or 0.0)
    return f", over a risk-free {fmt(100 * rf, 2)} %/year (Sortino, PSR, DSR too)" if rf else ""


def verdict_view(summary: UniverseSummary, console: Console) -> Table:
    """Book, PSR, Holm-adjusted PSR, DSR and the verdict against the equal-weighted universe."""
    rows = summary.trading
    table, left = _view("Against the equal-weighted universe (after costs)", "book", rows, TEST_COLUMNS,
                        TEST_PRIORITY, console)
    st = summary.trading_summary
    table.caption = (f"PSR: probability the Sharpe beats {st.get('benchmark')}'s; DSR counts "
                     f"{st.get('trials', 0)} books; "
                     f"SPA p = {fmt(st.get('spa_p'), 3)}; PBO = {fmt(st.get('pbo'), 3)}; ≈: not "
                     f"distinguishable at {fmt(st.get('significance'), 2)}" + dropped_note(left, TEST_COLUMNS))
    return table


def data_view(summary: UniverseSummary) -> Table:
    """What loading did, in total (rows that are zero left out)."""
    totals = summary.totals
    table = Table(title="Data: what loading did", title_justify="left")
    table.add_column("what", overflow="fold")
    number_column(table, "count")
    for what, count in totals.items():
        if count or str(what).startswith("symbols"):
            table.add_row(escape(str(what)), f"{int(count):,}")
    table.caption = "per symbol: symbols.csv in the run folder (status, counts, reason refused)"
    return table


def universe_header(summary: UniverseSummary) -> Panel:
    """The run's name, universe, calendar, folds and out-of-sample span."""
    m, d = summary.manifest, summary.manifest["data"]
    oos = m["out_of_sample"]
    lines = [
        f"[bold]{escape(summary.name)}[/]  universe {escape(str(d['origin']))}",
        f"{d['symbols']:,} symbols kept of {len(summary.symbols):,} · {d['first']} → {d['last']} ({d['days']:,} days)",
        f"{_folds_words(m)} · out of sample {oos['first']} → {oos['last']} ({oos['days']:,} days) · seed {m['seed']}",
        *([escape(str(m["prices"]))] if m.get("prices") else []),  # a run saved before the key: nothing
        escape(universe_setup(summary.config)),
        "timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in m.get("timings_s", {}).items()),
    ]
    return Panel("\n".join(lines), title="wfbt run (universe)", expand=False)


def universe_setup(config: dict[str, Any]) -> str:
    """The settings that shape what was scored and traded, in one line (config.toml has them all)."""
    fc, un = config.get("forecast", {}), config.get("universe", {})
    features = fc.get("features") or ["close"]
    parts = [f"inputs {'+'.join(map(str, features))} × {fc.get('lookback', '?')} days"]
    if un.get("processors"):
        parts.append("processors " + " → ".join(map(str, un["processors"])))
    horizon = int(un.get("horizon", 1) or 1)
    parts.append(f"target {un.get('target', 'return')} over {horizon} day{'s' if horizon > 1 else ''}")
    if un.get("rebalance_on") not in (None, "", "days"):
        parts.append(f"books trade on {un['rebalance_on']}")
    else:
        every = int(un.get("rebalance", 1) or 1)
        parts.append("books trade daily" if every == 1 else f"books trade every {every} days")
    if un.get("groups"):
        neutral = un.get("neutral")
        how = f"scores {neutral}" if neutral not in (None, "none") else "not neutral"
        parts.append(f"groups {Path(str(un['groups'])).name} ({how})")
    return " · ".join(parts)


def group_headline(table: pd.DataFrame) -> str:
    """One line on the IC within groups: per scorer with an IC, its mean over the groups and how many are > 0."""
    groups, with_ic = table["group"].nunique(), table.loc[table["ic"].notna(), "group"].nunique()
    parts = []
    for scorer, rows in table.groupby(level=0, sort=False):
        ic = rows["ic"].dropna()
        if len(ic):
            parts.append(f"{scorer} {ic.mean():+.4f} ({int((ic > 0).sum())}/{len(ic)} > 0)")
    return (f"IC within groups: {with_ic} of {groups} groups with an IC, mean over those: {'; '.join(parts) or 'none'} "
            "(each group in metrics.json, ic_by_group)")


def _tearsheet_line(summary: UniverseSummary) -> str:
    """The tear sheet's headline in one sentence: how fast each ranking turns over (the rest: report.html)."""
    rows = [r for r in summary.tearsheet.get("factor", [])
            if r.get("rank_autocorrelation") is not None and math.isfinite(float(r["rank_autocorrelation"]))]
    if not rows:
        return ""
    top = [math.nan if r.get("turnover_top") is None else 100.0 * float(r["turnover_top"]) for r in rows]
    parts = [f"{r['scorer']} {fmt(r['rank_autocorrelation'], 2)} / {fmt(t, 0)} %"
             for r, t in zip(rows, top, strict=True)]
    return ("Lag-1 rank autocorrelation / top-decile turnover a day: " + ", ".join(parts)
            + " (IC by month, decay and the rest of the tear sheet: report.html)")


def _cumulative_line(summary: UniverseSummary) -> str:
    """One sentence of the tear sheet's cumulative returns, for each scorer with a ranking (an IC): its top and
    bottom decile, and its long-short book before and after costs (every decile and book: report.html)."""
    cumulative = summary.tearsheet.get("cumulative", {})
    ranked = [str(n) for n in summary.ic.index if math.isfinite(float(summary.ic.loc[n, "ic"]))]
    quantiles, books = cumulative.get("quantiles", {}), cumulative.get("books", {})
    deciles = [f"{n} {q[max(q, key=int)]:+.1f} / {q['1']:+.1f} %" for n in ranked if (q := quantiles.get(n))]
    long_short = [f"{n} {b['gross']:+.1f} → {b['net']:+.1f} %" for n in ranked if (b := books.get(f"{n}:long_short"))]
    parts = ([f"top / bottom decile {', '.join(deciles)}"] if deciles else []) + \
        ([f"long-short before → after costs {', '.join(long_short)}"] if long_short else [])
    return f"Cumulative return: {'; '.join(parts)} (every decile and book: report.html)" if parts else ""


def training_line(summary: UniverseSummary) -> str:
    """Where each network stopped (folds.csv): per fold, its epochs run of training.epochs and the best one, e.g.
    "lstm stopped at epochs 14, 17, 12 of 1000 (best 4, 7, 2)"; with several networks a fold (seeds, or one
    per symbol), the median and range of each instead. Empty when no network trained (or an older run)."""
    log = summary.training
    if log is None or log.empty:
        return ""
    cap = summary.config.get("training", {}).get("epochs", "?")
    lines = []
    for model, rows in log.groupby("model", sort=False):
        early = int(rows["stopped_early"].astype(bool).sum())
        if rows["fold"].is_unique:
            said = (f"{model} stopped at epochs {', '.join(str(int(e)) for e in rows['epochs'])} of {cap} "
                    f"(best {', '.join(str(int(b)) for b in rows['best_epoch'])})")
        else:
            said = (f"{model}'s {len(rows)} networks stopped at epochs {_spread(rows['epochs'])} of {cap} "
                    f"(best {_spread(rows['best_epoch'])})")
        lines.append(f"{said}; {early} of {len(rows)} stopped early")
    return "Training (folds.csv): " + "; ".join(lines)


def _spread(values: pd.Series) -> str:
    """Median and range of whole numbers, e.g. "12 (4 to 30)"."""
    return f"{values.median():g} ({int(values.min())} to {int(values.max())})"


def render_universe(summary: UniverseSummary, console: Console) -> None:
    """Print the universe run's summary: header, survivorship warning, scores, books, tests, data."""
    console.print(universe_header(summary))
    note = summary.survivorship
    if note:
        console.print(f"[bold yellow]⚠ survivorship bias:[/] {escape(note)}", highlight=False)
    console.print(ic_view(summary, console))
    horizon = horizon_view(summary, console)
    if horizon is not None:
        console.print(horizon)
    for line in (_tearsheet_line(summary), _cumulative_line(summary)):
        if line:
            console.print(line, highlight=False)
    if summary.ic_by_group is not None:
        console.print(group_headline(summary.ic_by_group), highlight=False)
    console.print(book_view(summary, console))
    console.print(verdict_view(summary, console))
    if line := training_line(summary):
        console.print(escape(line), highlight=False)
    console.print(data_view(summary))
    console.print(artifacts_line(summary.run_dir, UNIVERSE_ARTIFACTS), highlight=False)
