"""Forecasts across a universe: per fold, one pooled network trained on every symbol's windows.

For each architecture, every fold x seed is one member of one batched group (forecasters.trainer via
``forecasting.train_members``), trained on the fold's pooled windows (forecasters.panel); with
``networks = "per_symbol"`` every symbol x fold x seed is a member instead, trained on that symbol's
windows of the fold only (scaled with the fold's pooled scaling, so that its forecasts are in the same
units as its neighbours'). Beside the networks: the pooled linear baseline (Ridge on the same windows in
float32, penalty picked on the validation rows, forecasters.baselines.fit_linear), the short-term reversal
rule and the naive forecast (forecasters.crosssection).

Memory is bounded by ``budget`` bytes: the folds are cut into consecutive chunks whose windows and
training (``fold_bytes``: upper estimates from the panel's shape, before any window is cut) fit it; a
chunk's windows are cut, its networks trained and its linear models fit, and only its forecasts are kept.
The members are independent, so the chunks change which members share a batched product, not what any
member learns (float32 rounding, ~1e-7 relative).

Every result is a score panel: index = decision day t (the close at which the score is known), columns
= symbols, value = the forecast of the target dated t (forecasters.panel): the return over the next h days
(``"return"``), its rank or z-score within the day (``"rank"``, ``"zscore"``), or the chance to beat the
day's cross-sectional median over them (``"median"``); NaN where there is no forecast. Rows are the folds'
test days. Training and validation windows whose target reaches past their set's end are dropped (purged).

The classification target is trained with training.loss = "bce" (the config refuses another loss for it
when networks are named): the binary cross-entropy on the output as a logit, and the forecast is its
sigmoid, a probability in (0, 1). Called directly with a regression loss, the networks fit the 0/1 label
as a number (the mean squared error's minimiser is the label's conditional probability, not clipped).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from scipy.linalg import LinAlgWarning

from backtest.core.cores import configure_threads
from backtest.core.errors import CheckpointWarning, ConfigError, DamagedCheckpoint, DataWarning
from backtest.engine.devices import prepare_device
from backtest.engine.forecasting import Progress, member_seed, train_members
from backtest.engine.schedule import Fold
from forecasters.baselines import fit_linear
from forecasters.crosssection import naive_scores, reversal_scores
from forecasters.panel import InputColumn, PanelWindows, panel_windows
from forecasters.registry import Architecture, get_architecture
from forecasters.trainer import Member, MemberResult, TrainSettings, sizes_bytes

BASELINES = ("linear", "reversal", "naive")  # scored beside the networks in every universe run
NETWORKS = ("pooled", "per_symbol")  # one network per fold, or one per symbol and fold
DEFAULT_BUDGET = 3 * 2**30  # bytes the windows and training of one chunk of folds may plan to use
Part = tuple[np.ndarray, np.ndarray, np.ndarray]  # one fold's forecasts (target units) at their (rows, cols)


def fold_windows(close: pd.DataFrame, folds: list[Fold], lookback: int, target: str, horizon: int = 1,
                 embargo: int = 0, inputs: list[InputColumn] | None = None, with_returns: bool = True,
                 processors: list[str] | None = None, target_processors: list[str] | None = None
                 ) -> list[PanelWindows]:
    """Every fold's pooled windows (the returns and ``inputs``), scaled on its own training rows, purged of
    targets past each set's end."""
    values = close.to_numpy(dtype=np.float64)
    return [panel_windows(values, f.train, f.val, f.test, lookback, target, horizon, embargo, inputs, with_returns,
                          processors, target_processors) for f in folds]


def pooled_members(model: str, folds: list[Fold], windows: list[PanelWindows], seed: int, seeds: int
                   ) -> list[Member]:
    """One member per fold and seed of ``model``, in fold order, each with its stable seed."""
    return [Member(w.x_train, w.y_train, w.x_val, w.y_val, w.x_test, member_seed(seed, model, f.index, k))
            for f, w in zip(folds, windows, strict=True) for k in range(seeds)]


def _symbol_sets(w: PanelWindows) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """(column, training, validation, test sample masks) of each symbol with windows in all three sets.

    A symbol without validation windows in a fold gets no network there (its early stopping would have
    nothing to choose by, and a group trains with validation only if every member has some).
    """
    out = []
    for col in np.unique(w.train_cols):
        sets = w.train_cols == col, w.val_cols == col, w.test_cols == col
        if all(s.any() for s in sets):
            out.append((int(col), *sets))
    return out


def symbol_members(model: str, symbols: pd.Index, folds: list[Fold], windows: list[PanelWindows], seed: int,
                   seeds: int) -> tuple[list[Member], list[tuple[int, int]]]:
    """One member per fold, symbol and seed (in that order) on the symbol's windows of the fold.

    Returns the members and, per (fold, symbol), its position in ``folds`` and its column. A member's
    seed is keyed by the symbol's name, so it does not depend on which other stocks the universe holds.
    """
    members, where = [], []
    for i, (f, w) in enumerate(zip(folds, windows, strict=True)):
        for col, tr, va, te in _symbol_sets(w):
            where.append((i, col))
            data = w.x_train[tr], w.y_train[tr], w.x_val[va], w.y_val[va], w.x_test[te]  # one copy for its seeds
            members += [Member(*data, member_seed(seed, f"{model}:{symbols[col]}", f.index, k)) for k in range(seeds)]
    return members, where


def fold_bytes(arch: Architecture | None, folds: list[Fold], symbols: int, lookback: int, seeds: int, batch_size: int,
               networks: str = "pooled", features: int = 1) -> int:
    """Upper estimate of the bytes ``folds`` need at once, before any window is cut: their windows (every
    symbol on every day of each set, float32 with an int64 (row, column); x and y twice per symbol, whose
    members copy theirs; ``features`` columns a day cost ``features`` times one column's x), the cutting of
    the largest set when there is more than the returns (float64, then scaled and joined: 16 bytes a value),
    and the training of their members of ``arch`` (forecasters.trainer.sizes_bytes; None: the windows only)."""
    pooled = networks == "pooled"
    sets = [(f.val_start - f.train_start, f.train_end - f.val_start, f.test_end - f.test_start) for f in folds]
    per_window = 4 * (lookback * features + 1) * (1 if pooled else 2) + 16  # float32 x and y, int64 index
    windows = per_window * symbols * sum(sum(s) for s in sets)
    if features > 1:
        windows += 16 * lookback * features * symbols * max(max(s) for s in sets)
    if arch is None:
        return windows
    per_set, members = (symbols, seeds) if pooled else (1, seeds * symbols)  # a member's windows, members a fold
    sizes = [(a * per_set, b * per_set, c * per_set) for a, b, c in sets for _ in range(members)]
    return windows + sizes_bytes(arch, sizes, lookback, features, batch_size)


def refuse_unfit(nets: list[Architecture], folds: list[Fold], symbols: int, lookback: int, seeds: int,
                 batch_size: int, networks: str, features: int, budget: int) -> None:
    """Refuse, before any window is cut, a run whose largest fold alone needs more than ``budget`` bytes."""
    need = max(fold_bytes(m, [f], symbols, lookback, seeds, batch_size, networks, features)
               for m in nets or [None] for f in folds)
    if need > budget:
        gib = need / 2**30
        raise ConfigError(
            f"universe.memory_gb = {budget / 2**30:.3g} GiB cannot hold one fold: the largest needs an estimated "
            f"{gib:.3g} GiB ({symbols} stocks, lookback {lookback}, {features} input column(s) a day, "
            f"batch_size {batch_size}). Raise universe.memory_gb to {np.ceil(gib * 100) / 100:g} or more, or use "
            "fewer forecast.features, a shorter forecast.lookback or fewer walkforward.train_days.")


def fold_chunks(folds: list[Fold], fits: Callable[[list[Fold]], bool]) -> list[list[Fold]]:
    """Consecutive folds in as few chunks as ``fits`` allows (a fold that does not fit alone is a chunk)."""
    chunks: list[list[Fold]] = []
    for f in folds:
        if chunks and fits([*chunks[-1], f]):
            chunks[-1].append(f)
        else:
            chunks.append([f])
    return chunks


def _seed_means(results: list[MemberResult], w: PanelWindows, seeds: int, start: int) -> np.ndarray:
    """The mean over ``seeds`` consecutive results from ``start``, in the target's units."""
    return w.to_target(np.mean([r.predictions for r in results[start:start + seeds]], axis=0))


def network_parts(arch: Architecture, symbols: pd.Index, folds: list[Fold], windows: list[PanelWindows], seed: int,
                  seeds: int, settings: TrainSettings, device: torch.device, networks: str = "pooled",
                  progress: Progress | None = None, budget: int | None = None
                  ) -> tuple[list[Part], list[dict[str, Any]]]:
    """One architecture's forecasts on ``folds``: every member trained in one group (or as ``budget``
    allows), seeds averaged per fold, or per fold and symbol; and its training log rows (``log_rows``)."""
    if networks == "pooled":
        members = pooled_members(arch.name, folds, windows, seed, seeds)
        results, seconds = train_members(arch, members, settings, device, progress, budget)
        parts = [(_seed_means(results, w, seeds, i * seeds), w.test_rows, w.test_cols) for i, w in enumerate(windows)]
        return parts, log_rows(arch.name, [(f.index, None) for f in folds], results, seeds, seconds, settings.epochs)
    members, where = symbol_members(arch.name, symbols, folds, windows, seed, seeds)
    if not members:
        return [], []
    results, seconds = train_members(arch, members, settings, device, progress, budget)
    parts = []
    for j, (i, col) in enumerate(where):
        te = windows[i].test_cols == col
        parts.append((_seed_means(results, windows[i], seeds, j * seeds), windows[i].test_rows[te],
                      windows[i].test_cols[te]))
    keys = [(folds[i].index, str(symbols[col])) for i, col in where]
    return parts, log_rows(arch.name, keys, results, seeds, seconds, settings.epochs)


def log_rows(model: str, keys: list[tuple[int, str | None]], results: list[MemberResult], seeds: int,
             seconds: float, cap: int) -> list[dict[str, Any]]:
    """One training log row per member: ``keys`` gives each network's (fold, symbol or None for a pooled one),
    ``seeds`` consecutive results each. The group's ``seconds`` are shared out evenly over its members; a
    member stopped early when it ran fewer than the ``cap`` of training.epochs."""
    rows = []
    for j, (fold, symbol) in enumerate(keys):
        for k, r in enumerate(results[j * seeds:(j + 1) * seeds]):
            rows.append({"model": model, "fold": fold, **({} if symbol is None else {"symbol": symbol}), "seed": k,
                         "epochs": r.epochs, "best_epoch": r.best_epoch,
                         "train_loss": r.train_loss[r.best_epoch - 1] if r.best_epoch else np.nan,
                         "val_loss": r.best_val_loss, "stopped_early": r.epochs < cap,
                         "seconds": seconds / len(results)})
    return rows


def linear_parts(windows: list[PanelWindows], folds: list[Fold]) -> list[Part]:
    """Forecasts of the pooled Ridge baseline, fit per fold on the same windows as the networks (float32).

    SciPy's "ill-conditioned matrix" warnings of a fold's fits (nearly collinear inputs under a small penalty)
    are gathered into one DataWarning naming the model, the folds and the penalties they kept.
    """
    parts, shaky = [], []
    for fold, w in zip(folds, windows, strict=True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LinAlgWarning)
            fit = fit_linear(w.x_train, w.y_train, w.x_val, w.y_val, w.x_test, dtype=np.float32)
        for c in caught:
            if not issubclass(c.category, LinAlgWarning):
                warnings.warn_explicit(c.message, c.category, c.filename, c.lineno)
        if any(issubclass(c.category, LinAlgWarning) for c in caught):
            shaky.append(f"{fold.index} (alpha = {fit.alpha:g} kept)")
        parts.append((w.to_target(fit.predictions), w.test_rows, w.test_cols))
    if shaky:
        warnings.warn(f"the pooled linear model (Ridge) of fold(s) {', '.join(shaky)}: SciPy warned that a penalty "
                      "tried there solved an ill-conditioned system, so that fit may be inaccurate (the inputs are "
                      "nearly collinear). Each fold keeps the penalty with the lowest validation error and its scores "
                      "are used; fewer overlapping forecast.features avoid it.", DataWarning, stacklevel=2)
    return parts


def _to_frame(close: pd.DataFrame, folds: list[Fold], parts: list[Part]) -> pd.DataFrame:
    """Per-fold forecasts (in target units, one per test sample) as a score panel over the folds' test days."""
    panel = np.full(close.shape, np.nan)
    for values, rows, cols in parts:
        panel[rows, cols] = values  # the folds' test blocks do not overlap
    days = np.concatenate([np.arange(f.test_start, f.test_end) for f in folds])
    return pd.DataFrame(panel[days], index=close.index[days], columns=close.columns)


def rule_scores(rule: Callable[[pd.DataFrame], pd.DataFrame], close: pd.DataFrame, folds: list[Fold]
                ) -> pd.DataFrame:
    """A fitted-nothing rule's score panel (forecasters.crosssection), on the folds' test days."""
    days = np.concatenate([np.arange(f.test_start, f.test_end) for f in folds])
    return rule(close).iloc[days]


def _held(windows: list[PanelWindows]) -> int:
    """Bytes the cut windows of a chunk hold."""
    return sum(a.nbytes for w in windows for a in vars(w).values() if isinstance(a, np.ndarray))


@dataclass(frozen=True)
class ChunkJob:
    """What training a chunk of folds needs beside the prices: plain frozen values, so a chunk can be shipped
    to another process (engine.pooled.train_chunk) and trains there exactly as it would here."""

    nets: tuple[Architecture, ...]
    symbols: tuple[str, ...]
    lookback: int
    target: str
    seed: int
    seeds: int
    settings: TrainSettings
    device: str  # "cpu", "cuda", "auto": resolved where the chunk trains
    networks: str
    budget: int
    threads: int | None = None  # torch threads where the chunk trains (None: leave as set)
    horizon: int = 1  # days the target looks ahead
    embargo: int = 0  # days more than the horizon that purge each fitting set's end
    inputs: tuple[InputColumn, ...] = ()  # input columns beyond the returns (engine.panel_features)
    with_returns: bool = True  # whether the close's returns are the first input column
    processors: tuple[str, ...] = ()  # forecasters.processors, applied in order to every fold's windows
    target_processors: tuple[str, ...] = ()  # within-day processors of the return labels (forecasters.panel)

    @property
    def features(self) -> int:
        """Window columns a day."""
        return len(self.inputs) + int(self.with_returns)


Parts = dict[str, list[Part]]  # model (networks, then "linear") -> its forecasts on a chunk's folds
LOG_COLUMNS = ["model", "fold", "seed", "epochs", "best_epoch", "train_loss", "val_loss", "stopped_early", "seconds"]


@dataclass
class TrainedChunk:
    """A trained chunk of folds: every model's forecasts, and the networks' training log (``LOG_COLUMNS``, one
    row per member: per network, fold and seed, with a ``symbol`` column after "fold" for per-symbol networks)."""

    parts: Parts
    log: pd.DataFrame


def training_log(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The log rows of ``log_rows`` as a table (the columns even when no network trained)."""
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=LOG_COLUMNS)


class ChunkStore(Protocol):
    """Where a universe run saves each trained chunk of folds as it finishes (backtest.runs.chunks writes
    it to the run folder); ``load`` gives None for a chunk not saved, and raises DamagedCheckpoint for one
    that fails its proof. The engine itself writes no file."""

    def begin(self, config: dict[str, dict[str, Any]], data_fingerprint: str, resume: bool) -> None: ...

    def load(self, index: int, folds: list[Fold], models: list[str]) -> TrainedChunk | None: ...

    def save(self, index: int, folds: list[Fold], chunk: TrainedChunk) -> None: ...

    def discard(self, index: int) -> None: ...


def train_chunk(values: np.ndarray, folds: list[Fold], job: ChunkJob, progress: Progress | None = None
                ) -> TrainedChunk:
    """Every network's and the linear model's forecasts on one chunk of folds, and the networks' training log:
    its windows cut from ``values`` (the close panel, dates x symbols) here, trained here, only these kept.

    A pure function of its arguments (members draw from their own seeds), so a chunk trained in another
    process, or again after an interruption, gives the same bits given the same thread count.
    """
    if job.threads is not None:
        configure_threads(job.threads)
    device = prepare_device(job.device)
    windows = [panel_windows(values, f.train, f.val, f.test, job.lookback, job.target, job.horizon, job.embargo,
                             list(job.inputs), job.with_returns, list(job.processors), list(job.target_processors))
               for f in folds]
    left = max(job.budget - _held(windows) * (1 if job.networks == "pooled" else 2), 1)
    parts: Parts = {}
    rows: list[dict[str, Any]] = []
    for arch in job.nets:
        parts[arch.name], logged = network_parts(arch, pd.Index(job.symbols), folds, windows, job.seed, job.seeds,
                                                 job.settings, device, job.networks, progress, left)
        rows += logged
    parts["linear"] = linear_parts(windows, folds)
    return TrainedChunk(parts, training_log(rows))


def chunk_models(job: ChunkJob) -> list[str]:
    """The models every chunk's Parts hold, in order."""
    return [*(a.name for a in job.nets), "linear"]


def _saved_chunk(store: ChunkStore, index: int, folds: list[Fold], job: ChunkJob) -> TrainedChunk | None:
    """A chunk saved by an interrupted run, if it proves itself; None (with a warning when damaged) if not."""
    try:
        return store.load(index, folds, chunk_models(job))
    except DamagedCheckpoint as exc:
        warnings.warn(f"{exc} Its folds are trained again.", CheckpointWarning, stacklevel=3)
        store.discard(index)
        return None


# Runs the chunks still to train: (values, [(index, folds)], job) in, (index, chunk) out as each finishes,
# in any order. In this process by default; a Dask runner (engine.chunk_fanout) spreads them over workers.
ChunkRunner = Callable[[np.ndarray, list[tuple[int, list[Fold]]], ChunkJob], Iterator[tuple[int, TrainedChunk]]]


def in_process(progress: Progress | None) -> ChunkRunner:
    """A runner that trains the chunks one after another here, with the live display's hooks."""
    def run(values: np.ndarray, todo: list[tuple[int, list[Fold]]], job: ChunkJob
            ) -> Iterator[tuple[int, TrainedChunk]]:
        for index, folds in todo:
            yield index, train_chunk(values, folds, job, progress)
    return run


def plan_chunks(folds: list[Fold], job: ChunkJob, width: int) -> list[list[Fold]]:
    """The folds in consecutive chunks whose windows and training fit ``job.budget``."""
    def fits(chunk: list[Fold]) -> bool:
        return all(fold_bytes(m, chunk, width, job.lookback, job.seeds, job.settings.batch_size, job.networks,
                              job.features) <= job.budget for m in job.nets or [None])
    return fold_chunks(folds, fits)


def _trained_parts(close: pd.DataFrame, folds: list[Fold], job: ChunkJob, progress: Progress | None,
                   store: ChunkStore | None, runner: ChunkRunner | None) -> TrainedChunk:
    """Every network's and the linear model's forecasts and the training log, a chunk of folds at a time within
    the job's budget: chunks saved in ``store`` are loaded, the others trained by ``runner`` and saved as each
    finishes."""
    progress = progress or Progress()
    values = close.to_numpy(dtype=np.float64)
    chunks = plan_chunks(folds, job, close.shape[1])
    done: dict[int, TrainedChunk] = {}
    for i, chunk in enumerate(chunks):
        if store is not None and (saved := _saved_chunk(store, i, chunk, job)) is not None:
            done[i] = saved
    progress.folds(sum(len(chunks[i]) for i in done), len(folds))
    todo = [(i, chunk) for i, chunk in enumerate(chunks) if i not in done]
    for i, chunk in (runner or in_process(progress))(values, todo, job):
        if store is not None:
            store.save(i, chunks[i], chunk)
        done[i] = chunk
        progress.folds(sum(len(chunks[j]) for j in done), len(folds))
    order = range(len(chunks))
    logs = [done[i].log for i in order if len(done[i].log)]
    return TrainedChunk({name: [p for i in order for p in done[i].parts[name]] for name in chunk_models(job)},
                        pd.concat(logs, ignore_index=True) if logs else training_log([]))


def pooled_scores(close: pd.DataFrame, folds: list[Fold], models: list[str], lookback: int, target: str,
                  seed: int, settings: TrainSettings, device: torch.device, progress: Progress | None = None,
                  seeds: int = 1, networks: str = "pooled", budget: int = DEFAULT_BUDGET,
                  architectures: list[Architecture] | None = None, store: ChunkStore | None = None,
                  runner: ChunkRunner | None = None, threads: int | None = None, horizon: int = 1, embargo: int = 0,
                  inputs: tuple[list[InputColumn], bool] | None = None, processors: list[str] | None = None,
                  target_processors: list[str] | None = None, log: list[pd.DataFrame] | None = None
                  ) -> dict[str, pd.DataFrame]:
    """Score panels of every pooled network in ``models`` and of the universe baselines.

    Parameters
    ----------
    close : pd.DataFrame
        Close panel (dates x symbols), NaN where a stock has no price.
    folds : list of Fold
        The walk-forward folds (row positions into ``close``).
    models : list of str
        Architectures (forecasters.registry); names in ``BASELINES`` are skipped here, as they are
        always scored.
    lookback, target : int, str
        Returns per input window; ``"return"``, ``"rank"``, ``"zscore"`` or ``"median"`` (forecasters.panel).
    seed, seeds : int
        The run's seed, and the seeds trained per fold (their forecasts averaged).
    settings, device, progress
        The trainer's settings, the device, and the live display's hooks.
    networks : {"pooled", "per_symbol"}
        One network per fold and seed on every symbol's windows, or one per symbol, fold and seed.
    budget : int
        Bytes one chunk of folds may plan to use for its windows and training (see the module's notes).
    architectures : list of Architecture, optional
        The run's custom architectures ([networks.NAME]) that ``models`` may name beside the presets.
    store : ChunkStore, optional
        Where each trained chunk of folds is saved as it finishes, and loaded from on a resume.
    runner : ChunkRunner, optional
        What trains the chunks (default: one after another in this process).
    threads : int, optional
        Torch threads a chunk trains with (None: as set in this process).
    horizon, embargo : int, default 1 and 0
        Days the target looks ahead, and the days more than it that purge each fitting set's end.
    inputs : (list of InputColumn, bool), optional
        The input columns beyond the close's returns and whether the returns enter (engine.panel_features);
        None: the returns alone.
    processors : list of str, optional
        forecasters.processors applied in order to every fold's windows (universe.processors).
    target_processors : list of str, optional
        Within-day processors of the return labels (universe.target_processors; forecasters.panel).
    log : list of pd.DataFrame, optional
        Given, the networks' training log (``TrainedChunk.log``, every chunk's, in fold order) is appended to it.

    Returns
    -------
    dict of str to pd.DataFrame
        Model name -> score panel (decision day t x symbol), networks first, then ``BASELINES``.
    """
    if networks not in NETWORKS:
        raise ValueError(f"networks must be one of {NETWORKS}. Got {networks!r}.")
    nets = tuple(get_architecture(m, architectures or []) for m in models if m not in BASELINES)
    job = ChunkJob(nets, tuple(str(c) for c in close.columns), lookback, target, seed, seeds, settings, device.type,
                   networks, budget, threads, horizon, embargo, tuple((inputs or ([], True))[0]),
                   (inputs or ([], True))[1], tuple(processors or []), tuple(target_processors or []))
    trained = _trained_parts(close, folds, job, progress, store, runner)
    if log is not None:
        log.append(trained.log)
    out = {name: _to_frame(close, folds, p) for name, p in trained.parts.items()}
    out["reversal"] = rule_scores(reversal_scores, close, folds)
    naive = rule_scores(naive_scores, close, folds)
    out["naive"] = naive + 0.5 if target == "median" else naive  # the median label's naive chance is 1/2
    return out
