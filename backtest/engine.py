"""Run orchestration: config in, RunResult out. Every stage is a plain function called in order."""

from __future__ import annotations

import math
import os
import platform
import time
import warnings
import zlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd
import torch

from backtest.checkpoint import Checkpoint
from backtest.config import RunConfig
from backtest.data import DataWarning, fingerprint, load_prices
from backtest.errors import ConfigError, WfbtError
from backtest.metrics import forecast_table, trading_table
from backtest.portfolio import simulate
from backtest.resources import configure_threads
from backtest.schedule import Fold, folds_table, make_folds
from forecasters import kernels
from forecasters.registry import get_architecture
from forecasters.trainer import Member, TrainSettings, group_bytes, train_group
from forecasters.windows import FoldData, fold_data
from strategies.signals import strategy_states


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
    manifest: dict[str, Any] = field(default_factory=dict)


def kernel_path(device: torch.device) -> str:
    """How the trainer's steps ran: CUDA graphs, fused C kernels or plain torch operations."""
    if device.type == "cuda":
        return "CUDA graphs"
    return "fused C kernels" if kernels.library() is not None else "torch operations"


def resolve_device(choice: str) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("run.device = 'cuda' but torch sees no CUDA GPU. Use --device cpu or auto.")
        return torch.device("cuda")
    return torch.device("cpu")


def member_seed(seed: int, model: str, fold: int, replica: int) -> int:
    """A stable per-member seed: the same member gets the same seed whatever else the run trains."""
    return zlib.crc32(f"{seed}:{model}:{fold}:{replica}".encode())


def available_bytes(device: torch.device) -> int:
    """Free memory on ``device``: the GPU's free memory, or the machine's available RAM."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 40


MEMORY_SHARE = 0.6  # of free memory a group may plan to use; the rest is headroom


def split_to_fit(arch: Any, members: list[Member], batch_size: int, device: torch.device,
                 budget: int | None = None) -> list[list[Member]]:
    """The group as one chunk if it fits in memory, else as few equal chunks as fit (with a warning).

    Members are independent, so splitting changes which members share a batched product, not what
    any member learns (up to float32 rounding, ~1e-7 relative).
    """
    budget = int(MEMORY_SHARE * available_bytes(device)) if budget is None else budget
    need = group_bytes(arch, members, batch_size)
    if need <= budget:
        return [members]
    one = group_bytes(arch, members[:1], batch_size)
    if one > budget:
        raise WfbtError(
            f"one {arch.name} model needs about {one / 2**20:,.0f} MiB to train but only {budget / 2**20:,.0f} MiB "
            f"of {device} memory is available. Use fewer training days or a smaller batch_size, or free memory."
        )
    per_chunk = max(1, int(len(members) * budget / need))
    n_chunks = math.ceil(len(members) / per_chunk)
    size = math.ceil(len(members) / n_chunks)
    warnings.warn(
        f"{arch.name}: {len(members)} models need about {need / 2**20:,.0f} MiB, more than the "
        f"{budget / 2**20:,.0f} MiB available on {device}; training them in {n_chunks} groups of up to {size}.",
        DataWarning, stacklevel=2,
    )
    bounds = [round(k * len(members) / n_chunks) for k in range(n_chunks + 1)]  # balanced chunk sizes
    return [members[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def train_model(
    model: str, data: list[FoldData], config: RunConfig, device: torch.device, progress: Progress,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train every fold x seed of one architecture as one group; return (predictions, fold log)."""
    arch = get_architecture(model)
    seeds = config.forecast.seeds
    members = [
        Member(d.x_train, d.y_train, d.x_val, d.y_val, d.x_test, member_seed(config.run.seed, model, d.fold.index, k))
        for d in data for k in range(seeds)
    ]
    tr = config.training
    settings = TrainSettings(tr.epochs, tr.batch_size, tr.lr, tr.patience, tr.min_delta)
    chunks = split_to_fit(arch, members, tr.batch_size, device)
    progress.group_start(model, len(members), tr.epochs)
    start = time.perf_counter()
    results = []
    for chunk in chunks:
        results += train_group(
            arch, chunk, settings, device=device,
            progress=lambda e, live, total, v: progress.epoch(model, e, live, total, v),
        )
    seconds = time.perf_counter() - start
    progress.group_end(model, seconds)
    preds, log = [], []
    for i, d in enumerate(data):
        group = results[i * seeds:(i + 1) * seeds]
        scaled = np.mean([r.predictions for r in group], axis=0)
        preds.append(pd.DataFrame({"model": model, "fold": d.fold.index, "pos": d.test_positions,
                                   "predicted": d.to_price(scaled)}))
        log.append({
            "model": model, "fold": d.fold.index,
            "epochs": int(np.mean([r.epochs for r in group])),
            "best_epoch": int(np.mean([r.best_epoch for r in group])),
            "train_loss": float(np.mean([r.train_loss[r.best_epoch - 1] for r in group])),
            "val_loss": float(np.mean([r.best_val_loss for r in group])),
            "seconds": seconds * len(group) / len(results),  # the group's time, shared out per member
            "train_curve": _curve([r.train_loss for r in group]),  # per epoch, mean over seeds
            "val_curve": _curve([r.val_loss for r in group]),
        })
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


def run(config: RunConfig, progress: Progress | None = None, prices: pd.DataFrame | None = None,
        checkpoint: Checkpoint | None = None, resume: bool = False) -> RunResult:
    """Load, schedule, train, trade and score; returns everything the report and artifacts need.

    ``prices`` (already checked, as from load_prices) replaces loading ``config.data``. With a
    ``checkpoint`` each architecture's results are saved as soon as it is trained, and with ``resume``
    the architectures already saved there are loaded instead of trained again.
    """
    progress = progress or Progress()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    prices = load_prices(config.data) if prices is None else prices
    folds = make_folds(len(prices), config.walkforward)
    timings["data"] = time.perf_counter() - t0

    device = resolve_device(config.run.device)
    threads = configure_threads(config.run.threads)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    fc = config.forecast
    data = [fold_data(prices, f, fc.features, fc.lookback, fc.scaler) for f in folds]

    identity = config.to_dict()
    identity["run"]["threads"] = threads  # the count, not "auto": it changes float rounding, so resume pins it
    done = checkpoint.begin(identity, fingerprint(prices), resume) if checkpoint else []
    t1 = time.perf_counter()
    all_preds, all_logs = [], []
    for model in fc.models:
        if checkpoint is not None and model in done:
            preds, log = checkpoint.load(model)
            progress.group_start(model, len(log) * fc.seeds, config.training.epochs)
            progress.group_end(model, float(log["seconds"].sum()))
        else:
            preds, log = train_model(model, data, config, device, progress)
            if checkpoint is not None:
                checkpoint.save(model, preds, log)
        all_preds.append(preds)
        all_logs.append(log)
    timings["training"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    close = prices["close"]
    predictions = pd.concat(all_preds, ignore_index=True)
    pos = predictions.pop("pos").to_numpy()
    predictions.insert(0, "date", prices.index[pos])
    predictions["actual"] = close.to_numpy()[pos]
    predictions["naive"] = close.to_numpy()[pos - 1]

    # A forecast for day d is made at the close of day d-1: index it by that decision day.
    forecasts = {
        model: pd.Series(g["predicted"].to_numpy(), index=prices.index[pos[g.index] - 1])
        for model, g in predictions.groupby("model", sort=False)
    }
    states = strategy_states(close, forecasts, config.strategies)
    pf = simulate(prices, states, folds[0].test_start, config.backtest)
    trading = trading_table(pf).sort_values("sharpe", ascending=False, na_position="last")
    timings["backtest"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0

    ranges = folds_table(folds, prices.index)
    fold_log = pd.concat(all_logs, ignore_index=True).merge(ranges, on="fold")
    manifest = {
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
        "execution": config.backtest.execution,
        "threads": threads,
        "resumed": resume, "loaded_from_checkpoint": done,  # architectures an interrupted run had finished
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "versions": _versions(),
    }
    return RunResult(
        config=config, prices=prices, folds=folds, predictions=predictions, fold_log=fold_log,
        forecast_metrics=forecast_table(predictions), forecast_metrics_by_fold=forecast_table(predictions, True),
        trading_metrics=trading, equity=pf.value(), states=pd.DataFrame(states), orders=_orders(pf),
        manifest=manifest,
    )


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
