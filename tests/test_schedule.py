import pytest

from backtest.config import WalkForwardSection
from backtest.errors import DataError
from backtest.schedule import Fold, make_folds


def ranges(folds):
    return [(f.train_start, f.val_start, f.train_end, f.test_start, f.test_end) for f in folds]


def test_rolling_folds_exact():
    folds = make_folds(1000, WalkForwardSection(train_days=500, val_days=100, test_days=200))
    assert ranges(folds) == [(0, 400, 500, 500, 700), (200, 600, 700, 700, 900), (400, 800, 900, 900, 1000)]
    assert folds[1] == Fold(1, 200, 600, 700, 700, 900)


def test_expanding_folds_start_at_zero():
    folds = make_folds(1000, WalkForwardSection(train_days=500, val_days=100, test_days=200, window="expanding"))
    assert ranges(folds) == [(0, 400, 500, 500, 700), (0, 600, 700, 700, 900), (0, 800, 900, 900, 1000)]


def test_gap_separates_training_from_test():
    folds = make_folds(1000, WalkForwardSection(train_days=500, val_days=100, test_days=200, gap=10))
    assert ranges(folds) == [(0, 400, 500, 510, 710), (200, 600, 700, 710, 910), (400, 800, 900, 910, 1000)]


def test_last_fold_is_truncated_and_tests_tile_without_overlap():
    folds = make_folds(1050, WalkForwardSection(train_days=500, val_days=0, test_days=200))
    assert [(f.test_start, f.test_end) for f in folds] == [(500, 700), (700, 900), (900, 1050)]
    assert all(f.val_start == f.train_end for f in folds)
    covered = [d for f in folds for d in range(f.test_start, f.test_end)]
    assert covered == list(range(500, 1050))


def test_max_folds_keeps_the_latest_and_renumbers():
    folds = make_folds(1000, WalkForwardSection(train_days=500, val_days=100, test_days=200, max_folds=2))
    assert ranges(folds) == [(200, 600, 700, 700, 900), (400, 800, 900, 900, 1000)]
    assert [f.index for f in folds] == [0, 1]


def test_training_never_overlaps_test():
    for window in ("rolling", "expanding"):
        for f in make_folds(2000, WalkForwardSection(train_days=300, val_days=60, test_days=70, gap=3, window=window)):
            assert f.train_start <= f.val_start <= f.train_end <= f.test_start - 3 < f.test_end


def test_too_short_data_is_refused_with_the_fix():
    with pytest.raises(DataError, match=r"the data has 500 rows but one fold needs more than "
                                        r"walkforward.train_days \+ gap = 500"):
        make_folds(500, WalkForwardSection(train_days=500, val_days=100, test_days=50))
