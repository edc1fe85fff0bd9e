"""wfbt's cross-sectional figures against alphalens-reloaded's on the same scores and prices.

alphalens dates a forward return at t as ``prices_{t+1} / prices_t - 1``; handing it the opens shifted back a
day (``open.shift(-1)``, the price a book dated t fills at) makes its 1-day forward return wfbt's
``earnable_return`` (open t+1 -> open t+2), as alphalens' docs advise for factors traded at the next open.
On a full panel (every name scored every day, 20 names in 5 groups of 4) the two agree to 1e-10:
alphalens' IC (Spearman, per day) is wfbt's rank IC; its mean return by quantile (pooled over (day, name)
pairs) is wfbt's mean of daily group means, equal when every day has the same count per group; its factor
rank autocorrelation and quantile turnover are wfbt's, and so are its cumulative returns by quantile (not
demeaned). Where the definitions differ, the test pins it.
"""

import warnings

import alphalens
import numpy as np
import pandas as pd
import pytest

from backtest.scoring.crosssection import (
    cumulative_returns,
    daily_ic,
    decile_returns,
    earnable_return,
    quantile_labels,
    quantile_turnover,
    rank_autocorrelation,
)

DAYS, NAMES, BINS = 120, 20, 5
TOL = 1e-10  # float rounding only: the same definitions on the same numbers


@pytest.fixture(scope="module")
def panel():
    rng = np.random.default_rng(31)
    days = pd.bdate_range("2024-01-01", periods=DAYS)
    names = [f"S{i:02d}" for i in range(NAMES)]
    open_ = pd.DataFrame(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (DAYS, NAMES)), axis=0)),
                         index=days, columns=names)
    ahead = earnable_return(open_)
    persistent = pd.DataFrame(rng.normal(size=(DAYS, NAMES)), index=days, columns=names).rolling(5, 1).mean()
    scores = (ahead.fillna(0.0) * 50.0 + persistent).iloc[:-2]  # some skill, some persistence; no score w/o return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        factor = scores.stack()
        factor.index.names = ["date", "asset"]
        data = alphalens.utils.get_clean_factor_and_forward_returns(
            factor, open_.shift(-1), quantiles=BINS, periods=(1,), filter_zscore=None, max_loss=1.0)
    return scores, ahead.reindex(scores.index), data


def test_alphalens_forward_return_is_the_earnable_return(panel):
    scores, ahead, data = panel
    theirs = data["1D"].unstack()
    assert np.allclose(theirs.to_numpy(), ahead.loc[theirs.index, theirs.columns].to_numpy(), atol=TOL)


def test_alphalens_ic_is_wfbts_rank_ic_not_its_pearson_ic(panel):
    scores, ahead, data = panel
    theirs = alphalens.performance.factor_information_coefficient(data)["1D"]
    rank, pearson = daily_ic(scores, ahead, method="rank"), daily_ic(scores, ahead)
    assert np.allclose(theirs.to_numpy(), rank.loc[theirs.index].to_numpy(), atol=TOL)
    # pinned difference: alphalens has no Pearson IC; wfbt's "IC" is Pearson and differs from alphalens' IC
    assert abs(pearson.loc[theirs.index] - theirs).max() > 1e-3


def test_mean_quantile_returns_agree_with_equal_counts(panel):
    scores, ahead, data = panel
    theirs = alphalens.performance.mean_return_by_quantile(data, demeaned=False)[0]["1D"]
    ours = decile_returns(scores, ahead, bins=BINS).loc[data.index.get_level_values(0).unique()].mean()
    assert np.allclose(theirs.to_numpy(), ours.to_numpy(), atol=TOL)
    # alphalens demeans by default (each day's mean return subtracted): the spread is the same, the levels not
    demeaned = alphalens.performance.mean_return_by_quantile(data)[0]["1D"]
    assert demeaned.iloc[-1] - demeaned.iloc[0] == pytest.approx(ours.iloc[-1] - ours.iloc[0], abs=TOL)


def test_cumulative_returns_by_quantile_agree_not_demeaned(panel):
    """alphalens' plot_cumulative_returns_by_quantile: each quantile's daily mean return compounded from 1."""
    scores, ahead, data = panel

    def compounded(demeaned):
        daily = alphalens.performance.mean_return_by_quantile(data, by_date=True, demeaned=demeaned)[0]["1D"]
        return daily.unstack("factor_quantile").apply(alphalens.performance.cumulative_returns) - 1.0

    theirs = compounded(False)
    ours = cumulative_returns(decile_returns(scores, ahead, bins=BINS)).loc[theirs.index]
    assert np.allclose(theirs.to_numpy(), ours.to_numpy(), atol=TOL)
    assert abs(ours.iloc[-1, -1] - ours.iloc[-1, 0]) > 0.1  # the skill term spreads the curves: not all near 0
    # pinned difference: alphalens' full tear sheet (long_short=True) compounds the demeaned returns instead
    assert (compounded(True) - theirs).abs().to_numpy().max() > 1e-2


def test_factor_rank_autocorrelation_agrees(panel):
    scores, _, data = panel
    theirs = alphalens.performance.factor_rank_autocorrelation(data, period=1)
    ours = rank_autocorrelation(scores).loc[theirs.index]
    assert np.isnan(ours.iloc[0]) and np.isnan(theirs.iloc[0])
    assert np.allclose(theirs.iloc[1:].to_numpy(), ours.iloc[1:].to_numpy(), atol=TOL)
    assert 0.2 < ours.mean() < 0.9  # the 5-day mean carries part of the ranking over, the daily skill term not


@pytest.mark.parametrize("quantile", [1, BINS])
def test_top_and_bottom_quantile_turnover_agree(panel, quantile):
    scores, _, data = panel
    theirs = alphalens.performance.quantile_turnover(data["factor_quantile"], quantile, period=1)
    ours = quantile_turnover(scores, quantile, bins=BINS).loc[theirs.index]
    assert np.allclose(theirs.iloc[1:].to_numpy(), ours.iloc[1:].to_numpy(), atol=TOL)
    assert 0.0 < ours.mean() < 1.0


TIED = ["S0", "S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9"]


def _tied_panel(rows):
    """Scores (rows of 10 names) and rising prices two days longer, as alphalens takes them."""
    days = pd.bdate_range("2024-01-01", periods=len(rows) + 2)
    prices = pd.DataFrame(100.0 + np.arange(len(days) * 10).reshape(len(days), 10), index=days, columns=TIED)
    scores = pd.DataFrame(rows, index=days[: len(rows)], columns=TIED, dtype=float)
    factor = scores.stack()
    factor.index.names = ["date", "asset"]
    return scores, factor, prices


def _alphalens_quantiles(factor, prices, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = alphalens.utils.get_clean_factor_and_forward_returns(
            factor, prices, quantiles=5, periods=(1,), filter_zscore=None, **kw)
    return data["factor_quantile"].unstack()


def test_tied_scores_alphalens_drops_a_day_tied_across_an_edge_and_empties_a_quantile_otherwise():
    distinct, tied_inside = list(range(1, 11)), [1, 2, 2, 2, 3, 4, 5, 6, 7, 8]
    tied_across = [1, 1, 1, 2, 3, 4, 5, 6, 7, 8]
    scores, factor, prices = _tied_panel([distinct, tied_inside, tied_across])
    theirs = _alphalens_quantiles(factor, prices, max_loss=1.0)
    assert list(theirs.index) == list(scores.index[:2])  # the day whose three 1s straddle the first edge is gone
    assert theirs.iloc[0].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert theirs.iloc[1].tolist() == [1, 1, 1, 1, 3, 3, 4, 4, 5, 5]  # the three 2s join quantile 1; 2 is empty
    ours = quantile_labels(scores, bins=5)
    for day in range(3):  # wfbt: equal counts every day, ties broken by symbol name
        assert ours.iloc[day].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_a_constant_score_loses_every_day_in_alphalens_and_quantize_factor_raises():
    scores, factor, prices = _tied_panel([[5.0] * 10] * 3)
    with pytest.raises(alphalens.utils.MaxLossExceededError, match=r"exceeded 100\.0%"):
        _alphalens_quantiles(factor, prices)  # the default max_loss (35 %)
    data = alphalens.utils.compute_forward_returns(factor, prices, periods=(1,))
    data["factor"] = factor
    with pytest.raises(ValueError, match="Bin edges must be unique"):
        alphalens.utils.quantize_factor(data, quantiles=5)
    assert quantile_labels(scores, bins=5).iloc[0].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]  # naive's placebo
