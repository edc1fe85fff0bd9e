"""Writing a universe run to its folder: the same folder machinery as a single-symbol run, other files.

Layout of ``runs/<name>/`` for a universe run::

    config.toml       the resolved configuration, [universe] included
    manifest.json     data (origin, fingerprint, symbols, survivorship), folds, out-of-sample span, fills,
                      timings, artifacts; written last, with "complete": true
    scores.csv.gz     date, symbol, one column per scorer: every out-of-sample score (gzip CSV; pyarrow is
                      not a dependency, and pandas reads it in one line: pd.read_csv("scores.csv.gz"))
    equity.csv        date + one column per book: value after costs
    equity_gross.csv  date + one column per book: value of the same book before costs (no fees, slippage, borrow)
    ic.csv            date + "scorer:ic", "scorer:rank_ic" and "scorer:spread" per scorer: the daily information
                      coefficients and the daily top - bottom decile spread of the return the books can earn,
                      and "scorer:q1" .. "scorer:q10": each decile's mean of that return
    turnover.csv      date + one column per book: one-way turnover traded that day, drift included (a fraction
                      of the book's value at the day before's close)
    symbols.csv       Universe.summary: what loading did to each symbol, and why one was refused
    folds.csv         only when networks trained: one row per network, fold and seed (and symbol, per-symbol
                      networks): epochs run, best epoch, its train and validation loss, stopped_early, seconds,
                      and the fold's date ranges (the single-symbol folds.csv's names where they mean the same)
    metrics.json      {"kind": "universe", "ic": [...], "deciles": [...], "trading": [...],
                       "statistics": {"trading": {...}}, "data": {...}, "survivorship": "..." | null,
                       "fills": "next open", "forecast_return": "open t+1 → open t+2", "close_to_close": ...,
                       with universe.horizon h > 1 "horizon": h, "horizon_return": "open t+1 → open t+1+h"}
    report.html       the interactive report (backtest.report.universe), written after the data

``write_universe`` returns the folder read back (``backtest.runs.universe_folder``): what the run shows is
what ``wfbt show`` shows.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from backtest.core.files import (
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    describe,
    verify,
)
from backtest.engine.universe import CLOSE_TO_CLOSE, FORECAST_RETURN, UniverseResult, daily_turnover, horizon_return
from backtest.runs.folder import finish_run_dir
from backtest.runs.store import to_toml
from backtest.runs.universe_folder import (
    TRAINING_LOG,
    UNIVERSE_DATA,
    UniverseSummary,
    load_universe_summary,
    quantile_returns,
)
from backtest.scoring import crosssection as xs


def scores_long(scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Score panels as one long table: date, symbol, one column per scorer; rows no scorer scored dropped."""
    stacked = {name: panel.stack(future_stack=True) for name, panel in scores.items()}
    table = pd.DataFrame(stacked).dropna(how="all")
    table.index.names = ["date", "symbol"]
    table = table.reset_index()
    table["date"] = table["date"].dt.strftime("%Y-%m-%d")
    return table


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    """A date-indexed frame with its dates written as ISO days in a ``date`` column."""
    out = frame.copy()
    out.index = pd.DatetimeIndex(out.index).strftime("%Y-%m-%d")
    return out.rename_axis("date").reset_index()


def metrics(result: UniverseResult) -> dict[str, Any]:
    """metrics.json of a universe run: the IC and trading tables, the tests, what loading did."""
    totals = result.universe.totals()["count"]
    return {
        "kind": "universe",
        "ic": result.ic.reset_index().to_dict(orient="records"),
        "deciles": result.deciles.rename(columns=str).reset_index().to_dict(orient="records"),
        "trading": result.trading.reset_index().to_dict(orient="records"),
        "statistics": {"trading": result.trading_summary},
        "data": {str(k): int(v) for k, v in totals.items()},
        "survivorship": result.universe.survivorship_note,
        "fills": result.fills,
        "forecast_return": FORECAST_RETURN[result.fills],  # what ic, rank_ic, deciles and spread are measured on
        "close_to_close": CLOSE_TO_CLOSE,  # what ic_close, rank_ic_close and spread_close are measured on
        **_horizon(result),
        **({} if result.group_ic is None else {"ic_by_group": result.group_ic.reset_index().to_dict(orient="records")}),
        "tearsheet": tearsheet(result),
    }


def _horizon(result: UniverseResult) -> dict[str, Any]:
    """With universe.horizon h > 1: what the ``*_h`` IC columns are measured on, and h."""
    h = result.config.universe.horizon
    return {"horizon_return": horizon_return(result.fills, h), "horizon": h} if h > 1 else {}


def tearsheet(result: UniverseResult) -> dict[str, Any]:
    """The tear sheet's figures: each scorer's turnover and IC decay, its IC and rank IC by month and their
    distribution, and each book's return by calendar year before and after costs (%)."""
    daily = result.daily_ic
    scorers = [str(n) for n in result.scores]
    return {
        "factor": [] if result.factor is None else result.factor.reset_index().to_dict(orient="records"),
        "by_month": {f"{n}:{k}": _nested(xs.by_month(daily[f"{n}:{k}"])) for n in scorers for k in ("ic", "rank_ic")
                     if daily[f"{n}:{k}"].notna().any()},
        "distribution": {f"{n}:{k}": _shape(daily[f"{n}:{k}"]) for n in scorers for k in ("ic", "rank_ic")
                         if daily[f"{n}:{k}"].notna().sum() > 3},
        "returns_by_year": {"net": _yearly(result.returns), "gross": _yearly(result.gross_returns)},
        "cumulative": cumulative(daily, result.equity, gross_equity(result)),
    }


def gross_equity(result: UniverseResult) -> pd.DataFrame:
    """Each book's value before costs: the engine's gross books (older results: their daily returns compounded)."""
    if result.gross_equity is not None:
        return result.gross_equity
    start = result.equity.iloc[:1]
    return pd.concat([start, start.iloc[0] * (1.0 + result.gross_returns).cumprod()])


def cumulative(daily: pd.DataFrame, equity: pd.DataFrame, gross: pd.DataFrame) -> dict[str, Any]:
    """Final cumulative returns (%) over the out-of-sample days: each scorer's deciles (their daily mean earnable
    returns compounded, ``scoring.crosssection.cumulative_returns``) and each book before and after costs."""
    quantiles = {scorer: {str(q): 100.0 * float(v) for q, v in xs.cumulative_returns(frame).iloc[-1].items()}
                 for scorer, frame in quantile_returns(daily).items()}
    books = {str(b): {"gross": 100.0 * float(gross[b].iloc[-1] / gross[b].iloc[0] - 1.0),
                      "net": 100.0 * float(equity[b].iloc[-1] / equity[b].iloc[0] - 1.0)} for b in equity.columns}
    return {"quantiles": quantiles, "books": books}


def _shape(daily: pd.Series) -> dict[str, float]:
    """Skew and excess kurtosis of a daily IC series (0 and 0 for a normal one)."""
    return {"skew": float(daily.skew()), "kurtosis": float(daily.kurt())}


def _nested(table: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """A year x month table as {year: {month: value}} (JSON null where no day)."""
    return {str(y): {str(m): (None if pd.isna(v) else float(v)) for m, v in row.items()} for y, row in table.iterrows()}


def _yearly(returns: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Each book's compounded return (%) by calendar year of its daily returns."""
    years = pd.DatetimeIndex(returns.index).year
    table = 100.0 * ((1.0 + returns).groupby(years).prod() - 1.0)
    return {str(book): {str(y): float(v) for y, v in table[book].items()} for book in table.columns}


def turnover_table(result: UniverseResult) -> pd.DataFrame:
    """Each book's one-way turnover traded per out-of-sample day (``engine.universe.traded_turnover``; the
    target weights' change, ``daily_turnover``, for a result that has no orders)."""
    if result.traded is not None:
        return result.traded.reindex(result.equity.index)
    return pd.DataFrame({name: daily_turnover(w) for name, w in result.weights.items()}).reindex(result.equity.index)


def _manifest(result: UniverseResult, run_dir: Path) -> dict[str, Any]:
    """The engine's manifest, the run's name and the calendar's first and last day, the data artifacts."""
    calendar = result.universe.calendar
    data = {**result.manifest["data"], "first": str(calendar[0].date()), "last": str(calendar[-1].date())}
    return {**result.manifest, "name": result.config.run.name, "data": data,
            "artifacts": {name: describe(run_dir / name) for name in UNIVERSE_DATA + _trained(result)}}


def _trained(result: UniverseResult) -> list[str]:
    """folds.csv when the run trained networks (its training log), else nothing."""
    return [] if result.training is None else [TRAINING_LOG]


def write_universe(result: UniverseResult, run_dir: Path) -> UniverseSummary:
    """Write every data artifact of a universe run; return the folder read back, manifest not yet complete."""
    atomic_write_text(run_dir / "config.toml", to_toml(result.config))
    csv = scores_long(result.scores).to_csv(index=False, lineterminator="\n").encode("utf-8")
    atomic_write_bytes(run_dir / "scores.csv.gz", gzip.compress(csv, mtime=0))  # mtime=0: same bytes every run
    atomic_write_csv(run_dir / "equity.csv", _dated(result.equity))
    atomic_write_csv(run_dir / "equity_gross.csv", _dated(gross_equity(result)))
    atomic_write_csv(run_dir / "ic.csv", _dated(result.daily_ic))
    atomic_write_csv(run_dir / "turnover.csv", _dated(turnover_table(result)))
    atomic_write_csv(run_dir / "symbols.csv", result.universe.summary.reset_index())
    atomic_write_json(run_dir / "metrics.json", metrics(result))
    if result.training is not None:
        atomic_write_csv(run_dir / TRAINING_LOG, result.training)
    return load_universe_summary(run_dir, _manifest(result, run_dir))


def mark_universe_complete(summary: UniverseSummary) -> None:
    """Mark the universe run complete once every artifact is still the file the run wrote."""
    verify(summary.run_dir, summary.manifest["artifacts"])
    finish_run_dir(summary.run_dir, summary.manifest)
    shutil.rmtree(summary.run_dir / "partial", ignore_errors=True)
