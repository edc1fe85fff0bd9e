"""`wfbt compare` of universe runs: the IC and trading tables side by side in the terminal, and compare.html."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from backtest.report.comparison import paired_table
from backtest.report.console import BOOK_COLUMNS, IC_COLUMNS, IC_PRIORITY, TEST_COLUMNS
from backtest.report.pages import figures_html, page, table_html
from backtest.report.tables import cells, dropped_note, fit_columns, number_column
from backtest.report.universe.page import BENCHMARK, book_figure, ic_figure
from backtest.report.wording import (
    PAIRED_IC_KINDS,
    PAIRED_TRADING_COLUMNS,
    paired_ic_kind,
    universe_paired_sentences,
)

if TYPE_CHECKING:  # only the type: the tables must not load the statistics
    from backtest.runs.universe_compare import UniverseComparison

TRADING = {**BOOK_COLUMNS, **TEST_COLUMNS}
TRADING_PRIORITY = ["sharpe", "verdict", "mean_net", "psr", "max_drawdown", "turnover", "dsr", "mean_gross",
                    "psr_holm"]


def _percent(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for key in ("positive", "spread", "accuracy"):
        if key in out:
            out[key] = 100.0 * out[key]
    return out


def _table(title: str, frame: pd.DataFrame, first: str, columns: dict[str, tuple[str, int]], priority: list[str],
           width: int, console: Console) -> tuple[Table, list[str]]:
    """A compare table: run and scorer/book columns, then the metrics that fit ``width``."""
    keys = [k for k in columns if k in frame.columns]

    def build(shown: list[str]) -> Table:
        table = Table(title=title, title_justify="left")
        table.add_column("run", overflow="fold")
        table.add_column(first, overflow="fold", max_width=22)
        for key in shown:
            number_column(table, columns[key][0])
        for _, r in frame.iterrows():
            table.add_row(escape(str(r["run"])), escape(str(r[first])), *cells(r, shown, columns),
                          style="bold yellow" if r[first] == BENCHMARK else "")
        return table

    return fit_columns(build, keys, priority, width, console)


def universe_compare_tables(comparison: UniverseComparison, width: int, limit: int | None = None,
                            console: Console | None = None) -> list[Table]:
    """The IC table (one row per run x scorer) and the trading table (run x book) of `wfbt compare`."""
    console = console or Console()
    ic, ic_out = _table(f"Scores across the cross-section, {comparison.days:,} common days", _percent(comparison.ic),
                        "scorer", IC_COLUMNS, IC_PRIORITY, width, console)
    ic.caption = "IC, rank IC per day, then averaged; t: Newey-West; spread %: top - bottom decile" + dropped_note(
        ic_out, IC_COLUMNS)
    rows = comparison.trading if limit is None else comparison.trading.head(limit)
    tr, tr_out = _table("Books across runs, after costs", rows, "book", TRADING, TRADING_PRIORITY, width, console)
    notes = ["vs EW ≈: not distinguishable from the run's equal-weighted universe (PSR, SPA)"]
    if limit is not None and len(comparison.trading) > limit:
        notes.append(f"top {limit} of {len(comparison.trading)} rows; --limit 0 shows all")
    tr.caption = "; ".join(notes) + dropped_note(tr_out, TRADING)
    return [ic, tr]


IC_TITLES = {"rank IC": "Spearman: the books trade on ranks", "IC": "Pearson"}  # why each kind, in its title


def _paired(comparison: UniverseComparison) -> list[tuple[pd.DataFrame, str, str, dict[str, tuple[str, int]]]]:
    """(frame, name column, title, columns) of each paired table: scores by rank IC, by IC, then books."""
    scores = [(paired_ic_kind(comparison.paired_ic, prefix), "scorer",
               f"Scores, run A against run B, by {kind} ({IC_TITLES[kind]}; mean daily {kind} of A minus B on the "
               "days both have one, Newey-West t)", columns) for kind, prefix, columns in PAIRED_IC_KINDS]
    return [*scores, (comparison.paired_trading, "book", "Books, run A against run B (Ledoit-Wolf test of equal "
                      "Sharpe ratios, HAC)", PAIRED_TRADING_COLUMNS)]


def universe_paired_tables(comparison: UniverseComparison, width: int, console: Console | None = None) -> list[Table]:
    """The paired tests of run A against run B: per common scorer (rank IC, then IC) and per common book (Sharpe)."""
    console = console or Console()
    return [paired_table(title, frame, name, columns, comparison.significance, width, console)
            for frame, name, title, columns in _paired(comparison) if len(frame)]


def universe_what_differs(comparison: UniverseComparison) -> list[str]:
    """The sentences the paired tests allow."""
    return universe_paired_sentences(comparison.paired_ic, comparison.paired_trading, comparison.significance)


def _labelled(frame: pd.DataFrame, first: str) -> pd.DataFrame:
    return frame.assign(**{first: frame["run"].astype(str) + " · " + frame[first].astype(str)})


def universe_compare_html(comparison: UniverseComparison) -> str:
    """compare.html of universe runs: cumulative IC and rebased equity on the common period, both tables."""
    divs = figures_html([
        ("compare-ic", ic_figure(comparison.daily_ic, cumulative=True)),
        ("compare-equity", book_figure(comparison.equity, "Equity on the common period, rebased to 100 at its "
                                                          "start", "value (start = 100)")),
    ])
    body = [f"<h1>wfbt compare (universe runs): {html.escape(', '.join(comparison.labels))}</h1>",
            *_differs_html(comparison), f"<p>{html.escape(comparison.note())}</p>", *divs,
            "<h2>Scores</h2>", table_html(_labelled(_percent(comparison.ic), "scorer"), IC_COLUMNS, "scorer"),
            "<h2>Books</h2>", table_html(_labelled(comparison.trading, "book"), TRADING, "book"),
            *_paired_html(comparison)]
    return page("wfbt compare", body)


def _differs_html(comparison: UniverseComparison) -> list[str]:
    """The page's top: the warnings (stocks, data, periods), then the settings that differ."""
    out = [f"<p class='warning'>{html.escape(w)}</p>" for w in comparison.warnings]
    if len(comparison.settings):
        columns = {label: (label, 0) for label in comparison.labels}
        return [*out, "<h2>Settings that differ</h2>", table_html(comparison.settings, columns, "setting")]
    return [*out, "<p>Settings: the same in every run (run.name and run.out_dir aside).</p>"]


def _paired_html(comparison: UniverseComparison) -> list[str]:
    """The paired tests of run A against run B, with the sentences they allow."""
    tables = _paired(comparison)
    if not any(len(frame) for frame, _, _, _ in tables):
        return []
    out = ["<h2>Run against run, on the common days</h2>"]
    for frame, name, title, columns in tables:
        if len(frame):
            label = frame["run_a"] + " vs " + frame["run_b"] + " · " + frame[name]
            out += [f"<h3>{html.escape(title)}</h3>", table_html(frame.assign(pair=label), columns, "pair")]
    out.append("<p class='note'>Scores: the mean of run A's daily rank IC (then IC) minus run B's on the days both "
               "have one, with its Newey-West t (two-sided normal p), per scorer both runs have; books: Ledoit and "
               "Wolf's (2008) HAC test of equal Sharpe ratios, per book both have. Holm-adjusted over the pairs of "
               "each table (the rank IC's and the IC's apart, as a run's own IC tests); A vs B is better or worse "
               f"only below {100 * comparison.significance:g} %, indistinguishable otherwise; identical: the same "
               "figures on every day.</p>")
    out += [f"<p class='verdict'>{html.escape(s)}</p>" for s in universe_what_differs(comparison)]
    return out
