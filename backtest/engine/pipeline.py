"""Run orchestration in memory: config in, RunResult out. Every stage is a plain function called in order.

``run`` loads, schedules, forecasts (engine.forecasting) and hands the dated predictions to
``trade_and_score``, which a sweep's cells call too. The engine writes no file: what a run saves as it
goes it hands to the ``CheckpointStore`` it is given.
"""

from __future__ import annotations

import platform
import time
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd
import torch

from backtest.core.config import BacktestSection, RunConfig
from backtest.core.cores import configure_threads
from backtest.core.errors import CheckpointWarning, DamagedCheckpoint
from backtest.core.kinds import Kind
from backtest.core.manifest import span
from backtest.data.adjust import prices_wording
from backtest.data.load import fingerprint, for_close_only, is_close_only, load_prices
from backtest.engine.devices import kernel_path, prepare_device
from backtest.engine.fills import fills_wording
from backtest.engine.forecasting import (
    Forecast,
    Progress,
    Windows,
    fit_baseline,
    forecaster_names,
    train_networks,
    windows,
)
from backtest.engine.portfolio import (
    fill_dates,
    held_positions,
    held_sides,
    holdings,
    simulate,
    simulate_trader,
    trader_stops,
)
from backtest.engine.schedule import Fold, folds_table, make_folds
from backtest.scoring.evaluation import evaluate_forecasts, evaluate_trading
from backtest.scoring.metrics import forecast_table, scaled_table
from backtest.scoring.traders import round_trip_cost, trader_table
from forecasters.baselines import naive_forecast
from forecasters.registry import NAIVE, TRADABLE_BASELINES
from strategies.signals import BENCHMARK, strategy_positions, strategy_states
from strategies.sizing import strategy_sizes

__all__ = ["CheckpointStore", "Progress", "RunResult", "run", "trade_and_score"]


class CheckpointStore(Protocol):
    """Where a run saves each trained architecture as it goes (backtest.runs.checkpoint writes it to the run
    folder); the engine itself writes no file."""

    def begin(self, config: dict[str, dict[str, Any]], data_fingerprint: str, resume: bool, *,
              folds: list[Fold] | None = None) -> list[str]: ...

    def load(self, model: str, *, folds: list[Fold] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]: ...

    def save(self, model: str, predictions: pd.DataFrame, fold_log: pd.DataFrame) -> None: ...

    def discard(self, model: str) -> None: ...


@dataclass
class RunResult:
    kind: ClassVar[Kind] = Kind.SINGLE
    config: RunConfig
    prices: pd.DataFrame
    folds: list[Fold]
    predictions: pd.DataFrame  # date, model, fold, predicted, actual, naive
    fold_log: pd.DataFrame  # per model x fold: ranges, epochs, losses, seconds
    forecast_metrics: pd.DataFrame
    forecast_metrics_by_fold: pd.DataFrame
    trading_metrics: pd.DataFrame
    equity: pd.DataFrame  # strategy values over the out-of-sample days
    states: pd.DataFrame  # decision day x strategy: True = hold after that close
    orders: pd.DataFrame  # every fill: strategy, date, side, size, price, fees
    statistics: dict[str, Any] = field(default_factory=dict)  # tests of the whole set: SPA, MCS, PBO
    manifest: dict[str, Any] = field(default_factory=dict)
    study: dict[str, Any] = field(default_factory=dict)  # walkforward.protocol = "study": the split, scaled errors


def _networks(run: Windows, device: torch.device, progress: Progress, checkpoint: CheckpointStore | None,
              done: list[str]) -> dict[str, Forecast]:
    """Every network's (predictions, fold log): loaded from the checkpoint, or trained and saved there."""
    config, out = run.config, {}
    for model in config.forecast.models:
        if model in TRADABLE_BASELINES:  # fast and deterministic: never checkpointed
            continue
        if checkpoint is not None and model in done and (saved := _load_saved(checkpoint, model, run.folds)):
            progress.group_start(model, len(saved[1]) * config.forecast.seeds, config.training.epochs)
            progress.group_end(model, float(saved[1]["seconds"].sum()))
            out[model] = saved
        else:
            if model in done:
                done.remove(model)  # its checkpoint failed its proof: the manifest must not say it was loaded
            out[model] = train_networks(model, [run], device, progress)[0]
            if checkpoint is not None:
                checkpoint.save(model, *out[model])
    return out


def _load_saved(checkpoint: CheckpointStore, model: str, folds: list[Fold]) -> Forecast | None:
    """A saved group, proven against the run's folds again as it is used; None (with a warning) if it fails."""
    try:
        return checkpoint.load(model, folds=folds)
    except DamagedCheckpoint as exc:  # changed since begin() proved it
        warnings.warn(f"{exc} {model} is trained again.", CheckpointWarning, stacklevel=2)
        checkpoint.discard(model)
        return None


def _assemble(config: RunConfig, prices: pd.DataFrame, per_model: dict[str, Forecast]
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All forecasters' predictions (dated, with actual and naive) and fold logs, in table order."""
    names = forecaster_names(config)
    predictions = pd.concat([per_model[m][0] for m in names], ignore_index=True)
    return _with_dates(predictions, prices), pd.concat([per_model[m][1] for m in names], ignore_index=True)


def _with_dates(predictions: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """Row positions -> the predicted day, with the actual close and the naive forecast beside each."""
    out = predictions.copy()
    pos = out.pop("pos").to_numpy()
    close = prices["close"].to_numpy(dtype=np.float64)
    out.insert(0, "date", prices.index[pos])
    out.insert(4, "actual", close[pos])
    out.insert(5, NAIVE, naive_forecast(close, pos))
    return out


def _traded_forecasts(predictions: pd.DataFrame, prices: pd.DataFrame, models: list[str]) -> dict[str, pd.Series]:
    """Each traded model's forecast for day d, indexed by the decision day d - 1 (its close is when it is known)."""
    position = pd.Series(np.arange(len(prices)), index=prices.index)
    out = {}
    for model in models:
        g = predictions[predictions["model"] == model]
        decision = prices.index[position[g["date"]].to_numpy() - 1]
        out[model] = pd.Series(g["predicted"].to_numpy(), index=decision)
    return out


def run(config: RunConfig, progress: Progress | None = None, prices: pd.DataFrame | None = None,
        checkpoint: CheckpointStore | None = None, resume: bool = False) -> RunResult:
    """Load, schedule, train, trade and score; returns everything the report and artifacts need.

    ``prices`` (already checked, as from load_prices) replaces loading ``config.data``. With a
    ``checkpoint`` each architecture's results are saved as soon as it is trained, and with ``resume``
    the architectures already saved there are loaded instead of trained again.
    """
    progress = progress or Progress()
    timings: dict[str, float] = {}
    lap = _stopwatch(timings)
    prices = load_prices(config.data) if prices is None else prices
    config = for_close_only(config, prices)  # a close-only file runs on its close, filled at the close
    folds = make_folds(len(prices), config.walkforward)
    lap("data")

    device = prepare_device(config.run.device)
    threads = configure_threads(config.run.threads)
    cut = windows(config, prices, folds)
    identity = config.to_dict()
    identity["run"]["threads"] = threads  # the count, not "auto": it changes float rounding, so resume pins it
    done = checkpoint.begin(identity, fingerprint(prices), resume, folds=folds) if checkpoint else []
    trained = _networks(cut, device, progress, checkpoint, done)
    lap("training")

    extra = {"threads": threads, "resumed": resume,
             "loaded_from_checkpoint": done}  # architectures an interrupted run had finished
    return trade_and_score(cut, prices, trained, device, timings, extra)


def trade_and_score(run: Windows, prices: pd.DataFrame, trained: dict[str, Forecast], device: torch.device,
                    timings: dict[str, float], manifest: dict[str, Any] | None = None) -> RunResult:
    """Fit the baselines beside the trained networks, trade the dated predictions, score forecasts and
    strategies with their tests, and build the result (a run's last stage, and a sweep cell's)."""
    config, folds = run.config, run.folds
    lap = _stopwatch(timings)
    close = prices["close"].to_numpy(dtype=np.float64)
    per_model = {**trained, **{b: fit_baseline(b, run, close) for b in forecaster_names(config) if b not in trained}}
    predictions, fold_log = _assemble(config, prices, per_model)
    lap("baselines")
    states, pf, held = _trade(config, prices, predictions, folds[0].test_start)
    lap("backtest")
    forecasts = evaluate_forecasts(predictions, config.statistics, config.run.seed)
    trading = evaluate_trading(_trader_table(pf, held, config.backtest), pf.returns(), BENCHMARK, config.statistics,
                               config.run.seed, config.backtest.risk_free)
    lap("statistics")
    timings["total"] = sum(v for k, v in timings.items() if k != "total")
    return RunResult(
        config=config, prices=prices, folds=folds, predictions=predictions,
        fold_log=fold_log.merge(folds_table(folds, prices.index), on="fold"),
        forecast_metrics=forecasts.table, forecast_metrics_by_fold=forecast_table(predictions, True),
        trading_metrics=trading.table.sort_values("sharpe", ascending=False, na_position="last"),
        equity=pf.value(), states=pd.DataFrame(states),
        orders=_orders(pf, prices.index, _closed(states, folds[0].test_start), config.backtest.execution),
        statistics={"forecast": forecasts.summary, "trading": trading.summary},
        manifest={**_manifest(config, prices, folds, device, timings), **(manifest or {})},
        study=study_summary(run, prices.index, forecasts.table),
    )


def look_ahead(config: RunConfig) -> bool:
    """Whether the run's scalers saw its test days (forecast.scaler_fit = "whole_series", a study's choice)."""
    return config.forecast.scaler_fit == "whole_series"


def study_summary(run: Windows, dates: pd.DatetimeIndex, forecasts: pd.DataFrame) -> dict[str, Any]:
    """A study-protocol run's split and its errors in the studies' scaled units beside price units ({} for a
    walk-forward run): what the console, report.html and metrics.json show as "as published"."""
    config = run.config
    if config.walkforward.protocol != "study":
        return {}
    wf, fc, fold = config.walkforward, config.forecast, run.folds[0]

    def span(start: int, end: int) -> dict[str, Any]:
        return {"rows": end - start, "first": str(dates[start].date()) if end > start else "",
                "last": str(dates[end - 1].date()) if end > start else ""}

    return {
        "protocol": "study", "fractions": {"train": wf.study_train, "val": wf.study_val, "test": wf.study_test},
        "train": span(fold.train_start, fold.val_start), "val": span(fold.val_start, fold.train_end),
        "test": span(fold.test_start, fold.test_end), "scaler": fc.scaler, "scaler_fit": fc.scaler_fit,
        "look_ahead": look_ahead(config), "scale": run.data[0].close_scale,
        "table": scaled_table(forecasts, run.data[0].close_scale).to_dict(orient="records"),
    }


def _trader_table(pf: Any, held: pd.DataFrame, bt: BacktestSection) -> pd.DataFrame:
    """The trading table with the trader's figures and the break-even cost, over the run's risk-free rate."""
    return trader_table(pf, held, BENCHMARK, bt.risk_free, round_trip_cost(bt.fees, bt.tax, bt.slippage))


def is_trader(config: RunConfig) -> bool:
    """Whether the run asks for more than long, all-in rules without stops (today's run, kept bit for bit)."""
    st = config.strategies
    return (st.direction != "long" or st.sizing != "all_in"
            or any((st.stop_loss, st.take_profit, st.trailing_stop)))


def _trade(config: RunConfig, prices: pd.DataFrame, predictions: pd.DataFrame, start: int
           ) -> tuple[dict[str, pd.Series], Any, pd.DataFrame]:
    """Every strategy's state (bool: long rules) or position (+1 / -1 / 0), its portfolio, and where it held
    (bool, or the side held: +1 / -1 / 0)."""
    forecasts = _traded_forecasts(predictions, prices, config.forecast.models)
    st = config.strategies
    if not is_trader(config):
        states = strategy_states(prices["close"], forecasts, st)
        return states, simulate(prices, states, start, config.backtest), holdings(states, start)
    positions = strategy_positions(prices["close"], forecasts, st)
    seeds = _traded_seeds(predictions, prices, config.forecast.models)
    sizes = strategy_sizes(list(positions), prices["close"], forecasts, seeds, st)
    pf = simulate_trader(prices, positions, sizes, start, config.backtest,
                         trader_stops(st.stop_loss, st.take_profit, st.trailing_stop))
    return positions, pf, held_sides(pf, held_positions(positions, start))


def _closed(states: dict[str, pd.Series], start: int) -> pd.Series:
    """True for a strategy that still holds a position on the last day (sold or covered at its close)."""
    return held_positions(states, start).iloc[-1] != 0


def _traded_seeds(predictions: pd.DataFrame, prices: pd.DataFrame, models: list[str]) -> dict[str, pd.DataFrame]:
    """Each traded model's seeds' forecasts (``seed_<k>`` columns) by decision day, as ``_traded_forecasts``;
    a model without them (one seed, or a baseline) has its forecast as its one seed."""
    position = pd.Series(np.arange(len(prices)), index=prices.index)
    columns = [c for c in predictions.columns if c.startswith("seed_")]
    out = {}
    for model in models:
        g = predictions[predictions["model"] == model]
        own = [c for c in columns if g[c].notna().any()] or ["predicted"]
        decision = prices.index[position[g["date"]].to_numpy() - 1]
        out[model] = pd.DataFrame(g[own].to_numpy(), index=decision, columns=own)
    return out


def _stopwatch(timings: dict[str, float]) -> Any:
    """lap(name) records the seconds since the previous lap under ``name``."""
    last = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = now - last[0]
        last[0] = now

    return lap


def _manifest(config: RunConfig, prices: pd.DataFrame, folds: list[Fold], device: torch.device,
              timings: dict[str, float]) -> dict[str, Any]:
    return {
        "kind": Kind.SINGLE.value,
        "name": config.run.name,
        "seed": config.run.seed,
        "device": str(device),
        "kernels": kernel_path(device),
        "device_name": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor()
        or platform.machine(),
        "data": {
            "source": config.data.source, "symbol": config.data.symbol, "path": config.data.path,
            "rows": len(prices), "first": str(prices.index[0].date()), "last": str(prices.index[-1].date()),
            "fingerprint": fingerprint(prices), "close_only": is_close_only(prices),
        },
        "features": list(config.forecast.features),
        "folds": len(folds),
        "out_of_sample": span(str(prices.index[folds[0].test_start].date()),
                              str(prices.index[folds[-1].test_end - 1].date()),
                              folds[-1].test_end - folds[0].test_start),
        "representation": config.forecast.representation,
        "protocol": config.walkforward.protocol,
        "look_ahead": look_ahead(config),  # true: scalers fit on the whole series, test days included (a study's)
        "execution": config.backtest.execution,
        "prices": prices_wording(config.data), "fills": fills_wording(config.backtest),
        "risk_free": config.backtest.risk_free,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "versions": _versions(),
    }


def _orders(pf: Any, index: pd.DatetimeIndex, closed: pd.Series, execution: str) -> pd.DataFrame:
    """Every fill, dated by the day it was filled (``portfolio.fill_dates``), the closing sells included."""
    rec = pf.orders.records_readable
    if isinstance(rec["Column"].iloc[0] if len(rec) else None, tuple):  # a trader run: (strategy, leg) columns
        rec = rec.assign(Column=[c[0] for c in rec["Column"]])
    out = rec.rename(columns={"Column": "strategy", "Timestamp": "date", "Side": "side", "Size": "size",
                              "Price": "price", "Fees": "fees"})[["strategy", "date", "side", "size", "price", "fees"]]
    return out.assign(date=fill_dates(out, index, closed, execution))


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("wfbt", "torch", "numpy", "pandas", "scikit-learn", "vectorbt", "rich"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out
