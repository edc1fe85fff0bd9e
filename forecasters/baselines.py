"""Baseline forecasts every network must beat: naive, drift and a linear model on the same inputs.

All three are fit on a fold's fitting rows only (the linear model's penalty on its validation rows), so
they are held to the same walk-forward rules as the networks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the registry reads the table below: naming the baselines must not load scikit-learn
    from forecasters.windows import FoldData

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


def _flat(x: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """(N, lookback * F) in ``dtype``: a view, no copy, when the windows already are (float32 universes)."""
    return x.reshape(len(x), int(np.prod(x.shape[1:]))).astype(dtype, copy=False)


def fit_linear(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
               x_test: np.ndarray, alphas: tuple[float, ...] = RIDGE_ALPHAS, dtype: type = np.float64) -> LinearFit:
    """Ridge on the flattened input windows; the penalty with the lowest validation MSE wins.

    Without validation rows the penalty is picked by generalised cross-validation on the training rows
    (scikit-learn's RidgeCV). Ties go to the larger penalty (the simpler model). ``dtype`` is the
    inputs' and the fit's precision: float64 for one symbol; a universe's pooled windows (hundreds of
    thousands, up to 240 days each) fit in float32, which scikit-learn's Ridge keeps (half the memory).
    """
    from sklearn.linear_model import Ridge, RidgeCV

    xt, xv = _flat(x_train, dtype), _flat(x_val, dtype)
    if len(xv) == 0:
        model = RidgeCV(alphas=alphas).fit(xt, y_train)
        alpha, val_mse = float(model.alpha_), float("nan")
    else:
        best: tuple[float, float, Any] | None = None
        for a in sorted(alphas, reverse=True):
            candidate = Ridge(alpha=a).fit(xt, y_train)
            mse = float(np.mean((candidate.predict(xv) - y_val) ** 2))
            if best is None or mse < best[0]:
                best = (mse, a, candidate)
        assert best is not None
        val_mse, alpha, model = best
    train_mse = float(np.mean((model.predict(xt) - y_train) ** 2))
    preds = model.predict(_flat(x_test, dtype)) if len(x_test) else np.zeros(0)
    return LinearFit(np.asarray(preds, dtype=np.float64), alpha, train_mse, val_mse)


@dataclass(frozen=True)
class BaselineFit:
    """A baseline's forecast for one fold: predicted closes of the test days, and its fitting losses."""

    predicted: np.ndarray
    train_loss: float  # NaN when nothing is fitted by least squares
    val_loss: float


def drift(data: FoldData, close: np.ndarray) -> BaselineFit:
    """The drift forecast of one fold, its mean log return taken over the fold's fitting rows."""
    return BaselineFit(drift_forecast(close, data.fit, data.test_positions), math.nan, math.nan)


def linear(data: FoldData, close: np.ndarray) -> BaselineFit:
    """Ridge on the fold's scaled windows, mapped back to prices."""
    fit = fit_linear(data.x_train, data.y_train, data.x_val, data.y_val, data.x_test)
    return BaselineFit(data.to_price(fit.predictions), fit.train_mse, fit.val_mse)


@dataclass(frozen=True)
class Baseline:
    """A forecaster that is not a network: what it is, and its forecast of one fold from the fold's windows
    and the closes."""

    describe: str
    forecast: Callable[[FoldData, np.ndarray], BaselineFit]


# The baselines that can be traded (list them in forecast.models), each fit per fold like the networks.
# naive, the yardstick of every table, is no row: it is in every table anyway. A new baseline is a row here.
TRADABLE: dict[str, Baseline] = {
    "drift": Baseline("today's close grown by the mean log return of the fold's fitting rows", drift),
    "linear": Baseline("scikit-learn Ridge on the same input windows, penalty picked on the fold's validation rows",
                       linear),
}
