"""Representations and baselines on tiny named series, checked by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from backtest.engine.schedule import Fold
from forecasters.baselines import drift_forecast, fit_linear, naive_forecast
from forecasters.windows import fold_data, relative_windows
from tests.conftest import synthetic_prices


def growing(n: int = 12, rate: float = 0.1) -> pd.DataFrame:
    """A close that grows by ``rate`` a day; open, high and low equal to it."""
    close = 100.0 * (1 + rate) ** np.arange(n)
    index = pd.bdate_range("2020-01-01", periods=n, name="date")
    return pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1.0}, index=index)


OHLC = ["open", "high", "low", "close"]
FOLD = Fold(0, train_start=0, val_start=6, train_end=8, test_start=8, test_end=12)


def test_relative_windows_by_hand():
    prices = growing()
    raw, close = prices[["close"]].to_numpy(), prices["close"].to_numpy()
    x = relative_windows(raw, close, np.array([3]), lookback=2, volume_col=None)
    # the window for row 3 is rows 1 and 2 (110, 121), relative to row 2's close 121
    assert x[0, :, 0] == pytest.approx([math.log(110 / 121), 0.0])


def test_relative_volume_is_its_log_change_to_the_last_day():
    prices = growing()
    prices["volume"] = [10.0, 20, 40, 0, 5, 5, 5, 5, 5, 5, 5, 5]
    raw = prices[["close", "volume"]].to_numpy()
    x = relative_windows(raw, prices["close"].to_numpy(), np.array([4]), lookback=3, volume_col=1)
    assert x[0, :, 1] == pytest.approx([math.log1p(20) - math.log1p(0), math.log1p(40) - math.log1p(0), 0.0])


def test_return_target_maps_back_to_the_next_close():
    prices = growing()
    rates = np.array([0.0, 0.1, 0.3, 0.1, 0.3, 0.1, 0.3, 0.1, 0.3, 0.1, 0.3, 0.1])
    prices["close"] = 100.0 * np.cumprod(1 + rates)
    data = fold_data(prices, FOLD.train, FOLD.val, FOLD.test, ["close"], 2, "standard", "return")
    # training samples are rows 2..5 (a 2-day window inside rows 0..5): returns 0.3, 0.1, 0.3, 0.1
    assert data.target_mean == pytest.approx(0.2) and data.target_scale == pytest.approx(0.1)
    assert data.y_train == pytest.approx([1.0, -1.0, 1.0, -1.0])
    close = prices["close"].to_numpy()
    assert data.to_price(np.zeros(4)) == pytest.approx(close[7:11] * 1.2)  # "predict 0": the mean return
    assert data.to_price(np.array([1.0, -1, 1, -1])) == pytest.approx(close[8:12])  # 0.3, 0.1, 0.3, 0.1 again
    assert list(data.test_positions) == [8, 9, 10, 11]


def test_level_target_is_the_scaled_close():
    prices = growing()
    data = fold_data(prices, FOLD.train, FOLD.val, FOLD.test, ["close"], 2, "standard", "level")
    fit = prices["close"].to_numpy()[0:6]
    assert data.target_mean == pytest.approx(fit.mean()) and data.target_scale == pytest.approx(fit.std())
    assert data.to_price(np.zeros(4)) == pytest.approx(np.full(4, fit.mean()))


@pytest.mark.parametrize("representation", ["return", "level"])
def test_a_window_uses_nothing_after_the_day_before_the_one_it_predicts(representation):
    prices = synthetic_prices(200)
    fold = Fold(0, 0, 100, 130, 130, 200)
    base = fold_data(prices, fold.train, fold.val, fold.test, OHLC, 5, "standard", representation)
    for t in (140, 170):  # change every row from t on: the windows of days <= t must not move
        altered = prices.copy()
        altered.iloc[t:, :4] *= 1.7
        other = fold_data(altered, fold.train, fold.val, fold.test, OHLC, 5, "standard", representation)
        keep = base.test_positions <= t
        assert np.array_equal(base.x_test[keep], other.x_test[keep])
        assert not np.array_equal(base.x_test[~keep], other.x_test[~keep])
        assert np.array_equal(base.x_train, other.x_train) and np.array_equal(base.y_val, other.y_val)


def test_return_windows_look_alike_at_any_price_level():
    prices = synthetic_prices(200)
    fold = Fold(0, 0, 100, 130, 130, 200)
    scaled = prices.copy()
    scaled.iloc[:, :4] *= 50.0
    a = fold_data(prices, fold.train, fold.val, fold.test, ["open", "high", "low", "close"], 5, "standard", "return")
    b = fold_data(scaled, fold.train, fold.val, fold.test, ["open", "high", "low", "close"], 5, "standard", "return")
    assert np.allclose(a.x_test, b.x_test, atol=1e-5) and np.allclose(a.y_train, b.y_train, atol=1e-5)
    assert np.allclose(b.to_price(np.ones(70)), 50.0 * a.to_price(np.ones(70)))


def test_naive_and_drift_by_hand():
    close = np.array([100.0, 110.0, 121.0, 100.0, 90.0])
    days = np.array([3, 4])
    assert list(naive_forecast(close, days)) == [121.0, 100.0]
    # fitting rows 0..2: log returns log(1.1) twice, mean log(1.1): tomorrow = today * 1.1
    assert drift_forecast(close, slice(0, 3), days) == pytest.approx([133.1, 110.0])


def test_linear_baseline_learns_a_linear_rule_and_shrinks_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3, 2)).astype(np.float32)
    y = (2.0 * x[:, -1, 0] - x[:, 0, 1]).astype(np.float32)
    fit = fit_linear(x[:200], y[:200], x[200:250], y[200:250], x[250:])
    assert fit.alpha <= 0.1 and fit.predictions == pytest.approx(y[250:], abs=0.02)
    noise = rng.normal(size=300).astype(np.float32)  # unrelated to x: the strongest penalty wins
    fit = fit_linear(x[:200], noise[:200], x[200:250], noise[200:250], x[250:])
    assert fit.alpha >= 1e3 and np.abs(fit.predictions - noise[:200].mean()).max() < 0.05


def test_linear_baseline_without_validation_rows_uses_cross_validation():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 2, 2))
    y = x[:, -1, 0]
    fit = fit_linear(x[:100], y[:100], x[:0], y[:0], x[100:])
    assert math.isnan(fit.val_mse) and fit.predictions == pytest.approx(y[100:], abs=0.05)


@pytest.mark.parametrize("representation", ["return", "level"])
def test_a_fold_without_validation_rows(representation):
    prices = synthetic_prices(200)
    data = fold_data(prices, slice(0, 130), slice(130, 130), slice(130, 200), ["open", "close"], 5, "standard",
                     representation)
    assert data.x_val.shape == (0, 5, 2) and data.y_val.shape == (0,) and data.x_test.shape == (70, 5, 2)


def test_the_flat_layout_is_the_sequence_windows_as_one_time_step():
    prices = synthetic_prices(60)
    seq = fold_data(prices, slice(0, 40), slice(40, 40), slice(40, 60), ["close"], 5, "minmax", "level")
    flat = fold_data(prices, slice(0, 40), slice(40, 40), slice(40, 60), ["close"], 5, "minmax", "level",
                     layout="flat")
    assert seq.x_train.shape == (35, 5, 1) and flat.x_train.shape == (35, 1, 5)  # 5 closes as 5 inputs
    assert np.array_equal(flat.x_test[:, 0, :], seq.x_test[:, :, 0])
    assert np.array_equal(flat.y_train, seq.y_train)


@pytest.mark.parametrize(("scaler", "unit"), [("standard", np.std), ("minmax", np.ptp)])
def test_close_scale_is_the_scalers_unit_on_the_rows_it_was_fit_on(scaler, unit):
    prices = growing()  # closes 100, 110, 121, ...: the test rows 8-11 lie above the training rows 0-5
    close = prices["close"].to_numpy()
    fold = fold_data(prices, FOLD.train, FOLD.val, FOLD.test, ["close"], 2, scaler, "level")
    whole = fold_data(prices, FOLD.train, FOLD.val, FOLD.test, ["close"], 2, scaler, "level",
                      scaler_fit="whole_series")
    assert fold.close_scale == pytest.approx(unit(close[:6])) and whole.close_scale == pytest.approx(unit(close))
    # the target is (close - m) / scale: one scaled unit of the target is close_scale in price
    assert fold.target_scale == pytest.approx(fold.close_scale) and whole.target_scale == pytest.approx(unit(close))


def test_a_whole_series_scaler_sees_the_test_days_and_a_fold_scaler_does_not():
    prices = growing()
    moved = prices.copy()
    moved.iloc[10:, :4] *= 3.0  # only test days change
    args = (FOLD.train, FOLD.val, FOLD.test, ["close"], 2, "standard", "level")
    assert np.array_equal(fold_data(prices, *args).x_train, fold_data(moved, *args).x_train)
    leaky = [fold_data(p, *args, scaler_fit="whole_series").x_train for p in (prices, moved)]
    assert not np.array_equal(*leaky)


# --- derived features: taken as they are, scaled by the fold's scaler, fit after their warm-up ------------------

NAN_ = float("nan")


def with_derived() -> pd.DataFrame:
    """``growing()`` with a derived column d: no value on rows 0 and 1 (its warm-up), then 1, 2, ..., 10."""
    prices = growing()
    prices["ret_1"] = [NAN_, NAN_, *range(1, 11)]
    return prices


def test_relative_windows_keep_the_derived_columns_as_they_are():
    prices = with_derived()
    raw = prices[["close", "ret_1"]].to_numpy()
    x = relative_windows(raw, prices["close"].to_numpy(), np.array([5]), lookback=2, volume_col=None, as_is=(1,))
    assert x[0, :, 0] == pytest.approx([math.log(1 / 1.1), 0.0]) and list(x[0, :, 1]) == [2.0, 3.0]


def test_return_windows_scale_a_derived_column_on_the_training_windows_after_the_warmup():
    data = fold_data(with_derived(), FOLD.train, FOLD.val, FOLD.test, ["close", "ret_1"], 2, "standard", "return")
    # fitting rows start at row 2 (after the warm-up): samples 4 and 5, windows d = (1, 2) and (2, 3):
    # mean 2, population std sqrt(0.5); the test window of row 8 holds d = 5, 6 -> (3, 4) / sqrt(0.5)
    assert len(data.y_train) == 2 and np.isfinite(data.x_train).all()
    assert data.x_train[:, :, 1].ravel() == pytest.approx(np.array([-1, 0, 0, 1]) / math.sqrt(0.5), rel=1e-6)
    assert data.x_test[0, :, 1] == pytest.approx(np.array([3, 4]) / math.sqrt(0.5), rel=1e-6)
    assert data.target_mean == pytest.approx(0.1)  # the returns of rows 4 and 5, both 10 %


def test_level_windows_scale_a_derived_column_on_the_fitting_rows_after_the_warmup():
    data = fold_data(with_derived(), FOLD.train, FOLD.val, FOLD.test, ["close", "ret_1"], 2, "standard", "level")
    # fitting rows 2..5 hold d = 1, 2, 3, 4: mean 2.5, std sqrt(1.25); the test window of row 8 holds 5, 6
    assert data.x_test[0, :, 1] == pytest.approx((np.array([5, 6]) - 2.5) / math.sqrt(1.25), rel=1e-6)
    close = growing()["close"].to_numpy()[2:6]
    assert data.target_mean == pytest.approx(close.mean())  # the target scaler also fits after the warm-up


def test_a_fold_without_a_fitting_sample_after_the_warmup_is_refused():
    prices = with_derived()
    prices.loc[prices.index[:4], "ret_1"] = NAN_  # rows 4 and 5 are left: no 2-day window with a target
    with pytest.raises(ValueError, match="keep 2 rows after the features' warm-up"):
        fold_data(prices, FOLD.train, FOLD.val, FOLD.test, ["close", "ret_1"], 2, "standard", "return")
