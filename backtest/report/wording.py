"""What the reports say: column labels and digits, and the sentences that state what the tests allow.

Shared by the console summary, the HTML report and `wfbt compare`, so that every output uses the same
words for the same test result: "better" or "worse" only when a test says so at the run's significance
level, otherwise "not distinguishable".
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from forecasters.registry import NAIVE

# How every trading figure ends: said under the console's trading table and the HTML report's
LAST_DAY_NOTE = ("positions still held on the last day (buy-and-hold's too) are sold at its close, paying fee, "
                 "slippage and tax; none is opened that day")

# metric key -> (column label, digits)
FORECAST_COLUMNS = {"rmse": ("RMSE", 2), "mae": ("MAE", 2), "mape": ("MAPE %", 2), "direction": ("dir. %", 1),
                    "theil_u": ("Theil U", 3), "dm_p": ("DM p", 3), "verdict": ("vs naive", 0),
                    "in_mcs": ("MCS", 0), "n": ("days", 0)}
TRADING_COLUMNS = {"total_return": ("return %", 2), "cagr": ("CAGR %", 2), "volatility": ("vol %", 2),
                   "sharpe": ("Sharpe", 2), "sortino": ("Sortino", 2), "max_drawdown": ("max DD %", 2),
                   "calmar": ("Calmar", 2), "trades": ("trades", 0), "win_rate": ("win %", 1),
                   "exposure": ("exposure %", 1), "fees_paid": ("fees", 0), "psr": ("PSR", 2), "dsr": ("DSR", 2),
                   "verdict": ("vs B&H", 0)}
VERDICT_MARKS = {"better": "better", "worse": "worse", "indistinguishable": "≈", "baseline": "—", "benchmark": "—"}
BASELINE_NAMES = (NAIVE, "drift", "linear")


def fmt(value: Any, digits: int = 2) -> str:
    """A table cell: numbers with thousands separators, verdicts as marks, booleans as ✓, missing as —."""
    if isinstance(value, str):
        return VERDICT_MARKS.get(value, value)
    if value is None or isinstance(value, bool) and not value:
        return "—" if value is None else ""
    if isinstance(value, bool):
        return "✓"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{v:,.{digits}f}" if math.isfinite(v) else "—"


def _pct(level: float) -> str:
    return f"{100 * level:g} %"


def _p(value: Any) -> str:
    v = float(value) if value is not None else math.nan
    return "n/a" if not math.isfinite(v) else ("< 0.001" if v < 0.001 else f"{v:.3f}")


def _names(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def forecast_sentences(table: pd.DataFrame, tests: dict[str, Any]) -> list[str]:
    """What the forecast tests allow one to say, in words: one sentence each."""
    if not tests:
        return []
    level = float(tests.get("significance", 0.05))
    rows = table[table["model"] != NAIVE]
    if "verdict" not in rows:
        return []
    better = rows[rows["verdict"] == "better"]
    worse = rows[rows["verdict"] == "worse"]
    spa = f"SPA p = {_p(tests.get('spa_p'))} over {len(rows)} forecasts"
    out = []
    if len(better):
        out.append(f"Better than the naive forecast at {_pct(level)}: "
                   + _names([f"{m} (DM p {_p(p)})" for m, p in zip(better["model"], better["dm_p"], strict=True)])
                   + f"; {spa}.")
    else:
        same = rows[rows["verdict"] == "indistinguishable"]
        span = (f"; DM p {_p(same['dm_p'].min())}–{_p(same['dm_p'].max())}" if len(same) > 1 else "")
        out.append(f"No forecast is better than the naive forecast at {_pct(level)} ({spa}{span}): "
                   + ("the others are not distinguishable from 'tomorrow = today'." if len(worse) else
                      "not distinguishable from 'tomorrow = today'."))
    if len(worse):
        out.append(f"Worse than naive at {_pct(level)} (Holm-adjusted over {len(rows)} forecasts): "
                   + _names([f"{m} (DM p {_p(p)})" for m, p in zip(worse["model"], worse["dm_p"], strict=True)]) + ".")
    if tests.get("mcs"):
        out.append(f"Model confidence set ({100 * (1 - float(tests.get('mcs_size', 0.1))):g} %): "
                   + ", ".join(tests["mcs"]) + ".")
    return out


def trading_sentences(table: pd.DataFrame, tests: dict[str, Any]) -> list[str]:
    """What the trading tests allow one to say, in words: one sentence each. ``table`` is indexed by strategy."""
    if not tests or "verdict" not in table:
        return []
    level = float(tests.get("significance", 0.05))
    bench = tests.get("benchmark", "buy_and_hold")
    better = [s for s in table.index if table.loc[s, "verdict"] == "better"]
    worse = [s for s in table.index if table.loc[s, "verdict"] == "worse"]
    spa = f"SPA p = {_p(tests.get('spa_p'))} over {tests.get('trials')} strategies"
    if better:
        out = [f"Higher Sharpe than {bench} at {_pct(level)}: "
               + _names([f"{s} (PSR {float(table.loc[s, 'psr']):.3f})" for s in better]) + f"; {spa}."]
    else:
        out = [f"No strategy beats {bench} at {_pct(level)} ({spa}): the others are not distinguishable from it"
               + (", or worse." if worse else ".")]
    if worse:
        out.append(f"Lower Sharpe than {bench} at {_pct(level)} (PSR, Holm-adjusted over {tests.get('trials')} "
                   f"strategies): {_names(worse)}.")
    candidates = table.drop(index=[bench], errors="ignore").dropna(subset=["sharpe"])
    if len(candidates):
        top = candidates["sharpe"].idxmax()
        out.append(f"Best Sharpe: {top} {float(candidates.loc[top, 'sharpe']):.2f}; deflated Sharpe ratio "
                   f"{fmt(candidates.loc[top, 'dsr'], 3)} after {tests.get('trials')} trials "
                   "(the chance its true Sharpe is above zero, given how many were tried).")
    if math.isfinite(float(tests.get("pbo") if tests.get("pbo") is not None else math.nan)):
        out.append(f"Probability of backtest overfitting: {float(tests['pbo']):.2f} (CSCV, {tests.get('pbo_blocks')} "
                   "blocks: how often the in-sample best falls to or below the median out of sample).")
    return out


def sweep_sentences(table: pd.DataFrame, tests: dict[str, Any]) -> list[str]:
    """What a sweep's tests allow one to say: trials, the best cell deflated, better models, PBO."""
    if not len(table):
        return ["No cell finished."]
    out = []
    top = table.iloc[0]
    out.append(f"Best cell: {top['cell']}, {top['best_strategy']} with Sharpe {fmt(top['sharpe'])}; deflated Sharpe "
               f"ratio {fmt(top['dsr'], 3)} counting all {tests.get('trials')} strategies of {tests.get('cells')} "
               "cells as trials.")
    better = []
    if "better_than_naive" in table:
        for cell, models in zip(table["cell"], table["better_than_naive"].fillna(""), strict=True):
            better += [f"{cell}:{m}" for m in str(models).split()]
    out.append("Better than the naive forecast within its cell (stepwise SPA and Diebold-Mariano at "
               f"{100 * float(tests.get('significance', 0.05)):g} %; not corrected for the number of cells): "
               + (_names(better) if better else "none") + ".")
    pbo = tests.get("pbo")
    if pbo is not None and math.isfinite(float(pbo)):
        out.append(f"Probability of backtest overfitting over all cells' strategies: {float(pbo):.2f} "
                   f"({tests.get('pbo_strategies')} strategies, {tests.get('pbo_days')} shared days).")
    return out


def trader_note(strategies: dict[str, Any], backtest: dict[str, Any]) -> str | None:
    """What the trading table's rules trade, when more than long, all-in and without stops (a run's config
    sections as plain data); None for today's rules."""
    direction, sizing = strategies.get("direction", "long"), strategies.get("sizing", "all_in")
    stops = {k: strategies.get(k) for k in ("stop_loss", "take_profit", "trailing_stop") if strategies.get(k)}
    if direction == "long" and sizing == "all_in" and not stops:
        return None
    parts = [f"{direction} (buy-and-hold long, all in, no stop)"]
    if direction != "long":
        parts.append(f"shorts pay {100 * float(backtest.get('borrow', 0.005)):g} % a year borrow, daily")
    parts.append(f"sized {sizing} at the entry, not rebalanced")
    if stops:
        said = ", ".join(f"{k.replace('_', ' ')} {100 * float(v):g} %" for k, v in stops.items())
        parts.append(f"{said}: vectorbt's stops from the day after the entry, filled at the stop level (the open "
                     "if it opened through it) less slippage")
    return "rules: " + "; ".join(parts)
