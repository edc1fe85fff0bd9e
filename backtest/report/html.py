"""The pictures: a self-contained plotly report per run, an equity PNG, and the comparison page.

Every page carries plotly.js inline, so it opens offline from a file:// path. Numbers are rounded
to what a chart can show (prices to cents, losses to 4 significant digits) to keep the pages light.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from backtest.core.files import atomic_write_text
from backtest.report.pages import figures_html, page, table_html
from backtest.report.wording import (
    FORECAST_COLUMNS,
    LAST_DAY_NOTE,
    LOOK_AHEAD_WARNING,
    PSR_DSR_NOTE,
    STUDY_COLUMNS,
    TRADER_COLUMNS,
    TRADER_NOTE,
    TRADING_COLUMNS,
    forecast_sentences,
    strategy_note,
    study_lines,
    terms_line,
    trader_note,
    trading_sentences,
)
from backtest.runs.store import RunSummary
from forecasters.registry import NAIVE
from strategies.signals import BENCHMARK

if TYPE_CHECKING:  # only the type: showing a run must not load the statistics
    from backtest.runs.compare import Comparison

SHOWN = 5  # strategies drawn at first besides buy-and-hold; the rest start hidden (click the legend)


SEED_COLUMNS = {"theil_u_seed_min": ("Theil U, best seed", 3), "theil_u_seed_max": ("Theil U, worst seed", 3)}


def _sentences(lines: list[str]) -> str:
    return "".join(f"<p class='verdict'>{html.escape(s)}</p>" for s in lines)


def _dates(index: pd.Index) -> list[str]:
    return [f"{d:%Y-%m-%d}" for d in index]


def _is_bench(name: str) -> bool:
    """buy-and-hold of a run ("buy_and_hold") or of one run among several ("run:buy_and_hold")."""
    return name == BENCHMARK or name.endswith(f":{BENCHMARK}")


def shown_curves(names: list[str], ranked: list[str]) -> set[str]:
    """The benchmark(s) and the best ``SHOWN`` other curves by rank; everything else starts hidden."""
    best = [s for s in ranked if not _is_bench(s)][:SHOWN]
    return {n for n in names if _is_bench(n)} | (set(best) & set(names))


def _log_toggle() -> list[dict[str, Any]]:
    return [{"type": "buttons", "direction": "left", "x": 0, "y": 1.12, "xanchor": "left", "showactive": True,
             "buttons": [{"label": "linear", "method": "relayout", "args": [{"yaxis.type": "linear"}]},
                         {"label": "log scale", "method": "relayout", "args": [{"yaxis.type": "log"}]}]}]


def drawdowns(equity: pd.DataFrame) -> pd.DataFrame:
    return equity / equity.cummax() - 1.0


def _curve_traces(frame: pd.DataFrame, ranked: list[str], drawdown: bool) -> list[go.Scatter]:
    """One line per column, benchmarks first: one benchmark bold black, several dotted; others thin."""
    shown = shown_curves(list(frame.columns), ranked)
    n_bench = sum(_is_bench(c) for c in frame.columns)
    x = _dates(frame.index)
    traces = []
    for name in sorted(frame.columns, key=lambda c: (not _is_bench(c), c not in shown, c)):
        bench = _is_bench(name)
        single = bench and n_bench == 1
        line = ({"width": 1.5 if drawdown else 3, "color": "black"} if single
                else {"width": 2.5, "dash": "dot"} if bench else {"width": 1 if drawdown else 1.5})
        traces.append(go.Scatter(
            x=x, y=np.round(frame[name].to_numpy(), 3), name=name, mode="lines", line=line,
            fill="tozeroy" if single and drawdown else None, fillcolor="rgba(0,0,0,0.12)" if single else None,
            visible=True if name in shown else "legendonly",
        ))
    return traces


def equity_figure(equity: pd.DataFrame, ranked: list[str], title: str,
                  y_title: str = "portfolio value") -> go.Figure:
    fig = go.Figure(_curve_traces(equity, ranked, drawdown=False))
    fig.update_layout(title=title, updatemenus=_log_toggle(), height=520, hovermode="x unified",
                      yaxis_title=y_title, legend={"font": {"size": 10}}, margin={"t": 90})
    return fig


def drawdown_figure(equity: pd.DataFrame, ranked: list[str]) -> go.Figure:
    fig = go.Figure(_curve_traces(drawdowns(equity) * 100, ranked, drawdown=True))
    fig.update_layout(title="Drawdown from the running peak (%)", height=380, hovermode="x unified",
                      yaxis_title="%", legend={"font": {"size": 10}})
    return fig


def prediction_figure(predictions: pd.DataFrame, folds: pd.DataFrame) -> go.Figure:
    """Actual close and each model's out-of-sample forecast, with the test folds' first days marked."""
    fig = go.Figure()
    first_model = predictions["model"].iloc[0]
    actual = predictions[predictions["model"] == first_model]
    fig.add_trace(go.Scatter(x=_dates(actual["date"]), y=np.round(actual["actual"].to_numpy(), 2), name="actual close",
                             mode="lines", line={"color": "black", "width": 2}))
    for i, (model, g) in enumerate(predictions.groupby("model", sort=False)):
        fig.add_trace(go.Scatter(x=_dates(g["date"]), y=np.round(g["predicted"].to_numpy(), 2), name=model,
                                 mode="lines", line={"width": 1}, visible=True if i < 2 else "legendonly"))
    starts = sorted(set(folds["test_start"]))
    for d in starts:
        fig.add_vline(x=f"{d:%Y-%m-%d}", line={"color": "#bbb", "width": 1, "dash": "dot"})
    fig.update_layout(title=f"Predicted vs actual close, out of sample (dotted lines: the {len(starts)} folds' "
                            "first test days; each fold's model was trained only on data before its line)",
                      height=480, hovermode="x unified", legend={"font": {"size": 10}})
    return fig


INSAMPLE_FOLDS = 6  # folds drawn in the in-sample figure (evenly spaced, first and last kept); all in insample.csv.gz


def _drawn_folds(folds: list[int]) -> list[int]:
    """At most INSAMPLE_FOLDS of ``folds``, evenly spaced, the first and the last included."""
    if len(folds) <= INSAMPLE_FOLDS:
        return folds
    picks = np.linspace(0, len(folds) - 1, INSAMPLE_FOLDS).round().astype(int)
    return [folds[i] for i in dict.fromkeys(picks.tolist())]


def insample_figure(insample: pd.DataFrame, predictions: pd.DataFrame) -> go.Figure:
    """The studies' picture per fold: the actual close with each network's training, validation and test
    predictions; a menu picks the fold (a study-protocol run has one)."""
    fig, owner = go.Figure(), []
    folds = _drawn_folds(sorted(set(insample["fold"]))) if len(insample) else []
    for fold in folds:
        fit = insample[insample["fold"] == fold]
        test = predictions[(predictions["fold"] == fold) & predictions["model"].isin(set(fit["model"]))]
        days = pd.concat([fit[["date", "actual"]], test[["date", "actual"]]])
        days = days.drop_duplicates("date").sort_values("date")
        fig.add_trace(go.Scatter(x=_dates(days["date"]), y=np.round(days["actual"].to_numpy(), 2), name="actual",
                                 mode="lines", line={"color": "black", "width": 2}, visible=fold == folds[0]))
        owner.append(fold)
        for model, g in pd.concat([fit, test.assign(split="test")]).groupby(["model", "split"], sort=False):
            fig.add_trace(go.Scatter(x=_dates(g["date"]), y=np.round(g["predicted"].to_numpy(), 2),
                                     name=f"{model[0]} {model[1]}", mode="lines", line={"width": 1},
                                     visible=fold == folds[0]))
            owner.append(fold)
    buttons = [{"label": f"fold {f}", "method": "update", "args": [{"visible": [o == f for o in owner]}]}
               for f in folds]
    fig.update_layout(title="In sample and out: each network's training, validation and test predictions against "
                            "the actual close (the studies' picture), one fold at a time",
                      updatemenus=[{"buttons": buttons, "x": 0, "y": 1.15, "xanchor": "left"}] if len(buttons) > 1
                      else [], height=480, hovermode="x unified", legend={"font": {"size": 10}}, margin={"t": 90})
    return fig


def _study_section(summary: RunSummary) -> list[str]:
    """A study-protocol run's own numbers (scaled units beside price units, naive first) and the look-ahead flag."""
    out = [f"<p class='warning' id='look-ahead'>⚠ {html.escape(LOOK_AHEAD_WARNING)}.</p>"] if summary.look_ahead else []
    if summary.study:
        rows = pd.DataFrame(summary.study["table"])
        out += ["<h2>As published: the study's split and units</h2>",
                table_html(rows, STUDY_COLUMNS, "model", highlight=NAIVE), _sentences(study_lines(summary.study))]
    return out


def _parse_curve(text: Any) -> list[float]:
    if not isinstance(text, str) or not text.strip():
        return []
    return [float(v) for v in text.split()]


def _trained(folds: pd.DataFrame) -> list[str]:
    """The models of the fold log with a loss curve of at least one epoch, in their order."""
    has_curve = [any(np.isfinite(_parse_curve(row.get(f"{k}_curve"))).any() for k in ("train", "val"))
                 for _, row in folds.iterrows()]
    return list(dict.fromkeys(folds.loc[has_curve, "model"])) if len(folds) else []


def loss_figure(folds: pd.DataFrame) -> go.Figure:
    """Training (dashed) and validation (solid) loss per epoch for every fold; a menu picks the model. Only
    trained networks are listed (the baselines linear and drift have no epochs); it opens on the first."""
    fig = go.Figure()
    models = _trained(folds)
    owner, longest = [], 1
    for model in models:
        for _, row in folds[folds["model"] == model].iterrows():
            for kind, dash in (("train", "dash"), ("val", "solid")):
                curve = _parse_curve(row.get(f"{kind}_curve"))
                if not curve or not np.isfinite(curve).any():
                    continue
                fig.add_trace(go.Scatter(
                    x=list(range(1, len(curve) + 1)), y=[float(f"{v:.4g}") for v in curve], mode="lines",
                    name=f"fold {row['fold']} {kind}", legendgroup=f"fold {row['fold']}",
                    line={"dash": dash, "width": 1}, visible=model == models[0],
                ))
                owner.append(model)
                longest = max(longest, len(curve))
    buttons = [{"label": m, "method": "update",
                "args": [{"visible": [o == m for o in owner]}, {"title": f"Loss per epoch, {m} (scaled units)"}]}
               for m in models]
    fig.update_layout(title=f"Loss per epoch, {models[0]} (scaled units)" if models else "Loss per epoch",
                      updatemenus=[{"buttons": buttons, "x": 0, "y": 1.15, "xanchor": "left"}] if buttons else [],
                      xaxis_title="epoch", yaxis_title="MSE", yaxis_type="log", height=420,
                      showlegend=False, margin={"t": 90})
    # Epochs are whole numbers: ticks on whole steps (plotly's automatic ticks fall on halves for a few
    # epochs, which an integer format then prints twice: 1, 1, 2, 2).
    fig.update_xaxes(tickmode="linear", tick0=1, dtick=max(1, math.ceil(longest / 10)))
    return fig


def _trader_section(trading: pd.DataFrame) -> list[str]:
    """The trader's figures table, when the run has them (runs saved before they existed do not)."""
    if not any(c in trading.columns for c in TRADER_COLUMNS):
        return []
    return ["<h3>The figures traders read</h3>", table_html(trading, TRADER_COLUMNS, "strategy", highlight=BENCHMARK),
            f"<p class='note'>{html.escape(TRADER_NOTE)}.</p>"]


def _rules(summary: RunSummary) -> str:
    """The trader rules note (direction, sizing, stops, borrow) the console shows too; empty for a long, all-in
    run without stops."""
    config = summary.config()
    rules = trader_note(config.get("strategies", {}), config.get("backtest", {}))
    return f" {html.escape(rules[:1].upper() + rules[1:])}." if rules else ""


def report_html(summary: RunSummary) -> str:
    m = summary.manifest
    predictions, folds = summary.predictions(), summary.folds()
    ranked = list(summary.trading.index)
    trading = summary.trading.reset_index()
    oos = m.get("out_of_sample", {})
    data = m.get("data", {})
    by_fold = summary.forecast_by_fold.copy()
    body = [
        f"<h1>wfbt run <code>{html.escape(str(m.get('name', summary.run_dir.name)))}</code></h1>",
        f"<p>{html.escape(str(data.get('source')))}:{html.escape(str(data.get('symbol') or data.get('path')))}, "
        f"{data.get('rows')} rows {data.get('first')} → {data.get('last')} · {m.get('folds')} walk-forward folds · "
        f"out of sample {oos.get('first')} → {oos.get('last')} ({oos.get('days')} days) · seed {m.get('seed')} · "
        f"device {html.escape(str(m.get('device')))} · execution {html.escape(summary.execution)}</p>",
        f"<p>{html.escape(terms_line(m))}</p>" if terms_line(m) else "",
        *_study_section(summary),
    ]
    figs = figures_html([
        ("equity", equity_figure(summary.equity, ranked, "Equity after fees, tax and slippage (click the legend "
                                                          "to show or hide a strategy)")),
        ("drawdown", drawdown_figure(summary.equity, ranked)),
        ("predictions", prediction_figure(predictions, folds)),
        ("losses", loss_figure(folds)),
        ("insample", insample_figure(summary.insample(), predictions)),
    ])
    body += ["<h2>Equity</h2>", figs[0], figs[1],
             "<h2>Trading, out of sample (sorted by Sharpe; bold: the buy-and-hold benchmark)</h2>",
             table_html(trading, TRADING_COLUMNS, "strategy", highlight=BENCHMARK),
             f"<p class='note'>{html.escape(PSR_DSR_NOTE)}. "
             f"{html.escape(strategy_note(ranked, _combine(summary)))}. "
             "vs B&amp;H: better or worse only when the tests say so at the run's significance level, "
             f"≈ otherwise. Costs to the last day: {html.escape(LAST_DAY_NOTE)}.{_rules(summary)}</p>",
             _sentences(trading_sentences(summary.trading, summary.statistics.get("trading", {}))),
             *_trader_section(trading),
             "<h2>Forecasts</h2>", figs[2],
             "<p class='note'>Theil U = RMSE / naive RMSE (below 1: lower error than 'tomorrow = today'); direction: "
             "share of days the predicted move had the right sign; DM p: Diebold-Mariano test against naive "
             "(Harvey-Leybourne-Newbold correction); MCS: in the model confidence set; naive, drift and linear are "
             "baselines.</p>",
             table_html(summary.forecast, {**FORECAST_COLUMNS, **SEED_COLUMNS}, "model", highlight=NAIVE),
             _sentences(forecast_sentences(summary.forecast, summary.statistics.get("forecast", {}))),
             "<details><summary>Errors per fold</summary>",
             table_html(by_fold.assign(label=by_fold["model"] + " · fold " + by_fold["fold"].astype(str)),
                        FORECAST_COLUMNS, "label"),
             "</details>", "<h2>Training</h2>", figs[3], figs[4],
             "<p class='note'>In-sample predictions of every fold: insample.csv.gz (the figure draws up to "
             f"{INSAMPLE_FOLDS} folds, evenly spaced).</p>",
             "<details><summary>Fold log</summary><pre>"
             + html.escape(folds.drop(columns=["train_curve", "val_curve"], errors="ignore").to_string(index=False))
             + "</pre></details>",
             "<h2>Configuration and manifest</h2>",
             f"<details open><summary>config.toml</summary><pre>{html.escape(summary.config_text())}</pre></details>",
             f"<details><summary>manifest.json</summary><pre>{html.escape(json.dumps(m, indent=2))}</pre></details>"]
    return page(f"wfbt · {m.get('name', summary.run_dir.name)}", body)


def _combine(summary: RunSummary) -> str:
    """The run's strategies.combine, which says how its joined rules join."""
    return str(summary.config().get("strategies", {}).get("combine", "all"))


def write_report(summary: RunSummary) -> Path:
    path = summary.run_dir / "report.html"
    atomic_write_text(path, report_html(summary))
    return path


def compare_html(comparison: Comparison) -> str:
    """The comparison page: overlaid equity (rebased to 100) and drawdowns, and both tables."""
    ranked = [f"{r.run}:{r.strategy}" for r in comparison.trading.itertuples()]
    divs = figures_html([
        ("compare-equity", equity_figure(comparison.equity, ranked, "Equity on the common period, rebased to 100 "
                                         "at its start", y_title="value (start = 100)")),
        ("compare-drawdown", drawdown_figure(comparison.equity, ranked)),
    ])
    body = [f"<h1>wfbt compare: {html.escape(', '.join(comparison.labels))}</h1>", *_what_differs(comparison),
            f"<p>{html.escape(comparison.note())}</p>", *divs,
            "<h2>Trading</h2>", _run_table(comparison.trading, "strategy", TRADING_COLUMNS),
            *_compare_trader(comparison.trading),
            "<h2>Forecast errors</h2>", _run_table(comparison.forecast, "model", FORECAST_COLUMNS),
            *_paired_html(comparison)]
    return page("wfbt compare", body)


def _what_differs(comparison: Comparison) -> list[str]:
    """The page's top: a warning when the runs are on different data, each run's data, the settings that differ."""
    out = []
    if comparison.data_warning:
        out.append(f"<p class='warning' id='data-warning'>{html.escape(comparison.data_warning)}</p>")
    out.append("<p>Data: " + "; ".join(f"<b>{html.escape(k)}</b>: {html.escape(v)}"
                                       for k, v in comparison.data.items()) + "</p>")
    frame = comparison.settings
    if len(frame):
        columns = {label: (label, 0) for label in comparison.labels}
        out += ["<h2>Settings that differ</h2>", table_html(frame, columns, "setting")]
    else:
        out.append("<p>Settings: the same in every run (run.name and run.out_dir aside).</p>")
    return out


def _paired_html(comparison: Comparison) -> list[str]:
    """The paired tests of run A against run B, with the sentences they allow."""
    from backtest.report.wording import PAIRED_FORECAST_COLUMNS, PAIRED_TRADING_COLUMNS, paired_sentences

    if comparison.data_warning or len(comparison.labels) < 2:
        return []
    out = ["<h2>Run against run, on the same data</h2>"]
    for frame, name, columns in ((comparison.paired_forecast, "model", PAIRED_FORECAST_COLUMNS),
                                 (comparison.paired_trading, "strategy", PAIRED_TRADING_COLUMNS)):
        if len(frame):
            label = frame["run_a"] + " vs " + frame["run_b"] + " · " + frame[name]
            out.append(table_html(frame.assign(pair=label), columns, "pair"))
    out.append("<p class='note'>Forecasts: Diebold-Mariano on the two runs' squared errors on their common days, "
               "per model both have; strategies: Ledoit and Wolf's (2008) HAC test of equal Sharpe ratios, per "
               "strategy both have. Holm-adjusted over the pairs of each table; A vs B is better or worse only "
               "below the significance level, ≈ otherwise.</p>")
    out.append(_sentences(paired_sentences(comparison.paired_forecast, comparison.paired_trading,
                                           comparison.significance)))
    return out


def _compare_trader(trading: pd.DataFrame) -> list[str]:
    """The trader's figures of every run and strategy, when the runs have them."""
    if not any(c in trading.columns for c in TRADER_COLUMNS):
        return []
    return ["<h3>The figures traders read</h3>", _run_table(trading, "strategy", TRADER_COLUMNS),
            f"<p class='note'>{html.escape(TRADER_NOTE)}.</p>"]


def _run_table(frame: pd.DataFrame, first: str, columns: dict[str, tuple[str, int]]) -> str:
    """table_html with rows labelled "run · model" / "run · strategy"."""
    labelled = frame.assign(**{first: frame["run"].astype(str) + " · " + frame[first].astype(str)})
    return table_html(labelled, columns, first)


LEADERBOARD_COLUMNS = {"symbol": ("symbol", 0), "sharpe": ("Sharpe", 2), "dsr": ("DSR", 3),
                       "buy_and_hold_sharpe": ("B&H Sharpe", 2), "best_model": ("best network", 0),
                       "theil_u": ("Theil U", 3), "dm_p": ("DM p", 3), "forecast_verdict": ("vs naive", 0),
                       "better_than_naive": ("better than naive", 0), "best_strategy": ("best strategy", 0)}


def write_leaderboard_page(root: Path, table: pd.DataFrame, tests: dict[str, Any], equity: pd.DataFrame) -> Path:
    """leaderboard.html: the top cells' equity curves (best strategy and buy-and-hold) and the whole table."""
    from backtest.report.wording import sweep_sentences

    ranked = list(equity.columns)
    body = [f"<h1>wfbt sweep <code>{html.escape(root.name)}</code></h1>",
            _sentences(sweep_sentences(table, tests))]
    if len(equity.columns):
        body += figures_html([("sweep-equity", equity_figure(equity, ranked, "Top cells: best strategy and "
                                                             "buy-and-hold, rebased to 100", y_title="value"))])
    body += ["<h2>Leaderboard</h2>", table_html(table, LEADERBOARD_COLUMNS, "cell"),
             "<p class='note'>DSR: deflated Sharpe ratio counting every strategy of every cell as a trial. "
             "Full table, every model's Theil U and DM p: leaderboard.csv.</p>"]
    path = root / "leaderboard.html"
    atomic_write_text(path, page(f"wfbt sweep · {root.name}", body))
    return path
