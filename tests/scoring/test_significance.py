"""The tests of significance, each against a hand computation, a published example or a constructed case."""

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from arch.bootstrap import SPA
from scipy import stats

from backtest.scoring.significance import (
    deflated_sharpe,
    diebold_mariano,
    expected_max_sharpe,
    hac_lags,
    holm,
    long_run_sd,
    model_confidence_set,
    newey_west_variance,
    probabilistic_sharpe,
    probability_of_backtest_overfitting,
    psr_from_moments,
    sharpe,
    spa_pvalue,
    superior_models,
    trial_variance,
)


def test_diebold_mariano_by_hand_on_a_named_series():
    # losses 4, 1, 4, 1 vs 1, 1, 1, 1: d = 3, 0, 3, 0; mean 1.5; centred +-1.5; gamma0 = 2.25,
    # gamma1 = 3 * (-2.25) / 4 = -1.6875. Lags 0: DM = 1.5 / sqrt(2.25 / 4) = 2, HLN * sqrt(3) / 2 -> sqrt(3).
    # Lags 1 (Bartlett weight 1/2): LRV = 2.25 - 1.6875 = 0.5625, DM = 1.5 / sqrt(0.5625 / 4) = 4 -> 2 sqrt(3).
    stat, p = diebold_mariano(np.array([4.0, 1, 4, 1]), np.ones(4), lags=0)
    assert stat == pytest.approx(math.sqrt(3))
    assert p == pytest.approx(2 * stats.t.sf(math.sqrt(3), df=3))
    assert diebold_mariano(np.array([4.0, 1, 4, 1]), np.ones(4), lags=1)[0] == pytest.approx(2 * math.sqrt(3))


def test_diebold_mariano_without_lags_is_the_paired_t_test():
    rng = np.random.default_rng(3)
    a, b = rng.normal(1.0, 1.0, 250) ** 2, rng.normal(0.9, 1.0, 250) ** 2
    stat, p = diebold_mariano(a, b, lags=0)
    t = stats.ttest_rel(a, b)
    assert stat == pytest.approx(t.statistic, rel=1e-12) and p == pytest.approx(t.pvalue, rel=1e-10)


LEVEL_LIKE_D = np.array([5.0, 7, 6, 9, 8, 8, 6, 2, -1, 0, 1, -2, -3, 0, 2, 4, 7, 9, 8, 10, 6, 3, 1, 2])  # runs of weeks


@pytest.mark.parametrize("lags", [0, 1, 3, 7])
def test_diebold_mariano_variance_is_statsmodels_hac_on_the_loss_differential(lags):
    """OLS of d on a constant with a Newey-West (Bartlett) covariance is the DM statistic before HLN; at
    h = 1 the HLN factor is sqrt((T - 1) / T)."""
    d, n = LEVEL_LIKE_D, len(LEVEL_LIKE_D)
    ols = sm.OLS(d, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    stat, p = diebold_mariano(d, np.zeros(n), lags=lags)
    assert stat == pytest.approx(float(ols.tvalues[0]) * math.sqrt((n - 1) / n), rel=1e-12)
    assert p == pytest.approx(2 * stats.t.sf(abs(stat), df=n - 1))
    assert newey_west_variance(d, lags) == pytest.approx(float(ols.bse[0]) ** 2 * n, rel=1e-12)


def test_diebold_mariano_takes_its_lags_from_the_documented_rule():
    d = LEVEL_LIKE_D  # T = 24, rho = 0.81: Andrews gives 9, Newey-West's floor 2, the ceiling floor(sqrt(24)) = 4
    assert hac_lags(d) == 4
    ols = sm.OLS(d, np.ones(len(d))).fit(cov_type="HAC", cov_kwds={"maxlags": 4})
    assert diebold_mariano(d, np.zeros(len(d)))[0] == pytest.approx(float(ols.tvalues[0]) * math.sqrt(23 / 24))


def test_hac_lags_grow_with_persistence_between_the_floor_and_the_ceiling():
    rng = np.random.default_rng(11)
    e = rng.normal(0, 1, 500)
    assert hac_lags(e) == math.floor(4 * 5 ** (2 / 9)) == 5  # uncorrelated: Newey and West's rule at T = 500
    ar = np.zeros(500)
    for i in range(1, 500):
        ar[i] = 0.8 * ar[i - 1] + e[i]
    rho = float(np.corrcoef(ar[1:], ar[:-1])[0, 1])
    andrews = math.floor(1.1447 * (4 * rho**2 / (1 - rho**2) ** 2 * 500) ** (1 / 3))
    assert 5 < andrews < 22 and abs(hac_lags(ar) - andrews) <= 1  # rho from the sample: corrcoef vs acf
    assert hac_lags(np.cumsum(e)) == 22  # a random walk: capped at floor(sqrt(500)), the bootstrap's block


def test_diebold_mariano_horizon_two_keeps_at_least_one_lag_and_its_hln_factor():
    d = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 6.0])
    c = d - d.mean()
    n = len(d)
    g0, g1 = c @ c / n, c[1:] @ c[:-1] / n
    expected = d.mean() / math.sqrt((g0 + 2 * 0.5 * g1) / n) * math.sqrt((n + 1 - 4 + 2 / n) / n)
    stat, _ = diebold_mariano(d, np.zeros(n), horizon=2, lags=0)
    assert stat == pytest.approx(expected)


def test_diebold_mariano_sign_and_degenerate_cases():
    worse, better = np.array([2.0, 3, 2, 4, 3]), np.array([1.0, 1, 1, 2, 1])
    assert diebold_mariano(worse, better)[0] > 0 and diebold_mariano(better, worse)[0] < 0
    assert all(math.isnan(v) for v in diebold_mariano(np.ones(5), np.ones(5)))  # identical losses
    assert all(math.isnan(v) for v in diebold_mariano(np.ones(2), np.zeros(2)))  # too short


def test_psr_and_dsr_reproduce_the_deflated_sharpe_ratio_paper():
    # Bailey and Lopez de Prado (2014), "The Deflated Sharpe Ratio", numerical example: N = 100 trials whose
    # annualised Sharpe ratios vary with variance 1/2, a best annualised Sharpe of 2.5 over T = 1250 daily
    # observations (250 a year) with skewness -3 and kurtosis 10. The paper reports SR0 = 0.1132 (per
    # period) and DSR = 0.9004.
    sr0 = expected_max_sharpe(0.5 / 250, 100)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = psr_from_moments(2.5 / math.sqrt(250), 1250, -3.0, 10.0, sr0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_psr_of_normal_returns_by_hand():
    # skew 0, kurtosis 3: PSR = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 + SR^2 / 2))
    sr, n = 0.1, 500
    assert psr_from_moments(sr, n, 0.0, 3.0, 0.0) == pytest.approx(
        stats.norm.cdf(sr * math.sqrt(n - 1) / math.sqrt(1 + sr**2 / 2)))
    assert psr_from_moments(sr, n, 0.0, 3.0, sr) == pytest.approx(0.5)


def test_probabilistic_sharpe_uses_the_series_moments():
    r = np.array([0.01, -0.02, 0.015, 0.003, -0.004, 0.02, 0.001, -0.01])
    expected = psr_from_moments(r.mean() / r.std(ddof=1), len(r), stats.skew(r), stats.kurtosis(r, fisher=False), 0.05)
    assert probabilistic_sharpe(r, 0.05) == pytest.approx(expected)
    assert math.isnan(probabilistic_sharpe(np.zeros(10), 0.0))  # flat: no Sharpe ratio


def test_deflated_sharpe_falls_with_the_number_of_trials():
    rng = np.random.default_rng(0)
    r = rng.normal(0.001, 0.01, 1000)
    few, many = rng.normal(0, 0.03, 5), rng.normal(0, 0.03, 200)
    assert deflated_sharpe(r, many) < deflated_sharpe(r, few) < probabilistic_sharpe(r, 0.0)
    assert deflated_sharpe(r, np.array([sharpe(r)])) == pytest.approx(probabilistic_sharpe(r, 0.0))  # one trial


def test_pbo_is_near_zero_when_one_strategy_is_better_in_every_block():
    rng = np.random.default_rng(1)
    returns = rng.normal(0, 0.01, (1600, 10))
    returns[:, 3] += 0.01  # better everywhere: the in-sample best, and first out of sample too
    result = probability_of_backtest_overfitting(returns, 16)
    assert result.splits == 12870 and result.pbo < 0.01


def test_pbo_is_near_one_half_for_pure_noise():
    values = [probability_of_backtest_overfitting(np.random.default_rng(s).normal(0, 0.01, (800, 20)), 8).pbo
              for s in range(8)]
    assert 0.35 < np.mean(values) < 0.65


def test_pbo_trims_the_first_rows_and_refuses_too_little_data():
    rng = np.random.default_rng(2)
    returns = rng.normal(0, 0.01, (165, 4))
    full = probability_of_backtest_overfitting(returns, 16)
    trimmed = probability_of_backtest_overfitting(returns[5:], 16)  # 165 = 16 * 10 + 5: the first 5 are dropped
    assert full.pbo == trimmed.pbo
    assert math.isnan(probability_of_backtest_overfitting(returns[:20], 16).pbo)


def test_spa_and_mcs_are_identical_on_reruns_with_the_same_seed():
    rng = np.random.default_rng(4)
    losses = pd.DataFrame(rng.normal(1.0, 0.3, (300, 4)) ** 2, columns=["naive", "a", "b", "c"])
    runs = [spa_pvalue(losses["naive"].to_numpy(), losses[["a", "b", "c"]].to_numpy(), 300, 7) for _ in range(2)]
    assert runs[0] == runs[1]
    m1, m2 = (model_confidence_set(losses, 0.1, 300, 7) for _ in range(2))
    assert m1.equals(m2) and list(m1.index) == ["naive", "a", "b", "c"]


def test_spa_finds_a_clearly_better_model_and_not_a_worse_one():
    rng = np.random.default_rng(5)
    bench = rng.normal(1.0, 0.2, 500) ** 2
    assert spa_pvalue(bench, (bench * 0.5)[:, None] + rng.normal(0, 0.01, (500, 1)), 500, 0) < 0.01
    assert spa_pvalue(bench, (bench * 1.5)[:, None], 500, 0) == 1.0  # a worse model: no model ahead at all


def test_mcs_drops_a_clearly_worse_model_and_is_nan_when_undefined():
    rng = np.random.default_rng(6)
    base = rng.normal(1.0, 0.3, 400) ** 2
    losses = pd.DataFrame({"good": base, "also": base + rng.normal(0, 0.05, 400), "bad": base * 3})
    p = model_confidence_set(losses, 0.1, 500, 0)
    assert p["bad"] < 0.1 and p["good"] > 0.1
    constant = pd.DataFrame({"a": base, "b": base + 1.0})  # losses differ by a constant: no test statistic
    assert model_confidence_set(constant, 0.1, 100, 0).isna().all()


def test_long_run_sd_is_the_one_arch_computes_for_its_spa():
    rng = np.random.default_rng(8)
    d = rng.normal(0, 1, (250, 3)).cumsum(axis=0) * 0.01 + rng.normal(0, 1, (250, 3))  # autocorrelated columns
    spa = SPA(np.zeros(250), -d, block_size=15, reps=10, seed=0)
    spa._compute_variance()  # arch's own estimate (private, so pinned here rather than relied on)
    assert long_run_sd(d, 15) == pytest.approx(np.sqrt(spa._loss_diff_var), rel=1e-9)


def test_spa_is_studentized_so_a_noisy_candidate_cannot_hide_a_better_model():
    """Hansen's statistic is the largest t-like ratio: a model with t ~ 14 is found even beside a candidate
    that is the benchmark plus loud noise (arch's raw-mean statistic missed it 11 times in 12)."""
    found = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        bench = rng.normal(1.0, 0.2, 1000) ** 2
        good = bench - 0.05 + rng.normal(0, 0.1, 1000)
        noisy = bench + rng.normal(0, 3.0, 1000)
        found += spa_pvalue(bench, np.column_stack([good, noisy]), 300, seed) < 0.05
    assert found == 6


def test_a_copy_of_the_benchmark_is_no_evidence_either_way():
    """A rule that is always long is buy-and-hold: its advantage is 0 every day, which arch counts as a
    rejection (p = 0). It is left out; alone it gives p = 1."""
    rng = np.random.default_rng(9)
    bench = rng.normal(1.0, 0.2, 400) ** 2
    assert spa_pvalue(bench, bench[:, None], 200, 0) == 1.0
    worse = bench * 1.5
    assert spa_pvalue(bench, np.column_stack([bench, worse]), 200, 0) == 1.0
    assert superior_models(bench, pd.DataFrame({"copy": bench, "worse": worse}), 0.05, 200, 0) == []


def test_stepm_names_the_better_model_and_not_the_lucky_ones():
    rng = np.random.default_rng(10)
    bench = rng.normal(1.0, 0.3, 800) ** 2
    losses = pd.DataFrame({"good": bench - 0.1 + rng.normal(0, 0.05, 800)})
    for k in range(8):  # as good as the benchmark, each with its own noise
        losses[f"same{k}"] = bench + rng.normal(0, 0.3, 800)
    assert superior_models(bench, losses, 0.05, 300, 0) == ["good"]


def test_holm_adjusts_like_statsmodels_and_keeps_nan():
    p = np.array([0.01, np.nan, 0.04, 0.03])
    adjusted = holm(p)
    assert np.isnan(adjusted[1])
    assert adjusted[[0, 2, 3]] == pytest.approx([0.03, 0.06, 0.06])  # 3 x 0.01; 2 x 0.03; max(1 x 0.04, 0.06)


@pytest.mark.parametrize("seed", range(5))
def test_holm_equals_statsmodels_with_ties_and_values_near_one(seed):
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(seed)
    p = np.round(rng.uniform(0, 1, 12) ** 3, 2)  # many small ones, ties from the rounding, some adjusted past 1
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1], abs=1e-15)


def test_a_trial_that_never_moved_counts_as_sharpe_zero_in_the_variance():
    assert trial_variance(np.array([0.1, np.nan, -0.1])) == pytest.approx(np.var([0.1, 0.0, -0.1], ddof=1))
    assert trial_variance(np.array([0.2])) == 0.0


def test_a_constant_column_ranks_as_sharpe_zero_in_pbo_whatever_its_level():
    """Sums of squares lose digits; the old absolute cut-off gave a constant 1e-4 a Sharpe of ~1e8."""
    from backtest.scoring.significance import _block_sharpes
    for level in (1e-4, 2e-4, 3e-4, 7e-5):
        r = np.full((160, 1), level)
        assert _block_sharpes(r.sum(axis=0)[None], (r**2).sum(axis=0)[None], 160)[0, 0] == 0.0


def _arch_draws(z: np.ndarray, reps: int, seed: int) -> tuple[SPA, np.ndarray]:
    """arch's SPA on studentized advantages and its consistent recentred draws (reps, K); private, pinned here."""
    spa = SPA(np.zeros(len(z)), -z, block_size=int(math.sqrt(len(z))), reps=reps, seed=seed)
    spa.compute()
    return spa, spa._simulated_vals[:, :, 1].T


def _trailing_candidates() -> tuple[np.ndarray, np.ndarray]:
    """A benchmark and three candidates that each trail it (t = -4.8, -2.4 and -0.6)."""
    rng = np.random.default_rng(12)
    bench = rng.normal(1.0, 0.3, 600) ** 2
    return bench, bench[:, None] + 0.02 + rng.normal(0, 0.3, (600, 3))


def test_spa_pvalue_is_hansens_when_every_candidate_trails():
    """Hansen: T = max(0, max_k t_k), T*_b = max(0, max_k recentred draw), p = share of draws with T* >= T.
    Every t_k < 0 puts T on the atom at 0, so p = 1; arch 8.0 drops the floor and reports less."""
    bench, models = _trailing_candidates()
    d = bench[:, None] - models
    z = d / long_run_sd(d, int(math.sqrt(600)))
    assert (z.mean(axis=0) < 0).all()
    spa, draws = _arch_draws(z, 500, 3)
    hansen = float(np.mean(np.maximum(draws.max(axis=1), 0.0) >= max(0.0, float(z.mean(axis=0).max()))))
    assert spa_pvalue(bench, models, 500, 3) == hansen == 1.0
    assert spa.pvalues["consistent"] == pytest.approx(0.714)  # arch's unfloored figure, which this test tells apart
    assert np.mean(draws.max(axis=1) > 0) == pytest.approx(0.442)  # the strict reading at the atom


def test_spa_pvalue_is_archs_draw_for_draw_while_a_candidate_leads():
    rng = np.random.default_rng(13)
    bench = rng.normal(1.0, 0.3, 600) ** 2
    models = bench[:, None] + np.array([-0.02, 0.01, 0.03]) + rng.normal(0, 0.3, (600, 3))
    d = bench[:, None] - models
    z = d / long_run_sd(d, int(math.sqrt(600)))
    assert z.mean(axis=0).max() > 0
    spa, draws = _arch_draws(z, 500, 4)
    hansen = float(np.mean(np.maximum(draws.max(axis=1), 0.0) >= float(z.mean(axis=0).max())))
    assert spa_pvalue(bench, models, 500, 4) == float(spa.pvalues["consistent"]) == pytest.approx(hansen)
    assert 0.0 < hansen < 1.0


def test_a_clearly_trailing_set_does_not_reject_no_superiority():
    """With every candidate far behind, none is recentred and no draw rises above 0: Hansen's p is 1
    (the strict inequality would give 0, i.e. "some model is better" because all are much worse)."""
    rng = np.random.default_rng(14)
    bench = rng.normal(1.0, 0.2, 500) ** 2
    assert spa_pvalue(bench, (bench * 1.05)[:, None] + rng.normal(0, 0.05, (500, 3)), 500, 0) == 1.0


def test_pbo_counts_tied_in_sample_bests_by_share_on_a_named_matrix():
    """Two blocks of two days. Block 0: a and b identical (Sharpe sqrt(2)), c 1/sqrt(2), d -1/sqrt(2); block 1:
    a sqrt(2), b 0, c 5/sqrt(2), d -sqrt(2).
    Split 1 (in sample block 0): a and b tie; out of sample ranks d 1, b 2, a 3, c 4 of N + 1 = 5:
    w_a = 3/5 (above the median), w_b = 2/5 (at or below): the split counts 1/2, its logit the mean 0.
    Split 2 (in sample block 1): c; out of sample d 1, c 2, a and b 3.5 each: w_c = 2/5, counts 1.
    PBO = (1/2 + 1) / 2 = 0.75, however the tie in block 0 is nudged (argmax gave 0.5 or 1.0)."""
    r = np.array([[0.01, 0.01, 0.000, -0.02],
                  [0.03, 0.03, 0.010, 0.00],
                  [0.01, -0.01, 0.020, -0.03],
                  [0.03, 0.01, 0.030, -0.01]])
    for nudge in (0.0, 1e-12, -1e-12):
        bumped = r.copy()
        bumped[:2, 1] += nudge
        result = probability_of_backtest_overfitting(bumped, 2)
        assert result.pbo == 0.75 and result.splits == 2
        assert result.logits == pytest.approx(sorted([0.0, math.log(2 / 3)], reverse=True), abs=1e-9)


def _equity_with_copies(seed: int) -> pd.DataFrame:
    """Four strategies of their own and two that trade alike every day from different capital (1.37, 0.53)."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0.0005, 0.01, 640)
    r = np.column_stack([rng.normal(0.0003, 0.01, (640, 4)), shared, shared])
    return pd.DataFrame(np.cumprod(1 + r, axis=0) * np.array([1, 1, 1, 1, 1.37, 0.53]))


@pytest.mark.parametrize("seed", [0, 3, 8])
def test_pbo_does_not_move_when_the_returns_move_by_rounding(seed):
    """The same equity read as v / v.shift() - 1 or (v - v.shift()) / v.shift() (1e-16 apart), or nudged by
    1e-12: the two alike strategies tie in every split. argmax split them by the last bits (seed 0: PBO 0.877,
    0.867, 0.806 and, for the bit-for-bit copies, 0.910)."""
    v = _equity_with_copies(seed)
    ratio = (v / v.shift() - 1).iloc[1:].to_numpy()
    difference = ((v - v.shift()) / v.shift()).iloc[1:].to_numpy()
    noise = np.random.default_rng(99).normal(0, 1e-12, ratio.shape)
    exact = ratio.copy()
    exact[:, 5] = exact[:, 4]  # the alike strategies made bit-for-bit equal
    values = {probability_of_backtest_overfitting(x, 16).pbo for x in (ratio, difference, ratio + noise, exact)}
    assert len(values) == 1


def test_pbo_ranks_count_ties_as_a_brute_force_comparison_does():
    from backtest.scoring.significance import _relative_ranks
    rng = np.random.default_rng(15)
    sharpes = np.round(rng.normal(0, 1, (300, 9)), 1)  # many exact and near ties
    tolerance = np.full((300, 1), 0.1 + 1e-9)
    gap = sharpes[:, None, :] - sharpes[:, :, None]
    below = (gap < -tolerance[:, :, None]).sum(axis=2)
    tied = (np.abs(gap) <= tolerance[:, :, None]).sum(axis=2)
    assert np.array_equal(_relative_ranks(sharpes, tolerance), (below + (tied + 1) / 2) / 10)
    distinct = rng.normal(0, 1, (50, 7))
    assert _relative_ranks(distinct, np.zeros((50, 1))) == pytest.approx(stats.rankdata(distinct, axis=1) / 8)


def test_sharpe_difference_agrees_with_jobson_korkie_memmel_on_normal_returns():
    """On independent normal returns Ledoit-Wolf's HAC delta method (no lags) has Memmel's variance:
    (2 - 2 rho + (SR_a^2 + SR_b^2 - 2 SR_a SR_b rho^2) / 2) / T."""
    from backtest.scoring.significance import sharpe_difference

    rho, t = 0.5, 20_000
    draws = np.random.default_rng(0).multivariate_normal([0.05, 0.02], [[1, rho], [rho, 1]], t)
    a, b = draws[:, 0], draws[:, 1]
    sr_a, sr_b = a.mean() / a.std(), b.mean() / b.std()
    memmel = math.sqrt((2 - 2 * rho + 0.5 * (sr_a**2 + sr_b**2 - 2 * sr_a * sr_b * rho**2)) / t)
    z, p = sharpe_difference(a, b, lags=0)
    assert (sr_a - sr_b) / z == pytest.approx(memmel, rel=0.01)
    assert p == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert sharpe_difference(b, a, lags=0) == pytest.approx((-z, p))  # swapping the runs flips the sign only


@pytest.mark.parametrize("b", [lambda a: 2 * a, lambda a: np.zeros_like(a), lambda a: a[:2]])
def test_sharpe_difference_is_nan_when_undefined(b):
    """The same Sharpe on every draw (a multiple), a flat series, or too few days: no test."""
    from backtest.scoring.significance import sharpe_difference

    a = np.array([0.01, -0.02, 0.015, 0.0, 0.004, -0.003])
    z, p = sharpe_difference(a[:2], b(a)) if len(b(a)) == 2 else sharpe_difference(a, b(a))
    assert math.isnan(z) and math.isnan(p)
