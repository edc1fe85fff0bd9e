"""The universe run's training log: per network, fold and seed, what the trainer returned for that member."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from backtest.engine import pooled
from backtest.engine.forecasting import train_members
from backtest.engine.schedule import Fold
from forecasters.registry import get_architecture
from forecasters.trainer import TrainSettings
from tests.conftest import synthetic_prices

CPU = torch.device("cpu")
# 3 epochs at most, patience 1: a member whose second epoch does not beat its first stops there
SETTINGS = TrainSettings(epochs=3, batch_size=64, patience=1, lr=0.05)
FOLDS = [Fold(0, 0, 80, 100, 100, 140), Fold(1, 40, 120, 140, 140, 180)]


def _close() -> pd.DataFrame:
    """Six seeded random walks, 200 days."""
    return pd.concat({f"S{k}": synthetic_prices(200, seed=k)["close"] for k in range(6)}, axis=1)


def _trainer_results(seeds: int) -> list:
    """What the trainer returns for the same members, trained directly (fold-major, seed-minor)."""
    close = _close()
    windows = pooled.fold_windows(close, FOLDS, 5, "return")
    members = pooled.pooled_members("lstm", FOLDS, windows, 3, seeds)
    results, _ = train_members(get_architecture("lstm"), members, SETTINGS, CPU)
    return results


def test_the_log_holds_each_members_epochs_as_the_trainer_returned_them() -> None:
    log: list[pd.DataFrame] = []
    pooled.pooled_scores(_close(), FOLDS, ["lstm"], 5, "return", seed=3, settings=SETTINGS, device=CPU, seeds=2,
                         log=log)
    (got,) = log
    want = _trainer_results(seeds=2)
    assert list(got.columns) == pooled.LOG_COLUMNS
    assert got[["model", "fold", "seed"]].values.tolist() == [["lstm", 0, 0], ["lstm", 0, 1], ["lstm", 1, 0],
                                                               ["lstm", 1, 1]]
    assert got["epochs"].tolist() == [r.epochs for r in want]
    assert got["best_epoch"].tolist() == [r.best_epoch for r in want]
    np.testing.assert_allclose(got["val_loss"], [r.best_val_loss for r in want], rtol=1e-6)
    np.testing.assert_allclose(got["train_loss"], [r.train_loss[r.best_epoch - 1] for r in want], rtol=1e-6)
    assert got["stopped_early"].tolist() == [r.epochs < 3 for r in want]
    assert got["stopped_early"].any() and (got["best_epoch"] <= got["epochs"]).all()  # patience 1 stops one
    assert (got["seconds"] > 0).all() and got["seconds"].nunique() == 1  # the group's time shared evenly


def test_log_rows_name_the_symbol_of_a_per_symbol_network() -> None:
    fake = [pooled.MemberResult(np.zeros(1), best_epoch=b, epochs=e, best_val_loss=v, train_loss=[0.5, 0.4, 0.3])
            for b, e, v in [(1, 2, 0.9), (3, 3, 0.7)]]
    rows = pooled.log_rows("gru", [(4, "AAPL"), (4, "MSFT")], fake, seeds=1, seconds=2.0, cap=3)
    assert [(r["symbol"], r["epochs"], r["best_epoch"], r["stopped_early"]) for r in rows] == [
        ("AAPL", 2, 1, True), ("MSFT", 3, 3, False)]
    assert [r["train_loss"] for r in rows] == [0.5, 0.3] and [r["seconds"] for r in rows] == [1.0, 1.0]
