"""Cross-sectional books on tiny named score panels, every weight checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strategies.crosssection import dropout_step, long_short_top_k, long_top_k, topk_dropout

DAYS = pd.bdate_range("2024-01-01", periods=3)
NAN = np.nan

# day 0: a clean order D > C > B > A; day 1: B, C, D tie at the top; day 2: only A and B are scored
SCORES = pd.DataFrame({"A": [1.0, 0.0, 2.0], "B": [2.0, 5.0, 1.0], "C": [3.0, 5.0, NAN], "D": [4.0, 5.0, NAN]},
                      index=DAYS)


class TestLongShortTopK:
    def test_long_the_best_short_the_worst_at_a_quarter_each(self):
        w = long_short_top_k(SCORES, k=1)
        assert w.iloc[0].tolist() == [-0.5, 0.0, 0.0, 0.5]

    def test_ties_are_broken_by_symbol_name(self):
        # B, C, D tie at 5: the top is B (first name); the bottom is A (the only lower score)
        w = long_short_top_k(SCORES, k=1)
        assert w.iloc[1].tolist() == [-0.5, 0.5, 0.0, 0.0]
        # all tie: the top is A, the bottom the last name, D
        flat = pd.DataFrame({"D": [1.0], "A": [1.0], "C": [1.0], "B": [1.0]})
        assert long_short_top_k(flat, k=1).iloc[0].to_dict() == {"D": -0.5, "A": 0.5, "C": 0.0, "B": 0.0}

    def test_a_tie_across_the_short_cutoff_shorts_the_later_name(self):
        s = pd.DataFrame({"A": [3.0], "B": [1.0], "C": [1.0], "D": [2.0]})
        assert long_short_top_k(s, k=1).iloc[0].to_dict() == {"A": 0.5, "B": 0.0, "C": -0.5, "D": 0.0}

    def test_column_order_never_changes_a_weight(self):
        shuffled = SCORES[["C", "A", "D", "B"]]
        for build in (lambda s: long_short_top_k(s, 1), lambda s: long_top_k(s, 2), lambda s: topk_dropout(s, 2, 1)):
            pd.testing.assert_frame_equal(build(shuffled)[list(SCORES.columns)], build(SCORES))
            assert list(build(shuffled).columns) == ["C", "A", "D", "B"]

    def test_k_two_weighs_each_name_gross_over_four(self):
        w = long_short_top_k(SCORES, k=2, gross=2.0)
        assert w.iloc[0].tolist() == [-0.5, -0.5, 0.5, 0.5]
        assert w.iloc[0].abs().sum() == 2.0 and w.iloc[0].sum() == 0.0

    def test_too_few_names_trade_nothing_or_shrink_k(self):
        # day 2 has 2 names: k = 2 needs 4
        assert long_short_top_k(SCORES, k=2).iloc[2].tolist() == [0.0, 0.0, 0.0, 0.0]
        assert long_short_top_k(SCORES, k=2, few="shrink").iloc[2].tolist() == [0.5, -0.5, 0.0, 0.0]

    def test_shrink_still_holds_at_most_k_per_leg(self):
        # day 0 has 4 names: shrinking never holds more than k = 1 per leg (n // 2 = 2 would)
        assert long_short_top_k(SCORES, k=1, few="shrink").iloc[0].tolist() == [-0.5, 0.0, 0.0, 0.5]

    def test_flat_needs_two_k_names_not_two_over_k(self):
        # 3 names with k = 2: a leg of 2 each needs 4 names, so "flat" holds nothing
        s = pd.DataFrame({"A": [3.0], "B": [2.0], "C": [1.0]})
        assert long_short_top_k(s, k=2).iloc[0].tolist() == [0.0, 0.0, 0.0]

    def test_one_name_is_flat_even_when_shrinking(self):
        s = pd.DataFrame({"A": [1.0], "B": [NAN]})
        assert long_short_top_k(s, k=1, few="shrink").iloc[0].tolist() == [0.0, 0.0]

    def test_a_k_of_zero_or_an_unknown_policy_is_refused_by_name(self):
        with pytest.raises(ValueError, match=r"k must be a whole number of names per leg, at least 1. Got k=0."):
            long_short_top_k(SCORES, k=0)
        with pytest.raises(ValueError, match=r"few must be one of \('flat', 'shrink'\).*Got 'skip'."):
            long_short_top_k(SCORES, k=1, few="skip")  # type: ignore[arg-type]


class TestLongTopK:
    def test_the_k_best_at_one_over_k(self):
        w = long_top_k(SCORES, k=2)
        assert w.iloc[0].tolist() == [0.0, 0.0, 0.5, 0.5]
        assert w.iloc[1].tolist() == [0.0, 0.5, 0.5, 0.0]  # B, C, D tie: B and C by name

    def test_k_one_holds_the_best_name_with_the_whole_book(self):
        assert long_top_k(SCORES, k=1).iloc[0].tolist() == [0.0, 0.0, 0.0, 1.0]

    def test_exactly_k_names_are_enough(self):
        # day 2 has exactly 2 names: k = 2 holds both even with "flat"
        assert long_top_k(SCORES, k=2).iloc[2].tolist() == [0.5, 0.5, 0.0, 0.0]

    def test_shrink_still_holds_at_most_k(self):
        assert long_top_k(SCORES, k=1, few="shrink").iloc[0].tolist() == [0.0, 0.0, 0.0, 1.0]

    def test_too_few_names(self):
        assert long_top_k(SCORES, k=3).iloc[2].tolist() == [0.0, 0.0, 0.0, 0.0]
        assert long_top_k(SCORES, k=3, few="shrink").iloc[2].tolist() == [0.5, 0.5, 0.0, 0.0]


class TestTopkDropout:
    def test_one_day_replaces_the_worst_held_name_by_the_best_new_one(self):
        s = pd.Series({"A": 4.0, "B": 3.0, "C": 2.0, "D": 1.0})
        assert dropout_step(["C", "D"], s, topk=2, n_drop=1) == ["C", "A"]
        assert dropout_step(["C", "D"], s, topk=2, n_drop=2) == ["A", "B"]
        assert dropout_step(["C", "D"], s, topk=2, n_drop=0) == ["C", "D"]

    def test_a_held_name_better_than_every_candidate_is_kept(self):
        # C is held and ranks above the best candidate B: the comb's bottom is B itself, nothing is sold
        s = pd.Series({"A": 4.0, "B": 1.0, "C": 2.0, "D": 0.0})
        assert dropout_step(["A", "C"], s, topk=2, n_drop=1) == ["A", "C"]

    def test_a_held_name_without_a_score_ranks_last_and_goes_first(self):
        s = pd.Series({"A": 4.0, "B": 3.0, "C": NAN, "D": 1.0})
        assert dropout_step(["C", "D"], s, topk=2, n_drop=1) == ["D", "A"]

    def test_the_first_day_buys_the_top_k(self):
        s = pd.Series({"A": 1.0, "B": 3.0, "C": 2.0, "D": 4.0})
        assert dropout_step([], s, topk=2, n_drop=1) == ["D", "B"]

    def test_a_panel_by_hand(self):
        days = pd.bdate_range("2024-01-01", periods=3)
        s = pd.DataFrame({"A": [4.0, 1.0, 1.0], "B": [3.0, 2.0, 1.5], "C": [2.0, 3.0, 2.0], "D": [1.0, 4.0, 3.0]},
                         index=days)
        w = topk_dropout(s, topk=2, n_drop=1)
        # day 0: buy A, B. day 1: candidate D; comb D > B > A: sell A, buy D.
        # day 2: held D, B; candidate C; comb D > C > B: sell B, buy C.
        assert w.to_dict("list") == {"A": [0.5, 0.0, 0.0], "B": [0.5, 0.5, 0.0], "C": [0.0, 0.0, 0.5],
                                     "D": [0.0, 0.5, 0.5]}

    def test_turnover_is_bounded_by_n_drop(self):
        rng = np.random.default_rng(7)
        names = [f"S{i:02d}" for i in range(30)]
        s = pd.DataFrame(rng.normal(size=(60, 30)), columns=names)
        s = s.mask(rng.random(s.shape) < 0.1)  # a tenth of the scores missing
        held = topk_dropout(s, topk=10, n_drop=2) > 0
        before = held.shift(1, fill_value=False)
        exits, entries = (before & ~held).sum(axis=1), (held & ~before).sum(axis=1)
        assert held.sum(axis=1).iloc[0] == 10 and entries.iloc[0] == 10
        assert exits.max() <= 2 and entries.iloc[1:].max() <= 2
        assert (exits.iloc[1:] == entries.iloc[1:]).all()  # always full: each sale is replaced
        assert exits.iloc[1:].mean() > 1  # it trades: the bound is met, not by standing still
        daily = long_top_k(s, 10) > 0
        assert (daily ^ daily.shift(1, fill_value=False)).sum().sum() > 2 * (held ^ before).sum().sum()

    def test_a_held_name_missing_from_the_days_scores_ranks_last(self):
        # C is held but absent from the day's Series (not merely NaN): it is sold first, no KeyError
        s = pd.Series({"A": 4.0, "B": 3.0, "D": 1.0})
        assert dropout_step(["C", "D"], s, topk=2, n_drop=1) == ["D", "A"]

    def test_ties_among_many_names_go_by_name(self):
        # 40 names in three score levels: within a level, best first means by name (a stable sort after sorting
        # by name; numpy's default quicksort reorders equal keys once there are more than 16)
        names = [f"S{i:02d}" for i in range(40)]
        s = pd.Series([2.0 if i % 3 == 0 else 1.0 for i in range(40)], index=names)
        assert dropout_step([], s, topk=15, n_drop=0) == [f"S{i:02d}" for i in range(0, 40, 3)] + ["S01"]

    def test_the_edges_of_the_parameters_are_accepted(self):
        # topk = 1, n_drop = 0 (never sells) and n_drop = topk (may replace the whole book: day 1 D ties B, C at
        # 5 and B outranks it by name; day 2 A outranks B)
        assert topk_dropout(SCORES, topk=1, n_drop=0)["D"].tolist() == [1.0, 1.0, 1.0]
        assert topk_dropout(SCORES, topk=1, n_drop=1).to_dict("list") == {
            "A": [0.0, 0.0, 1.0], "B": [0.0, 1.0, 0.0], "C": [0.0, 0.0, 0.0], "D": [1.0, 0.0, 0.0]}
        with pytest.raises(ValueError, match=r"Got topk=0, n_drop=0."):
            topk_dropout(SCORES, topk=0, n_drop=0)

    def test_bad_parameters_are_refused(self):
        with pytest.raises(ValueError, match=r"0 <= n_drop <= topk. Got topk=2, n_drop=3."):
            topk_dropout(SCORES, topk=2, n_drop=3)
