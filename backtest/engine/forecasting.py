"""The forecasters of a run, fold by fold: every network trained as one batched group, every baseline fit.

One training function serves a run and a sweep alike: ``train_networks`` takes one architecture and the
fold windows of one run or of many (a sweep's cells that share the architecture and window shape), trains
all their members as one group, and hands each run back its predictions and fold log.
"""

from __future__ import annotations

import time
import warnings
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from backtest.core.config import RunConfig, StrategiesSection
from backtest.core.errors import DataError, DataWarning
from backtest.data.load import check_close_only, check_features, data_origin
from backtest.engine.devices import split_to_fit
from backtest.engine.schedule import Fold
from forecasters.baselines import TRADABLE
from forecasters.batched import predict_members
from forecasters.registry import TRADABLE_BASELINES, Architecture
from forecasters.trainer import Member, TrainSettings, train_group
from forecasters.windows import FoldData, after_warmup, first_complete_row, fold_data
from strategies.features import IndicatorParams, compute, is_derived

Forecast = tuple[pd.DataFrame, pd.DataFrame]  # one forecaster's predictions (model, fold, pos, predicted) and fold log


class Progress:
    """Hooks the CLI's live display implements; the default does nothing."""

    def group_start(self, model: str, members: int, epochs: int) -> None: ...

    def epoch(self, model: str, epoch: int, live: int, total: int, val_loss: float) -> None: ...

    def group_end(self, model: str, seconds: float) -> None: ...

    def folds(self, done: int, total: int) -> None:
        """A universe run's folds trained (or loaded from its checkpoint) so far, of ``total``."""


@dataclass
class Windows:
    """One run's folds and their scaled windows: what a network of that run trains on."""

    config: RunConfig
    folds: list[Fold]
    data: list[FoldData]


def member_seed(seed: int, model: str, fold: int, replica: int) -> int:
    """A stable per-member seed: the same member gets the same seed whatever else the run trains."""
    return zlib.crc32(f"{seed}:{model}:{fold}:{replica}".encode())


def forecaster_names(config: RunConfig) -> list[str]:
    """Every forecaster a run scores, in table order: the configured models, then the baselines not listed."""
    models = list(config.forecast.models)
    return models + [b for b in TRADABLE_BASELINES if b not in models]


def windows(config: RunConfig, prices: pd.DataFrame, folds: list[Fold]) -> Windows:
    """Every fold's windows in the configured representation, scaled on its fitting rows."""
    fc = config.forecast
    frame = input_frame(config, prices, folds)
    return Windows(config, folds, [fold_data(frame, f.train, f.val, f.test, fc.features, fc.lookback, fc.scaler,
                                             fc.representation, fc.scaler_fit, fc.layout) for f in folds])


def indicator_params(st: StrategiesSection) -> IndicatorParams:
    """The strategies' Bollinger and MACD settings, which the bare ``bb_pctb`` and ``macd_hist`` take."""
    return IndicatorParams(st.bollinger_window, st.bollinger_k, st.macd_fast, st.macd_slow, st.macd_signal)


def input_frame(config: RunConfig, prices: pd.DataFrame, folds: list[Fold]) -> pd.DataFrame:
    """The prices with the run's derived features beside them, checked where the folds read them.

    Where the config meets the data, for every source and for runs and sweeps alike: a chosen feature (or
    the column a derived one is computed from) the prices lack on the rows the folds read is refused by
    name, and so is a derived value missing after its warm-up; a fold whose fitting rows reach into the
    warm-up fits on the rows after it, with a warning (nothing is filled), or is refused when too few remain.
    """
    fc, origin = config.forecast, data_origin(config.data)
    check_close_only(prices, fc.features, config.backtest.execution, origin)
    check_features(prices, fc.features, origin, slice(folds[0].train_start, folds[-1].test_end))
    derived = [name for name in fc.features if is_derived(name)]
    if not derived:
        return prices
    values = compute(prices, derived, indicator_params(config.strategies))
    warmup = first_complete_row(values.to_numpy())
    _refuse_gaps(values, warmup, folds, origin)
    _check_warmup(config, values, warmup, folds, origin)
    return prices.join(values)


def _refuse_gaps(values: pd.DataFrame, warmup: int, folds: list[Fold], origin: str) -> None:
    """A derived value missing after the warm-up, on a row the folds read (a trailing mean volume of 0)."""
    used = values.iloc[max(warmup, folds[0].train_start):folds[-1].test_end]
    for name in used.columns:
        missing = ~np.isfinite(used[name].to_numpy())
        if missing.any():
            first = used.index[missing][0].date()
            raise DataError(
                f"{origin}: forecast.features includes {name!r}, which has no value on {int(missing.sum())} of the "
                f"rows the folds use after its warm-up, first on {first} (a volume feature: the trailing mean "
                f"volume is 0 there). Start the range after them with data.start, or remove {name!r} from "
                "forecast.features.")


def _check_warmup(config: RunConfig, values: pd.DataFrame, warmup: int, folds: list[Fold], origin: str) -> None:
    """Warn of folds that fit after the warm-up; refuse a fold left with fewer fitting rows than a run needs."""
    longest = max(values.columns, key=lambda name: first_complete_row(values[[name]].to_numpy()))
    need = config.forecast.lookback + config.training.batch_size
    short = [(f, after_warmup(f.train, warmup)) for f in folds if f.train_start < warmup]
    for fold, kept in short:
        days = max(kept.stop - kept.start, 0)
        if days < need:
            raise DataError(
                f"{origin}: fold {fold.index} keeps {days} of its {fold.val_start - fold.train_start} fitting days "
                f"after the warm-up of {longest!r} (its first {warmup} rows have no value); need at least "
                f"lookback + batch_size = {need}. Raise walkforward.train_days, drop the first folds with "
                f"walkforward.max_folds, or use a shorter window than {longest!r}.")
    if short:
        warnings.warn(
            f"{origin}: {len(short)} fold(s) fit after the warm-up of {longest!r} (its first {warmup} rows, to "
            f"{values.index[warmup - 1].date()}, have no value; nothing is filled): fold {short[0][0].index} "
            f"fits on {short[0][1].stop - short[0][1].start} of its {short[0][0].val_start - short[0][0].train_start} "
            "days.", DataWarning, stacklevel=3)


def _members(model: str, run: Windows) -> list[Member]:
    """One member per fold and seed of ``model``, in fold order, each with its stable seed."""
    return [
        Member(d.x_train, d.y_train, d.x_val, d.y_val, d.x_test, member_seed(run.config.run.seed, model, f.index, k))
        for f, d in zip(run.folds, run.data, strict=True) for k in range(run.config.forecast.seeds)
    ]


def train_settings(config: RunConfig) -> TrainSettings:
    """The trainer's settings from [training] (single-symbol and universe runs alike)."""
    tr = config.training
    return TrainSettings(tr.epochs, tr.batch_size, tr.lr, tr.patience, tr.min_delta, optimizer=tr.optimizer,
                         momentum=tr.momentum, loss=tr.loss, shuffle=tr.shuffle, restore_best=tr.restore_best,
                         early_stopping=tr.early_stopping)


def train_members(arch: Architecture, members: list[Member], settings: TrainSettings, device: torch.device,
                  progress: Progress | None = None, budget: int | None = None) -> tuple[list[Any], float]:
    """Train ``members`` of architecture ``arch`` as one group (in chunks if memory asks for it).

    ``budget`` caps the bytes a group may plan to use (None: a share of the device's free memory).
    Returns the members' results in ``members`` order and the seconds the training took.
    """
    progress = progress or Progress()
    model = arch.name
    chunks = split_to_fit(arch, members, settings.batch_size, device, budget)
    progress.group_start(model, len(members), settings.epochs)
    start = time.perf_counter()
    results = []
    for chunk in chunks:
        results += train_group(
            arch, chunk, settings, device=device,
            progress=lambda e, live, total, v: progress.epoch(model, e, live, total, v), keep_weights=True,
        )
    seconds = time.perf_counter() - start
    progress.group_end(model, seconds)
    return results, seconds


def train_networks(model: str, runs: list[Windows], device: torch.device, progress: Progress | None = None
                   ) -> list[Forecast]:
    """Train every fold x seed of architecture ``model`` in every run of ``runs`` as one group.

    The runs share their training settings (a sweep groups cells so). Returns each run's (predictions,
    fold log), in ``runs`` order; each run's share of the training time is its share of the members.
    """
    own = [_members(model, run) for run in runs]
    arch = runs[0].config.architectures()[model]  # a preset, or the runs' [networks.NAME] (the same in all)
    results, seconds = train_members(arch, [m for ms in own for m in ms], train_settings(runs[0].config), device,
                                     progress)
    out, at = [], 0
    for run, ms in zip(runs, own, strict=True):
        share = results[at:at + len(ms)]
        out.append(_collect(model, run, share, seconds * len(ms) / len(results)))
        at += len(ms)
    return out


def _collect(model: str, run: Windows, results: list[Any], seconds: float) -> Forecast:
    """Predictions and fold log of one model from its members' results (``_members`` order).

    The prediction of a fold is the mean over its seeds (in the representation's units, then mapped to a
    price); with several seeds each seed's own price predictions are kept too (``seed_<k>`` columns).
    ``seconds`` is the model's training time, shared out per member.
    """
    seeds = run.config.forecast.seeds
    preds, log = [], []
    for i, (f, d) in enumerate(zip(run.folds, run.data, strict=True)):
        group = results[i * seeds:(i + 1) * seeds]
        frame = pd.DataFrame({"model": model, "fold": f.index, "pos": d.test_positions,
                              "predicted": d.to_price(np.mean([r.predictions for r in group], axis=0))})
        if seeds > 1:
            for k, r in enumerate(group):
                frame[f"seed_{k}"] = d.to_price(r.predictions)
        preds.append(frame)
        log.append({**_member_log(model, f.index, group, seconds * len(group) / len(results)),
                    **_fits(run.config.architectures()[model], d, group)})
    return pd.concat(preds, ignore_index=True), pd.DataFrame(log)


def _fits(arch: Architecture, d: FoldData, group: list[Any]) -> dict[str, str]:
    """The fold's in-sample predictions (mean over seeds, in price units) of its training and validation days,
    as folds.csv-style number strings (``train_fit``, ``val_fit``); the run folder writes them to
    insample.csv.gz. Empty strings when the trainer kept no weights."""
    if any(r.weights is None for r in group):
        return {"train_fit": "", "val_fit": ""}
    x = np.concatenate([d.x_train, d.x_val])
    price = d.fit_to_price(predict_members(arch, np.stack([r.weights for r in group]), x).mean(axis=0))
    cut = len(d.x_train)
    return {"train_fit": " ".join(f"{v:.6g}" for v in price[:cut]),
            "val_fit": " ".join(f"{v:.6g}" for v in price[cut:])}


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


def fit_baseline(model: str, run: Windows, close: np.ndarray) -> Forecast:
    """Predictions and fold log of a baseline of ``forecasters.baselines.TRADABLE``, fit per fold like the networks."""
    preds, log = [], []
    for f, d in zip(run.folds, run.data, strict=True):
        start = time.perf_counter()
        fit = TRADABLE[model].forecast(d, close)
        preds.append(pd.DataFrame({"model": model, "fold": f.index, "pos": d.test_positions,
                                   "predicted": fit.predicted}))
        log.append({"model": model, "fold": f.index, "epochs": 0, "best_epoch": 0, "train_loss": fit.train_loss,
                    "val_loss": fit.val_loss, "seconds": time.perf_counter() - start, "train_curve": "",
                    "val_curve": ""})
    return pd.concat(preds, ignore_index=True), pd.DataFrame(log)
