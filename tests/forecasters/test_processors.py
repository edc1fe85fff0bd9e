"""Processors of pooled windows: each by hand on named tiny sets; fitted ones read the training set only."""

from __future__ import annotations

import numpy as np
import pytest

from forecasters.processors import MAD_NORMAL, PROCESSORS, process

NA = np.nan


def _set(values: list[float]) -> np.ndarray:
    """(N, 1, 1) windows of one lag and one feature."""
    return np.array(values, dtype=np.float32).reshape(-1, 1, 1)


TRAIN, TEST = _set([1.0, 2.0, 4.0, 10.0]), _set([3.0, 100.0])
ROWS = [np.array([0, 0, 1, 1]), np.array([2, 2])]


def test_robust_zscore_uses_the_training_median_and_mad_by_hand() -> None:
    train, test = process(["robust_zscore"], [TRAIN, TEST], ROWS)
    median, mad = 3.0, MAD_NORMAL * 1.5  # median of 1, 2, 4, 10; deviations 2, 1, 1, 7 -> median 1.5
    np.testing.assert_allclose(train.ravel(), (np.array([1, 2, 4, 10]) - median) / mad, rtol=1e-6)
    np.testing.assert_allclose(test.ravel(), (np.array([3, 100]) - median) / mad, rtol=1e-6)  # not refitted


def test_clip_bounds_come_from_the_training_values() -> None:
    train, test = process(["clip"], [TRAIN, TEST], ROWS)
    low, high = np.percentile([1, 2, 4, 10], [1, 99])
    assert test.ravel().tolist() == pytest.approx([3.0, high]) and train.min() == pytest.approx(low)


def test_daily_processors_work_within_each_day_by_hand() -> None:
    x = _set([3.0, 1.0, 2.0, 5.0, 5.0, NA])
    rows = [np.array([0, 0, 0, 1, 1, 1])]
    assert process(["cs_rank"], [x], rows)[0].ravel()[:5].tolist() == [1.0, -1.0, 0.0, 0.0, 0.0]
    assert process(["cs_rank01"], [x], rows)[0].ravel()[:3].tolist() == [1.0, 0.0, 0.5]
    z = process(["cs_zscore"], [x], rows)[0].ravel()
    np.testing.assert_allclose(z[:3], (np.array([3, 1, 2]) - 2) / np.std([3, 1, 2]), rtol=1e-6)
    assert z[3:5].tolist() == [0.0, 0.0] and np.isnan(z[5])  # a flat day is 0; a missing value stays missing
    assert process(["fill_median"], [x], rows)[0].ravel()[5] == 5.0  # day 1's median
    assert process(["fill_zero"], [x], rows)[0].ravel()[5] == 0.0
    assert process(["fill_median", "cs_rank"], [x], rows)[0].ravel()[3:].tolist() == [0.0, 0.0, 0.0]


def test_processors_apply_in_order_and_unknown_names_are_refused() -> None:
    a = process(["clip", "robust_zscore"], [TRAIN, TEST], ROWS)[1]
    b = process(["robust_zscore", "clip"], [TRAIN, TEST], ROWS)[1]
    assert not np.allclose(a, b)
    with pytest.raises(ValueError, match="unknown processor 'rank'"):
        process(["rank"], [TRAIN], ROWS[:1])
    assert len(PROCESSORS) == 7
