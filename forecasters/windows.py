"""Per-fold scaling and input windows.

Sample ``j`` predicts row ``j``'s close from rows ``[j - lookback, j)``: a prediction for day t+1
uses nothing after day t's close. Scalers are fit on the fold's fitting rows only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from backtest.schedule import Fold


@dataclass
class FoldData:
    """Scaled windows for one fold. X: (N, lookback, F) float32, y: (N,) float32 in scaled units."""

    fold: Fold
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    test_positions: np.ndarray  # row positions of the predicted days
    target_mean: float  # inverse of the target scaling: price = scaled * target_scale + target_mean
    target_scale: float

    def to_price(self, scaled: np.ndarray) -> np.ndarray:
        return scaled.astype(np.float64) * self.target_scale + self.target_mean


def _scaler(kind: str) -> StandardScaler | MinMaxScaler:
    return StandardScaler() if kind == "standard" else MinMaxScaler()


def _windows(values: np.ndarray, targets: np.ndarray, lookback: int) -> np.ndarray:
    """Stack ``values[j - lookback:j]`` for each j in ``targets``: (len(targets), lookback, F)."""
    offsets = np.arange(-lookback, 0)
    return values[targets[:, None] + offsets[None, :]]


def fit_rows(fold: Fold) -> slice:
    """The rows every fitted transform may see: the fold's training rows, nothing later."""
    return slice(fold.train_start, fold.val_start)


def fold_data(prices: pd.DataFrame, fold: Fold, features: list[str], lookback: int, scaler: str) -> FoldData:
    """Fit the scalers on ``fold.train`` rows and cut training, validation and test windows."""
    raw = prices[features].to_numpy(dtype=np.float64)
    close = prices["close"].to_numpy(dtype=np.float64)
    rows = fit_rows(fold)
    x_scaler = _scaler(scaler).fit(raw[rows])
    y_scaler = _scaler(scaler).fit(close[rows, None])
    scaled = x_scaler.transform(raw).astype(np.float32)
    target = y_scaler.transform(close[:, None])[:, 0].astype(np.float32)

    train_t = np.arange(fold.train_start + lookback, fold.val_start)
    val_t = np.arange(fold.val_start, fold.train_end)
    test_t = np.arange(fold.test_start, fold.test_end)
    if isinstance(y_scaler, StandardScaler):
        mean, scale = float(y_scaler.mean_[0]), float(y_scaler.scale_[0])
    else:
        scale = 1.0 / float(y_scaler.scale_[0])
        mean = -float(y_scaler.min_[0]) * scale
    return FoldData(
        fold=fold,
        x_train=_windows(scaled, train_t, lookback), y_train=target[train_t],
        x_val=_windows(scaled, val_t, lookback), y_val=target[val_t],
        x_test=_windows(scaled, test_t, lookback), test_positions=test_t,
        target_mean=mean, target_scale=scale,
    )
