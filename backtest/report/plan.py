"""`wfbt plan`: the folds a config gives, the models a run would train and how long that would take, without
training (the time is scaled from one short epoch per architecture, measured here)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
from rich.table import Table

from backtest.core.config import RunConfig, network_inputs
from backtest.core.cores import configure_threads
from backtest.data.load import for_close_only, load_prices
from backtest.engine.devices import prepare_device
from backtest.engine.forecasting import train_settings
from backtest.engine.panel_features import input_width
from backtest.engine.schedule import folds_table, make_folds
from backtest.engine.universe import configured_groups, configured_universe, out_of_sample
from forecasters.trainer import Member, train_group


def single_plan(config: RunConfig) -> tuple[Table, str]:
    """A single-symbol run's fold table and a one-line count of the models to train (rich markup)."""
    prices = load_prices(config.data)
    config = for_close_only(config, prices)  # the inputs and fills a close-only file runs with
    folds = make_folds(len(prices), config.walkforward)
    frame = folds_table(folds, prices.index)
    table = fold_table(frame, f"{len(prices)} rows {prices.index[0].date()} → {prices.index[-1].date()}", config)
    fc = config.forecast
    networks = [m for m in fc.models if m in config.architectures()]
    n_models = len(folds) * len(networks) * fc.seeds
    line = (f"{len(folds)} folds x {len(networks)} architectures x {fc.seeds} seed(s) = [bold]{n_models}[/] models "
            f"to train, in {len(networks)} batched groups; baselines naive, drift and linear fit per fold; "
            f"out of sample: {frame.test_start.iloc[0]} → {frame.test_end.iloc[-1]}. "
            f"Parameters ({network_inputs(fc)} inputs per step): " + ", ".join(
                f"{m} {config.architectures()[m].n_params(network_inputs(fc)):,}" for m in networks) + ".")
    if networks:
        line += "\n" + estimate_line(config, networks, len(folds) * fc.seeds,
                                      int(frame.train_rows.mean() - frame.val_rows.mean()), int(frame.val_rows.mean()))
    return table, line


def fold_table(frame: Any, span: str, config: RunConfig) -> Table:
    """The folds of ``engine.schedule.folds_table`` as a rich table titled with the data's span."""
    kind = "Study plan (one split)" if config.walkforward.protocol == "study" else "Walk-forward plan"
    table = Table(title=f"{kind}: {span} ({config.walkforward.window} window)", title_justify="left")
    for col in ["fold", "train", "validation", "test", "rows"]:
        table.add_column(col, justify="right" if col == "fold" else "left", no_wrap=col == "rows")
    table.caption = "rows: training / validation / test days of each fold"
    for _, r in frame.iterrows():
        val = f"{r.val_start} → {r.val_end}" if r.val_rows else "—"
        table.add_row(str(r.fold), f"{r.train_start} → {r.train_end}", val, f"{r.test_start} → {r.test_end}",
                      f"{r.train_rows}/{r.val_rows}/{r.test_rows}")
    return table


def universe_plan(config: RunConfig) -> tuple[Table, str]:
    """A universe run's folds over its calendar and the pooled networks it would train, with their time.

    A pooled network's epoch sees every stock's windows: about ``stocks x (fitting days - lookback)``
    training and ``stocks x validation days`` validation samples (an upper count: ragged histories have fewer).
    """
    universe = configured_universe(config)
    calendar, stocks = universe.calendar, len(universe.symbols)
    folds = make_folds(len(calendar), config.walkforward)
    configured_groups(config, universe, out_of_sample(folds, calendar))  # a bad groups file fails here as in a run
    frame = folds_table(folds, calendar)
    span = f"{stocks} stocks x {len(calendar)} days {calendar[0].date()} → {calendar[-1].date()}"
    un, fc = config.universe, config.forecast
    nets = list(fc.models)
    per_fold = stocks if un.networks == "per_symbol" else 1
    count = len(folds) * len(nets) * fc.seeds * per_fold
    scored = (f"{len(folds)} folds x {len(nets)} architectures x {fc.seeds} seed(s) x {per_fold} network(s) a fold "
              f"= [bold]{count}[/] {un.networks} networks to train, beside the pooled linear model, naive and reversal"
              if nets else f"{len(folds)} folds; forecast.models is empty: no network to train, the baselines naive "
              "and reversal score the stocks")
    line = f"{scored}; out of sample: {frame.test_start.iloc[0]} → {frame.test_end.iloc[-1]}."
    if nets:  # a pooled window has input_width columns a day (the preset alpha360 six)
        fit = int(frame.train_rows.mean() - frame.val_rows.mean()) - fc.lookback
        line += "\n" + estimate_line(config, nets, len(folds) * fc.seeds, stocks * max(fit, 1),
                                      stocks * int(frame.val_rows.mean()), input_width(list(fc.features)))
    return fold_table(frame, span, config), line


PROBE_STEPS = 4  # training batches per member in the measured epoch
PROBE_MEMBERS = 64  # at most this many members measured; a larger group is scaled by its size


def _probe_members(n: int, rows: int, val: int, lookback: int, features: int, labels: bool = False) -> list[Member]:
    """``n`` members of random windows: the shapes a run trains, not its data (only the time is kept);
    ``labels``: 0/1 targets, as the bce loss needs."""
    rng = np.random.default_rng(0)

    def x(k: int) -> np.ndarray:
        return rng.standard_normal((k, lookback, features)).astype(np.float32)  # (N, L, F)

    def y(k: int) -> np.ndarray:
        return (rng.integers(0, 2, k) if labels else rng.standard_normal(k)).astype(np.float32)

    return [Member(x(rows), y(rows), x(val), y(val), x(1), i) for i in range(n)]


def epoch_seconds(model: str, members: int, fit_rows: int, val_rows: int, config: RunConfig, device: Any,
                  width: int | None = None) -> float:
    """Seconds one epoch of ``members`` models of ``model`` takes here, timed on a short epoch and scaled.

    The measured epoch has PROBE_STEPS batches per member (and one of validation); its time is scaled by
    the fold's rows over the probe's and by the members over those measured (time grows with both on a CPU).
    """
    tr, fc = config.training, config.forecast
    n, rows, val = min(members, PROBE_MEMBERS), PROBE_STEPS * tr.batch_size, tr.batch_size if val_rows else 0
    probe = _probe_members(n, rows, val, fc.lookback, width or len(fc.features), labels=tr.loss == "bce")
    settings = dataclasses.replace(train_settings(config), epochs=1)  # the run's optimiser and loss, one epoch
    arch = config.architectures()[model]
    train_group(arch, probe[:1], settings, device=device)  # warm-up: first-call costs are not per epoch
    start = time.perf_counter()
    train_group(arch, probe, settings, device=device)
    seconds = time.perf_counter() - start
    return seconds * (fit_rows + val_rows) / (rows + val) * members / n


def estimate_line(config: RunConfig, networks: list[str], members: int, fit_rows: int, val_rows: int,
                  width: int | None = None) -> str:
    """The training time a run would take, estimated from a measured short epoch per architecture (``width``
    input columns a day; None: forecast.features')."""
    device = prepare_device(config.run.device)
    threads = configure_threads(config.run.threads)
    epochs = config.training.epochs
    per_epoch = {m: epoch_seconds(m, members, fit_rows, val_rows, config, device, width) for m in networks}
    total = sum(per_epoch.values()) * epochs
    slowest = max(per_epoch, key=per_epoch.__getitem__)
    shown = f"{total:,.1f}" if total >= 10 else f"{total:.3f}"  # a tiny plan still shows what was measured
    return (f"Estimated training time: about {shown} s ({total / 60:,.1f} min) on {device} "
            f"({threads} threads): {len(networks)} architectures x {members} models x up to {epochs} epochs, "
            f"scaled from one measured short epoch per architecture on this machine (slowest {slowest}, "
            f"{per_epoch[slowest]:.2f} s an epoch of its {members} models). Early stopping usually ends "
            "sooner; other work on the machine (and each fold's set-up) makes it longer.")
