"""The sentences the reports share (report.wording): the trading table's note on direction, sizing and stops."""

import pandas as pd

from backtest.report.wording import legs_note, paired_sentences, trader_note, universe_paired_sentences


def test_todays_rules_need_no_note():
    assert trader_note({}, {}) is None
    assert trader_note({"direction": "long", "sizing": "all_in", "stop_loss": 0}, {}) is None


def test_the_note_says_the_direction_the_borrow_the_sizing_and_how_stops_fill():
    note = trader_note({"direction": "both", "sizing": "vol_target", "stop_loss": 0.05}, {"borrow": 0.01})
    assert note == ("rules: both (buy-and-hold long, all in, no stop); shorts pay 1 % a year borrow, daily; sized "
                    "vol_target at the entry, not rebalanced; stop loss 5 %: vectorbt's stops from the day after the "
                    "entry, filled at the stop level (the open if it opened through it) less slippage")
    long_stop = trader_note({"take_profit": 0.1, "trailing_stop": 0.03}, {})
    assert long_stop.startswith("rules: long (buy-and-hold long, all in, no stop); sized all_in at the entry")
    assert "take profit 10 %, trailing stop 3 %" in long_stop and "borrow" not in long_stop
    assert "0.5 % a year" in trader_note({"direction": "short"}, {})  # backtest.borrow's default


def test_the_legs_note_says_each_legs_share_and_the_gross():
    assert legs_note({"books": ["long_short"], "leg_gross": 1.0}) == (
        "long_short: 100 % of the value long and 100 % short, the short proceeds financing the long (gross 2, "
        "Fischer & Krauss's accounting); ")
    assert "30 % of the value long and 30 % short" in legs_note({"books": ["long_short"], "leg_gross": 0.3})
    assert "(gross 1); " in legs_note({})  # a folder from before the setting: half the value a leg
    assert legs_note({"books": ["long_only"]}) == ""


def _pairs(verdicts: list[str], name: str = "strategy") -> pd.DataFrame:
    return pd.DataFrame({"run_a": "a", "run_b": "b", name: [f"s{i}" for i in range(len(verdicts))],
                         "verdict": verdicts})


def test_one_pair_tested_is_one_pair():
    none = pd.DataFrame(columns=["run_a", "run_b", "model", "verdict"])
    one = paired_sentences(none, _pairs(["better", "identical"]), 0.05)
    assert one == ["Run against run, Sharpe ratios at 5 % (Ledoit-Wolf, Holm-adjusted over 1 pair): a's s0 higher "
                   "Sharpe than b's."]  # an identical pair is not tested: no "other pairs" to speak of
    assert "Holm-adjusted over 2 pairs): not distinguishable" in paired_sentences(
        none, _pairs(["indistinguishable", "indistinguishable"]), 0.05)[0]
    ic = _pairs(["worse"], "scorer").assign(days=9, rank_days=9, rank_verdict="indistinguishable")
    universe = universe_paired_sentences(ic, _pairs([]), 0.05)
    assert universe == ["No run's rank IC is better than another's at 5 % (Newey-West t of the daily rank IC "
                        "difference, Holm-adjusted over 1 pair): not distinguishable.",
                        "Run against run, ICs at 5 % (Newey-West t of the daily IC difference, Holm-adjusted over "
                        "1 pair): a's s0 lower IC than b's."]
    two = paired_sentences(none, _pairs(["indistinguishable", "better"]), 0.05)[0]
    assert two.endswith("over 2 pairs): a's s1 higher Sharpe than b's; the other pairs are not distinguishable.")
