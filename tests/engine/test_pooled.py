"""Pooled universe forecasts: panel shape, the member a fold trains, and no look-ahead."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from backtest.core.errors import DataWarning
from backtest.engine import pooled
from backtest.engine.forecasting import member_seed
from backtest.engine.schedule import Fold
from forecasters import panel
from forecasters.registry import get_architecture
from forecasters.trainer import Member, TrainSettings, train_group
from tests.conftest import synthetic_prices

CPU = torch.device("cpu")
SETTINGS = TrainSettings(epochs=2, batch_size=64, patience=2)
LOOKBACK = 5
# Two folds on 200 rows: train [0, 80) val [80, 100) test [100, 140); train [40, 120) val [120, 140) test [140, 180).
FOLDS = [Fold(0, 0, 80, 100, 100, 140), Fold(1, 40, 120, 140, 140, 180)]
CUT = 120  # closes after this row are altered in the look-ahead tests


def _universe() -> pd.DataFrame:
    """Eight seeded random walks; S6 is listed on row 30, S7 stops after row 150."""
    close = pd.concat({f"S{k}": synthetic_prices(200, seed=k)["close"] for k in range(8)}, axis=1)
    close.iloc[:30, 6] = np.nan
    close.iloc[151:, 7] = np.nan
    return close


def _altered(close: pd.DataFrame) -> pd.DataFrame:
    out = close.copy()
    rng = np.random.default_rng(99)
    out.iloc[CUT + 1:] *= np.exp(np.cumsum(rng.normal(0.01, 0.05, out.iloc[CUT + 1:].shape), axis=0))
    return out


def _scores(close: pd.DataFrame, target: str = "return") -> dict[str, pd.DataFrame]:
    return pooled.pooled_scores(close, FOLDS, ["lstm"], LOOKBACK, target, seed=3, settings=SETTINGS, device=CPU)


def test_panels_cover_the_test_days_where_a_window_is_complete() -> None:
    close = _universe()
    out = _scores(close)
    assert list(out) == ["lstm", "linear", "reversal", "naive"]
    days = close.index[100:180]
    for frame in out.values():
        assert frame.index.equals(days) and list(frame.columns) == list(close.columns)
    returns = close / close.shift(1) - 1
    complete = returns.rolling(LOOKBACK).count().eq(LOOKBACK).loc[days]
    pd.testing.assert_frame_equal(out["lstm"].notna(), complete, check_freq=False)
    pd.testing.assert_frame_equal(out["linear"].notna(), complete, check_freq=False)
    assert out["lstm"]["S7"].loc[days[51:]].isna().all()  # stopped: no score after its last close
    pd.testing.assert_frame_equal(out["reversal"], -returns.loc[days], check_freq=False)


def test_the_pooled_member_is_the_folds_windows_with_its_stable_seed() -> None:
    close = _universe()
    fold = FOLDS[:1]
    got = pooled.pooled_scores(close, fold, ["lstm"], LOOKBACK, "return", seed=3, settings=SETTINGS, device=CPU)["lstm"]
    w = panel.panel_windows(close.to_numpy(), fold[0].train, fold[0].val, fold[0].test, LOOKBACK)
    member = Member(w.x_train, w.y_train, w.x_val, w.y_val, w.x_test, member_seed(3, "lstm", 0, 0))
    plain = train_group(get_architecture("lstm"), [member], SETTINGS, device=CPU)[0]
    expected = panel.to_panel(w.to_target(plain.predictions), w.test_rows, w.test_cols, close.shape)[100:140]
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-6, equal_nan=True)
    assert np.isfinite(expected).sum() == len(w.x_test) > 0


def _before_cut(frame: pd.DataFrame, close: pd.DataFrame) -> np.ndarray:
    return frame.loc[:close.index[CUT]].to_numpy()


@pytest.mark.parametrize("target", ["return", "median"])
def test_no_score_before_the_cut_moves_when_later_prices_change(target: str) -> None:
    close = _universe()
    base, moved = _scores(close, target), _scores(_altered(close), target)
    for name in ("lstm", "linear", "reversal"):
        np.testing.assert_array_equal(_before_cut(moved[name], close), _before_cut(base[name], close))
    assert not np.allclose(moved["lstm"].iloc[-1].dropna(), base["lstm"].iloc[-1].dropna())  # the change is seen


def test_the_check_catches_scaling_fit_on_all_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(panel, "fit_rows", lambda train: slice(0, None))
    close = _universe()
    base, moved = _scores(close), _scores(_altered(close))
    for name in ("lstm", "linear"):
        a, b = _before_cut(base[name], close), _before_cut(moved[name], close)
        # The honest run is equal to the bit; leaked scaling moves every score (the Ridge's by ~1e-5 here,
        # its forecasts being ~3e-4: a random walk's best linear forecast is nearly its mean).
        assert np.nanmin(np.abs(a - b)) > 1e-9, name


def _one_fold_budget() -> int:
    """A budget that holds one fold of ``_universe`` (8 stocks) but not two."""
    return pooled.fold_bytes(get_architecture("lstm"), FOLDS[:1], 8, LOOKBACK, 1, SETTINGS.batch_size)


def test_folds_trained_a_chunk_at_a_time_equal_all_folds_in_one_group() -> None:
    close = _universe()
    budget = _one_fold_budget()
    lstm = get_architecture("lstm")
    fits = lambda chunk: pooled.fold_bytes(lstm, chunk, 8, LOOKBACK, 1, SETTINGS.batch_size) <= budget  # noqa: E731
    assert pooled.fold_chunks(FOLDS, fits) == [FOLDS[:1], FOLDS[1:]]
    whole, chunked = _scores(close), pooled.pooled_scores(close, FOLDS, ["lstm"], LOOKBACK, "return", seed=3,
                                                          settings=SETTINGS, device=CPU, budget=budget)
    for name in ("linear", "reversal", "naive"):
        pd.testing.assert_frame_equal(chunked[name], whole[name])  # fit per fold: the chunks change nothing
    # The network: a group of one fold against a group of two changes the member count of every batched
    # product, so float32 rounding differs (measured 4.7e-10 on forecasts of ~7e-4, ~1e-6 relative).
    np.testing.assert_allclose(chunked["lstm"].to_numpy(), whole["lstm"].to_numpy(), rtol=1e-5, atol=1e-9)
    assert chunked["lstm"].notna().equals(whole["lstm"].notna())


def test_a_fold_that_does_not_fit_alone_is_a_chunk_of_its_own() -> None:
    assert pooled.fold_chunks(FOLDS, lambda chunk: False) == [FOLDS[:1], FOLDS[1:]]
    assert pooled.fold_chunks(FOLDS, lambda chunk: True) == [FOLDS]


@pytest.mark.parametrize("networks", ["pooled", "per_symbol"])
def test_the_estimate_bounds_the_windows_and_the_training_it_plans(networks: str) -> None:
    from forecasters.trainer import group_bytes

    close = _universe()
    windows = pooled.fold_windows(close, FOLDS, LOOKBACK, "return")
    if networks == "pooled":
        members = pooled.pooled_members("lstm", FOLDS, windows, 3, 2)
    else:
        members, _ = pooled.symbol_members("lstm", close.columns, FOLDS, windows, 3, 2)
    own = {id(a): a for m in members for a in (m.x_train, m.y_train, m.x_val, m.y_val, m.x_test)}  # seeds share
    copies = 0 if networks == "pooled" else sum(a.nbytes for a in own.values())
    real = pooled._held(windows) + copies + group_bytes(get_architecture("lstm"), members, SETTINGS.batch_size)
    estimate = pooled.fold_bytes(get_architecture("lstm"), FOLDS, 8, LOOKBACK, 2, SETTINGS.batch_size, networks)
    assert real <= estimate <= 3 * real  # an upper bound, not a wild one


def test_a_per_symbol_member_equals_training_that_symbol_alone() -> None:
    close = _universe()
    fold = FOLDS[:1]
    got = pooled.pooled_scores(close, fold, ["lstm"], LOOKBACK, "return", seed=3, settings=SETTINGS, device=CPU,
                               networks="per_symbol")["lstm"]
    w = panel.panel_windows(close.to_numpy(), fold[0].train, fold[0].val, fold[0].test, LOOKBACK)
    col = 6  # S6: listed on row 30, fewer windows than its neighbours
    tr, va, te = w.train_cols == col, w.val_cols == col, w.test_cols == col
    alone = Member(w.x_train[tr], w.y_train[tr], w.x_val[va], w.y_val[va], w.x_test[te],
                   member_seed(3, "lstm:S6", 0, 0))
    plain = train_group(get_architecture("lstm"), [alone], SETTINGS, device=CPU)[0]
    expected = panel.to_panel(w.to_target(plain.predictions), w.test_rows[te], w.test_cols[te], close.shape)
    # alone against among 8 members of one group: float32 rounding of the batched products at most
    np.testing.assert_allclose(got["S6"].to_numpy(), expected[100:140, col], rtol=1e-5, atol=1e-9)
    assert np.isfinite(expected[100:140, col]).sum() == te.sum() > 0
    pooled_net = _scores(close)["lstm"].iloc[:40]
    assert got.notna().equals(pooled_net.notna()) and not np.allclose(got.to_numpy(), pooled_net.to_numpy(),
                                                                      equal_nan=True)


def test_a_symbol_without_validation_windows_gets_no_per_symbol_network() -> None:
    close = _universe()
    close.iloc[75:, 5] = np.nan  # S5 stops before fold 0's validation rows [80, 100)
    got = pooled.pooled_scores(close, FOLDS[:1], ["lstm"], LOOKBACK, "return", seed=3, settings=SETTINGS,
                               device=CPU, networks="per_symbol")["lstm"]
    assert got["S5"].isna().all() and got.drop(columns="S5").notna().any().all()


def test_windows_of_f_columns_are_estimated_at_f_times_the_close_only_bytes() -> None:
    from forecasters.trainer import group_bytes

    close = _universe()
    logged = np.log(close.to_numpy())
    inputs = [panel.InputColumn(f"c{k}", logged, logged) for k in range(5)]  # 5 columns beside the returns
    windows = pooled.fold_windows(close, FOLDS, LOOKBACK, "return", inputs=inputs)
    assert windows[0].x_train.shape[2] == 6
    members = pooled.pooled_members("lstm", FOLDS, windows, 3, 1)
    real = pooled._held(windows) + group_bytes(get_architecture("lstm"), members, SETTINGS.batch_size)
    estimate = pooled.fold_bytes(get_architecture("lstm"), FOLDS, 8, LOOKBACK, 1, SETTINGS.batch_size, features=6)
    assert real <= estimate <= 3 * real
    one = pooled.fold_bytes(None, FOLDS, 8, LOOKBACK, 1, SETTINGS.batch_size)
    six = pooled.fold_bytes(None, FOLDS, 8, LOOKBACK, 1, SETTINGS.batch_size, features=6)
    x_one = 4 * LOOKBACK * 8 * sum(f.test_end - f.train_start for f in FOLDS)  # one column's float32 windows
    assert six - one >= 5 * x_one  # five more columns cost five times one column's windows, at least


def test_scipys_ill_conditioned_warnings_of_the_linear_fit_become_one_warning_naming_its_folds() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 5, 1)).astype(np.float32)
    collinear = np.concatenate([x, x * 1.0000001, x * 2], axis=2) * 1e3  # three copies of one input
    y = rng.normal(size=500).astype(np.float32)

    def window(inputs: np.ndarray) -> SimpleNamespace:
        return SimpleNamespace(x_train=inputs[:400], y_train=y[:400], x_val=inputs[400:450], y_val=y[400:450],
                               x_test=inputs[450:], to_target=lambda p: p, test_rows=np.arange(50),
                               test_cols=np.zeros(50, dtype=int))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parts = pooled.linear_parts([window(x), window(collinear)], FOLDS)  # type: ignore[list-item]
    assert [str(w.message) for w in caught] == [
        "the pooled linear model (Ridge) of fold(s) 1 (alpha = 0.001 kept): SciPy warned that a penalty tried there "
        "solved an ill-conditioned system, so that fit may be inaccurate (the inputs are nearly collinear). Each "
        "fold keeps the penalty with the lowest validation error and its scores are used; fewer overlapping "
        "forecast.features avoid it."]
    assert caught[0].category is DataWarning and len(parts) == 2 and np.isfinite(parts[1][0]).all()
