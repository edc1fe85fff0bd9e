"""Running a sweep on Dask distributed: training groups and cell backtests as tasks.

The driver loads each symbol's prices once and scatters them; every training group (one architecture
and window shape over all the cells that use it) is one task, and so is each cell's backtest. Finished
groups are saved into their cells' ``partial/`` folders at once (the run checkpoint format), so a driver
killed with kill -9 resumes with ``--resume``: finished cells are kept, finished groups are loaded, and
unfinished groups are trained again with the same members as before, which gives the same bits.

A universe cell (``home(cell).sweep_groups`` false) is one task of its own, ``universe_cell_task``: ``run_universe``
loads its stocks, trains its pooled networks fold by fold and trades its books inside the task, so the
cells of a universe sweep fan out over the workers like any cell's backtest. It keeps no checkpoint: an
interrupted universe cell runs again whole on ``--resume`` (finished ones are kept).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from backtest.core.errors import ConfigError, RunDirError, SourceError, WfbtError
from backtest.core.files import atomic_write_json
from backtest.engine.schedule import Fold, make_folds
from backtest.kinds import home, published, run_config
from backtest.runs.checkpoint import Checkpoint
from backtest.runs.folder import is_complete, start_run_dir
from backtest.sweep.spec import Cell, GroupKey, SweepSpec, data_key, load_all_prices, make_cells, plan_groups

Trained = dict[str, tuple[pd.DataFrame, pd.DataFrame]]  # model -> (predictions, fold log)
# Worker processes: workers x threads never exceed the cores, so OpenMP keeps its default waits (spin a
# moment, then sleep; passive waits made a 2-thread worker's training about 1.5x slower) and the workers do
# not go passive on seeing the sweep's driver (resources.quiet_openmp_waits). Dask's statistical profiler
# samples the task thread's stack every 10 ms and holds the GIL to do it: the training loop's Python ran
# 1.2-1.4x slower under it (docs/performance.md). Dask's own logging only for errors.
WORKER_ENV = {"WFBT_SWEEP_WORKER": "1", "DASK_LOGGING__DISTRIBUTED": "error"}
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


@dataclass(frozen=True)
class Budget:
    """Worker processes and torch threads per worker: workers x threads never exceeds the cores."""

    workers: int
    threads: int


def thread_budget(cores: int, groups: int, gpus: int = 0) -> Budget:
    """One worker per GPU; on CPUs as many single-task workers as groups can use, sharing the cores."""
    if gpus > 0:
        return Budget(gpus, max(1, cores // gpus))
    workers = max(1, min(cores, groups))
    return Budget(workers, max(1, cores // workers))


def train_group_task(key: GroupKey, items: list[tuple[str, Any, pd.DataFrame]], threads: int) -> dict[str, Any]:
    """Train one architecture for every cell in ``items`` (name, config, prices) as one group.

    Returns per cell name the model's (predictions, fold log): the training function of a standalone run
    (engine.forecasting.train_networks), given every cell's windows at once.
    """
    import torch

    from backtest.engine import devices, forecasting
    from backtest.engine.schedule import make_folds

    torch.set_num_threads(threads)
    runs = [forecasting.windows(config, prices, make_folds(len(prices), config.walkforward))
            for _, config, prices in items]
    trained = forecasting.train_networks(key.model, runs, devices.prepare_device(key.device))
    return {name: result for (name, _, _), result in zip(items, trained, strict=True)}


def finish_cell_task(config: Any, prices: pd.DataFrame, trained: Trained, threads: int) -> Any:
    """One cell's baselines, backtest and tests from its trained models: a RunResult, like `wfbt run`'s."""
    import torch

    from backtest.engine import devices, forecasting, pipeline
    from backtest.engine.schedule import make_folds

    torch.set_num_threads(threads)
    run = forecasting.windows(config, prices, make_folds(len(prices), config.walkforward))
    timings = {"training": float(sum(log["seconds"].sum() for _, log in trained.values()))}
    return pipeline.trade_and_score(run, prices, dict(trained), devices.prepare_device("cpu"), timings)


def universe_cell_task(config: Any, threads: int) -> Any:
    """One universe cell, whole: ``backtest.kinds.run_config`` of its config (a UniverseResult, like `wfbt run`'s)."""
    import torch


    torch.set_num_threads(threads)
    return run_config(config)


def _status(root: Path, spec: SweepSpec, cells: list[Cell], budget: Budget, timings: dict[str, float]) -> None:
    """sweep.json: the grid, every cell's status, the groups and timings; written whole after each change."""
    atomic_write_json(root / "sweep.json", {
        "name": spec.name, "symbols": spec.symbols, "grid": spec.grid,
        "cells": [{"name": c.name, "symbol": c.symbol, "values": c.values, "status": c.status,
                   "error": c.error} for c in cells],
        "workers": budget.workers, "threads_per_worker": budget.threads,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "complete": all(c.status != "pending" for c in cells),
    })


LOOPBACK = "127.0.0.1"


def local_cluster(budget: Budget, gpus: int = 0) -> Any:
    """Worker processes on this machine, one task at a time each; with GPUs one worker per GPU, pinned with
    CUDA_VISIBLE_DEVICES; WORKER_ENV and WORKER_CONFIG set in each."""
    import dask.config
    from distributed import Nanny, Scheduler, SpecCluster

    def env(i: int) -> dict[str, str]:
        pin = {"CUDA_VISIBLE_DEVICES": str(i)} if gpus else {}
        return {**WORKER_ENV, "OMP_NUM_THREADS": str(budget.threads), **pin}

    # loopback only: a local cluster is this machine's business, not the network's
    workers = {i: {"cls": Nanny, "options": {"nthreads": 1, "silence_logs": logging.ERROR, "env": env(i),
                                              "host": LOOPBACK, "config": {**dask.config.config, **WORKER_CONFIG}}}
               for i in range(budget.workers)}
    scheduler = {"cls": Scheduler, "options": {"host": LOOPBACK, "dashboard_address": f"{LOOPBACK}:0"}}
    return SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.ERROR)


@contextmanager
def dask_client(scheduler: str | None, budget: Budget, gpus: int = 0) -> Iterator[Any]:
    """A client of the cluster at ``scheduler`` (or $DASK_SCHEDULER_ADDRESS), else of a local cluster.

    Connecting gives up after WFBT_DASK_TIMEOUT seconds (10 by default).
    """
    from distributed import Client

    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if not address:
        with local_cluster(budget, gpus) as cluster, Client(cluster) as client:
            yield client
        return
    timeout = _seconds("WFBT_DASK_TIMEOUT", 10.0)
    try:
        client = Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SourceError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({type(exc).__name__}). "
                          "Check the "
                          "address (e.g. tcp://HOST:8786) and that `dask scheduler` runs there, or leave --scheduler "
                          "out to start a local cluster.") from None
    with client:
        yield client


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (0 < value < 1e6):
        raise ConfigError(f"{name} must be a number of seconds above 0, e.g. {default:g}. Got {text!r}.")
    return value


class SweepProgress:
    """Hooks the CLI's live display implements; the default does nothing."""

    def start(self, groups: int, cells: int) -> None: ...

    def group_done(self, label: str) -> None: ...

    def cell_done(self, cell: Cell) -> None: ...


def check_sweep_folder(root: Path, resume: bool) -> None:
    """A new sweep never writes into an existing sweep folder (checked before a cluster is started, too)."""
    if root.exists() and not resume:
        raise RunDirError(f"sweep folder {str(root)!r} exists. Continue it with --resume, or give the sweep "
                          "another name (sweep.name) or --out.")


def _claim(root: Path, resume: bool) -> None:
    check_sweep_folder(root, resume)
    root.mkdir(parents=True, exist_ok=True)


def _prepare_cells(cells: list[Cell], resume: bool, prices: dict[tuple[Any, ...], pd.DataFrame]
                   ) -> dict[str, list[str]]:
    """Pin each pending cell's checkpoint (marking its folder unfinished); return the models each has saved."""
    from backtest.data.load import fingerprint

    saved = {}
    for cell in cells:
        run_dir = Path(cell.config.run.out_dir) / cell.name
        if cell.status != "pending":
            continue
        if not home(cell).sweep_groups:  # no shared training to save: the cell's task runs it whole
            start_run_dir(run_dir)
            saved[cell.name] = []
            continue
        saved[cell.name] = Checkpoint(run_dir).begin(cell.config.to_dict(), fingerprint(prices[data_key(cell.config)]),
                                                      resume, folds=_cell_folds(cell, prices))
    return saved


def _cell_folds(cell: Cell, prices: dict[tuple[Any, ...], pd.DataFrame]) -> list[Fold]:
    """The folds of one cell: what its saved groups must cover."""
    return make_folds(len(prices[data_key(cell.config)]), cell.config.walkforward)


def _load_saved(cells: dict[str, Cell], saved: dict[str, list[str]],
                prices: dict[tuple[Any, ...], pd.DataFrame]) -> dict[str, Trained]:
    """Each pending cell's proven saved groups; one that fails its proof now is dropped (its group retrains)."""
    import warnings

    from backtest.core.errors import CheckpointWarning, DamagedCheckpoint

    trained: dict[str, Trained] = {name: {} for name, c in cells.items() if c.status == "pending"}
    for name in trained:
        checkpoint = Checkpoint(Path(cells[name].config.run.out_dir) / name)
        for model in saved[name]:
            try:
                trained[name][model] = checkpoint.load(model, folds=_cell_folds(cells[name], prices))
            except DamagedCheckpoint as exc:
                warnings.warn(f"{exc} {model} is trained again.", CheckpointWarning, stacklevel=2)
                checkpoint.discard(model)
    return trained


@dataclass
class SweepPlan:
    spec: SweepSpec
    root: Path  # <out>/<sweep name>
    cells: list[Cell]
    prices: dict[tuple[Any, ...], pd.DataFrame]
    groups: dict[GroupKey, list[Cell]]

    def models(self) -> int:
        """Networks to train: every member of every group (folds x seeds of each cell)."""
        from backtest.engine.schedule import make_folds

        total = 0
        for members in self.groups.values():
            for c in members:
                total += len(make_folds(len(self.prices[data_key(c.config)]), c.config.walkforward)) * \
                    c.config.forecast.seeds
        return total


def plan_sweep(spec: SweepSpec, out: Path, resume: bool = False) -> SweepPlan:
    """Cells, prices (each symbol once) and training groups; nothing is written. Cells whose data fails are
    marked failed; on ``resume`` finished cells are marked skipped (their groups keep them as members, so
    the members of every group are those of the first attempt)."""
    root = out / spec.name
    cells = make_cells(spec, root)
    prices = load_all_prices(cells)
    for cell in cells:
        if cell.status == "pending" and resume and is_complete(root / cell.name) and _finished_cell_holds(cell):
            cell.status = "skipped"
    return SweepPlan(spec, root, cells, prices, plan_groups(c for c in cells if c.status != "failed"))


def _finished_cell_holds(cell: Cell) -> bool:
    """A finished cell is kept on resume only if it is still what its run wrote, with this sweep's settings.

    Files cut off or edited since: a warning, and the cell runs again (False). Other settings (the sweep
    file changed since): refused by name, as a resumed run is, since the sweep would rank unlike cells.
    """
    import tomllib
    import warnings

    from backtest.core.errors import CheckpointWarning
    from backtest.runs.checkpoint import changed_settings
    run_dir = Path(cell.config.run.out_dir) / cell.name
    try:
        text = home(cell).read(run_dir).config_text()
        saved = tomllib.loads(text)
    except (RunDirError, tomllib.TOMLDecodeError) as exc:
        warnings.warn(f"sweep cell {cell.name} is finished but cannot be kept ({exc}); it is run again.",
                      CheckpointWarning, stacklevel=3)
        return False
    changes = changed_settings(saved, cell.config.to_dict())
    if changes:
        raise RunDirError(f"cannot resume the sweep: cell {cell.name} finished with other settings "
                          f"({'; '.join(changes)}). Resume with the original sweep file, or start a new sweep "
                          "(another sweep.name or --out).")
    return True


def sweep_budget(plan: SweepPlan, cores: int) -> Budget:
    """Workers for the training groups and the universe cells (each a task that trains and trades)."""
    tasks = len(plan.groups) + sum(not home(c).sweep_groups and c.status == "pending" for c in plan.cells)
    return thread_budget(cores, tasks, gpus_for(plan.cells))


def run_sweep(plan: SweepPlan, client: Any, budget: Budget, resume: bool = False,
              progress: SweepProgress | None = None) -> list[Cell]:
    """Run every pending cell of ``plan`` on ``client``, writing its run folder; returns the cells."""
    progress = progress or SweepProgress()
    _claim(plan.root, resume)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    saved = _prepare_cells(plan.cells, resume, plan.prices)

    def write_status() -> None:
        _status(plan.root, plan.spec, plan.cells, budget, timings)

    write_status()
    progress.start(len(plan.groups), sum(c.status == "pending" for c in plan.cells))
    _execute(client, plan.cells, plan.groups, plan.prices, saved, budget, progress, write_status)
    timings["run"] = time.perf_counter() - t0
    write_status()
    return plan.cells


def gpus_for(cells: list[Cell]) -> int:
    if all(c.config.run.device == "cpu" for c in cells):
        return 0
    import torch

    return torch.cuda.device_count()


def _execute(client: Any, cells: list[Cell], groups: dict[GroupKey, list[Cell]],
             prices: dict[tuple[Any, ...], pd.DataFrame], saved: dict[str, list[str]], budget: Budget,
             progress: SweepProgress, write_status: Callable[[], None]) -> None:
    """Submit the groups still needed, then each cell's backtest once its models are in; write as they land."""
    from distributed import as_completed

    remote = {k: client.scatter(v, broadcast=False, hash=False) for k, v in prices.items()}
    by_name = {c.name: c for c in cells}
    trained = _load_saved(by_name, saved, prices)
    tasks: dict[Any, tuple[str, Any]] = {}
    for key, members in groups.items():
        if all(c.status != "pending" or key.model in trained[c.name] for c in members):
            progress.group_done(key.label)
            continue
        items = [(c.name, c.config, remote[data_key(c.config)]) for c in members]
        tasks[client.submit(train_group_task, key, items, budget.threads, retries=2, pure=False)] = ("group", key)
    queue = as_completed(list(tasks))
    for name in trained:
        _maybe_finish(client, by_name[name], trained, groups, remote, budget, tasks, queue)
    for future in queue:
        kind, what = tasks.pop(future)
        if kind == "group":
            _group_landed(future, what, by_name, trained, groups, client, remote, budget, tasks, queue, progress)
        else:
            _cell_landed(future, by_name[what], progress)
        write_status()


def _needed(cell: Cell, groups: dict[GroupKey, list[Cell]]) -> set[str]:
    return {key.model for key, members in groups.items() if cell in members}


def _maybe_finish(client: Any, cell: Cell, trained: dict[str, Trained], groups: dict[GroupKey, list[Cell]],
                  remote: dict[tuple[Any, ...], Any], budget: Budget, tasks: dict[Any, tuple[str, Any]],
                  queue: Any) -> None:
    if cell.status != "pending" or not _needed(cell, groups) <= set(trained[cell.name]):
        return
    if not home(cell).sweep_groups:
        future = client.submit(universe_cell_task, cell.config, budget.threads, retries=2, pure=False)
        tasks[future] = ("cell", cell.name)
        queue.add(future)
        return
    future = client.submit(finish_cell_task, cell.config, remote[data_key(cell.config)], trained[cell.name],
                           budget.threads, retries=2, pure=False, priority=10)  # ahead of waiting groups
    tasks[future] = ("cell", cell.name)
    queue.add(future)


def _group_landed(future: Any, key: GroupKey, by_name: dict[str, Cell], trained: dict[str, Trained],
                  groups: dict[GroupKey, list[Cell]], client: Any, remote: dict[tuple[Any, ...], Any],
                  budget: Budget, tasks: dict[Any, tuple[str, Any]], queue: Any, progress: SweepProgress) -> None:
    try:
        out = future.result()
    except Exception as exc:  # a failed group fails its cells; the others go on
        for cell in groups[key]:
            if cell.status == "pending":
                cell.status, cell.error = "failed", f"training {key.label} failed: {_describe(exc)}"
                progress.cell_done(cell)
        return
    progress.group_done(key.label)
    for name, result in out.items():
        cell = by_name[name]
        if cell.status != "pending":
            continue
        Checkpoint(Path(cell.config.run.out_dir) / name).save(key.model, *result)
        trained[name][key.model] = result
        _maybe_finish(client, cell, trained, groups, remote, budget, tasks, queue)


def _cell_landed(future: Any, cell: Cell, progress: SweepProgress) -> None:
    try:
        result = future.result()
        with published(result, Path(cell.config.run.out_dir) / cell.name):
            pass  # nothing to show: complete as soon as it is written
        cell.status = "done"
    except Exception as exc:
        cell.status, cell.error = "failed", _describe(exc)
    progress.cell_done(cell)


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, WfbtError) else f"{type(exc).__name__}: {exc}"

