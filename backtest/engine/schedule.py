"""Walk-forward schedule: which rows each fold fits on, validates on and is tested on."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from backtest.core.config import WalkForwardSection
from backtest.core.errors import DataError


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold as half-open integer row positions into the price frame.

    Rows ``[train_start, val_start)`` fit the scaler and the model, ``[val_start, train_end)`` are the
    validation tail used only for early stopping, ``[test_start, test_end)`` are the days predicted out
    of sample. ``gap`` rows lie between ``train_end`` and ``test_start``.

    Example: 1000 rows, train_days=500, val_days=100, test_days=200, gap=0, rolling::

        fold 0: train [0, 400)   val [400, 500)   test [500, 700)
        fold 1: train [200, 600) val [600, 700)   test [700, 900)
        fold 2: train [400, 800) val [800, 900)   test [900, 1000)
    """

    index: int
    train_start: int
    val_start: int
    train_end: int
    test_start: int
    test_end: int

    @property
    def train(self) -> slice:
        return slice(self.train_start, self.val_start)

    @property
    def val(self) -> slice:
        return slice(self.val_start, self.train_end)

    @property
    def test(self) -> slice:
        return slice(self.test_start, self.test_end)


def make_folds(n_rows: int, cfg: WalkForwardSection) -> list[Fold]:
    """Cut ``n_rows`` into folds whose test blocks tile the out-of-sample period without overlap (with
    ``cfg.protocol = "study"``: the one fold of ``study_fold``)."""
    if cfg.protocol == "study":
        return [study_fold(n_rows, cfg)]
    gap = cfg.gap or 0  # None (a section built alone, not resolved by RunConfig): no gap
    first_test = cfg.train_days + gap
    if n_rows <= first_test:
        raise DataError(
            f"the data has {n_rows} rows but one fold needs more than walkforward.train_days + gap = "
            f"{first_test} (plus at least one test day). Use a longer date range or a shorter "
            "walkforward.train_days."
        )
    folds = []
    test_start = first_test
    while test_start < n_rows:
        test_end = min(test_start + cfg.test_days, n_rows)
        train_end = test_start - gap
        train_start = train_end - cfg.train_days if cfg.window == "rolling" else 0
        folds.append(Fold(len(folds), train_start, train_end - cfg.val_days, train_end, test_start, test_end))
        test_start = test_end
    if cfg.max_folds is not None and len(folds) > cfg.max_folds:
        folds = [
            Fold(i, f.train_start, f.val_start, f.train_end, f.test_start, f.test_end)
            for i, f in enumerate(folds[-cfg.max_folds:])
        ]
    return folds


def study_fold(n_rows: int, cfg: WalkForwardSection) -> Fold:
    """The studies' one chronological split as a fold: the first ``study_train`` of the rows fit, the next
    ``study_val`` validate, the rest (``study_test``) is the test block; cuts round down to whole rows.

    Example: 1000 rows, 0.8 / 0.1 / 0.1 -> train [0, 800), val [800, 900), test [900, 1000).
    """
    val_start = int(n_rows * cfg.study_train + 1e-9)
    test_start = int(n_rows * (cfg.study_train + cfg.study_val) + 1e-9)
    if val_start < 2 or test_start >= n_rows:
        raise DataError(f"the data has {n_rows} rows: walkforward.study_train = {cfg.study_train} and study_test = "
                        f"{cfg.study_test} leave {val_start} rows to fit on and {n_rows - test_start} to test. Use a "
                        "longer date range.")
    return Fold(0, 0, val_start, test_start, test_start, n_rows)


def folds_table(folds: list[Fold], dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Human-readable fold ranges (inclusive dates) and row counts."""

    def day(pos: int) -> str:
        return str(dates[pos].date())

    rows = []
    for f in folds:
        rows.append({
            "fold": f.index,
            "train_start": day(f.train_start), "train_end": day(f.val_start - 1),
            "val_start": day(f.val_start) if f.train_end > f.val_start else "",
            "val_end": day(f.train_end - 1) if f.train_end > f.val_start else "",
            "test_start": day(f.test_start), "test_end": day(f.test_end - 1),
            "train_rows": f.val_start - f.train_start, "val_rows": f.train_end - f.val_start,
            "test_rows": f.test_end - f.test_start,
        })
    return pd.DataFrame(rows)
