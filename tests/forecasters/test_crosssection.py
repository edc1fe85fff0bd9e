"""Universe baselines and targets on a named close panel, and their look-ahead property."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasters.crosssection import above_median_target, naive_scores, next_return, reversal_scores

NAN = np.nan
DAYS = pd.bdate_range("2024-01-01", periods=4)
# E joins on day 1; F stops after day 2; G has a one-day gap
CLOSE = pd.DataFrame({"A": [10.0, 11.0, 12.1, 12.1], "B": [20.0, 19.0, 19.0, 22.8], "E": [NAN, 5.0, 4.0, 5.0],
                      "F": [8.0, 8.8, 8.8, NAN], "G": [4.0, NAN, 5.0, 5.5]}, index=DAYS)


def test_reversal_is_minus_the_last_return():
    r = reversal_scores(CLOSE)
    assert r.iloc[0].isna().all()
    np.testing.assert_allclose(r.iloc[1].to_numpy(), [-0.1, 0.05, NAN, -0.1, NAN])
    np.testing.assert_allclose(r.iloc[2].to_numpy(), [-0.1, 0.0, 0.2, 0.0, NAN])  # G: no bridging of the gap
    np.testing.assert_allclose(r.iloc[3].to_numpy(), [0.0, -0.2, -0.25, NAN, -0.1])


def test_naive_is_zero_where_priced():
    n = naive_scores(CLOSE)
    assert n.iloc[1].tolist()[:4] == [0.0, 0.0, 0.0, 0.0] and np.isnan(n.loc[DAYS[1], "G"])
    assert n.isna().equals(CLOSE.isna())


def test_next_return_is_dated_at_the_decision_day():
    ahead = next_return(CLOSE)
    np.testing.assert_allclose(ahead.iloc[0].to_numpy(), [0.1, -0.05, NAN, 0.1, NAN])
    assert ahead.iloc[-1].isna().all()
    pd.testing.assert_frame_equal(ahead, -reversal_scores(CLOSE).shift(-1))


def test_above_median_counts_only_the_names_with_a_next_return():
    t = above_median_target(CLOSE)
    # day 0 returns: A 0.1, B -0.05, F 0.1; median 0.1: A and F equal it, so nothing is above
    assert t.iloc[0].tolist()[:2] == [0.0, 0.0] and t.loc[DAYS[0], "F"] == 0.0
    # day 1: A 0.1, B 0.0, E -0.2, F 0.0; median 0.0: A only
    assert t.iloc[1].fillna(-1).tolist() == [1.0, 0.0, 0.0, 0.0, -1.0]
    # day 2: A 0, B 0.2, E 0.25, G 0.1 (F stopped); median 0.15: B and E
    assert t.iloc[2].fillna(-1).tolist() == [0.0, 1.0, 1.0, -1.0, 0.0]
    assert t.iloc[3].isna().all()


def _altered(close: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    after = close.index > cut
    out = close.copy()
    out.loc[after] = close.loc[after] * rng.uniform(0.5, 1.5, size=close.loc[after].shape)
    return out


@pytest.mark.parametrize("build", [naive_scores, reversal_scores])
def test_a_score_dated_up_to_the_cut_never_sees_a_later_price(build):
    rng = np.random.default_rng(11)
    close = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.02, (40, 6)), axis=0)),
                         index=pd.bdate_range("2024-01-01", periods=40), columns=list("UVWXYZ"))
    cut = close.index[25]
    before, after = build(close), build(_altered(close, cut))
    pd.testing.assert_frame_equal(before.loc[:cut], after.loc[:cut])
    if build is reversal_scores:
        assert not before.loc[cut:].iloc[1:].equals(after.loc[cut:].iloc[1:])  # the alteration is visible


@pytest.mark.parametrize("build", [next_return, above_median_target])
def test_a_label_dated_before_the_cut_uses_prices_up_to_the_cut(build):
    rng = np.random.default_rng(12)
    close = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.02, (40, 6)), axis=0)),
                         index=pd.bdate_range("2024-01-01", periods=40), columns=list("UVWXYZ"))
    cut = close.index[25]
    before, after = build(close), build(_altered(close, cut))
    early = before.index < cut
    pd.testing.assert_frame_equal(before.loc[early], after.loc[early])
    if build is next_return:
        assert not before.loc[cut].equals(after.loc[cut])  # dated at the cut, it uses the day after
