"""Per-fold input windows, their representation, and scaling fit on the fold's fitting rows only.

Sample ``j`` predicts row ``j``'s close from rows ``[j - lookback, j)``: a prediction for day t+1
uses nothing after day t's close. Two representations:

``"return"`` (default)
    Each window is expressed relative to its own last close: price features as log(price / last close),
    volume as log1p(volume) - log1p(last volume). The target is the next simple return,
    close(j) / close(j - 1) - 1, and a prediction maps back to a price as close(j - 1) * (1 + r).
    Inputs and target look alike in every fold, whatever the price level, so a network trained on one
    price range can be used on another.
``"level"``
    Price levels as they are (the two studies' choice). The test quarter's prices can leave the
    training range, which a network cannot extrapolate to; kept to reproduce the studies.

In both, a scaler (standard or min-max) is fit on the fitting rows only and applied to everything; only
``scaler_fit = "whole_series"`` (the studies' look-ahead, which backtest's config allows only in a study run)
fits it on every row. ``layout = "flat"`` feeds a window as one time step of lookback x features inputs.

Columns other than open/high/low/close/volume are derived features (``strategies.features``: returns,
%b, RSI, ...), already scale-free: both representations take them as they are (never relative to the
last close), so only the fold's scaler changes them. Their first rows have no value (the warm-up, NaN):
a fold's fitting rows start after the last leading row with a missing value, nothing is filled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler, StandardScaler

REPRESENTATIONS = ("return", "level")
SCALER_FITS = ("fold", "whole_series")
LAYOUTS = ("sequence", "flat")
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")  # any other feature column is taken as it is


@dataclass
class FoldData:
    """Scaled windows for one fold. X: (N, lookback, F) float32, y: (N,) float32 in scaled units."""

    fit: slice  # the fold's fitting rows: every fitted transform (and the drift baseline) sees these only
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    test_positions: np.ndarray  # row positions of the predicted days
    target_mean: float  # inverse of the target scaling: target = scaled * target_scale + target_mean
    target_scale: float
    test_base: np.ndarray | None = None  # return representation: the close before each test day
    fit_base: np.ndarray | None = None  # return representation: the close before each training and validation day
    close_scale: float = float("nan")  # the close's scaler unit (std or max - min) on the scaler's rows: price
    # errors / close_scale are the studies' "scaled" errors, whatever the representation

    def to_price(self, scaled: np.ndarray) -> np.ndarray:
        """Predictions in scaled units -> predicted closes of the test days."""
        target = scaled.astype(np.float64) * self.target_scale + self.target_mean
        return target if self.test_base is None else self.test_base * (1.0 + target)

    def fit_to_price(self, scaled: np.ndarray) -> np.ndarray:
        """In-sample predictions (the training then the validation windows, in scaled units) -> closes."""
        target = scaled.astype(np.float64) * self.target_scale + self.target_mean
        return target if self.fit_base is None else self.fit_base * (1.0 + target)


def _scaler(kind: str) -> StandardScaler | MinMaxScaler:
    return StandardScaler() if kind == "standard" else MinMaxScaler()


def _windows(values: np.ndarray, targets: np.ndarray, lookback: int) -> np.ndarray:
    """Stack ``values[j - lookback:j]`` for each j in ``targets``: (len(targets), lookback, F)."""
    offsets = np.arange(-lookback, 0)
    return values[targets[:, None] + offsets[None, :]]


def fit_rows(train: slice) -> slice:
    """The rows every fitted transform may see: the fold's training rows, nothing later (the look-ahead
    tests swap this rule for a leaky one to show that the check catches it)."""
    return slice(train.start, train.stop)


def scaler_rows(train: slice, scaler_fit: str, n_rows: int) -> slice:
    """The rows the scalers fit on: ``fit_rows`` (the fold's training rows) unless a study asks for the whole
    series (look-ahead: every row loaded, the test block included)."""
    if scaler_fit not in SCALER_FITS:
        raise ValueError(f"scaler_fit must be one of {SCALER_FITS}. Got {scaler_fit!r}.")
    return fit_rows(train) if scaler_fit == "fold" else slice(0, n_rows)


def close_scale(close: np.ndarray, fit: slice, scaler: str) -> float:
    """The close's unit in the scaler's terms on rows ``fit``: its standard deviation (ddof 0, as
    StandardScaler) or its range (max - min, as MinMaxScaler to [0, 1])."""
    rows = close[fit]
    return float(np.std(rows)) if scaler == "standard" else float(np.max(rows) - np.min(rows))


def _flat(x: np.ndarray) -> np.ndarray:
    """(N, L, F) windows -> (N, 1, L * F): one time step whose inputs are the days' features in day order."""
    return x.reshape(len(x), 1, x.shape[1] * x.shape[2])


def _sample_days(train: slice, val: slice, test: slice, lookback: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Target rows of the training, validation and test samples."""
    return (np.arange(train.start + lookback, train.stop), np.arange(val.start, val.stop),
            np.arange(test.start, test.stop))


def _target_inverse(y_scaler: StandardScaler | MinMaxScaler) -> tuple[float, float]:
    """(mean, scale) with target = scaled * scale + mean."""
    if isinstance(y_scaler, StandardScaler):
        return float(y_scaler.mean_[0]), float(y_scaler.scale_[0])
    scale = 1.0 / float(y_scaler.scale_[0])
    return -float(y_scaler.min_[0]) * scale, scale


def _level(raw: np.ndarray, close: np.ndarray, rows: tuple[slice, slice, slice], lookback: int, scaler: str,
           fit: slice) -> tuple[list[np.ndarray], list[np.ndarray], tuple[float, float]]:
    """Level representation: scale prices with scalers fit on the prices of rows ``fit``."""
    x_scaler = _scaler(scaler).fit(raw[fit])
    y_scaler = _scaler(scaler).fit(close[fit, None])
    scaled = x_scaler.transform(raw).astype(np.float32)
    target = y_scaler.transform(close[:, None])[:, 0].astype(np.float32)
    days = _sample_days(*rows, lookback)
    return [_windows(scaled, t, lookback) for t in days], [target[t] for t in days], _target_inverse(y_scaler)


def relative_windows(raw: np.ndarray, close: np.ndarray, days: np.ndarray, lookback: int, volume_col: int | None,
                     as_is: tuple[int, ...] = ()) -> np.ndarray:
    """Windows ending the day before each of ``days``, relative to that day's close: (N, lookback, F) float64.

    Price columns become log(price / last close), the volume column log1p(volume) - log1p(last volume); the
    ``as_is`` columns (derived features, already scale-free) keep their values.
    """
    win = _windows(raw, days, lookback)  # (N, L, F)
    last_close = close[days - 1][:, None, None]  # (N, 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(win / last_close)
        if volume_col is not None:
            vol = np.log1p(np.maximum(win[..., volume_col], 0.0))  # (N, L)
            out[..., volume_col] = vol - vol[:, -1:]
    keep = list(as_is)
    out[..., keep] = win[..., keep]
    return out


def first_complete_row(raw: np.ndarray) -> int:
    """The first row from which every column has a value: the derived features' warm-up (0 for prices)."""
    missing = ~np.isfinite(raw).all(axis=1)
    return int(np.argmin(missing)) if not missing.all() else len(raw)


def after_warmup(train: slice, warmup: int) -> slice:
    """A fold's fitting rows without the warm-up rows (a fold that starts after them is unchanged)."""
    return slice(max(train.start, warmup), train.stop)


def _transform(scaler: StandardScaler | MinMaxScaler, values: np.ndarray) -> np.ndarray:
    """``scaler.transform``, which refuses an empty array (no validation rows when val_days = 0)."""
    return scaler.transform(values) if len(values) else values


def _returns(raw: np.ndarray, close: np.ndarray, rows: tuple[slice, slice, slice], lookback: int, scaler: str,
             cols: tuple[int | None, tuple[int, ...]], fit_slice: slice
             ) -> tuple[list[np.ndarray], list[np.ndarray], tuple[float, float], np.ndarray]:
    """Return representation: relative windows and next returns, scaled by scalers fit on the samples whose
    window and target lie in rows ``fit_slice``.

    ``cols`` are the volume column (or None) and the derived columns, which are taken as they are.
    """
    fit = np.arange(len(close))[fit_slice][lookback:]
    x_fit = relative_windows(raw, close, fit, lookback, *cols)
    width = x_fit.shape[2]
    x_scaler = _scaler(scaler).fit(x_fit.reshape(-1, width))
    y_scaler = _scaler(scaler).fit((close[fit] / close[fit - 1] - 1.0)[:, None])
    days = _sample_days(*rows, lookback)
    xs = [relative_windows(raw, close, t, lookback, *cols) for t in days]
    ys = [close[t] / close[t - 1] - 1.0 for t in days]
    xs = [_transform(x_scaler, x.reshape(-1, width)).reshape(x.shape).astype(np.float32) for x in xs]
    ys = [_transform(y_scaler, y[:, None])[:, 0].astype(np.float32) for y in ys]
    return xs, ys, _target_inverse(y_scaler), close[np.concatenate(days) - 1]


def fold_data(prices: pd.DataFrame, train: slice, val: slice, test: slice, features: list[str], lookback: int,
              scaler: str, representation: str = "return", scaler_fit: str = "fold", layout: str = "sequence"
              ) -> FoldData:
    """Cut one fold's training, validation and test windows in ``representation``, scaled on its fitting rows
    (``scaler_fit = "whole_series"``: on every row, the studies' look-ahead) and laid out as ``layout``.

    ``train``, ``val`` and ``test`` are the fold's half-open row ranges (a walk-forward schedule's fold).
    Features that are not price columns are derived features, taken as they are; the fitting rows start
    after their warm-up (``after_warmup``), and a fold left without a fitting sample is refused (ValueError:
    the engine checks the schedule first and says what to change).
    """
    if representation not in REPRESENTATIONS or layout not in LAYOUTS:
        raise ValueError(f"representation must be one of {REPRESENTATIONS} and layout one of {LAYOUTS}. Got "
                         f"{representation!r} and {layout!r}.")
    raw = prices[features].to_numpy(dtype=np.float64)
    close = prices["close"].to_numpy(dtype=np.float64)
    fitting = after_warmup(train, first_complete_row(raw))
    if fitting.stop - fitting.start <= lookback:
        raise ValueError(f"the fold's fitting rows {train.start}..{train.stop} keep {fitting.stop - fitting.start} "
                         f"rows after the features' warm-up ({fitting.start} rows); need more than {lookback}.")
    fit, base = scaler_rows(fitting, scaler_fit, len(close)), None
    days = _sample_days(fitting, val, test, lookback)
    if representation == "level":
        xs, ys, (mean, scale) = _level(raw, close, (fitting, val, test), lookback, scaler, fit)
    else:
        volume_col = features.index("volume") if "volume" in features else None
        as_is = tuple(i for i, name in enumerate(features) if name not in PRICE_COLUMNS)
        xs, ys, (mean, scale), base = _returns(raw, close, (fitting, val, test), lookback, scaler, (volume_col, as_is),
                                               fit)
    if layout == "flat":
        xs = [_flat(x) for x in xs]
    n_fit = len(days[0]) + len(days[1])  # base: the close before every training, validation and test day
    return FoldData(
        fit=slice(train.start, train.stop), x_train=xs[0], y_train=ys[0], x_val=xs[1], y_val=ys[1], x_test=xs[2],
        test_positions=days[2], target_mean=mean, target_scale=scale,
        test_base=None if base is None else base[n_fit:], fit_base=None if base is None else base[:n_fit],
        close_scale=close_scale(close, fit, scaler),
    )
