"""Cross-sectional scores against independent plain-pandas and by-hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from backtest.scoring.crosssection import (
    accuracy,
    cumulative_returns,
    daily_ic,
    decile_returns,
    earnable_return,
    hac_t,
    horizon_ic,
    ic_summary,
    ic_table,
    ic_verdicts,
    newey_west_lags,
    spread_summary,
)
from forecasters.crosssection import next_return, reversal_scores
from strategies.crosssection import long_short_top_k

NAN = np.nan
# six named stocks over eight days; LATE lists on day 2, GONE stops after day 5
CLOSE = pd.DataFrame({
    "AAA": [10.0, 10.5, 10.2, 10.8, 10.6, 11.0, 10.9, 11.3],
    "BBB": [50.0, 49.0, 49.5, 48.0, 48.8, 49.9, 50.5, 50.1],
    "CCC": [20.0, 20.4, 20.1, 20.6, 21.0, 20.7, 21.2, 21.5],
    "DDD": [30.0, 29.1, 29.9, 30.2, 29.5, 29.8, 30.6, 30.1],
    "LATE": [NAN, NAN, 5.0, 5.2, 5.1, 4.9, 5.3, 5.2],
    "GONE": [8.0, 8.3, 8.1, 7.9, 8.2, 8.0, NAN, NAN],
}, index=pd.bdate_range("2024-01-01", periods=8))


def _plain_returns(close: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reversal score and the next return, column by column, without the module under test."""
    rev, ahead = {}, {}
    for name in close.columns:
        c = close[name]
        rev[name] = -(c / c.shift(1) - 1)
        ahead[name] = c.shift(-1) / c - 1
    return pd.DataFrame(rev), pd.DataFrame(ahead)


class TestReversalAgainstPlainPandas:
    """The issue's check: the reversal baseline's IC, rank IC and long-short return, done independently."""

    def test_ic_and_rank_ic(self):
        rev, ahead = _plain_returns(CLOSE)
        for method, pandas_method in (("pearson", "pearson"), ("rank", "spearman")):
            got = daily_ic(reversal_scores(CLOSE), next_return(CLOSE), method)
            for day in CLOSE.index:
                pair = pd.DataFrame({"s": rev.loc[day], "r": ahead.loc[day]}).dropna()
                want = pair["s"].corr(pair["r"], method=pandas_method) if len(pair) >= 3 else NAN
                assert got[day] == pytest.approx(want, nan_ok=True), (method, day)
        assert got.notna().sum() == 6  # day 0 has no last return, day 7 no next return

    def test_long_short_return(self):
        rev, ahead = _plain_returns(CLOSE)
        assert ahead.loc[CLOSE.index[5], "GONE"] != ahead.loc[CLOSE.index[5], "GONE"]  # held into its stop
        book = (long_short_top_k(reversal_scores(CLOSE), k=2) * next_return(CLOSE)).sum(axis=1)
        for day in CLOSE.index:
            scored = [n for n in CLOSE.columns if not math.isnan(rev.loc[day, n])]
            order = sorted(scored, key=lambda n: (-rev.loc[day, n], n))
            if len(order) < 4:
                assert book[day] == 0.0
                continue
            top, bottom = order[:2], order[-2:]
            earned = ahead.loc[day].fillna(0.0)  # a stock whose prices stop is closed at its last price
            want = (earned[top].mean() - earned[bottom].mean()) / 2
            assert book[day] == pytest.approx(want, nan_ok=True), day

    def test_day_one_by_hand(self):
        # returns into day 1: AAA +5 %, BBB -2 %, CCC +2 %, DDD -3 %, GONE +3.75 %: DDD, BBB lead the reversal
        ls = long_short_top_k(reversal_scores(CLOSE), k=2).iloc[1]
        assert ls[["DDD", "BBB"]].tolist() == [0.25, 0.25] and ls[["AAA", "GONE"]].tolist() == [-0.25, -0.25]


class TestDailyIC:
    def test_perfect_and_reversed_scores(self):
        ahead = pd.DataFrame({"A": [0.01], "B": [0.02], "C": [0.03]})
        assert daily_ic(ahead * 5 + 1, ahead)[0] == pytest.approx(1.0)
        assert daily_ic(-(ahead ** 3), ahead, "rank")[0] == pytest.approx(-1.0)

    def test_too_few_names_or_a_constant_score_is_nan(self):
        ahead = pd.DataFrame({"A": [0.01, 0.01], "B": [0.02, 0.02], "C": [0.03, NAN]})
        scores = pd.DataFrame({"A": [1.0, 1.0], "B": [1.0, 2.0], "C": [1.0, 3.0]})
        assert daily_ic(scores, ahead).isna().all()

    def test_only_names_present_in_both_count(self):
        scores = pd.DataFrame({"A": [1.0], "B": [2.0], "C": [3.0], "D": [NAN]})
        ahead = pd.DataFrame({"A": [0.01], "B": [0.03], "C": [0.02], "D": [9.0], "E": [1.0]})
        assert daily_ic(scores, ahead, "rank")[0] == pytest.approx(0.5)  # ranks 1,2,3 against 1,3,2

    def test_an_unknown_method_is_refused(self):
        with pytest.raises(ValueError, match=r"method must be 'pearson' or 'rank'. Got 'kendall'."):
            daily_ic(CLOSE, CLOSE, "kendall")  # type: ignore[arg-type]


class TestHAC:
    def test_newey_west_lag_rule(self):
        assert [newey_west_lags(n) for n in (100, 250, 500, 1250)] == [4, 4, 5, 7]

    def test_t_matches_the_bartlett_formula_by_hand(self):
        x = pd.Series([0.02, -0.01, 0.03, 0.00, 0.01, -0.02, 0.04, 0.01, 0.02, -0.01])
        e = x - x.mean()
        n, lags = len(x), 2
        gamma = [float((e.iloc[j:].to_numpy() * e.iloc[: n - j].to_numpy()).sum() / n) for j in range(lags + 1)]
        s = gamma[0] + 2 * sum((1 - j / (lags + 1)) * gamma[j] for j in range(1, lags + 1))
        t, used = hac_t(x, lags=2)
        assert used == 2 and t == pytest.approx(x.mean() / math.sqrt(s / n), rel=1e-10)

    def test_zero_lags_is_the_plain_t_with_the_biased_variance(self):
        x = pd.Series([1.0, 2.0, 4.0, 3.0])
        t, _ = hac_t(x, lags=0)
        assert t == pytest.approx(2.5 / math.sqrt(x.var(ddof=0) / 4))

    def test_too_short_or_constant_is_nan(self):
        assert math.isnan(hac_t(pd.Series([1.0, 2.0]))[0])
        assert math.isnan(hac_t(pd.Series([0.1, 0.1, 0.1, 0.1]))[0])


class TestICSummary:
    def test_by_hand(self):
        ic = pd.Series([0.1, -0.05, 0.2, NAN, 0.05])
        out = ic_summary(ic, lags=0)
        values = [0.1, -0.05, 0.2, 0.05]
        mean, std = np.mean(values), np.std(values, ddof=1)
        assert out["mean"] == pytest.approx(0.075) and out["std"] == pytest.approx(std)
        assert out["icir"] == pytest.approx(mean / std) and out["positive"] == 0.75
        assert out["days"] == 4 and out["lags"] == 0
        assert out["t_hac"] == pytest.approx(mean / math.sqrt(np.var(values) / 4))

    def test_empty_is_nan(self):
        out = ic_summary(pd.Series([NAN, NAN]))
        assert math.isnan(out["mean"]) and math.isnan(out["icir"]) and out["days"] == 0


class TestDeciles:
    def test_two_groups_by_hand_with_a_tie_broken_by_name(self):
        scores = pd.DataFrame({"D": [1.0], "A": [1.0], "B": [3.0], "C": [4.0]})
        ahead = pd.DataFrame({"D": [0.04], "A": [0.01], "B": [0.02], "C": [0.03]})
        got = decile_returns(scores, ahead, bins=2)
        # order A(1) < D(1, later name) < B < C: bottom {A, D}, top {B, C}
        assert got.iloc[0].tolist() == pytest.approx([0.025, 0.025])
        got3 = decile_returns(scores[["A", "B", "C"]], ahead, bins=3)
        assert got3.iloc[0].tolist() == pytest.approx([0.01, 0.02, 0.03])

    def test_a_day_with_fewer_names_than_groups_is_nan(self):
        scores = pd.DataFrame({"A": [1.0, 1.0], "B": [2.0, NAN], "C": [3.0, 3.0]})
        ahead = pd.DataFrame({"A": [0.0, 0.0], "B": [0.1, 0.1], "C": [0.2, 0.2]})
        got = decile_returns(scores, ahead, bins=3)
        assert got.iloc[0].tolist() == pytest.approx([0.0, 0.1, 0.2]) and got.iloc[1].isna().all()
        out = spread_summary(got, lags=0)
        assert out["mean"] == pytest.approx(0.2) and out["days"] == 1 and math.isnan(out["t_hac"])

    def test_the_spread_on_the_named_panel(self):
        got = decile_returns(reversal_scores(CLOSE), next_return(CLOSE), bins=2)
        rev, ahead = _plain_returns(CLOSE)
        day = CLOSE.index[3]  # six names: three per group
        order = sorted(rev.columns, key=lambda n: (rev.loc[day, n], n))
        assert got.loc[day, 1] == pytest.approx(ahead.loc[day, order[:3]].mean())
        assert got.loc[day, 2] == pytest.approx(ahead.loc[day, order[3:]].mean())
        spread = (got[2] - got[1]).dropna()
        assert spread_summary(got)["mean"] == pytest.approx(spread.mean())


def test_accuracy_by_hand():
    prob = pd.DataFrame({"A": [0.9, 0.2], "B": [0.4, 0.6], "C": [0.7, NAN]})
    target = pd.DataFrame({"A": [1.0, 1.0], "B": [0.0, 1.0], "C": [0.0, 1.0]})
    assert accuracy(prob, target) == pytest.approx(3 / 5)  # right: A0, B0, B1; wrong: C0, A1
    assert math.isnan(accuracy(prob.iloc[:0], target.iloc[:0]))


def _panel_ic_t(scores: pd.DataFrame, ahead: pd.DataFrame) -> float:
    return ic_summary(daily_ic(scores, ahead))["t_hac"]


def test_a_score_that_is_the_next_return_plus_noise_has_an_ic_above_zero():
    """300 days x 20 stocks of seeded normal next returns; "signal" = next return + noise three times its size
    (IC ~ 0.3 a day), "noise" = an independent draw (IC ~ 0). Only the signal's IC is called above zero. (A 5 %
    test calls 1 noise panel in 20 significant, as it should: seed 11's noise has t -2.14; seed 2's, -0.5.)"""
    rng = np.random.default_rng(2)
    shape = (300, 20)
    ahead = pd.DataFrame(rng.normal(0.0, 0.01, shape))
    signal = ahead + pd.DataFrame(rng.normal(0.0, 0.03, shape))
    noise = pd.DataFrame(rng.normal(0.0, 0.01, shape))
    t = pd.Series({"signal": _panel_ic_t(signal, ahead), "noise": _panel_ic_t(noise, ahead)})
    assert t["signal"] > 10 and abs(t["noise"]) < 2
    out = ic_verdicts(t, 0.05)
    assert out["ic_verdict"].to_dict() == {"signal": "IC > 0", "noise": "not distinguishable from zero"}
    assert out.loc["noise", "ic_p_holm"] >= out.loc["noise", "ic_p"] > 0.05


def test_ic_verdicts_by_hand_holm_over_the_scorers():
    """t 2.1 alone: two-sided p = 2 * (1 - Phi(2.1)) = 0.0357 < 0.05, IC > 0. Beside t 0.1 (p 0.920), Holm
    doubles the smaller p: 0.0715, no longer below 0.05. t -5 is below zero in any family; NaN (a constant
    score) is undefined and not counted in the family."""
    alone = ic_verdicts(pd.Series({"a": 2.1}), 0.05)
    assert alone.loc["a", "ic_p"] == pytest.approx(0.035729, abs=1e-6)
    assert alone.loc["a", "ic_verdict"] == "IC > 0"
    pair = ic_verdicts(pd.Series({"a": 2.1, "b": 0.1, "naive": NAN}), 0.05)
    assert pair.loc["a", "ic_p_holm"] == pytest.approx(2 * 0.035729, abs=1e-6)
    assert pair["ic_verdict"].to_dict() == {"a": "not distinguishable from zero", "b": "not distinguishable from zero",
                                            "naive": "undefined"}
    assert ic_verdicts(pd.Series({"a": -5.0, "b": 0.1}), 0.05).loc["a", "ic_verdict"] == "IC < 0"
    assert ic_verdicts(pd.Series({"a": 2.1}), 0.01).loc["a", "ic_verdict"] == "not distinguishable from zero"


def test_earnable_return_is_from_the_next_fill_to_the_one_after_dated_at_the_decision_day():
    fill = pd.DataFrame({"A": [10.0, 11.0, 12.1, 12.1, NAN, 13.0], "B": [5.0, 4.0, 5.0, 6.0, 6.0, 3.0]})
    got = earnable_return(fill)
    # day 0's book buys at day 1's fill and is valued at day 2's: A 12.1 / 11 - 1 = 0.1, B 5 / 4 - 1 = 0.25
    assert got.loc[0].tolist() == pytest.approx([0.1, 0.25])
    assert np.isnan(got.loc[2, "A"]) and np.isnan(got.loc[3, "A"])  # no fill on day 4: no return across it
    assert got.loc[3, "B"] == pytest.approx(-0.5) and got.iloc[-2:].isna().all().all()
    two = earnable_return(fill, horizon=2)
    assert two.loc[0, "B"] == pytest.approx(6.0 / 4.0 - 1.0) and two.iloc[-3:].isna().all().all()
    with pytest.raises(ValueError, match="horizon must be at least 1 day. Got 0."):
        earnable_return(fill, horizon=0)


def test_the_rank_ic_is_tested_on_its_own_t_with_its_own_holm_family_and_names():
    """The issue's row: IC t 1.10 (p 0.27) beside rank IC t 3.12 (p 0.0018; with one other scorer at t 0.5,
    Holm doubles it to 0.0036): the IC is not distinguishable from zero, the rank IC is above it."""
    rows = {"reversal": {"ic": 0.0065, "rank_ic": 0.0218, "t_hac": 1.10, "rank_t_hac": 3.12},
            "lstm": {"ic": 0.001, "rank_ic": 0.002, "t_hac": 0.5, "rank_t_hac": 0.5},
            "naive": {"ic": NAN, "rank_ic": NAN, "t_hac": NAN, "rank_t_hac": NAN}}
    table = ic_table(rows, 0.05)
    assert table.index.name == "scorer"
    assert table.loc["reversal", "ic_verdict"] == "not distinguishable from zero"
    assert table.loc["reversal", "rank_ic_verdict"] == "rank IC > 0"
    assert table.loc["reversal", "rank_ic_p_holm"] == pytest.approx(2 * 2 * stats_sf(3.12), rel=1e-9)
    assert table["rank_ic_verdict"].to_dict()["naive"] == "undefined"
    assert ic_verdicts(pd.Series({"a": -5.0}), 0.05, "rank_ic").loc["a", "rank_ic_verdict"] == "rank IC < 0"
    with pytest.raises(ValueError, match="what must be 'ic' or 'rank_ic'. Got 'spread'."):
        ic_verdicts(pd.Series({"a": 1.0}), 0.05, "spread")


def stats_sf(t: float) -> float:
    """1 - Phi(t), from the error function (no scipy)."""
    return 0.5 * math.erfc(t / math.sqrt(2.0))


class TestHorizonIC:
    """The IC against an h-day return, its HAC t allowing for the overlap of consecutive days' returns."""

    def test_a_score_that_ranks_the_five_day_return_by_hand(self):
        # Fills of 4 stocks: A, B, C, D drift by +3, +1, -1, -3 % (log) a day, plus a wiggle of period 5 days
        # (amplitude 5 %, A and C against B and D) that upsets the one-day order and is back where it was 5 days on.
        days = pd.bdate_range("2021-01-01", periods=40)
        t = np.arange(40)[:, None]
        drift = np.array([0.03, 0.01, -0.01, -0.03])
        fill = pd.DataFrame(100.0 * np.exp(drift * t + 0.05 * np.sin(2 * np.pi * t / 5) * np.array([-1, 1, -1, 1])),
                            index=days, columns=list("ABCD"))
        score = pd.DataFrame(np.tile(drift, (40, 1)), index=days, columns=list("ABCD"))  # the drifts' order
        ahead5 = earnable_return(fill, 5)
        got = horizon_ic(score, ahead5, 5)
        # fill_{t+6} / fill_{t+1}: 5 days of drift and a wiggle that comes back to where it was: ranks A > B > C > D
        assert got["rank_ic_h"] == pytest.approx(1.0) and got["days_h"] == 40 - 6
        assert got["lags_h"] == max(newey_west_lags(34), 4) == 4
        one = daily_ic(score, earnable_return(fill, 1), method="rank")
        assert one.min() < 0.5  # the one-day return's order is upset by the wiggle on some days

    def test_the_t_is_statsmodels_hac_with_at_least_h_minus_one_lags(self):
        import statsmodels.api as sm

        rng = np.random.default_rng(5)
        days = pd.bdate_range("2021-01-01", periods=60)
        close = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.02, (60, 6)), axis=0)), index=days)
        score = pd.DataFrame(rng.normal(size=(60, 6)), index=days) + 5 * close.pct_change(fill_method=None)
        ahead = earnable_return(close, 20)
        got = horizon_ic(score, ahead, 20)
        assert got["lags_h"] == 19 > newey_west_lags(int(got["days_h"]))  # the overlap, not the rule, sets them
        ic = daily_ic(score, ahead).dropna()
        fit = sm.OLS(ic.to_numpy(), np.ones(len(ic))).fit(cov_type="HAC", cov_kwds={"maxlags": 19,
                                                                                     "use_correction": False})
        assert got["t_hac_h"] == pytest.approx(float(fit.tvalues[0]), rel=1e-9)
        assert got["ic_h"] == pytest.approx(ic.mean())
        with pytest.raises(ValueError, match="horizon must be at least 1 day. Got 0"):
            horizon_ic(score, ahead, 0)


def test_cumulative_returns_compound_and_a_missing_day_adds_nothing():
    daily = pd.DataFrame({"q1": [np.nan, 0.10, np.nan, -0.50], "q2": [0.02, 0.0, 0.0, 0.0]},
                         index=pd.bdate_range("2024-01-01", periods=4))
    out = cumulative_returns(daily)
    assert out["q1"].tolist() == pytest.approx([0.0, 0.10, 0.10, -0.45])  # 1.1 x 0.5 - 1, not a sum (-0.40)
    assert out["q2"].tolist() == pytest.approx([0.02] * 4)
