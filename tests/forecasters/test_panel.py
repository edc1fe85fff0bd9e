"""Pooled windows of a close panel: which samples exist, their values, scaling and the map back."""

from __future__ import annotations

import numpy as np
import pytest

from forecasters import panel
from forecasters.panel import panel_windows, to_panel

NA = np.nan
# Columns: A listed throughout; B listed late (first close on row 3); C stops after row 6; D misses row 3.
CLOSE = np.array([
    [100, NA, 100, 100],
    [101, NA, 102, 99],
    [102, NA, 101, 98],
    [103, 50, 103, NA],
    [101, 51, 104, 97],
    [102, 52, 103, 98],
    [104, 53, 105, 99],
    [105, 54, NA, 100],
    [106, 55, NA, 101],
    [107, 56, NA, 102],
], dtype=float)
TRAIN, VAL, TEST = slice(0, 6), slice(6, 8), slice(8, 10)


def _pairs(rows: np.ndarray, cols: np.ndarray) -> list[tuple[int, int]]:
    return list(zip(rows.tolist(), cols.tolist(), strict=True))


def test_samples_follow_listings_stops_and_gaps() -> None:
    w = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=2)
    # Training days 2..4 (inputs from row 0, target close by row 5). B is not listed long enough; D's
    # target at 2 and its windows at 3, 4 cross the missing row 3.
    assert _pairs(w.train_rows, w.train_cols) == [(2, 0), (2, 2), (3, 0), (3, 2), (4, 0), (4, 2)]
    # Validation day 6 only (its target, row 7, lies in val); C has no close on row 7.
    assert _pairs(w.val_rows, w.val_cols) == [(6, 0), (6, 1), (6, 3)]
    # Test days 8, 9 need inputs only: C has stopped, D's gap is behind it.
    assert _pairs(w.test_rows, w.test_cols) == [(8, 0), (8, 1), (8, 3), (9, 0), (9, 1), (9, 3)]
    assert w.x_train.shape == (6, 2, 1) and w.x_train.dtype == np.float32 and w.y_train.shape == (6,)


def test_window_values_and_targets_by_hand() -> None:
    w = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=2)
    # Every return with both closes in rows 0..5, by hand, all symbols pooled.
    fit = [101 / 100 - 1, 102 / 101 - 1, 103 / 102 - 1, 101 / 103 - 1, 102 / 101 - 1,  # A
           51 / 50 - 1, 52 / 51 - 1,  # B
           102 / 100 - 1, 101 / 102 - 1, 103 / 101 - 1, 104 / 103 - 1, 103 / 104 - 1,  # C
           99 / 100 - 1, 98 / 99 - 1, 98 / 97 - 1]  # D (none across the gap)
    mean, std = np.mean(fit), np.std(fit)
    assert w.mean == pytest.approx(mean) and w.std == pytest.approx(std)
    # Sample (4, A): returns of rows 3 and 4; target the return of row 5.
    i = _pairs(w.train_rows, w.train_cols).index((4, 0))
    expected = (np.array([103 / 102 - 1, 101 / 103 - 1]) - mean) / std
    np.testing.assert_allclose(w.x_train[i, :, 0], expected, rtol=1e-6)
    assert w.y_train[i] == pytest.approx((102 / 101 - 1 - mean) / std, rel=1e-6)
    assert w.to_target(w.y_train[i:i + 1])[0] == pytest.approx(102 / 101 - 1, rel=1e-5)
    # Test sample (8, B): returns of rows 7 and 8.
    j = _pairs(w.test_rows, w.test_cols).index((8, 1))
    np.testing.assert_allclose(w.x_test[j, :, 0], (np.array([54 / 53 - 1, 55 / 54 - 1]) - mean) / std, rtol=1e-6)


def test_median_target_is_the_unscaled_label() -> None:
    w = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=2, target="median")
    # Day 6 -> 7: A +0.96 %, B +1.89 %, D +1.01 % (C has no close on 7): the median is D's, only B beats it.
    assert w.y_val.tolist() == [0.0, 1.0, 0.0]
    assert w.to_target(np.array([0.25]))[0] == 0.25


def test_scaling_reads_the_fitting_rows_only() -> None:
    base = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=2)
    later = CLOSE.copy()
    later[6:] *= 3.0  # every close after the training rows
    moved = panel_windows(later, TRAIN, VAL, TEST, lookback=2)
    assert (moved.mean, moved.std) == (base.mean, base.std)
    np.testing.assert_array_equal(moved.x_train, base.x_train)
    earlier = CLOSE.copy()
    earlier[4, 0] = 110.0  # one training close
    assert panel_windows(earlier, TRAIN, VAL, TEST, lookback=2).mean != base.mean


def test_leaky_scaling_would_move_the_training_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(panel, "fit_rows", lambda train: slice(0, None))
    later = CLOSE.copy()
    later[6:] *= 3.0
    a = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=2)
    b = panel_windows(later, TRAIN, VAL, TEST, lookback=2)
    assert not np.array_equal(a.x_train, b.x_train)


def test_to_panel_puts_each_sample_back_at_its_day_and_symbol() -> None:
    w = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=2)
    last = w.to_target(w.x_test[:, -1, 0])  # each test window's last return, unscaled
    back = to_panel(last, w.test_rows, w.test_cols, CLOSE.shape)
    expected = np.full(CLOSE.shape, np.nan)
    for t, s in [(8, 0), (8, 1), (8, 3), (9, 0), (9, 1), (9, 3)]:
        expected[t, s] = CLOSE[t, s] / CLOSE[t - 1, s] - 1
    np.testing.assert_allclose(back, expected, rtol=1e-5)


def test_long_lookback_is_a_gather_from_one_scaled_panel() -> None:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (400, 3)), axis=0))
    w = panel_windows(close, slice(0, 300), slice(300, 340), slice(340, 400), lookback=240)
    assert w.x_train.shape == (3 * (300 - 1 - 240), 240, 1)
    assert w.x_test.shape == (3 * 60, 240, 1)


def test_bad_arguments_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="target must be one of"):
        panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=2, target="sign")
    with pytest.raises(ValueError, match="Use more training days"):
        panel_windows(CLOSE, slice(0, 1), VAL, TEST, lookback=2)


# An open panel beside CLOSE: each open is the previous close + 1 (NaN where that close is missing);
# D has no open on row 5 although it has a close there.
OPEN = np.vstack([CLOSE[:1], CLOSE[:-1] + 1.0])
OPEN[5, 3] = np.nan


def _open_column() -> panel.InputColumn:
    return panel.InputColumn("open", np.log(OPEN), np.log(CLOSE))


def test_an_anchored_column_is_the_window_relative_to_its_last_close_by_hand() -> None:
    w = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=2, inputs=[_open_column()])
    assert w.names == ("close", "open") and w.x_train.shape == (6, 2, 2)
    raw = w.x_train[:, :, 1] * w.input_std[0] + w.input_mean[0]  # undo the column's own scaling
    i = _pairs(w.train_rows, w.train_cols).index((4, 0))  # A on day 4: opens of rows 3, 4 against close 4
    np.testing.assert_allclose(raw[i], np.log([103 / 101, 104 / 101]), rtol=1e-5)  # 102 + 1, 103 + 1
    # The column's scaling: mean and sd over every training window's values, by hand.
    values = [np.log([OPEN[t - 1, s] / CLOSE[t, s], OPEN[t, s] / CLOSE[t, s]]) for t, s in _pairs(w.train_rows,
                                                                                                 w.train_cols)]
    assert w.input_mean[0] == pytest.approx(np.mean(values)) and w.input_std[0] == pytest.approx(np.std(values))
    np.testing.assert_array_equal(w.x_train[:, :, :1], panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=2).x_train)


def test_a_missing_input_drops_exactly_the_windows_that_read_it() -> None:
    base = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=2)
    w = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=2, inputs=[_open_column()])
    # D's open on row 5 is missing: its windows ending on 5 and 6 go; nothing else changes.
    lost = set(_pairs(base.val_rows, base.val_cols)) - set(_pairs(w.val_rows, w.val_cols))
    assert lost == {(6, 3)} and _pairs(w.train_rows, w.train_cols) == _pairs(base.train_rows, base.train_cols)
    assert _pairs(w.test_rows, w.test_cols) == _pairs(base.test_rows, base.test_cols)


def test_without_returns_the_columns_alone_make_the_window() -> None:
    w = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=2, inputs=[_open_column()], with_returns=False)
    assert w.names == ("open",) and w.x_train.shape == (6, 2, 1)
    assert w.y_train.shape == (6,)  # the target is still the scaled next return
    with pytest.raises(ValueError, match="needs at least one input column"):
        panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=2, with_returns=False)


def test_a_columns_scaling_reads_the_training_windows_only() -> None:
    later_open = OPEN.copy()
    later_open[6:] *= 3.0  # every open after the training rows
    moved = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=2,
                          inputs=[panel.InputColumn("open", np.log(later_open), np.log(CLOSE))])
    base = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=2, inputs=[_open_column()])
    assert (moved.input_mean, moved.input_std) == (base.input_mean, base.input_std)
    np.testing.assert_array_equal(moved.x_train, base.x_train)
    assert not np.array_equal(moved.x_test, base.x_test)  # the check can fail: the test windows do move
