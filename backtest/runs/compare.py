"""`wfbt compare`: several finished runs side by side, on the period they share.

When every run covers the same out-of-sample days the saved metrics are used as they are. When the
periods differ, each run is cut to the common period: forecast errors are recomputed from its
predictions on those days, and trading results from its equity curves, each curve rebased to its value
on the day before the common period starts (or to the run's initial cash when the period starts on its
first day). A run cut before its own last day has every position it then holds sold at the common
period's last close, paying its fee, slippage and tax, as every run does on its own last day. Trade
counts, win rate and fees need the fills inside the period and are left out then.

Beside the tables a comparison says what differs (``backtest.runs.differences``): the settings whose
values differ, a warning when the runs are on different data, and, on the same data, paired tests of
each run against each other one (Diebold-Mariano per common model, Ledoit-Wolf per common strategy).
"""

from __future__ import annotations

import dataclasses
import fnmatch
from dataclasses import dataclass

import pandas as pd

from backtest.core.config import BacktestSection, StatisticsSection
from backtest.core.errors import WfbtError
from backtest.runs.differences import closes, data_name, data_note, paired_forecasts, paired_sharpes, settings_diff
from backtest.runs.labels import refuse_repeated, run_labels
from backtest.runs.store import RunSummary, read_run
from backtest.scoring.evaluation import evaluate_forecasts, evaluate_trading
from backtest.scoring.metrics import equity_figures
from forecasters.registry import NAIVE
from strategies.signals import BENCHMARK


@dataclass
class Comparison:
    """Runs side by side on their common out-of-sample period (built by ``compare``)."""

    labels: list[str]
    first: pd.Timestamp
    last: pd.Timestamp
    days: int
    same_period: bool
    periods: dict[str, tuple[pd.Timestamp, pd.Timestamp]]  # each run's own out-of-sample range
    forecast: pd.DataFrame  # run, model, errors
    trading: pd.DataFrame  # run, strategy, results
    equity: pd.DataFrame  # common period; columns "run:strategy", rebased to 100 at the period's start
    settings: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)  # setting, one column per run
    data: dict[str, str] = dataclasses.field(default_factory=dict)  # run -> its data in words
    data_warning: str | None = None  # None: every run on the same data
    paired_forecast: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)  # DM of run A vs run B
    paired_trading: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)  # Sharpe of run A vs run B
    significance: float = StatisticsSection.significance  # the first run's level, for the paired verdicts

    def chart_columns(self, curves: int) -> list[str]:
        """The curves the terminal chart draws: the first run's buy-and-hold, then the best by the sort."""
        ranked = [f"{r.run}:{r.strategy}" for r in self.trading.itertuples()]
        benches = [c for c in ranked if c.endswith(f":{BENCHMARK}")][:1]
        return benches + [c for c in ranked if c not in benches][:max(0, curves - len(benches))]

    def note(self) -> str:
        span = f"{self.first:%Y-%m-%d} → {self.last:%Y-%m-%d} ({self.days} trading days)"
        if self.same_period:
            return f"All runs cover the same out-of-sample period, {span}; metrics as each run saved them."
        own = "; ".join(f"{k}: {a:%Y-%m-%d} → {b:%Y-%m-%d}" for k, (a, b) in self.periods.items())
        return (f"The runs cover different periods ({own}). Compared on their common period only, {span}: "
                "forecast errors recomputed from the predictions and trading results from the equity curves "
                "on those days (trades, win rate and fees left out).")


SORT_KEYS = {  # --sort NAME -> (table, column, descending)
    "sharpe": ("trading", "sharpe", True), "return": ("trading", "total_return", True),
    "cagr": ("trading", "cagr", True), "drawdown": ("trading", "max_drawdown", True),
    "vol": ("trading", "volatility", False), "sortino": ("trading", "sortino", True),
    "calmar": ("trading", "calmar", True), "trades": ("trading", "trades", False),
    "rmse": ("forecast", "rmse", False), "mae": ("forecast", "mae", False), "mape": ("forecast", "mape", False),
    "direction": ("forecast", "direction", True), "theil_u": ("forecast", "theil_u", False),
}


def _match(name: str, patterns: list[str] | None) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _patterns_match(summaries: list[RunSummary], strategies: list[str] | None, models: list[str] | None) -> None:
    """A --strategy or --model pattern that matches nothing in any run is a typo, not an empty comparison."""
    names = {"--strategy": (strategies, sorted({c for s in summaries for c in s.equity.columns} - {BENCHMARK})),
             "--model": (models, sorted({str(m) for s in summaries for m in s.forecast["model"]} - {NAIVE}))}
    for option, (patterns, known) in names.items():
        for pattern in patterns or []:
            if not any(fnmatch.fnmatchcase(n, pattern) for n in known):
                raise WfbtError(f"{option} {pattern!r} matches nothing in these runs. They have: {', '.join(known)}. "
                                "Patterns are shell-style, e.g. 'lstm*' or '*:forecast'.")


def _rebased(s: RunSummary, first: pd.Timestamp, last: pd.Timestamp) -> tuple[pd.DataFrame, pd.Series]:
    """The equity on [first, last] and, per strategy, its value the day before (or the initial cash)."""
    before = s.equity.loc[:first].iloc[:-1]
    init_cash = float(s.config().get("backtest", {}).get("init_cash", BacktestSection.init_cash))
    base = before.iloc[-1] if len(before) else pd.Series(init_cash, index=s.equity.columns)
    return _sold_at(s, s.equity.loc[first:last], last), base.astype(float)


def _sold_at(s: RunSummary, eq: pd.DataFrame, last: pd.Timestamp) -> pd.DataFrame:
    """The curve cut at ``last`` with every position then held sold at that day's close, fee, slippage and tax
    paid, as the run itself does on its own last day (where nothing is left to sell).

    The shares are those held over ``last``: with ``execution = "close"`` an order is dated by the close it
    filled at (the decision day's), so one dated ``last`` trades for the next day and is not counted."""
    if last == s.equity.index[-1]:
        return eq
    cfg = s.config().get("backtest", {})
    orders = s.orders()
    same_close = cfg.get("execution", BacktestSection.execution) == "close"
    orders = orders[orders["date"] < last] if same_close else orders[orders["date"] <= last]
    signed = orders["size"].where(orders["side"] == "Buy", -orders["size"])
    shares = signed.groupby(orders["strategy"]).sum().reindex(eq.columns, fill_value=0.0)
    preds = s.predictions()
    close = float(preds.loc[preds["date"] == last, "actual"].iloc[0])
    fees, tax, slippage = (float(cfg.get(k, getattr(BacktestSection, k))) for k in ("fees", "tax", "slippage"))
    out = eq.copy()
    out.iloc[-1] -= shares.clip(lower=0.0) * close * (1.0 - (1.0 - slippage) * (1.0 - fees - tax))
    return out


def _statistics(s: RunSummary) -> tuple[StatisticsSection, int]:
    """The run's own significance settings and seed, so recomputed tests follow what the run asked for."""
    return statistics_of(s.config())


def statistics_of(cfg: dict) -> tuple[StatisticsSection, int]:
    """The significance settings and seed of a run's config.toml (as read by tomllib)."""
    known = {f.name for f in dataclasses.fields(StatisticsSection)}
    section = {k: v for k, v in cfg.get("statistics", {}).items() if k in known}
    return StatisticsSection(**section), int(cfg.get("run", {}).get("seed", 0))


def _recompute(s: RunSummary, first: pd.Timestamp, last: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Forecast and trading tables of one run on the common period, tests included."""
    stats_cfg, seed = _statistics(s)
    preds = s.predictions()
    forecast = evaluate_forecasts(preds[(preds["date"] >= first) & (preds["date"] <= last)], stats_cfg, seed).table
    eq, base = _rebased(s, first, last)
    table = equity_figures(eq, base)
    returns = pd.concat([base.to_frame().T, eq]).pct_change().iloc[1:]
    trading = evaluate_trading(table, returns, BENCHMARK, stats_cfg, seed).table
    return forecast, trading


def compare(run_dirs: list[str], strategies: list[str] | None = None, models: list[str] | None = None,
            sort: str = "sharpe") -> Comparison:
    if sort not in SORT_KEYS:
        raise WfbtError(f"--sort {sort!r} is not a column to sort by. Use one of: {', '.join(SORT_KEYS)}.")
    refuse_repeated(run_dirs)
    summaries = [read_run(d) for d in run_dirs]
    _patterns_match(summaries, strategies, models)
    labels = run_labels([s.run_dir for s in summaries])
    periods = {lab: (s.equity.index[0], s.equity.index[-1]) for lab, s in zip(labels, summaries, strict=True)}
    first = max(a for a, _ in periods.values())
    last = min(b for _, b in periods.values())
    if first > last:
        raise WfbtError("the runs share no out-of-sample day: " + "; ".join(
            f"{k}: {a:%Y-%m-%d} → {b:%Y-%m-%d}" for k, (a, b) in periods.items()) + ". Compare runs that overlap.")
    same = len(set(periods.values())) == 1

    forecast_rows, trading_rows, curves = [], [], {}
    for label, s in zip(labels, summaries, strict=True):
        fc, tr = (s.forecast.copy(), s.trading) if same else _recompute(s, first, last)
        fc = fc[[_match(m, models) or m == NAIVE for m in fc["model"]]]
        forecast_rows.append(fc.assign(run=label))
        eq, base = _rebased(s, first, last)
        for strategy in s.equity.columns:
            if not (_match(strategy, strategies) or strategy == BENCHMARK):
                continue
            row = tr.loc[strategy].to_dict() if strategy in tr.index else {}
            trading_rows.append({"run": label, "strategy": strategy, **row})
            curves[f"{label}:{strategy}"] = 100 * eq[strategy] / base[strategy]

    forecast = pd.concat(forecast_rows, ignore_index=True)
    forecast = forecast[["run", *[c for c in forecast.columns if c != "run"]]]
    trading = pd.DataFrame(trading_rows)
    table, column, descending = SORT_KEYS[sort]
    frames = {"trading": trading, "forecast": forecast}
    if column not in frames[table].columns:
        raise WfbtError(f"--sort {sort} needs {column}, which runs over different periods do not have (it needs "
                        "the fills inside the common period). Sort by sharpe, return, drawdown or another metric.")
    frames[table] = frames[table].sort_values(column, ascending=not descending, na_position="last", kind="stable")
    trading, forecast = frames["trading"], frames["forecast"]
    equity = pd.DataFrame(curves)
    kept = sorted({str(m) for m in forecast["model"]} - {NAIVE})
    return Comparison(labels=labels, first=first, last=last, days=len(summaries[0].equity.loc[first:last]),
                      same_period=same, periods=periods, forecast=forecast.reset_index(drop=True),
                      trading=trading.reset_index(drop=True), equity=equity,
                      **_differences(dict(zip(labels, summaries, strict=True)), first, last, equity, kept,
                                     list(dict.fromkeys(trading["strategy"]))))


def _common_returns(equity: pd.DataFrame, labels: list[str]) -> dict[str, pd.DataFrame]:
    """Per run, the daily returns of its curves on the common period (curves start from 100)."""
    start = pd.DataFrame([[100.0] * equity.shape[1]], columns=equity.columns)
    returns = pd.concat([start, equity.reset_index(drop=True)], ignore_index=True).pct_change().iloc[1:]
    out = {}
    for label in labels:
        cols = [c for c in returns.columns if c.startswith(f"{label}:")]
        frame = returns[cols].reset_index(drop=True)
        frame.columns = [c[len(label) + 1:] for c in cols]
        out[label] = frame
    return out


def _differences(runs: dict[str, RunSummary], first: pd.Timestamp, last: pd.Timestamp, equity: pd.DataFrame,
                 models: list[str], strategies: list[str]) -> dict[str, object]:
    """Comparison's fields that say what differs: settings, data, and the paired tests on the same data."""
    preds = {}
    for label, s in runs.items():
        p = s.predictions()
        preds[label] = p[(p["date"] >= first) & (p["date"] <= last)]
    warning = data_note({k: s.manifest for k, s in runs.items()}, {k: closes(p) for k, p in preds.items()})
    level = _statistics(next(iter(runs.values())))[0].significance
    fc, tr = paired_forecasts({}, None, level), paired_sharpes({}, [], level)
    if warning is None and len(runs) > 1:
        fc = paired_forecasts(preds, models, level)
        tr = paired_sharpes(_common_returns(equity, list(runs)), strategies, level)
    return {"settings": settings_diff({k: s.config() for k, s in runs.items()}),
            "data": {k: data_name(s.manifest) for k, s in runs.items()}, "data_warning": warning,
            "paired_forecast": fc, "paired_trading": tr, "significance": level}
