import pandas as pd
import pytest

from backtest.core.config import WalkForwardSection
from backtest.core.errors import DataError
from backtest.engine.schedule import Fold, folds_table, make_folds


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


def test_max_folds_equal_to_the_count_keeps_them_all():
    folds = make_folds(1000, WalkForwardSection(train_days=500, val_days=100, test_days=200, max_folds=3))
    assert ranges(folds) == [(0, 400, 500, 500, 700), (200, 600, 700, 700, 900), (400, 800, 900, 900, 1000)]


def test_too_short_data_names_the_setting():
    with pytest.raises(DataError, match=r"walkforward.train_days \+ gap = 500 .* shorter walkforward.train_days\."):
        make_folds(500, WalkForwardSection(train_days=500, val_days=100, test_days=200))


def test_folds_table_by_hand():
    dates = pd.bdate_range("2020-01-01", periods=12)  # rows 0-11: Wed 1 Jan 2020 ... Thu 16 Jan (no weekends)
    folds = [Fold(0, 0, 4, 6, 7, 9), Fold(1, 2, 7, 7, 9, 12)]  # the second has no validation rows
    table = folds_table(folds, dates)
    assert table.to_dict(orient="records") == [
        {"fold": 0, "train_start": "2020-01-01", "train_end": "2020-01-06", "val_start": "2020-01-07",
         "val_end": "2020-01-08", "test_start": "2020-01-10", "test_end": "2020-01-13",
         "train_rows": 4, "val_rows": 2, "test_rows": 2},
        {"fold": 1, "train_start": "2020-01-03", "train_end": "2020-01-09", "val_start": "", "val_end": "",
         "test_start": "2020-01-14", "test_end": "2020-01-16", "train_rows": 5, "val_rows": 0, "test_rows": 3},
    ]


STUDY = {"protocol": "study"}


def test_the_study_protocol_is_one_fold_with_the_papers_80_10_10():
    folds = make_folds(1000, WalkForwardSection(**STUDY, study_train=0.8, study_val=0.1, study_test=0.1))
    assert ranges(folds) == [(0, 800, 900, 900, 1000)]


def test_the_articles_80_20_split_has_no_validation_rows_and_cuts_round_down():
    folds = make_folds(974, WalkForwardSection(**STUDY, study_train=0.8, study_val=0.0, study_test=0.2))
    assert ranges(folds) == [(0, 779, 779, 779, 974)]  # 974 * 0.8 = 779.2: 779 rows fit, 195 tested


def test_a_study_split_too_short_to_fit_is_refused():
    with pytest.raises(DataError, match="leave 1 rows to fit on"):
        make_folds(2, WalkForwardSection(**STUDY))
