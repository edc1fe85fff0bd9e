"""The console summary of a universe run: scores across the cross-section, the books, the data's story.

Readable at 80 columns: the trading figures and their tests are two tables, and any table that still does
not fit drops whole columns (named in its caption), so a number is never cut.
"""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from backtest.engine.universe import BENCHMARK
from backtest.report.tables import cells, dropped_note, fit_columns, number_column
from backtest.report.wording import fmt
from backtest.runs.universe import UniverseSummary

# metric key -> (column label, digits)
IC_COLUMNS = {"ic": ("IC", 4), "rank_ic": ("rank IC", 4), "icir": ("ICIR", 3), "t_hac": ("t HAC", 2),
              "positive": ("% > 0", 1), "spread": ("spread %", 3), "accuracy": ("acc. %", 1)}
IC_PRIORITY = ["ic", "rank_ic", "t_hac", "spread", "icir", "positive", "accuracy"]
BOOK_COLUMNS = {"mean_gross": ("gross %", 3), "mean_net": ("net %", 3), "sharpe": ("Sharpe", 2),
                "turnover": ("turn %", 1), "max_drawdown": ("max DD %", 1)}
BOOK_PRIORITY = ["mean_net", "sharpe", "mean_gross", "max_drawdown", "turnover"]
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

    def build(shown: list[str]) -> Table:
        table = Table(title=title, title_justify="left")
        table.add_column(first, overflow="fold", max_width=name_width)
        for key in shown:
            number_column(table, columns[key][0])
        for name, row in rows.iterrows():
            table.add_row(escape(str(name)), *cells(row, shown, columns),
                          style="bold yellow" if name == BENCHMARK else "")
        return table

    return fit_columns(build, keys, priority, console.width, console)


def ic_view(summary: UniverseSummary, console: Console) -> Table:
    """Scorer, IC, rank IC, ICIR, HAC t, share of days > 0 and the decile spread."""
    ic = _percent(summary.result.ic, ["positive", "spread", "accuracy"])
    days = int(ic["days"].max()) if len(ic) else 0
    table, left = _view(f"Scores across the cross-section, {days:,} days out of sample", "scorer", ic,
                        IC_COLUMNS, IC_PRIORITY, console, SCORER_WIDTH)
    table.caption = ("IC: Pearson, rank IC: Spearman, per day, then averaged; ICIR = mean / sd per day; t: "
                     "Newey-West; spread: top - bottom decile's mean next return per day; — : undefined "
                     "(a constant score)" + dropped_note(left, IC_COLUMNS))
    return table


def book_view(summary: UniverseSummary, console: Console) -> Table:
    """Book, mean daily return before and after costs, Sharpe, turnover, max drawdown."""
    bt, un = summary.result.config.backtest, summary.result.config.universe
    table, left = _view(f"Books out of sample (fills at the {summary.result.fills})", "book",
                        summary.result.trading, BOOK_COLUMNS, BOOK_PRIORITY, console)
    table.caption = (f"gross / net: mean daily return before / after costs; turn: one-way turnover per day; "
                     f"net: fees {fmt(1e4 * bt.fees, 1)} bp + slippage {fmt(1e4 * bt.slippage, 1)} bp per "
                     f"half-turn, borrow {fmt(100 * un.borrow, 2)} %/year on shorts; k = {un.k}, n_drop = "
                     f"{un.n_drop}; Sharpe annualised (252 days); every position closed on the last day"
                     + dropped_note(left, BOOK_COLUMNS))
    return table


def verdict_view(summary: UniverseSummary, console: Console) -> Table:
    """Book, PSR, Holm-adjusted PSR, DSR and the verdict against the equal-weighted universe."""
    rows = summary.result.trading
    table, left = _view("Against the equal-weighted universe (after costs)", "book", rows, TEST_COLUMNS,
                        TEST_PRIORITY, console)
    st = summary.result.trading_summary
    table.caption = (f"PSR: probability the Sharpe beats {BENCHMARK}'s; DSR counts {st.get('trials', 0)} books; "
                     f"SPA p = {fmt(st.get('spa_p'), 3)}; PBO = {fmt(st.get('pbo'), 3)}; ≈: not "
                     f"distinguishable at {fmt(st.get('significance'), 2)}" + dropped_note(left, TEST_COLUMNS))
    return table


def data_view(summary: UniverseSummary) -> Table:
    """What loading did, in total (rows that are zero left out)."""
    totals = summary.result.universe.totals()["count"]
    table = Table(title="Data: what loading did", title_justify="left")
    table.add_column("what", overflow="fold")
    number_column(table, "count")
    for what, count in totals.items():
        if count or str(what).startswith("symbols"):
            table.add_row(escape(str(what)), f"{int(count):,}")
    table.caption = "per symbol: symbols.csv in the run folder (status, counts, reason refused)"
    return table


def header(summary: UniverseSummary) -> Panel:
    """The run's name, universe, calendar, folds and out-of-sample span."""
    m, u = summary.manifest, summary.result.universe
    oos = m["out_of_sample"]
    lines = [
        f"[bold]{escape(summary.result.config.run.name)}[/]  universe {escape(u.origin)}",
        f"{len(u.symbols):,} symbols kept of {len(u.summary):,} · {u.calendar[0].date()} → "
        f"{u.calendar[-1].date()} ({len(u.calendar):,} days)",
        f"{m['folds']} walk-forward folds · out of sample {oos[0]} → {oos[1]} ({oos[2]:,} days) · seed {m['seed']}",
        "timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in m.get("timings", {}).items()),
    ]
    return Panel("\n".join(lines), title="wfbt run (universe)", expand=False)


def render_universe(summary: UniverseSummary, console: Console) -> None:
    """Print the universe run's summary: header, survivorship warning, scores, books, tests, data."""
    console.print(header(summary))
    note = summary.result.universe.survivorship_note
    if note:
        console.print(f"[bold yellow]⚠ survivorship bias:[/] {escape(note)}", highlight=False)
    console.print(ic_view(summary, console))
    console.print(book_view(summary, console))
    console.print(verdict_view(summary, console))
    console.print(data_view(summary))
    console.print(f"Artifacts in {escape(str(summary.run_dir))}/: config.toml manifest.json scores.csv.gz "
                  "equity.csv ic.csv symbols.csv metrics.json", highlight=False)
