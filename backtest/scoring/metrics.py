"""Forecast errors and trading statistics as small pure functions.

Too-short input gives NaN rather than an exception, as in empyrical.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import vectorbt as vbt
from sklearn.metrics import mean_absolute_error, mean_absolute_percentage_error, mean_squared_error

from forecasters.registry import NAIVE

TRADING_DAYS = 252  # annualisation factor for daily bars


def daily_rate(yearly: float) -> float:
    """The daily rate that compounds to ``yearly`` over 252 trading days: (1 + yearly) ** (1 / 252) - 1."""
    return (1.0 + yearly) ** (1.0 / TRADING_DAYS) - 1.0


def directional_accuracy(predicted: np.ndarray, actual: np.ndarray, previous: np.ndarray) -> float:
    """Share of days on which the predicted move from ``previous`` has the sign of the actual move."""
    if len(actual) == 0:
        return float("nan")
    return float(np.mean(np.sign(predicted - previous) == np.sign(actual - previous)))


def forecast_errors(predicted: np.ndarray, actual: np.ndarray, previous: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, MAPE (%), MSE, directional accuracy (%) and Theil's U against the naive forecast."""
    if len(actual) == 0:
        return {k: float("nan") for k in ("rmse", "mae", "mape", "mse", "direction", "theil_u", "n")}
    mse = float(mean_squared_error(actual, predicted))
    naive_rmse = float(np.sqrt(mean_squared_error(actual, previous)))
    rmse = float(np.sqrt(mse))
    return {
        "rmse": rmse,
        "mae": float(mean_absolute_error(actual, predicted)),
        "mape": 100.0 * float(mean_absolute_percentage_error(actual, predicted)),
        "mse": mse,
        "direction": 100.0 * directional_accuracy(predicted, actual, previous),
        "theil_u": rmse / naive_rmse if naive_rmse > 0 else float("nan"),
        "n": float(len(actual)),
    }


def forecast_table(predictions: pd.DataFrame, by_fold: bool = False) -> pd.DataFrame:
    """Errors per model (and per fold), the naive forecast first; ``predictions`` as in predictions.csv."""
    keys = ["model", "fold"] if by_fold else ["model"]
    rows = []
    first_model = predictions["model"].iloc[0] if len(predictions) else None
    naive_src = predictions[predictions["model"] == first_model]
    naive_groups = naive_src.groupby("fold") if by_fold else [(None, naive_src)]
    for fold, g in naive_groups:
        a = g["actual"].to_numpy()
        row = {"model": NAIVE, **({"fold": fold} if by_fold else {}),
               **forecast_errors(g[NAIVE].to_numpy(), a, g[NAIVE].to_numpy())}
        row["direction"] = float("nan")  # "no change" has no direction to be right about
        rows.append(row)
    for key, g in predictions.groupby(keys, sort=False):  # key: a tuple, since keys is a list
        rows.append({**dict(zip(keys, key, strict=True)),
                     **forecast_errors(g["predicted"].to_numpy(), g["actual"].to_numpy(), g[NAIVE].to_numpy())})
    out = pd.DataFrame(rows)
    out["n"] = out["n"].astype(int)
    return out


def return_figures(returns: pd.DataFrame, total: pd.Series, risk_free: float = 0.0) -> pd.DataFrame:
    """Per column of daily ``returns``: return, CAGR, volatility, Sharpe, Sortino, drawdown and Calmar.

    The one implementation of these figures: vectorbt's returns accessor, annualised with 252 days. Sharpe
    and Sortino are of the returns over the yearly ``risk_free`` rate, compounded to a daily one (Sortino's
    required return is that daily rate). ``total`` is each column's total return over the period (a fraction).
    """
    rf = daily_rate(risk_free)
    acc = returns.vbt.returns(freq="1D", year_freq=f"{TRADING_DAYS} days")
    with np.errstate(invalid="ignore", divide="ignore"):
        cagr = (1.0 + total) ** (TRADING_DAYS / max(len(returns), 1)) - 1.0
        max_dd = acc.max_drawdown()
        return pd.DataFrame({
            "total_return": 100.0 * total,
            "cagr": 100.0 * cagr,
            "volatility": 100.0 * acc.annualized_volatility(),
            "sharpe": acc.sharpe_ratio(risk_free=rf),
            "sortino": acc.sortino_ratio(required_return=rf),
            "max_drawdown": 100.0 * max_dd,
            "calmar": cagr / max_dd.abs().where(max_dd != 0),
        })


def trading_table(pf: vbt.Portfolio, held: pd.DataFrame | None = None, risk_free: float = 0.0) -> pd.DataFrame:
    """Per strategy column: returns, risk, ratios, trades, exposure and fees, annualised with 252 days.

    ``exposure`` is the share of days a position was held over; ``held`` (``portfolio.holdings``, or the
    +1 / -1 / 0 sides of ``portfolio.held_sides``: non-zero is held) says which, so that the last day counts
    though its position is sold at that day's close. Without it, the days whose close found a position.
    """
    trades = pf.trades
    table = return_figures(pf.returns(), pf.total_return(), risk_free)
    table["trades"] = trades.count()
    table["win_rate"] = 100.0 * trades.win_rate()
    table["exposure"] = 100.0 * ((pf.assets() > 0) if held is None else held != 0).mean()
    table["fees_paid"] = pf.orders.fees.sum()
    table["end_value"] = pf.final_value()
    table.index.name = "strategy"
    return table.replace([np.inf, -np.inf], np.nan)


def equity_figures(equity: pd.DataFrame, base: pd.Series) -> pd.DataFrame:
    """``return_figures`` of equity curves that start from ``base`` (each column's value the day before)."""
    values = pd.concat([base.to_frame().T, equity])
    returns = values.pct_change().iloc[1:]
    table = return_figures(returns, equity.iloc[-1] / base - 1.0)
    return table.replace([np.inf, -np.inf], np.nan)


def scaled_table(forecasts: pd.DataFrame, scale: float) -> pd.DataFrame:
    """The studies' own numbers: ``forecast_table``'s rows with RMSE, MSE and MAE also in the scaler's units.

    A scaler maps a close c to (c - m) / scale (StandardScaler: scale = the standard deviation; MinMaxScaler:
    max - min), so a price error e is e / scale in scaled units: RMSE and MAE divide by ``scale``, MSE by its
    square. Theil's U is the same in either unit. ``scale`` <= 0 or NaN gives NaN columns.
    """
    ok = np.isfinite(scale) and scale > 0
    out = forecasts[["model", "rmse", "mse", "mae", "theil_u", "n"]].copy()
    out["rmse_scaled"] = out["rmse"] / scale if ok else np.nan
    out["mse_scaled"] = out["mse"] / scale**2 if ok else np.nan
    out["mae_scaled"] = out["mae"] / scale if ok else np.nan
    out["scale"] = scale
    return out
