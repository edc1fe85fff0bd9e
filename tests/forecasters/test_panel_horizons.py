"""Multi-day targets of pooled windows: their values, and purging (no fitting target reaches past its set)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasters.crosssection import above_median_target, forward_return, rank_target, zscore_target
from forecasters.panel import panel_windows

# A named panel: 30 days x 4 stocks, each a steady drift with a wiggle, so that every return differs.
DAYS, STOCKS = 30, 4
ROWS = np.arange(DAYS)[:, None]
CLOSE = 100.0 * (1.0 + 0.01 * (np.arange(STOCKS) - 1.5)) ** ROWS * (1 + 0.02 * np.sin(ROWS * (1 + np.arange(STOCKS))))
TRAIN, VAL, TEST = slice(0, 16), slice(16, 24), slice(24, 30)
TARGETS = ["return", "rank", "zscore", "median"]


def _fit(w):
    return [w.train_rows, w.train_cols, w.x_train, w.y_train]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("horizon", [1, 5, 20 - 14])
def test_moving_every_price_after_the_training_rows_changes_nothing_fitted(target, horizon):
    """The purge: a training sample dated t with an h-day target reads closes up to t + h, all in TRAIN.
    Without it (training days up to TRAIN.stop - 2, as for h = 1) the samples dated 11..14 of h = 5 read
    closes of rows 16..19, which this test moves."""
    base = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=3, target=target, horizon=horizon)
    later = CLOSE.copy()
    later[TRAIN.stop:] *= np.linspace(0.5, 1.5, STOCKS)  # every close after the training rows, unevenly
    moved = panel_windows(later, TRAIN, VAL, TEST, lookback=3, target=target, horizon=horizon)
    for a, b in zip(_fit(base), _fit(moved), strict=True):
        np.testing.assert_array_equal(a, b)
    assert (base.y_mean, base.y_std, base.mean, base.std) == (moved.y_mean, moved.y_std, moved.mean, moved.std)


@pytest.mark.parametrize("target", TARGETS)
def test_moving_every_price_after_the_validation_rows_changes_no_validation_target(target):
    base = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=3, target=target, horizon=5)
    later = CLOSE.copy()
    later[VAL.stop:] *= np.linspace(0.5, 1.5, STOCKS)
    moved = panel_windows(later, TRAIN, VAL, TEST, lookback=3, target=target, horizon=5)
    np.testing.assert_array_equal(base.y_val, moved.y_val)
    np.testing.assert_array_equal(base.val_rows, moved.val_rows)


def test_purged_days_by_hand():
    # h = 5: training days 3 (lookback) .. 10 (target close 15, TRAIN's last row); validation 16 .. 18.
    w = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=3, horizon=5)
    assert sorted(set(w.train_rows.tolist())) == list(range(3, 11))
    assert sorted(set(w.val_rows.tolist())) == [16, 17, 18]
    assert sorted(set(w.test_rows.tolist())) == list(range(24, 30))
    # An embargo of 2 days ends each fitting set's targets 2 rows earlier.
    e = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=3, horizon=5, embargo=2)
    assert max(e.train_rows) == 8 and max(e.val_rows) == 16


def test_five_day_return_target_is_scaled_by_its_own_training_targets():
    w = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=3, horizon=5)
    ahead = CLOSE[5:] / CLOSE[:-5] - 1.0  # dated t, by hand
    fit = ahead[3:11].ravel()  # training days 3..10, every stock
    assert w.y_mean == pytest.approx(fit.mean()) and w.y_std == pytest.approx(fit.std())
    i = int(np.flatnonzero((w.train_rows == 7) & (w.train_cols == 2))[0])
    assert w.y_train[i] == pytest.approx((ahead[7, 2] - fit.mean()) / fit.std(), rel=1e-5)
    assert w.to_target(w.y_train[i:i + 1])[0] == pytest.approx(ahead[7, 2], rel=1e-5)
    # The inputs keep the one-day scaling of the fitting rows.
    one = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=3, horizon=1)
    assert (w.mean, w.std) == (one.mean, one.std) and one.y_std is None


def test_cross_sectional_targets_by_hand():
    # Day 0 -> 2: A +10 %, B -10 %, C 0 %, D missing on day 2 (out of the day's cross-section).
    close = pd.DataFrame({"A": [10.0, 10.5, 11.0], "B": [10.0, 9.0, 9.0], "C": [10.0, 11.0, 10.0],
                          "D": [10.0, 10.0, np.nan]})
    np.testing.assert_allclose(forward_return(close, 2).iloc[0, :3], [0.1, -0.1, 0.0], atol=1e-12)
    assert rank_target(close, 2).iloc[0].tolist()[:3] == [1.0, -1.0, 0.0]
    assert np.isnan(rank_target(close, 2).iloc[0, 3])
    z = zscore_target(close, 2).iloc[0, :3].to_numpy()
    np.testing.assert_allclose(z, np.array([0.1, -0.1, 0.0]) / np.std([0.1, -0.1, 0.0]), atol=1e-12)
    assert above_median_target(close, 2).iloc[0].tolist()[:3] == [1.0, 0.0, 0.0]
    # Day 0 -> 1 (h = 1): A +5 %, B -10 %, C +10 %, D 0 %: ranks 3, 1, 4, 2 of 4 -> (rank - 1) / 3 * 2 - 1.
    np.testing.assert_allclose(rank_target(close, 1).iloc[0], [1 / 3, -1.0, 1.0, -1 / 3], rtol=1e-12)
    # A day with one name ranks it 0.
    assert rank_target(close.iloc[:, :1], 1).iloc[0, 0] == 0.0


def test_a_horizon_or_embargo_without_meaning_is_refused():
    for kwargs, message in [({"horizon": 0}, "horizon must be from 1 to 20"), ({"horizon": 21}, "Got 21"),
                            ({"embargo": -1}, "embargo must be >= 0"), ({"target": "rnk"}, "target must be one of")]:
        with pytest.raises(ValueError, match=message):
            panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=3, **kwargs)
    with pytest.raises(ValueError, match="whole number of days"):
        forward_return(pd.DataFrame(CLOSE), 0)


class TestTargetProcessors:
    """universe.target_processors: the return labels ranked or z-scored among each day's samples."""

    def test_ranked_and_zscored_labels_by_hand(self):
        w = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=3, horizon=5, target_processors=["cs_rank"])
        ahead = CLOSE[5:] / CLOSE[:-5] - 1.0  # dated t, by hand
        day = w.train_rows == 7  # every one of the 4 stocks has a sample that day
        order = np.argsort(np.argsort(ahead[7, w.train_cols[day]]))  # 0 .. 3, the worst first
        np.testing.assert_allclose(w.y_train[day], order / 3 * 2 - 1, atol=1e-7)  # -1, -1/3, 1/3, 1
        assert sorted(w.y_val[w.val_rows == 16].tolist()) == pytest.approx([-1, -1 / 3, 1 / 3, 1])
        assert w.y_mean is None and w.to_target(np.array([0.25]))[0] == 0.25  # forecasts stay ranks
        z = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=3, horizon=5, target_processors=["cs_zscore"])
        values = ahead[7, z.train_cols[z.train_rows == 7]]
        np.testing.assert_allclose(z.y_train[z.train_rows == 7], (values - values.mean()) / values.std(), rtol=1e-5)
        # Ranked, then z-scored: the ranks' z-score, the same on every day with all four stocks.
        both = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=3, horizon=5, target_processors=["cs_rank", "cs_zscore"])
        unit = (order / 3 * 2 - 1) / np.std([-1, -1 / 3, 1 / 3, 1])
        np.testing.assert_allclose(both.y_train[both.train_rows == 7], unit, rtol=1e-6)
        # The inputs and the samples are those of the plain return target.
        plain = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=3, horizon=5)
        np.testing.assert_array_equal(plain.x_train, w.x_train)
        np.testing.assert_array_equal(plain.train_rows, w.train_rows)

    @pytest.mark.parametrize("names", [["cs_rank"], ["cs_zscore"], ["cs_rank", "cs_zscore"]])
    @pytest.mark.parametrize("horizon", [1, 5])
    def test_moving_every_price_after_the_training_rows_changes_no_training_label(self, names, horizon):
        base = panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=3, horizon=horizon, target_processors=names)
        later = CLOSE.copy()
        later[TRAIN.stop:] *= np.random.default_rng(4).uniform(0.5, 1.5, later[TRAIN.stop:].shape)
        moved = panel_windows(later, TRAIN, VAL, TEST, lookback=3, horizon=horizon, target_processors=names)
        for a, b in zip(_fit(base), _fit(moved), strict=True):
            np.testing.assert_array_equal(a, b)
        assert not np.array_equal(base.y_val, moved.y_val)  # the move does reach the labels it may reach

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"target": "rank"}, "target_processors apply to the 'return' target only. Got target 'rank'"),
        ({"target_processors": ["clip"]}, "'clip' does not process a target: it is fitted"),
        ({"target_processors": ["fill_zero"]}, "there is nothing to fill"),
        ({"target_processors": ["cs_rank01"]}, "centres the label on 0.5"),
    ])
    def test_a_processor_without_meaning_on_a_label_is_refused(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            panel_windows(CLOSE, TRAIN, VAL, TEST, lookback=3, **{"target_processors": ["cs_rank"], **kwargs})
