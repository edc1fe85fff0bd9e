"""A sweep's leaderboard: one row per finished cell, with statistics that count every combination tried.

The deflated Sharpe ratio of each cell's best strategy counts as trials every strategy of every cell
(buy-and-hold excepted), with the variance of all their Sharpe ratios; the probability of backtest
overfitting is computed over all cells' strategies together, on the days they share.

A universe cell's strategies are its books ("scorer:book", the rule books), its benchmark the
equal-weighted universe: its row names the best book by Sharpe, deflated over every book of every cell,
the benchmark's Sharpe (``equal_weight_sharpe``) and the IC figures of the best book's scorer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtest.core.config import BacktestSection, StatisticsSection
from backtest.core.errors import RunDirError
from backtest.kinds import home_of_folder
from backtest.report.wording import BASELINE_NAMES
from backtest.runs.store import RunSummary
from backtest.scoring.significance import deflated_sharpe, probability_of_backtest_overfitting, sharpe, trial_variance
from forecasters.registry import NAIVE


@dataclass
class CellRun:
    """What the leaderboard reads of one finished cell, single-symbol or universe."""

    trading: pd.DataFrame  # one row per strategy or book: sharpe, ...
    equity: pd.DataFrame  # days x strategies
    config: dict[str, Any]
    benchmark: str  # buy_and_hold, or equal_weight in a universe
    forecast: pd.DataFrame | None = None  # a single-symbol cell's forecast table
    ic: pd.DataFrame | None = None  # a universe cell's IC table (scorer rows)


def read_cell(path: Path) -> CellRun:
    """A finished cell's folder, proven complete and unchanged (a RunDirError says why not)."""
    kind = home_of_folder(path)
    s = kind.read(path)  # the reader `wfbt show` uses: checksums, tables, equity
    config = s.config() if callable(s.config) else s.config
    return CellRun(s.trading, s.equity, config, kind.benchmark, forecast=getattr(s, "forecast", None),
                   ic=getattr(s, "ic", None))


def daily_returns(summary: RunSummary | CellRun) -> pd.DataFrame:
    """Each strategy's daily returns from its saved equity, the first day against the initial cash."""
    config = summary.config() if callable(summary.config) else summary.config
    cash = float(config.get("backtest", {}).get("init_cash", BacktestSection.init_cash))
    values = pd.concat([pd.DataFrame([[cash] * summary.equity.shape[1]], columns=summary.equity.columns),
                        summary.equity.reset_index(drop=True)], ignore_index=True)
    returns = values.pct_change().iloc[1:]
    returns.index = summary.equity.index
    return returns


def _scorer_columns(ic: pd.DataFrame, best: str | None) -> dict[str, Any]:
    """A universe cell's best book's scorer and its IC figures (a standalone rule book has no scorer)."""
    scorer = best.rpartition(":")[0] if best else ""
    if scorer not in ic.index:
        return {}
    row = ic.loc[scorer]
    return {"best_scorer": scorer, "ic": row.get("ic", math.nan), "rank_ic": row.get("rank_ic", math.nan),
            "ic_t_hac": row.get("t_hac", math.nan)}


def _model_columns(forecast: pd.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _, row in forecast[forecast["model"] != NAIVE].iterrows():
        out[f"theil_u:{row['model']}"] = row["theil_u"]
        out[f"dm_p:{row['model']}"] = row.get("dm_p", math.nan)
    if "verdict" in forecast:
        out["better_than_naive"] = " ".join(forecast.loc[forecast["verdict"] == "better", "model"].astype(str))
    networks = forecast[~forecast["model"].isin(BASELINE_NAMES)]
    if len(networks):
        best = networks.loc[networks["theil_u"].idxmin()]
        out.update(best_model=best["model"], theil_u=best["theil_u"], dm_p=best.get("dm_p", math.nan),
                   forecast_verdict=best.get("verdict", ""))
    return out


def leaderboard(root: Path, cells: list[dict[str, Any]], stats: StatisticsSection | None = None
                ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The table (sorted by the best strategy's Sharpe) and the sweep-wide tests, from the cells' run folders."""
    stats = stats or StatisticsSection()
    finished = [c for c in cells if c["status"] in ("done", "skipped")]
    summaries = {c["name"]: read_cell(root / c["name"]) for c in finished}
    returns = {name: daily_returns(s) for name, s in summaries.items()}
    trial_sharpes = np.array([sharpe(returns[name][col].to_numpy()) for name, s in summaries.items()
                              for col in returns[name] if col != s.benchmark])
    rows = []
    for cell in finished:
        s, r = summaries[cell["name"]], returns[cell["name"]]
        candidates = s.trading.drop(index=[s.benchmark], errors="ignore").dropna(subset=["sharpe"])
        best = candidates["sharpe"].idxmax() if len(candidates) else None
        rows.append({
            "cell": cell["name"], "symbol": cell["symbol"], **cell["values"],
            "best_strategy": best, "sharpe": candidates["sharpe"].max() if best else math.nan,
            "dsr": deflated_sharpe(r[best].to_numpy(), trial_sharpes) if best else math.nan,
            f"{s.benchmark}_sharpe": s.trading["sharpe"].get(s.benchmark, math.nan),
            **(_model_columns(s.forecast) if s.forecast is not None else {}),
            **(_scorer_columns(s.ic, best) if s.ic is not None else {}),
        })
    table = pd.DataFrame(rows)
    if len(table):
        table = table.sort_values(["sharpe", "cell"], ascending=[False, True], na_position="last", kind="stable")
    return table.reset_index(drop=True), _sweep_tests(returns, trial_sharpes, stats)


def _sweep_tests(returns: dict[str, pd.DataFrame], trial_sharpes: np.ndarray, stats: StatisticsSection
                 ) -> dict[str, Any]:
    matrix = pd.concat({name: r for name, r in returns.items()}, axis=1, join="inner") if returns else pd.DataFrame()
    pbo = probability_of_backtest_overfitting(matrix.to_numpy(), stats.pbo_blocks)
    return {
        "cells": len(returns), "trials": len(trial_sharpes),
        "sharpe_variance": trial_variance(trial_sharpes) if len(trial_sharpes) > 1 else math.nan,
        "pbo": pbo.pbo, "pbo_blocks": stats.pbo_blocks, "pbo_strategies": matrix.shape[1],
        "pbo_days": matrix.shape[0], "significance": stats.significance,
    }


def top_equity(root: Path, table: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The best strategy of the top ``n`` cells and their symbols' buy-and-hold, rebased to 100, on their shared
    days. Cells on one symbol hold the same buy-and-hold: it is drawn once, as "SYMBOL:buy_and_hold"."""
    curves = {}
    for _, row in table.head(n).iterrows():
        if not isinstance(row["best_strategy"], str):
            continue
        run = read_cell(root / row["cell"])
        equity, benchmark = run.equity, run.benchmark
        if row["best_strategy"] in equity:
            curves[f"{row['cell']}:{row['best_strategy']}"] = 100 * equity[row["best_strategy"]] / equity[
                row["best_strategy"]].iloc[0]
        bench = f"{_symbol_label(str(row.get('symbol', row['cell'])))}:{benchmark}"
        if bench in curves and not curves[bench].index.equals(equity.index):  # another period: its own curve
            bench = f"{row['cell']}:{benchmark}"
        if benchmark in equity and bench not in curves:
            curves[bench] = 100 * equity[benchmark] / equity[benchmark].iloc[0]
    return pd.concat(curves, axis=1, join="inner") if curves else pd.DataFrame()


def _symbol_label(symbol: str) -> str:
    """A symbol as a legend names it: a CSV file by its stem ("AAPL_daily"), others as given ("sample:sp500")."""
    return Path(symbol[4:]).stem if symbol.startswith("csv:") else symbol


def write_leaderboard(root: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """leaderboard.csv, leaderboard.html and the sweep-wide tests in sweep.json, from the cells' run folders."""

    from backtest.core.files import atomic_write_csv, atomic_write_json

    state = json.loads((root / "sweep.json").read_text(encoding="utf-8"))
    table, tests = leaderboard(root, state["cells"], _statistics(root, state["cells"]))
    atomic_write_csv(root / "leaderboard.csv", table)
    from backtest.report import html  # plotly loads only when a page is written

    html.write_leaderboard_page(root, table, tests, top_equity(root, table))
    atomic_write_json(root / "sweep.json", {**state, "statistics": tests})
    return table, tests


def read_leaderboard(root: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The saved leaderboard and tests of a sweep folder, for `wfbt show`."""


    try:
        state = json.loads((root / "sweep.json").read_text(encoding="utf-8"))
        table = pd.read_csv(root / "leaderboard.csv", float_precision="round_trip")
    except (OSError, ValueError) as exc:
        raise RunDirError(f"sweep folder {str(root)!r} has no readable leaderboard ({exc}). Finish it with "
                          "`wfbt sweep SWEEP.toml --resume`.") from None
    return table, state.get("statistics", {})


def _statistics(root: Path, cells: list[dict[str, Any]]) -> StatisticsSection:
    """The significance settings the cells ran with (the base config's)."""
    import dataclasses

    for cell in cells:
        if cell["status"] in ("done", "skipped"):
            section = read_cell(root / cell["name"]).config.get("statistics", {})
            known = {f.name for f in dataclasses.fields(StatisticsSection)}
            return StatisticsSection(**{k: v for k, v in section.items() if k in known})
    return StatisticsSection()
