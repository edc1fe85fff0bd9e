"""Derived features in a run: no fold's windows before a cut date change when the prices after it do, the warm-up
is fit around and said, and the batched trainer gets one input per feature."""

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import backtest.engine.forecasting as forecasting
import strategies.features as features
from backtest.core.errors import DataError, DataWarning
from backtest.engine.forecasting import windows
from backtest.engine.pipeline import run
from backtest.engine.schedule import make_folds
from strategies.features import examples
from tests.conftest import synthetic_prices, tiny_config
from tests.engine.test_pipeline_lookahead import altered_after, before_cut_differences

ALL = ["open", "high", "low", "close", "volume", *examples()]


def _cut_windows(prices: pd.DataFrame, names: list[str], representation: str) -> tuple[list, list]:
    """(folds, windows) of the tiny schedule with ``names`` as features, warnings of the warm-up silenced."""
    cfg = tiny_config(f"forecast.features={names!r}", f"forecast.representation={representation!r}")
    folds = make_folds(len(prices), cfg.walkforward)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return folds, windows(cfg, prices, folds).data


def _before(fold, data, cut: int) -> list[np.ndarray]:
    """What the rows before ``cut`` decide in a fold: the input windows of the days up to the cut (the cut day's
    forecast is made the evening before) and the targets before it, when the fold's scaler fits before the cut."""
    if fold.val_start > cut:  # the scaler fits on rows after the cut: nothing of this fold is decided before it
        return []
    train_days = np.arange(fold.val_start - len(data.y_train), fold.val_start)
    val_days = np.arange(fold.val_start, fold.train_end)
    return [data.x_train[train_days <= cut], data.y_train[train_days < cut], data.x_val[val_days <= cut],
            data.y_val[val_days < cut], data.x_test[data.test_positions <= cut]]


def windows_changed_before(prices: pd.DataFrame, cut: int, names: list[str], representation: str) -> bool:
    folds, a = _cut_windows(prices, names, representation)
    _, b = _cut_windows(altered_after(prices, prices.index[cut]), names, representation)
    pairs = [(x, y) for f, da, db in zip(folds, a, b, strict=True) for x, y in zip(_before(f, da, cut),
                                                                                    _before(f, db, cut), strict=True)]
    assert sum(x.size for x, _ in pairs) > 0
    return not all(np.array_equal(x, y) for x, y in pairs)


@pytest.mark.parametrize("representation", ["return", "level"])
@pytest.mark.parametrize("name", examples())
def test_future_prices_do_not_change_a_folds_windows_before_them(name, representation):
    prices = synthetic_prices(420)
    assert not windows_changed_before(prices, 300, ["close", name], representation)


def test_the_check_catches_a_feature_that_peeks_one_day_ahead(monkeypatch):
    rsi = features.FEATURES["rsi"]
    monkeypatch.setitem(features.FEATURES, "rsi", dataclasses.replace(
        rsi, compute=lambda p, n, q: rsi.compute(p, n, q).shift(-1).ffill()))  # tomorrow's RSI
    assert windows_changed_before(synthetic_prices(420), 300, ["close", "rsi_14"], "return")


def test_future_prices_do_not_change_a_run_with_every_derived_feature():
    prices = synthetic_prices(420)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        assert before_cut_differences(prices, prices.index[300], "return", f"forecast.features={ALL!r}") == []


def test_the_first_fold_fits_after_the_warmup_and_says_so():
    prices = synthetic_prices(420)
    cfg = tiny_config("forecast.features=['close', 'ret_5', 'macd_hist']")
    folds = make_folds(len(prices), cfg.walkforward)
    with pytest.warns(DataWarning) as caught:
        data = windows(cfg, prices, folds).data
    assert str(caught[0].message) == (
        "sample:sp500: 1 fold(s) fit after the warm-up of 'macd_hist' (its first 25 rows, to 2015-02-04, have no "
        "value; nothing is filled): fold 0 fits on 95 of its 120 days.")
    assert len(data[0].y_train) == 95 - 5 and len(data[1].y_train) == 120 - 5  # lookback 5; fold 1 starts at row 40
    assert [list(d.test_positions) for d in data] == [list(range(f.test_start, f.test_end)) for f in folds]
    assert all(np.isfinite(d.x_train).all() and np.isfinite(d.x_test).all() for d in data)


def test_a_fold_left_too_short_by_the_warmup_is_refused_naming_the_fix():
    prices = synthetic_prices(420)
    cfg = tiny_config("forecast.features=['close', 'ret_100']")
    with pytest.raises(DataError) as caught:
        windows(cfg, prices, make_folds(len(prices), cfg.walkforward))
    assert str(caught.value) == (
        "sample:sp500: fold 0 keeps 20 of its 120 fitting days after the warm-up of 'ret_100' (its first 100 rows "
        "have no value); need at least lookback + batch_size = 37. Raise walkforward.train_days, drop the first "
        "folds with walkforward.max_folds, or use a shorter window than 'ret_100'.")


def test_a_derived_value_missing_after_its_warmup_is_refused_with_its_date():
    prices = synthetic_prices(420)
    prices.iloc[200:205, prices.columns.get_loc("volume")] = 0.0  # row 204's 5-day mean volume is 0
    cfg = tiny_config("forecast.features=['close', 'volume_rel_5']")
    with pytest.raises(DataError, match=r"'volume_rel_5', which has no value on 1 of the rows the folds use after "
                                        r"its warm-up, first on 2015-10-14 \(a volume feature"):
        windows(cfg, prices, make_folds(len(prices), cfg.walkforward))


def test_the_batched_trainer_gets_one_input_per_feature(monkeypatch):
    seen = []
    real = forecasting.train_group

    def spy(arch, members, *args, **kwargs):
        seen.append({m.x_train.shape[2] for m in members} | {m.x_test.shape[2] for m in members})
        return real(arch, members, *args, **kwargs)

    monkeypatch.setattr(forecasting, "train_group", spy)
    names = ["open", "high", "low", "close", "ret_5", "rsi_14", "bb_pctb"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        result = run(tiny_config(f"forecast.features={names!r}", "training.epochs=1"), prices=synthetic_prices(420))
    assert seen == [{7}]
    assert result.predictions.loc[result.predictions.model == "lstm", "predicted"].notna().all()
