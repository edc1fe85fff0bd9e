"""One universe run's chunks of folds as Dask tasks: the same bits as in-process, a killed worker recovered from."""

from __future__ import annotations

import os
import signal
import threading
import time

import pandas as pd
import pytest
import torch

from backtest.engine import pooled
from backtest.engine.chunk_fanout import dask_runner
from backtest.engine.schedule import Fold
from forecasters.registry import get_architecture
from forecasters.trainer import TrainSettings
from tests.conftest import synthetic_prices

distributed = pytest.importorskip("distributed")
CPU = torch.device("cpu")
SETTINGS = TrainSettings(epochs=4, batch_size=64, patience=4)
FOLDS = [Fold(0, 0, 80, 100, 100, 140), Fold(1, 40, 120, 140, 140, 180), Fold(2, 80, 160, 180, 180, 200)]


def _scores(runner=None, log=None) -> dict[str, pd.DataFrame]:  # type: ignore[no-untyped-def]
    close = pd.concat({f"S{k}": synthetic_prices(200, seed=k)["close"] for k in range(6)}, axis=1)
    budget = pooled.fold_bytes(get_architecture("lstm"), FOLDS[:1], 6, 5, 1, SETTINGS.batch_size)  # a fold a chunk
    return pooled.pooled_scores(close, FOLDS, ["lstm"], 5, "return", seed=3, settings=SETTINGS, device=CPU,
                                budget=budget, runner=runner, threads=1, log=log)


class Killer(threading.Thread):
    """SIGKILLs the first worker seen running a chunk, as the chunks train."""

    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.client, self.killed = client, None
        self.pids = client.run(os.getpid)  # worker address -> its process id

    def run(self) -> None:
        deadline = time.time() + 120
        while self.killed is None and time.time() < deadline:
            busy = [w for w, keys in self.client.processing().items() if any("wfbt-chunk" in str(k) for k in keys)]
            if busy:
                self.killed = self.pids[busy[0]]
                os.kill(self.killed, signal.SIGKILL)
            time.sleep(0.01)


def test_two_workers_give_the_in_process_bits_and_survive_a_killed_worker():
    threads = torch.get_num_threads()
    try:
        here = _scores()
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            killer = Killer(client)
            killer.start()
            spread = _scores(dask_runner(cluster.scheduler_address, 2, 1))  # run.scheduler = that address
            killer.join()
    finally:
        torch.set_num_threads(threads)
    assert killer.killed is not None  # a worker died mid-chunk, and its chunk was run again elsewhere
    for name in ("lstm", "linear", "reversal", "naive"):
        pd.testing.assert_frame_equal(spread[name], here[name], check_exact=True)
    assert here["lstm"].notna().to_numpy().sum() == 6 * 100


def test_a_local_cluster_of_two_workers_gives_the_in_process_bits():
    threads = torch.get_num_threads()
    try:
        logs: list[pd.DataFrame] = []
        here, spread = _scores(log=logs), _scores(dask_runner(None, 2, 1), logs)  # run.workers = 2
    finally:
        torch.set_num_threads(threads)
    pd.testing.assert_frame_equal(spread["lstm"], here["lstm"], check_exact=True)
    # each chunk's training log comes back from its worker: every fold's member, as trained here
    same = ["model", "fold", "seed", "epochs", "best_epoch", "train_loss", "val_loss", "stopped_early"]
    assert logs[1]["fold"].tolist() == [0, 1, 2]
    pd.testing.assert_frame_equal(logs[1][same], logs[0][same], check_exact=True)
