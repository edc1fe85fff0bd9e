"""Run orchestration: config in, RunResult out. Every stage is a plain function called in order."""

from __future__ import annotations

import math
import platform
import time
import warnings
import zlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from backtest.core.config import RunConfig
from backtest.data.load import fingerprint, load_prices
from backtest.engine.devices import kernel_path, prepare_device, split_to_fit
from backtest.scoring.evaluation import evaluate_forecasts, evaluate_trading
from backtest.scoring.metrics import forecast_table, trading_table
from backtest.engine.portfolio import simulate
from backtest.core.cores import configure_threads
from backtest.engine.schedule import Fold, folds_table, make_folds
from forecasters.baselines import drift_forecast, fit_linear, naive_forecast
from forecasters.registry import NAIVE, TRADABLE_BASELINES, get_architecture
from forecasters.trainer import Member, TrainSettings, train_group
from forecasters.windows import FoldData, fit_rows, fold_data
from strategies.signals import BENCHMARK, strategy_states


class Checkpoint(Protocol):
    """Where a run saves each trained architecture as it goes (backtest.runs.checkpoint writes it to the run
    folder); the engine itself writes no file."""

    def begin(self, config: dict[str, dict[str, Any]], data_fingerprint: str, resume: bool) -> list[str]: ...

    def load(self, model: str) -> tuple[pd.DataFrame, pd.DataFrame]: ...

    def save(self, model: str, predictions: pd.DataFrame, fold_log: pd.DataFrame) -> None: ...


class Progress:
    """Hooks the CLI's live display implements; the default does nothing."""

    def group_start(self, model: str, members: int, epochs: int) -> None: ...

    def epoch(self, model: str, epoch: int, live: int, total: int, val_loss: float) -> None: ...

    def group_end(self, model: str, seconds: float) -> None: ...


@dataclass
class RunResult:
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


def member_seed(seed: int, model: str, fold: int, replica: int) -> int:
    """A stable per-member seed: the same member gets the same seed whatever else the run trains."""
    return zlib.crc32(f"{seed}:{model}:{fold}:{replica}".encode())


def _member_log(model: str, fold: int, group: list[Any], seconds: float) -> dict[str, Any]:
    """One folds.csv row: a fold's members (its seeds) summarised."""
    return {
        "model": model, "fold": fold,
        "epochs": int(np.mean([r.epochs for r in group])),
        "best_epoch": int(np.mean([r.best_epoch for r in group])),
        "train_loss": float(np.mean([r.train_loss[r.best_epoch - 1] for r in group])),
        "val_loss": float(np.mean([r.best_val_loss for r in group])),
        "seconds": seconds,
        "train_curve": _curve([r.train_loss for r in group]),  # per epoch, mean over seeds
        "val_curve": _curve([r.val_loss for r in group]),
    }


def model_members(model: str, data: list[FoldData], config: RunConfig) -> list[Member]:
    """One member per fold and seed of ``model``, in fold order, each with its stable seed."""
    return [
        Member(d.x_train, d.y_train, d.x_val, d.y_val, d.x_test, member_seed(config.run.seed, model, d.fold.index, k))
        for d in data for k in range(config.forecast.seeds)
    ]


def train_settings(config: RunConfig) -> TrainSettings:
    tr = config.training
    return TrainSettings(tr.epochs, tr.batch_size, tr.lr, tr.patience, tr.min_delta)


def collect_model(model: str, data: list[FoldData], results: list[Any], seeds: int, seconds: float
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions and fold log of one model from its members' results (``model_members`` order).

    The prediction of a fold is the mean over its seeds (in the representation's units, then mapped to a
    price); with several seeds each seed's own price predictions are kept too (``seed_<k>`` columns).
    ``seconds`` is the model's training time, shared out per member.
    """
    preds, log = [], []
    for i, d in enumerate(data):
        group = results[i * seeds:(i + 1) * seeds]
        frame = pd.DataFrame({"model": model, "fold": d.fold.index, "pos": d.test_positions,
                              "predicted": d.to_price(np.mean([r.predictions for r in group], axis=0))})
        if seeds > 1:
            for k, r in enumerate(group):
                frame[f"seed_{k}"] = d.to_price(r.predictions)
        preds.append(frame)
        log.append(_member_log(model, d.fold.index, group, seconds * len(group) / len(results)))
    return pd.concat(preds, ignore_index=True), pd.DataFrame(log)


def train_model(
    model: str, data: list[FoldData], config: RunConfig, device: torch.device, progress: Progress,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train every fold x seed of one architecture as one group; return (predictions, fold log)."""
    arch = get_architecture(model)
    members = model_members(model, data, config)
    settings = train_settings(config)
    chunks = split_to_fit(arch, members, settings.batch_size, device)
    progress.group_start(model, len(members), settings.epochs)
    start = time.perf_counter()
    results = []
    for chunk in chunks:
        results += train_group(
            arch, chunk, settings, device=device,
            progress=lambda e, live, total, v: progress.epoch(model, e, live, total, v),
        )
    seconds = time.perf_counter() - start
    progress.group_end(model, seconds)
    return collect_model(model, data, results, config.forecast.seeds, seconds)


def _baseline_log(model: str, fold: int, train_loss: float, val_loss: float, seconds: float) -> dict[str, Any]:
    return {"model": model, "fold": fold, "epochs": 0, "best_epoch": 0, "train_loss": train_loss,
            "val_loss": val_loss, "seconds": seconds, "train_curve": "", "val_curve": ""}


def baseline_model(model: str, data: list[FoldData], close: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions and fold log of a baseline forecaster (drift or linear), fit per fold like the networks."""
    preds, log = [], []
    for d in data:
        start = time.perf_counter()
        if model == "drift":
            predicted = drift_forecast(close, fit_rows(d.fold), d.test_positions)
            train_loss = val_loss = math.nan
        else:
            fit = fit_linear(d.x_train, d.y_train, d.x_val, d.y_val, d.x_test)
            predicted, train_loss, val_loss = d.to_price(fit.predictions), fit.train_mse, fit.val_mse
        preds.append(pd.DataFrame({"model": model, "fold": d.fold.index, "pos": d.test_positions,
                                   "predicted": predicted}))
        log.append(_baseline_log(model, d.fold.index, train_loss, val_loss, time.perf_counter() - start))
    return pd.concat(preds, ignore_index=True), pd.DataFrame(log)


def _curve(histories: list[list[float]]) -> str:
    """Per-epoch losses (mean over the seeds still training) as space-separated numbers, for folds.csv."""
    longest = max(len(h) for h in histories)
    table = np.full((len(histories), longest), np.nan)
    for i, h in enumerate(histories):
        table[i, :len(h)] = h
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no validation set
        means = np.nanmean(table, axis=0)
    return " ".join(f"{v:.6g}" for v in means)


def forecaster_names(config: RunConfig) -> list[str]:
    """Every forecaster a run scores, in table order: the configured models, then the baselines not listed."""
    models = list(config.forecast.models)
    return models + [b for b in TRADABLE_BASELINES if b not in models]


def fold_datasets(config: RunConfig, prices: pd.DataFrame, folds: list[Fold]) -> list[FoldData]:
    """Every fold's windows in the configured representation, scaled on its fitting rows."""
    fc = config.forecast
    return [fold_data(prices, f, fc.features, fc.lookback, fc.scaler, fc.representation) for f in folds]


def _forecast_all(config: RunConfig, prices: pd.DataFrame, data: list[FoldData], device: torch.device,
                  progress: Progress, checkpoint: Checkpoint | None, done: list[str]
                  ) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Every forecaster's (predictions, fold log): trained, loaded from the checkpoint, or a baseline."""
    out = {}
    for model in forecaster_names(config):
        if model in TRADABLE_BASELINES:  # fast and deterministic: never checkpointed
            out[model] = baseline_model(model, data, prices["close"].to_numpy(dtype=np.float64))
        elif checkpoint is not None and model in done:
            preds, log = checkpoint.load(model)
            progress.group_start(model, len(log) * config.forecast.seeds, config.training.epochs)
            progress.group_end(model, float(log["seconds"].sum()))
            out[model] = preds, log
        else:
            out[model] = train_model(model, data, config, device, progress)
            if checkpoint is not None:
                checkpoint.save(model, *out[model])
    return out


def assemble(config: RunConfig, prices: pd.DataFrame, per_model: dict[str, tuple[pd.DataFrame, pd.DataFrame]]
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
        checkpoint: Checkpoint | None = None, resume: bool = False) -> RunResult:
    """Load, schedule, train, trade and score; returns everything the report and artifacts need.

    ``prices`` (already checked, as from load_prices) replaces loading ``config.data``. With a
    ``checkpoint`` each architecture's results are saved as soon as it is trained, and with ``resume``
    the architectures already saved there are loaded instead of trained again.
    """
    progress = progress or Progress()
    timings: dict[str, float] = {}
    lap = _stopwatch(timings)
    prices = load_prices(config.data) if prices is None else prices
    folds = make_folds(len(prices), config.walkforward)
    lap("data")

    device = prepare_device(config.run.device)
    threads = configure_threads(config.run.threads)
    data = fold_datasets(config, prices, folds)
    identity = config.to_dict()
    identity["run"]["threads"] = threads  # the count, not "auto": it changes float rounding, so resume pins it
    done = checkpoint.begin(identity, fingerprint(prices), resume) if checkpoint else []
    per_model = _forecast_all(config, prices, data, device, progress, checkpoint, done)
    predictions, fold_log = assemble(config, prices, per_model)
    lap("training")

    extra = {"threads": threads, "resumed": resume,
             "loaded_from_checkpoint": done}  # architectures an interrupted run had finished
    return finish_run(config, prices, folds, predictions, fold_log, device, timings, extra)


def finish_run(config: RunConfig, prices: pd.DataFrame, folds: list[Fold], predictions: pd.DataFrame,
               fold_log: pd.DataFrame, device: torch.device, timings: dict[str, float],
               manifest: dict[str, Any] | None = None) -> RunResult:
    """Trade the dated predictions, score forecasts and strategies with their tests, and build the result."""
    lap = _stopwatch(timings)
    states = strategy_states(prices["close"], _traded_forecasts(predictions, prices, config.forecast.models),
                             config.strategies)
    pf = simulate(prices, states, folds[0].test_start, config.backtest)
    lap("backtest")
    forecasts = evaluate_forecasts(predictions, config.statistics, config.run.seed)
    trading = evaluate_trading(trading_table(pf), pf.returns(), BENCHMARK, config.statistics, config.run.seed)
    lap("statistics")
    timings["total"] = sum(v for k, v in timings.items() if k != "total")
    return RunResult(
        config=config, prices=prices, folds=folds, predictions=predictions,
        fold_log=fold_log.merge(folds_table(folds, prices.index), on="fold"),
        forecast_metrics=forecasts.table, forecast_metrics_by_fold=forecast_table(predictions, True),
        trading_metrics=trading.table.sort_values("sharpe", ascending=False, na_position="last"),
        equity=pf.value(), states=pd.DataFrame(states), orders=_orders(pf),
        statistics={"forecast": forecasts.summary, "trading": trading.summary},
        manifest={**_manifest(config, prices, folds, device, timings), **(manifest or {})},
    )


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
        "name": config.run.name,
        "seed": config.run.seed,
        "device": str(device),
        "kernels": kernel_path(device),
        "device_name": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor()
        or platform.machine(),
        "data": {
            "source": config.data.source, "symbol": config.data.symbol, "path": config.data.path,
            "rows": len(prices), "first": str(prices.index[0].date()), "last": str(prices.index[-1].date()),
            "fingerprint": fingerprint(prices),
        },
        "folds": len(folds),
        "out_of_sample": {"first": str(prices.index[folds[0].test_start].date()),
                          "last": str(prices.index[folds[-1].test_end - 1].date()),
                          "days": int(folds[-1].test_end - folds[0].test_start)},
        "representation": config.forecast.representation,
        "execution": config.backtest.execution,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "versions": _versions(),
    }


def _orders(pf: Any) -> pd.DataFrame:
    rec = pf.orders.records_readable
    return rec.rename(columns={"Column": "strategy", "Timestamp": "date", "Side": "side", "Size": "size",
                               "Price": "price", "Fees": "fees"})[["strategy", "date", "side", "size", "price", "fees"]]


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("wfbt", "torch", "numpy", "pandas", "scikit-learn", "vectorbt", "rich"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out
