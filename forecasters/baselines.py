"""Baseline forecasts every network must beat: naive, drift and a linear model on the same inputs.

All three are fit on a fold's fitting rows only (the linear model's penalty on its validation rows), so
they are held to the same walk-forward rules as the networks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import Ridge, RidgeCV

# Ridge penalties tried; inputs are standardised windows, so 1e-3 is nearly least squares and 1e5 nearly
# "predict the training mean".
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 5, 17))


def naive_forecast(close: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Tomorrow's close = today's close: the forecast for row j is close[j - 1]."""
    return close[days - 1]


def drift_forecast(close: np.ndarray, fit: slice, days: np.ndarray) -> np.ndarray:
    """Today's close grown by the mean log return between consecutive fitting rows: close[j - 1] * exp(mu)."""
    mu = float(np.mean(np.diff(np.log(close[fit]))))
    return close[days - 1] * np.exp(mu)


@dataclass
class LinearFit:
    predictions: np.ndarray  # (N_test,) in the target's scaled units
    alpha: float  # the chosen Ridge penalty
    train_mse: float
    val_mse: float  # NaN without validation rows


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), int(np.prod(x.shape[1:]))).astype(np.float64)  # (N, lookback * F)


def fit_linear(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
               x_test: np.ndarray, alphas: tuple[float, ...] = RIDGE_ALPHAS) -> LinearFit:
    """Ridge on the flattened input windows; the penalty with the lowest validation MSE wins.

    Without validation rows the penalty is picked by generalised cross-validation on the training rows
    (scikit-learn's RidgeCV). Ties go to the larger penalty (the simpler model).
    """
    xt, xv = _flat(x_train), _flat(x_val)
    if len(xv) == 0:
        model = RidgeCV(alphas=alphas).fit(xt, y_train)
        alpha, val_mse = float(model.alpha_), float("nan")
    else:
        best: tuple[float, float, Ridge] | None = None
        for a in sorted(alphas, reverse=True):
            candidate = Ridge(alpha=a).fit(xt, y_train)
            mse = float(np.mean((candidate.predict(xv) - y_val) ** 2))
            if best is None or mse < best[0]:
                best = (mse, a, candidate)
        assert best is not None
        val_mse, alpha, model = best
    train_mse = float(np.mean((model.predict(xt) - y_train) ** 2))
    preds = model.predict(_flat(x_test)) if len(x_test) else np.zeros(0)
    return LinearFit(np.asarray(preds, dtype=np.float64), alpha, train_mse, val_mse)
