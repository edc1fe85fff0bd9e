"""report.html's tear sheet of a universe run: what alphalens' full tear sheet and qlib's analysis report show.

Every figure is drawn from the run folder alone: the daily IC and rank IC (ic.csv) and the tear sheet section of
metrics.json (``backtest.runs.universe.tearsheet``): IC and rank IC by month, their distribution against a
normal (histogram and Q-Q), rank autocorrelation and top / bottom quantile turnover, IC decay over horizons,
the cumulative return of every decile (ic.csv's "scorer:q1" ..) and of every book before and after costs
(equity_gross.csv, equity.csv), returns by calendar year before and after costs, IC within each group when the
run has groups.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots
from scipy import stats

from backtest.report.pages import table_html
from backtest.runs.universe_folder import UniverseSummary, quantile_returns
from backtest.scoring.crosssection import cumulative_returns

DEFAULT_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf"]  # plotly's default sequence, one colour per book for both of its lines
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
FACTOR_COLUMNS = {"rank_autocorrelation": ("rank autocorr. (lag 1)", 3), "turnover_top": ("top q. turnover %", 1),
                  "turnover_bottom": ("bottom q. turnover %", 1)}


def _value(v: Any) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else round(float(v), 6)


def month_figure(key: str, table: dict[str, dict[str, float | None]]) -> go.Figure:
    """One scorer's mean IC (or rank IC) by month: years as rows, months as columns, 0 white."""
    years = sorted(table)
    z = [[_value(table[y].get(str(m))) for m in range(1, 13)] for y in years]
    fig = go.Figure(go.Heatmap(z=z, x=MONTHS, y=years, colorscale="RdBu", zmid=0.0, texttemplate="%{z:.3f}",
                               colorbar={"title": "mean"}))
    fig.update_layout(title=f"{key}: mean by month", height=120 + 40 * len(years), yaxis={"type": "category"})
    return fig


def distribution_figure(daily: pd.Series, key: str) -> go.Figure:
    """A daily IC series' histogram and its normal Q-Q plot (sample quantiles of the standardised IC against
    the normal's; on the line when the IC is normal)."""
    values = daily.dropna().to_numpy(dtype=float)
    z = np.sort((values - values.mean()) / values.std(ddof=1))
    theory = stats.norm.ppf((np.arange(1, len(z) + 1) - 0.5) / len(z))
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"{key}: daily distribution", "normal Q–Q"))
    fig.add_trace(go.Histogram(x=[round(v, 6) for v in values], nbinsx=40, name="days"), row=1, col=1)
    fig.add_trace(go.Scatter(x=[round(v, 4) for v in theory], y=[round(v, 4) for v in z], mode="markers",
                             marker={"size": 3}, name="quantiles"), row=1, col=2)
    lim = float(max(abs(theory).max(), 1.0))
    fig.add_trace(go.Scatter(x=[-lim, lim], y=[-lim, lim], mode="lines", line={"dash": "dot"}, name="normal"),
                  row=1, col=2)
    fig.update_layout(height=360, showlegend=False)
    return fig


def decay_figure(factor: pd.DataFrame) -> go.Figure:
    """Mean daily rank IC against the h-day earnable return, one group of bars per scorer."""
    keys = [c for c in factor.columns if c.startswith("decay_")]
    x = [k.removeprefix("decay_") for k in keys]
    fig = go.Figure([go.Bar(x=x, y=[_value(v) for v in factor.loc[n, keys]], name=str(n)) for n in factor.index])
    fig.update_layout(title="IC decay: mean rank IC against the return held h days from the next fill", height=380,
                      barmode="group", xaxis_title="h (days)", yaxis_title="mean rank IC")
    return fig


def quantile_figure(scorer: str, daily: pd.DataFrame) -> go.Figure:
    """One scorer's deciles: each one's daily mean earnable return compounded (%), lowest scores red, highest blue."""
    curves = 100.0 * cumulative_returns(daily)
    colors = sample_colorscale("RdBu", [i / max(len(curves.columns) - 1, 1) for i in range(len(curves.columns))])
    x = [f"{d:%Y-%m-%d}" for d in curves.index]
    fig = go.Figure([go.Scatter(x=x, y=[_value(v) for v in curves[q]], name=f"q{q}", mode="lines",
                                line={"color": c, "width": 1.5}) for q, c in zip(curves.columns, colors, strict=True)])
    fig.update_layout(title=f"{scorer}: cumulative return of each decile (q1 = lowest scores)", height=380,
                      hovermode="x unified", yaxis_title="% (equal weights, rebalanced daily, before costs)")
    return fig


def books_figure(net: pd.DataFrame, gross: pd.DataFrame) -> go.Figure:
    """Each book's cumulative return (%) after costs (solid) and before (dotted, same colour); long-short, long-only
    and the equal-weighted universe shown, the other books in the legend."""
    fig, x = go.Figure(), [f"{d:%Y-%m-%d}" for d in net.index]
    for i, book in enumerate(net.columns):
        color = DEFAULT_COLORS[i % len(DEFAULT_COLORS)]
        shown = True if book == "equal_weight" or book.endswith((":long_short", ":long_only")) else "legendonly"
        for label, frame, dash in (("after costs", net, "solid"), ("before costs", gross, "dot")):
            curve = 100.0 * (frame[book] / frame[book].iloc[0] - 1.0)
            fig.add_trace(go.Scatter(x=x, y=[_value(v) for v in curve], name=f"{book} {label}", mode="lines",
                                     legendgroup=book, visible=shown, line={"color": color, "dash": dash}))
    fig.update_layout(title="Books: cumulative return after costs (solid) and before (dotted)", height=420,
                      hovermode="x unified", yaxis_title="%", legend={"font": {"size": 10}})
    return fig


def _yearly_table(yearly: dict[str, dict[str, dict[str, float]]]) -> pd.DataFrame:
    """Books as rows, "year gross" and "year net" columns (%)."""
    net, gross = pd.DataFrame(yearly["net"]).T, pd.DataFrame(yearly["gross"]).T
    parts = {f"{y} gross": gross[y] for y in gross.columns} | {f"{y} net": net[y] for y in net.columns}
    return pd.DataFrame(parts)[sorted(parts)].rename_axis("book")


def tearsheet_html(summary: UniverseSummary) -> list[str]:
    """The tear sheet section of report.html (empty for a run written before it existed)."""
    t = summary.tearsheet
    if not t:
        return []
    figures = [(f"month-{i}", month_figure(k, v)) for i, (k, v) in enumerate(t["by_month"].items())]
    ranked = [k for k in t["distribution"] if k.endswith(":rank_ic")]
    figures += [(f"dist-{i}", distribution_figure(summary.daily_ic[k], k)) for i, k in enumerate(ranked)]
    factor = pd.DataFrame(t["factor"]).set_index("scorer") if t["factor"] else pd.DataFrame()
    if len(factor):
        figures.append(("decay", decay_figure(factor)))
    html_figs = [fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                             config={"displaylogo": False, "responsive": True}) for div_id, fig in figures]
    out = [f"<h2>Tear sheet (on {html.escape(summary.forecast_return)})</h2>",
           "<h3>IC and rank IC by month</h3>", *html_figs[:len(t["by_month"])],
           "<h3>Distribution of the daily rank IC, against a normal</h3>",
           *html_figs[len(t["by_month"]):len(t["by_month"]) + len(ranked)], _shape_note(t["distribution"])]
    if len(factor):
        shown = factor.copy()
        for key in ("turnover_top", "turnover_bottom"):
            shown[key] = 100.0 * shown[key]
        out += ["<h3>Turnover of the ranking and IC decay</h3>", table_html(shown.reset_index(), FACTOR_COLUMNS,
                                                                            "scorer"),
                "<p class='note'>rank autocorr.: mean Spearman correlation of each day's scores with the day "
                "before's (alphalens' factor rank autocorrelation); top / bottom q. turnover: mean daily share of "
                "the top (bottom) decile's stocks that were not in it the day before.</p>", html_figs[-1]]
    out += [*_cumulative_html(summary), "<h3>Returns by calendar year, before and after costs (%)</h3>",
            _plain_table(_yearly_table(t["returns_by_year"]), "book", 2), *_groups_html(summary)]
    return out


def _cumulative_html(summary: UniverseSummary) -> list[str]:
    """Every decile's cumulative return per scorer, and the books' before and after costs (a run written before
    ic.csv had the deciles, or before equity_gross.csv: the part it lacks is left out)."""
    quantiles = [_div(f"quantiles-{i}", quantile_figure(k, v))
                 for i, (k, v) in enumerate(quantile_returns(summary.daily_ic).items())]
    out = [] if not quantiles else [
        "<h3>Cumulative return of every decile</h3>", *quantiles,
        "<p class='note'>Each decile's mean return a day (the return a book dated t can earn), compounded: an "
        "equal-weighted book of the decile rebalanced every day, before costs (alphalens' cumulative returns by "
        "quantile, not demeaned).</p>"]
    books = summary.tearsheet.get("cumulative", {}).get("books")
    if summary.gross_equity is not None and books:
        table = pd.DataFrame(books).T.rename(columns={"gross": "before costs %", "net": "after costs %"})
        out += ["<h3>Books: cumulative return before and after costs</h3>",
                _div("books-cumulative", books_figure(summary.equity, summary.gross_equity)),
                _plain_table(table.rename_axis("book"), "book", 2)]
    return out


def _div(div_id: str, fig: go.Figure) -> str:
    """A figure as a div of the page (plotly.js is inlined once by the page)."""
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def _shape_note(distribution: dict[str, dict[str, float]]) -> str:
    words = "; ".join(f"{html.escape(k)}: skew {v['skew']:.2f}, excess kurtosis {v['kurtosis']:.2f}"
                      for k, v in distribution.items() if math.isfinite(v["skew"]))
    return f"<p class='note'>{words} (0 and 0 for a normal).</p>"


def _groups_html(summary: UniverseSummary) -> list[str]:
    """IC within each group (universe.groups), or a line saying the run has none."""
    table = summary.ic_by_group
    if table is None or not len(table):
        return ["<p class='note'>IC within groups: this run has no universe.groups.</p>"]
    return ["<h3>IC within each group</h3>", _plain_table(table, "scorer", 4)]


def _plain_table(frame: pd.DataFrame, first: str, digits: int) -> str:
    """Every column of ``frame`` (index = names) as numbers to ``digits``, text columns as text."""
    columns = {str(c): (str(c), digits if pd.api.types.is_numeric_dtype(frame[c]) else 0) for c in frame.columns}
    return table_html(frame.rename(columns=str).reset_index(), columns, first)
