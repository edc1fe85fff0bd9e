"""The single-symbol rules on a panel of stocks: named 3-stock panels worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from strategies.rulebooks import equal_weights, forecast_states, per_stock, rule_states
from strategies.signals import bollinger_state

NAN = np.nan
DAYS = pd.date_range("2024-01-01", periods=4)
# scores (forecasts of the next return) of three stocks on four decision days; A has none on day 3
SCORES = pd.DataFrame({"A": [0.01, -0.02, 0.03, NAN], "B": [0.02, 0.01, -0.01, 0.00],
                       "C": [-0.01, 0.00, 0.02, 0.05]}, index=DAYS)


def test_forecast_holds_the_stocks_whose_score_beats_the_threshold():
    # threshold 0: day 0 A, B; day 1 B; day 2 A, C; day 3 C (B's 0.00 is not above 0, A has no score)
    assert forecast_states(SCORES).to_dict("list") == {
        "A": [True, False, True, False], "B": [True, True, False, False], "C": [False, False, True, True]}
    # threshold 0.015: day 0 B only, day 1 nothing, day 2 A and C, day 3 C
    assert forecast_states(SCORES, 0.015).to_dict("list") == {
        "A": [False, False, True, False], "B": [True, False, False, False], "C": [False, False, True, True]}
    # a chance of beating the median (centre 0.5): 0.52 holds, 0.5 does not
    assert forecast_states(pd.DataFrame({"A": [0.52, 0.5]}), centre=0.5)["A"].tolist() == [True, False]


def test_the_held_stocks_share_the_book_equally():
    w = equal_weights(forecast_states(SCORES))
    assert w.to_dict("list") == {"A": [0.5, 0.0, 0.5, 0.0], "B": [0.5, 1.0, 0.0, 0.0], "C": [0.0, 0.0, 0.5, 1.0]}
    assert equal_weights(forecast_states(SCORES, 0.015)).iloc[1].tolist() == [0.0, 0.0, 0.0]  # none: all cash


def test_joins_and_vote_are_the_single_symbol_rules_element_wise():
    fc = forecast_states(SCORES)
    boll = pd.DataFrame({"A": [True, True, False, False], "B": [False, True, True, False],
                         "C": [False, False, False, True]}, index=DAYS)
    trend = pd.DataFrame({"A": [False, True, True, False], "B": [True, False, True, False],
                          "C": [True, False, False, False]}, index=DAYS)
    both = rule_states(fc, boll, trend, ["forecast+bollinger", "forecast+macd", "vote", "bollinger"])
    assert list(both) == ["forecast+bollinger", "forecast+macd", "vote"]  # standalone rules are not built here
    assert both["forecast+bollinger"].to_dict("list") == {
        "A": [True, False, False, False], "B": [False, True, False, False], "C": [False, False, False, True]}
    assert both["forecast+macd"].to_dict("list") == {
        "A": [False, False, True, False], "B": [True, False, False, False], "C": [False, False, False, False]}
    # vote: at least two of the three; A day 1 (boll, macd), B day 2 (boll, macd), C day 0 (none: macd only)
    assert both["vote"].to_dict("list") == {
        "A": [True, True, True, False], "B": [True, True, True, False], "C": [False, False, False, True]}
    either = rule_states(fc, boll, trend, ["forecast+bollinger"], combine="any")["forecast+bollinger"]
    assert either["C"].tolist() == [False, False, True, True]


def test_indicators_run_on_each_stocks_own_priced_days():
    # A's bands (window 2, k 0.5) over 10, 10, 8, 12, 9 (the gap skipped): lower 10, 8.5, 9, 9.75 from day 1.
    # Day 2: 8 < 8.5 enters; day 3: 12 > middle 10 exits; the gap holds nothing; day 5: 9 < 9.75 enters
    # (over the calendar with the gap the window would be NaN there and the state would stay out).
    close = pd.DataFrame({"A": [10.0, 10.0, 8.0, 12.0, NAN, 9.0], "B": [NAN, NAN, 5.0, 5.0, 5.0, 5.0]})
    states = per_stock(close, lambda c: bollinger_state(c, 2, 0.5))
    assert states["A"].tolist() == [False, False, True, False, False, True]
    assert states["B"].tolist() == [False] * 6  # flat prices never cross the bands
    assert states.index.equals(close.index) and states.dtypes.eq(bool).all()


@pytest.mark.parametrize("rule", ["forecast+bollinger", "forecast+macd", "vote"])
def test_every_rule_holds_only_stocks_with_a_score_or_a_signal(rule):
    none = pd.DataFrame(False, index=DAYS, columns=SCORES.columns)
    assert not rule_states(forecast_states(SCORES * 0 - 1), none, none, [rule])[rule].to_numpy().any()
