"""`wfbt compare` of universe runs: their IC and trading tables side by side, on the days they share.

When every run covers the same out-of-sample days the saved tables are used as they are. When the periods
differ, each run is cut to the common period: the IC figures (IC, rank IC, ICIR, HAC t, share > 0, decile
spread) are recomputed from its daily values in ic.csv, and the books' figures and tests (mean net return,
Sharpe, drawdown, turnover, PSR, DSR, verdicts, SPA, PBO) from equity.csv and turnover.csv, each curve rebased
to its value on the day before the common period (or to the initial cash). Left out then, because they need
what a run does not save per day: the returns before costs (gross %), the median target's accuracy, and the
cost of closing a book cut before its own last day (it is valued at that day's close, not sold).
A universe run is never compared with a single-symbol run: ``backtest.kinds.home_of_folders`` says so.

Beside the tables, as for single-symbol runs (``backtest.runs.differences``): the settings whose values differ,
and a warning first when the runs hold different stocks (the symbols kept in each run's symbols.csv), read
different data (another file, or the same file with other prices), or cover different out-of-sample periods.
Then paired tests of each run against each other one on the days they share, whatever differs (the warnings
say when a difference is not down to the settings alone): the daily rank IC difference (the headline: books
trade on ranks) and the daily IC difference per common scorer, each with its Newey-West t, and the Ledoit-Wolf
Sharpe difference per common book, equal_weight included (its costs may differ), each family (rank IC, IC,
Sharpe) Holm-adjusted apart (``differences.paired_ics`` and ``differences.paired_sharpes``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
from dataclasses import dataclass

import pandas as pd

from backtest.core.config import BacktestSection, StatisticsSection
from backtest.core.errors import WfbtError
from backtest.runs.compare import statistics_of
from backtest.runs.differences import paired_ics, paired_sharpes, settings_diff
from backtest.runs.labels import refuse_repeated, run_labels
from backtest.runs.universe_folder import UniverseSummary, read_universe
from backtest.scoring.crosssection import ic_summary, ic_table
from backtest.scoring.evaluation import evaluate_trading
from backtest.scoring.metrics import daily_rate, return_figures

BENCHMARK = "equal_weight"  # the universe's benchmark book (backtest.engine.universe.BENCHMARK)
SORTS = {"sharpe": ("sharpe", True), "return": ("mean_net", True), "drawdown": ("max_drawdown", True),
         "turnover": ("turnover", False)}  # --sort NAME -> (trading column, descending)


@dataclass
class UniverseComparison:
    """Universe runs side by side on their common out-of-sample period (built by ``compare_universes``)."""

    labels: list[str]
    first: pd.Timestamp
    last: pd.Timestamp
    days: int
    same_period: bool
    periods: dict[str, tuple[pd.Timestamp, pd.Timestamp]]
    ic: pd.DataFrame  # run, scorer, ic, rank_ic, icir, t_hac, positive, spread, days
    trading: pd.DataFrame  # run, book, figures, psr, dsr, verdict
    equity: pd.DataFrame  # common period; columns "run:book", rebased to 100 at its start
    daily_ic: pd.DataFrame  # common period; columns "run:scorer:ic" / "run:scorer:rank_ic"
    settings: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)  # setting, one column per run
    warnings: list[str] = dataclasses.field(default_factory=list)  # stocks, data, periods that differ
    paired_ic: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)  # (rank) IC of A vs B per scorer
    paired_trading: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)  # Sharpe of A vs B per book
    significance: float = StatisticsSection.significance  # the first run's level, for the paired verdicts

    def note(self) -> str:
        span = f"{self.first:%Y-%m-%d} → {self.last:%Y-%m-%d} ({self.days} trading days)"
        if self.same_period:
            return f"All universe runs cover the same out-of-sample period, {span}; tables as each run saved them."
        own = "; ".join(f"{k}: {a:%Y-%m-%d} → {b:%Y-%m-%d}" for k, (a, b) in self.periods.items())
        return (f"The universe runs cover different periods ({own}). Compared on their common period only, {span}: "
                "IC figures recomputed from the daily IC, books and their tests from the equity curves on those "
                "days (gross % and accuracy left out; a book cut early is valued, not sold, on the last day).")


def _kept(s: UniverseSummary) -> list[str]:
    """The symbols a run kept (symbols.csv's "ok" rows): its cross-section's stocks."""
    return sorted(str(x) for x in s.symbols.loc[s.symbols["status"] == "ok", "symbol"])


def _named(symbols: list[str], most: int = 8) -> str:
    shown = ", ".join(symbols[:most])
    return shown + (f" and {len(symbols) - most:,} more" if len(symbols) > most else "")


def stock_warning(kept: dict[str, list[str]]) -> str | None:
    """None when every run kept the same stocks; otherwise the warning that says which are not in every run."""
    sets = {label: set(v) for label, v in kept.items()}
    common = set.intersection(*sets.values())
    if all(v == common for v in sets.values()):
        return None
    only = "; ".join(f"{label}: {len(v):,} stocks" + (f", {_named(sorted(v - common))} not in every run"
                                                       if v - common else "") for label, v in sets.items())
    return (f"⚠ These universe runs hold different stocks ({only}; {len(common):,} in all). Their scores, books and "
            "the paired tests below compare different cross-sections: a difference is not down to the settings "
            "alone.")


def data_warning(manifests: dict[str, dict]) -> str | None:
    """None when every run read the same data; otherwise the warning naming each run's file (or its prices)."""
    data = {label: m.get("data", {}) for label, m in manifests.items()}
    origins = {label: str(d.get("origin")) for label, d in data.items()}
    if len(set(origins.values())) > 1:
        named = "; ".join(f"{label}: {o}" for label, o in origins.items())
        return f"⚠ These universe runs read different data ({named})."
    spans = {(d.get("first"), d.get("last")) for d in data.values()}
    if len(spans) == 1 and len({d.get("fingerprint") for d in data.values()}) > 1:
        return (f"⚠ These universe runs read {next(iter(origins.values()))} with different prices over the same "
                "days (the file changed between the runs, or data.adjust differs).")
    return None


def period_warning(periods: dict[str, tuple[pd.Timestamp, pd.Timestamp]], days: int) -> str | None:
    """None when every run covers the same out-of-sample days; otherwise the warning (the note names them)."""
    if len(set(periods.values())) == 1:
        return None
    return (f"⚠ These universe runs cover different out-of-sample periods: every table and test below uses only "
            f"the {days:,} days they share.")


def _risk_free(s: UniverseSummary) -> float:
    """The run's yearly risk-free rate: its Sharpe, Sortino, PSR and DSR are of the returns over it."""
    return float(s.config.get("backtest", {}).get("risk_free", BacktestSection.risk_free) or 0.0)


def risk_free_warning(rates: dict[str, float]) -> str | None:
    """None when every run measures Sharpe over the same risk-free rate; otherwise the warning naming each."""
    if len(set(rates.values())) == 1:
        return None
    named = "; ".join(f"{label}: {100 * rate:g} %/year" for label, rate in rates.items())
    return (f"⚠ These universe runs measure Sharpe over different risk-free rates ({named}): each run's Sharpe, "
            "Sortino, PSR and DSR below, and the paired Sharpe test, are over its own run's rate, so part of a "
            "difference is the rates'.")


def _ic_rows(s: UniverseSummary, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """The IC table of one run on [first, last], from its daily IC, rank IC and decile spread (each IC tested
    against zero again, on the common days)."""
    daily = s.daily_ic.loc[first:last]
    rows = {}
    for name in s.ic.index:
        a, b = ic_summary(daily[f"{name}:ic"]), ic_summary(daily[f"{name}:rank_ic"])
        spread = ic_summary(daily[f"{name}:spread"])
        rows[name] = {"ic": a["mean"], "rank_ic": b["mean"], "icir": a["icir"], "t_hac": a["t_hac"],
                      "rank_t_hac": b["t_hac"], "positive": a["positive"], "spread": spread["mean"],
                      "spread_t_hac": spread["t_hac"], "days": a["days"]}
    return ic_table(rows, float(s.trading_summary.get("significance", 0.05)))


def _rebased(s: UniverseSummary, first: pd.Timestamp, last: pd.Timestamp) -> tuple[pd.DataFrame, pd.Series]:
    """The equity on [first, last] and, per book, its value the day before (or the initial cash)."""
    before = s.equity.loc[:first].iloc[:-1]
    init_cash = float(s.config.get("backtest", {}).get("init_cash", BacktestSection.init_cash))
    base = before.iloc[-1] if len(before) else pd.Series(init_cash, index=s.equity.columns)
    return s.equity.loc[first:last], base.astype(float)


def _returns(s: UniverseSummary, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """The books' daily returns on [first, last], the first from the value the day before; the run's own first
    out-of-sample day is left out (it only decides: 0 by construction, as ``engine.universe.book_returns``)."""
    eq, base = _rebased(s, first, last)
    returns = pd.concat([base.to_frame().T, eq]).pct_change().iloc[1:]
    return returns.iloc[1:] if first <= s.equity.index[0] else returns


def _trading_rows(s: UniverseSummary, first: pd.Timestamp, last: pd.Timestamp) -> tuple[pd.DataFrame, dict]:
    """The books' figures and tests of one run on [first, last]; the SPA/PBO summary."""
    eq, base = _rebased(s, first, last)
    returns = _returns(s, first, last)
    table = return_figures(returns, eq.iloc[-1] / base - 1.0, _risk_free(s))
    table.insert(0, "mean_net", 100.0 * returns.mean())
    turnover = s.turnover.loc[first:last]
    table["turnover"] = 100.0 * (turnover.iloc[1:] if first <= s.equity.index[0] else turnover).mean()
    stats_cfg, seed = statistics_of(s.config)
    evaluation = evaluate_trading(table.rename_axis("book"), returns, BENCHMARK, stats_cfg, seed, _risk_free(s))
    return evaluation.table, evaluation.summary


def _match(name: str, patterns: list[str] | None) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _patterns_match(summaries: list[UniverseSummary], books: list[str] | None, scorers: list[str] | None) -> None:
    """A --strategy (book) or --model (scorer) pattern that matches nothing in any run is a typo."""
    names = {"--strategy": (books, sorted({b for s in summaries for b in s.trading.index} - {BENCHMARK})),
             "--model": (scorers, sorted({str(c) for s in summaries for c in s.ic.index}))}
    for option, (patterns, known) in names.items():
        for pattern in patterns or []:
            if not any(fnmatch.fnmatchcase(n, pattern) for n in known):
                raise WfbtError(f"{option} {pattern!r} matches nothing in these universe runs. They have: "
                                f"{', '.join(known)}. Patterns are shell-style, e.g. 'reversal:*' or '*:long_short'.")


def _period(labels: list[str], summaries: list[UniverseSummary]) -> tuple[dict, pd.Timestamp, pd.Timestamp]:
    """Each run's out-of-sample range and the common one, or a WfbtError when they share no day."""
    periods = {lab: (s.equity.index[0], s.equity.index[-1]) for lab, s in zip(labels, summaries, strict=True)}
    first, last = max(a for a, _ in periods.values()), min(b for _, b in periods.values())
    if first > last:
        raise WfbtError("the universe runs share no out-of-sample day: " + "; ".join(
            f"{k}: {a:%Y-%m-%d} → {b:%Y-%m-%d}" for k, (a, b) in periods.items()) + ". Compare runs that overlap.")
    return periods, first, last


def compare_universes(run_dirs: list[str], books: list[str] | None = None, scorers: list[str] | None = None,
                      sort: str = "sharpe") -> UniverseComparison:
    """Read the universe runs and line them up on their common period (see the module's docstring)."""
    if sort not in SORTS:
        raise WfbtError(f"--sort {sort!r} is not a column of the universe runs' books to sort by. Use one of: "
                        f"{', '.join(SORTS)}.")
    refuse_repeated(run_dirs)
    summaries = [read_universe(d) for d in run_dirs]
    _patterns_match(summaries, books, scorers)
    labels = run_labels([s.run_dir for s in summaries])
    periods, first, last = _period(labels, summaries)
    same = len(set(periods.values())) == 1
    ic_rows, trading_rows, curves, daily = [], [], {}, {}
    for label, s in zip(labels, summaries, strict=True):
        ic = s.ic if same else _ic_rows(s, first, last)
        trading = s.trading if same else _trading_rows(s, first, last)[0]
        ic_rows.append(ic[[_match(str(n), scorers) for n in ic.index]].reset_index().assign(run=label))
        keep = [b for b in trading.index if _match(b, books) or b == BENCHMARK]
        trading_rows.append(trading.loc[keep].reset_index().assign(run=label))
        eq, base = _rebased(s, first, last)
        curves.update({f"{label}:{b}": 100.0 * eq[b] / base[b] for b in keep})
        daily.update({f"{label}:{c}": s.daily_ic.loc[first:last, c] for c in s.daily_ic.columns
                      if c.rsplit(":", 1)[0] in set(ic_rows[-1]["scorer"])})
    column, descending = SORTS[sort]
    trading = pd.concat(trading_rows, ignore_index=True).sort_values(column, ascending=not descending,
                                                                       na_position="last", kind="stable")
    ic = pd.concat(ic_rows, ignore_index=True)
    days = len(summaries[0].equity.loc[first:last])
    return UniverseComparison(labels, first, last, days, same, periods,
                              ic[["run", *[c for c in ic.columns if c != "run"]]],
                              trading[["run", *[c for c in trading.columns if c != "run"]]].reset_index(drop=True),
                              pd.DataFrame(curves), pd.DataFrame(daily),
                              **_differences(dict(zip(labels, summaries, strict=True)), periods, (first, last),
                                             list(dict.fromkeys(ic["scorer"])), list(dict.fromkeys(trading["book"]))))


def _differences(runs: dict[str, UniverseSummary], periods: dict, span: tuple[pd.Timestamp, pd.Timestamp],
                 scorers: list[str], books: list[str]) -> dict[str, object]:
    """UniverseComparison's fields that say what differs: settings, warnings, paired tests on the common days."""
    first, last = span
    days = len(next(iter(runs.values())).equity.loc[first:last])
    warnings = [stock_warning({k: _kept(s) for k, s in runs.items()}),
                data_warning({k: s.manifest for k, s in runs.items()}), period_warning(periods, days),
                risk_free_warning({k: _risk_free(s) for k, s in runs.items()})]
    level = statistics_of(next(iter(runs.values())).config)[0].significance
    returns = {k: _returns(s, first, last) - daily_rate(_risk_free(s)) for k, s in runs.items()}  # as each summary
    common = pd.DatetimeIndex(sorted(set.intersection(*(set(r.index) for r in returns.values()))))
    return {"settings": settings_diff({k: s.config for k, s in runs.items()}), "warnings": [w for w in warnings if w],
            "paired_ic": paired_ics({k: s.daily_ic.loc[first:last] for k, s in runs.items()}, scorers, level),
            "paired_trading": paired_sharpes({k: r.loc[common].reset_index(drop=True) for k, r in returns.items()},
                                             books, level).rename(columns={"strategy": "book"}),
            "significance": level}

