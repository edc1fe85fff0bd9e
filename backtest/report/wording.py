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
from strategies.signals import RULES

# How every trading figure ends: said under the console's trading table and the HTML report's
LAST_DAY_NOTE = ("positions still held on the last day (buy-and-hold's too) are sold at its close, paying fee, "
                 "slippage and tax; none is opened that day")

# Said under the trading tables: PSR and DSR measure against different bars, so either may be the larger
PSR_DSR_NOTE = ("PSR: probability the true Sharpe beats buy-and-hold's; DSR: probability it beats the best "
                "Sharpe that as many strategies without skill would show by luck (a different bar, so DSR is "
                "above PSR when buy-and-hold's Sharpe is the higher bar)")
DIRECTION_NOTE = "dir. %: share of days the forecast had the sign of the next move right"

# metric key -> (column label, digits)
FORECAST_COLUMNS = {"rmse": ("RMSE", 2), "mae": ("MAE", 2), "mape": ("MAPE %", 2), "direction": ("dir. %", 1),
                    "theil_u": ("Theil U", 3), "dm_p": ("DM p", 3), "verdict": ("vs naive", 0),
                    "in_mcs": ("MCS", 0), "n": ("days", 0)}
TRADING_COLUMNS = {"total_return": ("return %", 2), "cagr": ("CAGR %", 2), "volatility": ("vol %", 2),
                   "sharpe": ("Sharpe", 2), "sortino": ("Sortino", 2), "max_drawdown": ("max DD %", 2),
                   "calmar": ("Calmar", 2), "trades": ("trades", 0), "win_rate": ("win %", 1),
                   "exposure": ("exposure %", 1), "fees_paid": ("fees", 0), "psr": ("PSR", 2), "dsr": ("DSR", 2),
                   "verdict": ("vs B&H", 0)}
PAIRED_FORECAST_COLUMNS = {"rmse_a": ("RMSE A", 2), "rmse_b": ("RMSE B", 2), "dm_p": ("DM p", 3),
                           "dm_p_holm": ("Holm p", 3), "verdict": ("A vs B", 0), "days": ("days", 0)}
# the difference and its t first: a narrow terminal drops the two runs' own ICs before them
PAIRED_IC_COLUMNS = {"ic_diff": ("IC A - B", 4), "t_hac": ("t HAC", 2), "ic_a": ("IC A", 4), "ic_b": ("IC B", 4),
                     "ic_p": ("p", 3), "ic_p_holm": ("Holm p", 3), "verdict": ("A vs B", 0), "days": ("days", 0)}
# the rank IC's paired table, under the IC's column names (paired_ic_kind): its figures say which IC they are
PAIRED_RANK_IC_COLUMNS = {**PAIRED_IC_COLUMNS, "ic_diff": ("rank IC A - B", 4), "ic_a": ("rank IC A", 4),
                          "ic_b": ("rank IC B", 4)}
# the paired IC table's two kinds (backtest.runs.differences.paired_ics), the rank IC first: the books trade on ranks
PAIRED_IC_KINDS = (("rank IC", "rank_", PAIRED_RANK_IC_COLUMNS), ("IC", "", PAIRED_IC_COLUMNS))
PAIRED_TRADING_COLUMNS = {"sharpe_a": ("Sharpe A", 2), "sharpe_b": ("Sharpe B", 2), "sr_p": ("p", 3),
                          "sr_p_holm": ("Holm p", 3), "verdict": ("A vs B", 0), "days": ("days", 0)}
# the trader's figures (backtest.scoring.traders), after today's columns and below them in every priority order
TRADER_COLUMNS = {"turnover": ("turnover/yr", 1), "holding_days": ("hold days", 1), "profit_factor": ("PF", 2),
                  "expectancy": ("expect.", 0), "exposure_long": ("long %", 1), "exposure_short": ("short %", 1),
                  "alpha": ("alpha %", 2), "beta": ("beta", 2), "information_ratio": ("IR", 2),
                  "tracking_error": ("TE %", 2), "break_even_cost": ("break-even", 4)}
TRADER_NOTE = ("turnover/yr: traded value (buys + sells) over the mean value, per year; hold days: days held per "
               "trade; PF: profit factor (gross profit / gross loss); expect.: mean P&L per trade (cash); long %, "
               "short %: days held long, short; alpha (yearly), beta, IR (information ratio, yearly) and TE "
               "(tracking error, yearly) against buy-and-hold's daily returns; break-even: the "
               "round-trip cost (a fraction of traded value: 0.0100 = 1 %) at which the mean daily return over "
               "buy-and-hold's would be zero")
VERDICT_MARKS = {"better": "better", "worse": "worse", "indistinguishable": "≈", "baseline": "—", "benchmark": "—"}
# the IC tested against zero (scoring.crosssection.ic_verdicts)
VERDICT_MARKS.update({"IC > 0": "> 0", "IC < 0": "< 0", "rank IC > 0": "> 0", "rank IC < 0": "< 0",
                      "not distinguishable from zero": "≈ 0", "undefined": "—"})
IC_VERDICT_NOTE = ("rank vs 0 (the verdict: the books trade on ranks) and IC vs 0: the mean rank IC's and IC's HAC "
                   "t-tests (rank t, IC t), two-sided, each Holm-adjusted over the scorers; > 0 or < 0 only below "
                   "{level}, ≈ 0: not distinguishable from zero")
BASELINE_NAMES = (NAIVE, "drift", "linear")


def legs_note(universe: dict[str, Any]) -> str:
    """The long_short book's exposure as the console and the HTML say it, ending "; " ("" without the book).
    Folders from before universe.leg_gross held half the value in each leg."""
    if "long_short" not in universe.get("books", ["long_short"]):
        return ""
    leg = float(universe.get("leg_gross", 0.5))
    paper = ", Fischer & Krauss's accounting" if leg == 1.0 else ""
    return (f"long_short: {100 * leg:g} % of the value long and {100 * leg:g} % short, the short proceeds "
            f"financing the long (gross {2 * leg:g}{paper}); ")


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


def strategy_note(names: list[str], combine: str = "all") -> str:
    """What the strategy names in a table mean: "MODEL:vote = hold while at least two of ..."; one clause
    per per-model rule present (``combine``: the run's strategies.combine, how the joined rules join)."""
    rules = {str(n).split(":", 1)[1] for n in names if ":" in str(n)}
    joined = {"all": "both must say hold", "any": "either may"}.get(combine, combine)
    parts = []
    for rule in (r for r in RULES if r in rules):
        text = RULES[rule].text.split(" (combine")[0]
        parts.append(f"MODEL:{rule} = {text}" + (f" ({joined})" if "+" in rule else ""))
    return "; ".join(parts) + ("; `wfbt strategies` lists every rule" if parts else "")


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
                   "(the chance its true Sharpe is above the best that as many strategies without skill would "
                   "show by luck).")
    if math.isfinite(float(tests.get("pbo") if tests.get("pbo") is not None else math.nan)):
        out.append(f"Probability of backtest overfitting: {float(tests['pbo']):.2f} (CSCV, {tests.get('pbo_blocks')} "
                   "blocks: how often the in-sample best falls to or below the median out of sample).")
    return out


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0


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
        bench = _count(tests.get("pbo_strategies")) - _count(tests.get("trials"))
        why = f": the {tests.get('trials')} trials and {bench} buy-and-hold" if bench > 0 else ""
        out.append(f"Probability of backtest overfitting over all cells' strategies: {float(pbo):.2f} "
                   f"({tests.get('pbo_strategies')} strategies{why}, {tests.get('pbo_days')} shared days).")
    return out


def _pairs(frame: pd.DataFrame, name: str, verdict: str, word: str) -> list[str]:
    """ "a's lstm better than b's" for every pair with ``verdict``."""
    rows = frame[frame["verdict"] == verdict]
    return [f"{a}'s {n} {word} than {b}'s" for a, b, n in zip(rows["run_a"], rows["run_b"], rows[name], strict=True)]


def paired_sentences(forecast: pd.DataFrame, trading: pd.DataFrame, level: float) -> list[str]:
    """What the paired tests of run A against run B allow one to say: one sentence per table."""
    return _paired_sentences([(forecast, "model", "forecast", "Diebold-Mariano", ("better", "worse")),
                              (trading, "strategy", "Sharpe ratio", "Ledoit-Wolf", ("higher Sharpe", "lower Sharpe"))],
                             level)


def paired_ic_kind(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """One kind of IC of the paired IC table (``prefix`` "rank_" or ""), under the IC's column names
    (PAIRED_IC_COLUMNS), on the rows that have it."""
    pair = ["run_a", "run_b", "scorer"]
    own = [c for c in frame.columns if c not in pair and c.startswith("rank_") == bool(prefix)]
    out = frame[[c for c in pair if c in frame] + own].rename(columns=lambda c: c.removeprefix(prefix))
    return out[out["days"].notna()] if "days" in out else out


def universe_paired_sentences(ic: pd.DataFrame, trading: pd.DataFrame, level: float) -> list[str]:
    """What the paired tests of universe run A against run B allow one to say: one sentence per table, the rank
    IC's first."""
    scores = [(paired_ic_kind(ic, prefix), "scorer", kind, f"Newey-West t of the daily {kind} difference",
               (f"higher {kind}", f"lower {kind}")) for kind, prefix, _ in PAIRED_IC_KINDS]
    return _paired_sentences([*scores, (trading, "book", "Sharpe ratio", "Ledoit-Wolf",
                                        ("higher Sharpe", "lower Sharpe"))], level)


def _paired_sentences(tables: list[tuple[pd.DataFrame, str, str, str, tuple[str, str]]], level: float) -> list[str]:
    """One sentence per (frame, name column, what, test, (better word, worse word)) with pairs tested."""
    out = []
    for frame, name, what, test, words in tables:
        tested = frame[frame["verdict"] != "identical"] if len(frame) else frame
        if not len(tested):
            continue
        found = _pairs(frame, name, "better", words[0]) + _pairs(frame, name, "worse", words[1])
        family = f"{test}, Holm-adjusted over {len(tested)} pair{'' if len(tested) == 1 else 's'}"
        if found:
            rest = "; the other pairs are not distinguishable." if len(found) < len(tested) else "."
            out.append(f"Run against run, {what}s at {_pct(level)} ({family}): " + _names(found) + rest)
        else:
            out.append(f"No run's {what} is better than another's at {_pct(level)} ({family}): "
                       "not distinguishable.")
    return out


def terms_line(manifest: dict[str, Any]) -> str:
    """What was traded and how it was filled, from the manifest ("" for a run saved before these keys)."""
    parts = [str(manifest[k]) for k in ("prices", "fills") if manifest.get(k)]
    if manifest.get("risk_free"):
        parts.append(f"risk-free rate {100 * float(manifest['risk_free']):g} %/yr")
    return " · ".join(parts)


# A study-protocol run (walkforward.protocol = "study"): the study's own numbers, in its scaler's units
STUDY_COLUMNS = {"rmse_scaled": ("RMSE scaled", 4), "mse_scaled": ("MSE scaled", 6), "mae_scaled": ("MAE scaled", 4),
                 "rmse": ("RMSE", 2), "mae": ("MAE", 2), "theil_u": ("Theil U", 3), "n": ("days", 0)}
LOOK_AHEAD_WARNING = ("LOOK-AHEAD: the scalers were fit on the whole series, test days included "
                      "(forecast.scaler_fit = \"whole_series\", as the study did); these numbers reproduce the study, "
                      "they are not an out-of-sample result")


def study_lines(study: dict[str, Any]) -> list[str]:
    """What a study-protocol run was: its one split, its scaler, and naive's scaled error beside the best model's."""
    if not study:
        return []
    part = {k: study[k] for k in ("train", "val", "test")}
    split = ", ".join(f"{k} {v['rows']} rows {v['first']} → {v['last']}" for k, v in part.items() if v["rows"])
    fr = study["fractions"]
    lines = [f"Study protocol: one chronological split {fr['train']:g}/{fr['val']:g}/{fr['test']:g} ({split}); "
             f"{study['scaler']} scaler fit on {'the whole series' if study['look_ahead'] else 'the training rows'}, "
             f"1 scaled unit = {study['scale']:.4g} in price."]
    rows = {r["model"]: r for r in study["table"]}
    models = [r for m, r in rows.items() if m not in BASELINE_NAMES and _finite(r.get("rmse_scaled"))]
    if NAIVE in rows and models:
        best = min(models, key=lambda r: r["rmse_scaled"])
        lines.append(f"On the test block naive scores RMSE {fmt(rows[NAIVE]['rmse_scaled'], 4)} scaled "
                     f"(MSE {fmt(rows[NAIVE]['mse_scaled'], 6)}); the best network, {best['model']}, "
                     f"{fmt(best['rmse_scaled'], 4)} (Theil U {fmt(best['theil_u'], 3)}).")
    return lines


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


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
