"""A universe run's chunks of folds fanned out over Dask distributed: each chunk one task, its windows cut
where it trains.

With ``run.workers`` > 1 the chunks go to a ``distributed.LocalCluster`` of that many worker processes on
this machine (loopback only, one task at a time each); with ``run.scheduler`` to the cluster at that address.
The close panel travels with each task; each task is ``engine.pooled.train_chunk`` on it, a pure
function of (panel, chunk, frozen job), so a chunk gives the same bits wherever it trains given the same
thread count (``ChunkJob.threads``), its training log coming back with its forecasts. Dask does the
scheduling: a task whose worker dies (killed, out of memory) is run again on another (the scheduler's
``allowed-failures``), and a task that raises is retried (``RETRIES``).
Results come back as each chunk finishes, so the driver saves each to the run's checkpoint and shows the
folds done.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from backtest.core.errors import SourceError
from backtest.engine.pooled import ChunkJob, ChunkRunner, TrainedChunk, train_chunk
from backtest.engine.schedule import Fold

RETRIES = 2  # a chunk that raises on a worker is tried this many more times before the run fails
LOOPBACK = "127.0.0.1"
# Dask's statistical profiler holds the GIL every 10 ms (training ran 1.2-1.4x slower under it: sweep.fanout).
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


@contextmanager
def _client(scheduler: str | None, workers: int, threads: int) -> Iterator[Any]:
    """A client of the cluster at ``scheduler``, else of a local cluster of ``workers`` processes."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=10)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SourceError(f"run.scheduler: cannot reach the Dask scheduler at {scheduler} within 10 s "
                              f"({type(exc).__name__}). Check the address (e.g. tcp://HOST:8786) and that "
                              "`dask scheduler` runs there, or leave run.scheduler out.") from None
        with client:
            yield client
        return
    with dask.config.set(WORKER_CONFIG), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host=LOOPBACK,
                         dashboard_address=None, silence_logs=logging.ERROR,
                         env={"OMP_NUM_THREADS": str(threads), "WFBT_SWEEP_WORKER": "1"}) as cluster, \
            Client(cluster) as client:
        yield client


def dask_runner(scheduler: str | None, workers: int, threads: int) -> ChunkRunner:
    """A ChunkRunner that trains each chunk as one Dask task (see the module's notes)."""
    def run(values: np.ndarray, todo: list[tuple[int, list[Fold]]], job: ChunkJob
            ) -> Iterator[tuple[int, TrainedChunk]]:
        if not todo:
            return
        from distributed import as_completed

        with _client(scheduler, workers, threads) as client:
            tag = uuid.uuid4().hex[:8]
            # the panel goes with each task, not scattered: scattered data dies with the worker that holds it,
            # while a task's own arguments stay with the scheduler, so a rerun after a kill has all it needs
            futures = {client.submit(train_chunk, values, folds, job, key=f"wfbt-chunk-{i}-{tag}", retries=RETRIES,
                                     pure=False): i for i, folds in todo}
            for future in as_completed(futures):
                yield futures[future], future.result()
    return run
