"""A universe run in memory: load the stocks, walk forward, score, rank into books, trade, test.

``run_universe(config)`` is the universe's ``backtest.run``: it loads ``data.path`` as a universe, cuts the
calendar into walk-forward folds (``engine.schedule.make_folds``), computes every scorer's panel (the naive
and reversal baselines always, plus the panels of the scorers it is given, e.g. the pooled networks'
``pooled_scores``), keeps the out-of-sample decision days only, turns each panel into the configured
books, trades every book and the equal-weighted universe (the benchmark) in one ``book`` call after costs
and one before, and scores the panels across the cross-section (IC, rank IC, ICIR, HAC t, decile spread).

A score dated t is known at t's close; a book's weights dated t are filled at t+1's open (at t+1's close
when the file has closes only) and held to the next fill, so every IC, rank IC, decile and spread is
measured on that return (open t+1 -> open t+2, ``FORECAST_RETURN``), the close-to-close one beside it
labelled ``_close``. The engine writes no file.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from backtest.core.config import UNIVERSE_FEATURES, RunConfig, UniverseSection, factor_names, yahoo_adjusted
from backtest.core.cores import available_cores, configure_threads
from backtest.core.errors import ConfigError, DataError, DataWarning
from backtest.core.kinds import Kind
from backtest.core.manifest import span
from backtest.data.adjust import prices_wording
from backtest.data.groups import load_groups
from backtest.data.load import fingerprint
from backtest.data.universe import Universe, load_universe, read_symbols
from backtest.engine.book import book
from backtest.engine.schedule import Fold, folds_table, make_folds
from backtest.scoring import crosssection as xs
from backtest.scoring.evaluation import evaluate_trading
from backtest.scoring.metrics import return_figures
from forecasters.crosssection import above_median_target, naive_scores, next_return, reversal_scores
from strategies.crosssection import hold_between, long_short_top_k, long_top_k, rebalance_days, topk_dropout
from strategies.rulebooks import (
    PANEL_RULES,
    STANDALONE_RULES,
    forecast_short_states,
    forecast_states,
    indicator_states,
    rule_states,
    short_indicator_states,
    sided_weights,
)

if TYPE_CHECKING:  # the pooled trainer (and torch) load only when a run trains networks
    from backtest.engine.forecasting import Progress
    from backtest.engine.pooled import ChunkRunner, ChunkStore

__all__ = ["BASELINES", "BENCHMARK", "ScoreSource", "UniverseResult", "baseline_scores", "daily_turnover",
           "run_universe", "traded_turnover"]

BENCHMARK = "equal_weight"  # every name priced that day, equal weights: what a score must beat
# The return a score dated t is judged on, by fills: the one its books can earn (scoring.crosssection.earnable_return)
FORECAST_RETURN = {"next open": "open t+1 → open t+2", "next close": "close t+1 → close t+2"}


def horizon_return(fills: str, horizon: int) -> str:
    """What the h-day IC reading is measured on (``_h`` columns of the IC table): fill t+1 -> fill t+1+h."""
    price = "open" if fills == "next open" else "close"
    return f"{price} t+1 → {price} t+{1 + horizon}"
CLOSE_TO_CLOSE = "close t → close t+1"  # the reading beside it (ic_close, rank_ic_close, spread_close)
# A scorer beyond the baselines (the pooled networks): the universe, the folds and the config in, named
# score panels out (index = decision day t, columns = symbols, forecast of t+1), at least the test days.
ScoreSource = Callable[[Universe, list[Fold], RunConfig], Mapping[str, pd.DataFrame]]
BASELINES: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {"naive": naive_scores, "reversal": reversal_scores}


@dataclass
class UniverseResult:
    """Everything a universe run computed; ``backtest.report.publish`` writes it, the console shows it."""

    kind: ClassVar[Kind] = Kind.UNIVERSE
    config: RunConfig
    universe: Universe
    folds: list[Fold]
    scores: dict[str, pd.DataFrame]  # scorer -> out-of-sample decision days x symbols
    weights: dict[str, pd.DataFrame]  # "scorer:book" and the benchmark -> target weights
    equity: pd.DataFrame  # out-of-sample days x books: value after costs
    returns: pd.DataFrame  # daily returns after costs, from the second out-of-sample day (the first only decides)
    gross_returns: pd.DataFrame  # daily returns before costs (no fees, slippage nor borrow), the same days
    trading: pd.DataFrame  # one row per book: figures, PSR, DSR, verdict
    trading_summary: dict[str, Any]  # SPA and PBO against the benchmark
    ic: pd.DataFrame  # one row per scorer: IC, rank IC, ICIR, t, share of days > 0, spread
    daily_ic: pd.DataFrame  # out-of-sample days x "scorer:ic" / "scorer:rank_ic" / "scorer:spread" (top - bottom)
    #                         / "scorer:q1" .. "scorer:q10" (each decile's mean earnable return)
    deciles: pd.DataFrame  # scorer x decile: mean next return
    fills: str  # "next open" or "next close"
    manifest: dict[str, Any] = field(default_factory=dict)
    group_ic: pd.DataFrame | None = None  # with universe.groups: (scorer, group) rows of IC, rank IC, t, stocks, days
    traded: pd.DataFrame | None = None  # out-of-sample days x books: one-way turnover traded (traded_turnover)
    factor: pd.DataFrame | None = None  # scorer rows: rank autocorrelation, top/bottom quantile turnover, IC decay
    # the pooled networks' training log (engine.pooled.LOG_COLUMNS, then the fold's ranges); None: none trained
    training: pd.DataFrame | None = None
    gross_equity: pd.DataFrame | None = None  # out-of-sample days x books: value of the same books before costs


def _load(config: RunConfig) -> Universe:
    """The configured universe, through ``load_universe``'s per-symbol checks: a csv file or folder, or the
    yfinance/tej symbols of data.symbols (or of the file data.path names) through the download cache."""
    d, un = config.data, config.universe
    factors = factor_names(list(config.forecast.features))  # the user's own columns (a long file's)
    if d.source in ("yfinance", "tej"):
        symbols = list(d.symbols) or read_symbols(str(d.path))
        return load_universe(symbols, source=d.source, start=d.start, end=d.end,  # type: ignore[arg-type]
                             date_format=d.date_format, timezone=d.timezone, min_symbols=un.min_symbols,
                             table=d.table, adjusted=yahoo_adjusted(d), refresh=d.refresh, factors=factors)
    path = Path(str(d.path))
    if un.layout == "folder" and not path.is_dir():
        raise DataError(f"universe.layout = \"folder\" needs data.path to be a folder of per-symbol files. "
                        f"Got {str(path)!r}. Point data.path at the folder or set universe.layout = \"auto\".")
    layout = "auto" if un.layout == "folder" else un.layout
    return load_universe(path, layout=layout, symbol_column=un.symbol_column, columns=dict(d.columns),
                         start=d.start, end=d.end, date_format=d.date_format, timezone=d.timezone,
                         min_symbols=un.min_symbols, adjust=d.adjust == "adjusted", factors=factors)


def data_fingerprint(universe: Universe) -> str:
    """SHA-256 of the checked prices and, when the run reads some, the user's factor columns."""
    if universe.factors is None:
        return fingerprint(universe.prices)
    return fingerprint(universe.prices.join(universe.factors))


def configured_universe(config: RunConfig) -> Universe:
    """The universe a config names, loaded and checked as a run loads it (for `wfbt plan`)."""
    return _load(config)


def configured_groups(config: RunConfig, universe: Universe, days: pd.DatetimeIndex) -> pd.Series | None:
    """The groups of ``universe.groups`` for the universe's stocks (None without), loaded and checked as a run
    checks them: the file where it enters, and whether "within" books can be made on the out-of-sample ``days``."""
    groups = load_groups(config.universe.groups, universe.symbols) if config.universe.groups else None
    _check_within(groups, universe.field("close").reindex(days), config)
    return groups


def out_of_sample(folds: list[Fold], calendar: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The decision days every scorer and book is judged on: the folds' test blocks, end to end."""
    return calendar[folds[0].test_start: folds[-1].test_end]


def baseline_scores(close: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every baseline's score panel over the whole calendar (each uses closes up to its day only)."""
    return {name: score(close) for name, score in BASELINES.items()}


def pooled_source(universe: Universe, folds: list[Fold], config: RunConfig, *, store: ChunkStore | None = None,
                  progress: Progress | None = None, runner: ChunkRunner | None = None, threads: int | None = None,
                  log: list[pd.DataFrame] | None = None) -> dict[str, pd.DataFrame]:
    """The score panels of ``forecast.models`` trained pooled per fold (``engine.pooled``) on the inputs of
    ``forecast.features`` (``engine.panel_features``), and the pooled linear model; the rule baselines it also
    returns are already scored, so they are left out. Each chunk of folds is saved in ``store`` as it finishes
    (and loaded from it on a resume); the networks' training log is appended to ``log``. A run whose largest
    fold cannot fit ``universe.memory_gb`` is refused before any window is cut."""
    from backtest.engine.devices import prepare_device
    from backtest.engine.forecasting import indicator_params, train_settings
    from backtest.engine.panel_features import input_width, panel_inputs
    from backtest.engine.pooled import BASELINES as POOLED_BASELINES
    from backtest.engine.pooled import pooled_scores, refuse_unfit
    from forecasters.registry import get_architecture

    settings = train_settings(config)
    target = "median" if config.universe.target == "above_median" else config.universe.target
    un, fc = config.universe, config.forecast
    budget = int(un.memory_gb * 2**30)
    architectures = list(config.architectures().values())
    nets = [get_architecture(m, architectures) for m in fc.models if m not in POOLED_BASELINES]
    refuse_unfit(nets, folds, len(universe.symbols), fc.lookback, fc.seeds, settings.batch_size, un.networks,
                 input_width(list(fc.features)), budget)
    inputs = panel_inputs(universe, list(fc.features), indicator_params(config.strategies), folds, fc.lookback)
    panels = pooled_scores(universe.field("close"), folds, list(fc.models), fc.lookback, target, config.run.seed,
                           settings, prepare_device(config.run.device), progress, seeds=fc.seeds,
                           networks=un.networks, budget=budget, architectures=architectures, store=store,
                           runner=runner, threads=threads, horizon=un.horizon, embargo=config.walkforward.embargo,
                           inputs=inputs, processors=list(un.processors),
                           target_processors=list(un.target_processors), log=log)
    return {name: panel for name, panel in panels.items() if name not in BASELINES}


def _begin(universe: Universe, config: RunConfig, store: ChunkStore | None, resume: bool) -> int | None:
    """The torch threads each chunk trains with (``run.threads``, else this process's cores, shared among
    ``run.workers``), pinned with the config and data in ``store`` (resume refuses another); None when the
    run trains nothing."""
    if not config.forecast.models:
        threads = None
    elif config.run.workers > 1 or config.run.scheduler:
        threads = config.run.threads or max(1, available_cores() // config.run.workers)
    else:
        threads = configure_threads(config.run.threads)
    if store is not None:
        identity = config.to_dict()
        identity["run"]["threads"] = threads  # the count, not "auto": it changes float rounding, so resume pins it
        store.begin(identity, data_fingerprint(universe), resume)
    return threads


def _warn_unused(config: RunConfig) -> None:
    """A run that trains no network: name the settings, changed from their defaults, that only shape the pooled
    networks' inputs and target (the baselines read the closes as they are)."""
    un, default, features = config.universe, UniverseSection(), config.forecast.features
    unused = [f"forecast.features = {features}"] if features != UNIVERSE_FEATURES else []
    unused += [f"universe.processors = {un.processors}"] if un.processors != default.processors else []
    unused += ([f"universe.target_processors = {un.target_processors}"]
               if un.target_processors != default.target_processors else [])
    # the median target still labels the baselines' accuracy (over universe.horizon days)
    if un.target != default.target and un.target != "above_median":
        unused.append(f"universe.target = {un.target!r}")
    if un.horizon != default.horizon and un.target != "above_median":
        unused.append(f"universe.horizon = {un.horizon} (it still sets walkforward.gap's default, horizon - 1, "
                      f"and the IC against the {un.horizon}-day return beside the one-day one)")
    if unused:
        warnings.warn(f"forecast.models is empty: the run scores the baselines only, so {'; '.join(unused)} go unused "
                      "(they shape only the pooled networks' inputs and target). Name models in forecast.models to "
                      "use them, or leave them out.", DataWarning, stacklevel=3)


def _runner(config: RunConfig, threads: int | None) -> ChunkRunner | None:
    """What trains the chunks: Dask tasks with ``run.workers`` > 1 or ``run.scheduler``, else this process."""
    if config.run.workers == 1 and not config.run.scheduler:
        return None
    from backtest.engine.chunk_fanout import dask_runner

    return dask_runner(config.run.scheduler, config.run.workers, threads or 1)


def _scores(universe: Universe, folds: list[Fold], config: RunConfig, days: pd.DatetimeIndex,
            sources: list[ScoreSource]) -> dict[str, pd.DataFrame]:
    """The baselines' and the given sources' panels on the out-of-sample days (names as columns)."""
    close = universe.field("close")
    panels = baseline_scores(close)
    for source in sources:
        for name, panel in source(universe, folds, config).items():
            if name in panels or name == BENCHMARK:
                raise DataError(f"score source: the name {name!r} is taken (by a baseline or the benchmark). "
                                "Give the panel another name.")
            panels[name] = panel
    return {name: panel.reindex(index=days, columns=close.columns).astype(float) for name, panel in panels.items()}


def equal_weight(close: pd.DataFrame) -> pd.DataFrame:
    """The benchmark's weights: 1/n on each of the n names with a close that day."""
    present = close.notna().astype(float)
    return present.div(present.sum(axis=1).where(lambda n: n > 0), axis=0).fillna(0.0)


def _books(scores: dict[str, pd.DataFrame], config: RunConfig, close: pd.DataFrame, days: pd.DatetimeIndex,
           groups: pd.Series | None = None) -> dict[str, pd.DataFrame]:
    """Each scorer's configured books, named "scorer:book", the rule books, and the benchmark's weights."""
    un = config.universe
    makers = {
        "long_short": lambda s: long_short_top_k(s, un.k, gross=2 * un.leg_gross),
        "long_only": lambda s: long_top_k(s, un.k),
        "topk_dropout": lambda s: topk_dropout(s, un.k, un.n_drop),
    }
    ranked = scores  # what the books rank; the rule books read the scores as they are
    if groups is not None and un.neutral == "demean":
        ranked = {name: demeaned(panel, groups) for name, panel in scores.items()}
    elif groups is not None and un.neutral == "within":
        makers = {kind: _within(make, groups) for kind, make in makers.items()}
    marked = rebalance_schedule(config, days)
    if marked.all():  # every day: the books as decided
        weights = {f"{name}:{kind}": makers[kind](panel) for name, panel in ranked.items() for kind in un.books}
        weights.update(rule_books(scores, config, close, days))
        weights[BENCHMARK] = equal_weight(close.reindex(days))
        return weights
    # Decided on the rebalance days only (so TopkDropout drops at most n_drop names a rebalance), then held.
    on = marked.to_numpy()
    weights = {f"{name}:{kind}": hold_between(makers[kind](panel[on]).reindex(days), marked)
               for name, panel in ranked.items() for kind in un.books}
    weights.update({name: hold_between(w, marked) for name, w in rule_books(scores, config, close, days).items()})
    weights[BENCHMARK] = hold_between(equal_weight(close.reindex(days)), marked)
    return weights


def demeaned(scores: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Scores minus their group's mean score of the day; NaN for a stock without a group."""
    by = groups.reindex(scores.columns)
    kept = scores.loc[:, by.notna().to_numpy()]
    means = kept.T.groupby(by.dropna().to_numpy()).transform("mean").T
    return (kept - means).reindex(columns=scores.columns)


def _within(make: Callable[[pd.DataFrame], pd.DataFrame], groups: pd.Series
            ) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A book made in each group alone, the groups that hold names that day weighing equally."""
    def book_of(scores: pd.DataFrame) -> pd.DataFrame:
        by = groups.reindex(scores.columns)
        parts = [make(scores.loc[:, (by == g).to_numpy()]) for g in sorted(by.dropna().unique())]
        held = sum(p.abs().sum(axis=1).gt(0).astype(float) for p in parts)
        total = pd.concat(parts, axis=1).reindex(columns=scores.columns).fillna(0.0)
        return total.div(held.where(held > 0), axis=0).fillna(0.0)
    return book_of


def _check_within(groups: pd.Series | None, close: pd.DataFrame, config: RunConfig) -> None:
    """With neutral = "within": refuse when no group ever holds a book's names (k a leg) on an out-of-sample day,
    warn naming the groups that never do (their part of the books stays flat)."""
    un = config.universe
    if groups is None or un.neutral != "within":
        return
    legs = 2 if "long_short" in un.books else 1
    need = legs * un.k
    most = close.notna().T.groupby(groups.reindex(close.columns).to_numpy()).sum().max(axis=1).astype(int)
    short = most[most < need].sort_values(ascending=False)
    book = "long_short's two legs" if legs == 2 else "long_only"
    if len(short) == len(most):
        fit = f" to {most.max() // legs} or less" if most.max() >= legs else ""
        raise ConfigError(f"universe.neutral = \"within\" picks k = {un.k} names a leg in each group ({need} names "
                          f"for {book}), but the largest group holds {most.max()} names on its fullest day: every "
                          f"book would stay flat. Lower universe.k{fit}, or use neutral = \"demean\".")
    if len(short):
        shown = ", ".join(f"{g} ({n})" for g, n in short.items())
        warnings.warn(f"universe.neutral = \"within\": {len(short)} of {len(most)} groups never hold the {need} names "
                      f"{book} needs (k = {un.k} a leg) and are skipped, the books trade the others: {shown} (most "
                      "names on a day). Lower universe.k to include them.", DataWarning, stacklevel=3)


def rebalance_schedule(config: RunConfig, days: pd.DatetimeIndex) -> pd.Series:
    """The decision days after which every book of the run trades (universe.rebalance and rebalance_on)."""
    return rebalance_days(days, config.universe.rebalance, config.universe.rebalance_on)


def rule_books(scores: dict[str, pd.DataFrame], config: RunConfig, close: pd.DataFrame, days: pd.DatetimeIndex
               ) -> dict[str, pd.DataFrame]:
    """The rule books of ``strategies.rules``: "scorer:rule" per scorer with a forecast, and "bollinger", "macd".

    Each stock is held after day t while the rule says so from closes (and its score) up to t; the held
    stocks weigh equally (``strategies.rulebooks``). ``close`` is the whole calendar's, so the
    indicators are warmed up before the first out-of-sample day; naive forecasts no move and is left
    out. In an ``above_median`` run the networks' and the pooled linear model's scores estimate the
    chance of beating the median, so their forecast rule holds above ``0.5 + threshold``. With
    ``strategies.direction`` short or both, the rules' mirrors (``signals``' short states) hold stocks short
    (``strategies.rulebooks.sided_weights``).
    """
    rules, st = list(config.strategies.rules), config.strategies
    if not rules:
        return {}
    up = tuple(frame.reindex(days) for frame in indicator_states(close, st))
    down = tuple(frame.reindex(days) for frame in short_indicator_states(close, st))
    books: dict[str, pd.DataFrame] = {}
    for name, panel in scores.items():
        if name == "naive":
            continue
        centre = 0.5 if config.universe.target == "above_median" and name not in BASELINES else 0.0
        score = panel.reindex(index=days, columns=close.columns)
        longs = rule_states(forecast_states(score, st.threshold, centre), *up, rules, st.combine)
        shorts = rule_states(forecast_short_states(score, st.threshold, centre), *down, rules, st.combine)
        books.update({f"{name}:{rule}": sided_weights(longs[rule], shorts[rule], st.direction) for rule in longs})
    books.update({rule: sided_weights(up[i], down[i], st.direction) for i, rule in enumerate(STANDALONE_RULES)
                  if rule in rules})
    return books



def daily_turnover(weights: pd.DataFrame) -> pd.Series:
    """One-way turnover of a weight panel per day: half the sum of the absolute weight changes (the first
    day's: half of building the book from cash)."""
    change = weights.fillna(0.0).diff().abs().sum(axis=1)
    change.iloc[0] = weights.iloc[0].abs().sum()
    return change / 2.0


def turnover(weights: pd.DataFrame) -> float:
    """Mean daily one-way turnover of a weight panel (:func:`daily_turnover`)."""
    return float(daily_turnover(weights).mean())


def traded_turnover(pf: Any) -> pd.DataFrame:
    """What each book traded, per day: half the value of every order filled that day (buys and sells, the
    drift back to the target weights included) over the book's value at that day's close. One-way, a
    fraction of the book; days x books."""
    rec = pf.orders.records
    books = pf.wrapper.columns.get_level_values("book")
    frame = pd.DataFrame({"day": pf.wrapper.index[rec["idx"]], "book": books[rec["col"]],
                          "value": np.abs(rec["size"] * rec["price"])})
    names = list(dict.fromkeys(books))
    traded = frame.pivot_table(index="day", columns="book", values="value", aggfunc="sum")
    traded = traded.reindex(index=pf.wrapper.index, columns=names).fillna(0.0)
    value = pf.value()
    value = value.to_frame(names[0]) if isinstance(value, pd.Series) else value[names]  # one book: a Series
    return traded / value / 2.0


def book_returns(pf: Any) -> pd.DataFrame:
    """A portfolio's daily returns from the first day a book can have one: the first out-of-sample day only
    decides (its weights fill at the next open), so its return is 0 by construction and is left out."""
    return pf.returns().iloc[1:]


def _trading_table(weights: dict[str, pd.DataFrame], net: Any, gross: Any, traded: pd.DataFrame,
                   risk_free: float = 0.0) -> pd.DataFrame:
    """Per book: mean daily return before and after costs, the return figures (Sharpe and Sortino over the yearly
    ``risk_free`` rate), turnover (traded, and of the target weights) and leg shares, all from the first day a
    book can have a return."""
    returns = book_returns(net)
    table = return_figures(returns, net.total_return(), risk_free)
    table.insert(0, "mean_gross", 100.0 * book_returns(gross).mean())
    table.insert(1, "mean_net", 100.0 * returns.mean())
    table["turnover"] = 100.0 * traded.iloc[1:].mean()  # what was traded, from the first fill
    table["weight_turnover"] = [100.0 * turnover(weights[b]) for b in table.index]  # the targets' change only
    table["long_share"] = [100.0 * float(weights[b].clip(lower=0).sum(axis=1).mean()) for b in table.index]
    table["short_share"] = [100.0 * float(-weights[b].clip(upper=0).sum(axis=1).mean()) for b in table.index]
    table.index.name = "book"
    return table.replace([np.inf, -np.inf], np.nan)


def _ic_row(scores: pd.DataFrame, ahead: pd.DataFrame, close_ahead: pd.DataFrame, target: pd.DataFrame | None
            ) -> tuple[dict[str, float], pd.DataFrame, pd.Series]:
    """One scorer's IC figures on the earnable return (and the close-to-close means beside them, labelled
    ``_close``), its daily IC and rank IC, and its mean decile returns."""
    ic, rank_ic = xs.daily_ic(scores, ahead), xs.daily_ic(scores, ahead, method="rank")
    deciles = xs.decile_returns(scores, ahead)
    a, b, spread = xs.ic_summary(ic), xs.ic_summary(rank_ic), xs.spread_summary(deciles)
    row = {"ic": a["mean"], "rank_ic": b["mean"], "icir": a["icir"], "t_hac": a["t_hac"],
           "rank_t_hac": b["t_hac"], "positive": a["positive"], "spread": spread["mean"],
           "spread_t_hac": spread["t_hac"], "days": a["days"],
           "ic_close": float(xs.daily_ic(scores, close_ahead).mean()),
           "rank_ic_close": float(xs.daily_ic(scores, close_ahead, method="rank").mean()),
           "spread_close": xs.spread_summary(xs.decile_returns(scores, close_ahead))["mean"]}
    if target is not None:  # the median target: call "above" when the score beats the day's median score
        above = scores.gt(scores.median(axis=1), axis=0).astype(float).where(scores.notna())
        row["accuracy"] = xs.accuracy(above, target)
    spread_by_day = deciles.iloc[:, -1] - deciles.iloc[:, 0]  # what spread_summary averages (kept for reports)
    quantiles = {f"q{q}": deciles[q] for q in deciles.columns}  # each decile's daily mean (the tear sheet's curves)
    return row, pd.DataFrame({"ic": ic, "rank_ic": rank_ic, "spread": spread_by_day, **quantiles}), deciles.mean()


def _factor_table(scores: dict[str, pd.DataFrame], universe: Universe, days: pd.DatetimeIndex) -> pd.DataFrame:
    """Per scorer with a ranking (naive's ties have none), the tear sheet's turnover and decay figures
    (``scoring.crosssection.factor_profile``) on the out-of-sample days."""
    fill = _fill_prices(universe)[0].reindex(days)
    rows = {name: xs.factor_profile(panel, fill) for name, panel in scores.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("scorer")


def _ic_tables(scores: dict[str, pd.DataFrame], universe: Universe, days: pd.DatetimeIndex, target: str,
               level: float = 0.05, horizon: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """IC table (scorer rows, each IC and rank IC tested against zero at ``level``, Holm over the scorers), daily IC
    panel and mean decile returns of every scorer, all on the return the books can earn
    (``scoring.crosssection.earnable_return`` of the fill prices, inside the out-of-sample days), a day
    ahead whatever the target's horizon; the median target's accuracy reads its own h-day label. With
    ``horizon`` > 1 each row also has the IC and rank IC against the h-day earnable return (``*_h``,
    ``scoring.crosssection.horizon_ic``: HAC lags at least h - 1 for the days' overlap)."""
    close = universe.field("close")
    ahead = xs.earnable_return(_fill_prices(universe)[0].reindex(days))
    close_ahead = next_return(close.reindex(days))
    labels = above_median_target(close, horizon).reindex(days) if target == "above_median" else None
    ahead_h = xs.earnable_return(_fill_prices(universe)[0].reindex(days), horizon) if horizon > 1 else None
    rows, daily, deciles = {}, {}, {}
    for name, panel in scores.items():
        rows[name], day, deciles[name] = _ic_row(panel, ahead, close_ahead, labels)
        if ahead_h is not None:  # beside the one-day reading: the h-day return the target is about
            rows[name].update(xs.horizon_ic(panel, ahead_h, horizon))
        daily.update({f"{name}:{col}": day[col] for col in day.columns})
    table = xs.ic_table(rows, level)
    return table, pd.DataFrame(daily), pd.DataFrame(deciles).T.rename_axis("scorer")


def _group_ic(scores: dict[str, pd.DataFrame], universe: Universe, days: pd.DatetimeIndex, groups: pd.Series
              ) -> pd.DataFrame:
    """Every scorer's IC within each group, on the return the books can earn: (scorer, group) rows."""
    ahead = xs.earnable_return(_fill_prices(universe)[0].reindex(days))
    return pd.concat({name: xs.group_ic(panel, ahead, groups) for name, panel in scores.items()},
                     names=["scorer", "group"])


def _trade(weights: dict[str, pd.DataFrame], universe: Universe, days: pd.DatetimeIndex, config: RunConfig
           ) -> tuple[Any, Any, str]:
    """The books after costs and before, in one vectorbt portfolio each, on the out-of-sample days."""
    close = universe.field("close").reindex(days)
    fill, fills = _fill_prices(universe)
    fill = fill.reindex(days)
    bt = config.backtest
    on_change = {name for name in weights if name.rpartition(":")[2] in PANEL_RULES}  # the rule books
    marked = rebalance_schedule(config, days)
    rebalance = None if marked.all() else marked
    lot = bt.lot_size if bt.whole_shares else None  # whole shares are no cost: the gross book trades them too
    net = book(weights, fill, close, fees=bt.fees, slippage=bt.slippage, borrow=bt.borrow,
               init_cash=bt.init_cash, on_change=on_change, rebalance=rebalance, lot=lot, min_fee=bt.min_fee)
    gross = book(weights, fill, close, init_cash=bt.init_cash, on_change=on_change, rebalance=rebalance, lot=lot)
    return net, gross, fills


def _fill_prices(universe: Universe) -> tuple[pd.DataFrame, str]:
    """The prices the books fill at (the opens; the closes when the file has closes only) and their name."""
    if "open" in universe.fields:
        return universe.field("open"), "next open"
    return universe.field("close"), "next close"


def run_universe(config: RunConfig, sources: list[ScoreSource] | None = None, *, store: ChunkStore | None = None,
                 resume: bool = False, progress: Progress | None = None, runner: ChunkRunner | None = None
                 ) -> UniverseResult:
    """Run the configured universe end to end on the baselines and the given score sources.

    Parameters
    ----------
    config : RunConfig
        A config with ``universe.enabled``; ``data.path`` is the universe, ``walkforward`` the folds,
        ``backtest`` the costs (fees and slippage per half-turn), ``universe`` the books.
    sources : list of ScoreSource, optional
        More scorers (e.g. ``engine.pooled.pooled_scores``); each returns named score panels.
    store, resume : ChunkStore, bool
        Where the pooled networks' chunks of folds are saved as they finish (``runs.chunks``; pinned to this
        config and data when the universe is loaded); with ``resume`` the chunks saved there are loaded.
    progress, runner
        The live display's hooks; what trains the chunks (default: in this process, one after another).

    Returns
    -------
    UniverseResult
        Scores, weights, equity, the trading table with PSR/DSR/verdicts against the equal-weighted
        universe, and the IC table.
    """
    started, timings = time.perf_counter(), {}
    universe = _load(config)
    threads = _begin(universe, config, store, resume)
    logs: list[pd.DataFrame] = []
    pooled = partial(pooled_source, store=store, progress=progress, runner=runner or _runner(config, threads),
                     threads=threads, log=logs)
    if not config.forecast.models and not sources:
        _warn_unused(config)
    sources = [*(sources or []), *([pooled] if config.forecast.models else [])]
    calendar = universe.calendar
    folds = make_folds(len(calendar), config.walkforward)
    days = out_of_sample(folds, calendar)
    groups = configured_groups(config, universe, days)
    timings["load"] = time.perf_counter() - started
    scores = _scores(universe, folds, config, days, list(sources or []))
    weights = _books(scores, config, universe.field("close"), days, groups)
    timings["score"] = time.perf_counter() - started - sum(timings.values())
    net, gross, fills = _trade(weights, universe, days, config)
    rf = config.backtest.risk_free
    traded = traded_turnover(net)
    table = _trading_table(weights, net, gross, traded, rf)
    evaluation = evaluate_trading(table, book_returns(net), BENCHMARK, config.statistics, config.run.seed, rf)
    timings["trade"] = time.perf_counter() - started - sum(timings.values())
    ic, daily, deciles = _ic_tables(scores, universe, days, config.universe.target,
                                    config.statistics.significance, config.universe.horizon)
    by_group = None if groups is None else _group_ic(scores, universe, days, groups)
    factor = _factor_table(scores, universe, days)
    timings["ic"] = time.perf_counter() - started - sum(timings.values())
    result = UniverseResult(config, universe, folds, scores, weights, net.value(), book_returns(net),
                            book_returns(gross), evaluation.table, evaluation.summary, ic, daily, deciles, fills,
                            group_ic=by_group, traded=traded, factor=factor, gross_equity=gross.value(),
                            training=_training(logs, folds, calendar))
    result.manifest = _manifest(result, timings)
    return result


def _training(logs: list[pd.DataFrame], folds: list[Fold], calendar: pd.DatetimeIndex) -> pd.DataFrame | None:
    """The networks' training log with each fold's date ranges (as a single-symbol folds.csv); None: none trained."""
    if not logs:
        return None
    return pd.concat(logs, ignore_index=True).merge(folds_table(folds, calendar), on="fold", how="left")


def _manifest(result: UniverseResult, timings: dict[str, float]) -> dict[str, Any]:
    """What the run folder records about the run: data, folds, out-of-sample span, fills, timings."""
    u, days = result.universe, result.equity.index
    return {
        "kind": Kind.UNIVERSE.value, "seed": result.config.run.seed,
        "data": {"origin": u.origin, "fingerprint": data_fingerprint(u), "symbols": len(u.symbols),
                 "refused": len(u.refused), "days": len(u.calendar), "fields": list(u.fields),
                 "survivorship": u.survivorship},
        "folds": len(result.folds), "out_of_sample": span(str(days[0].date()), str(days[-1].date()), len(days)),
        "scorers": list(result.scores), "books": list(result.weights), "benchmark": BENCHMARK,
        "prices": prices_wording(result.config.data),  # data.adjust: raw, or each stock's total return
        "fills": result.fills, "forecast_return": FORECAST_RETURN[result.fills],
        "risk_free": result.config.backtest.risk_free,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
