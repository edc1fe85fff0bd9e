"""The tests of significance, each against a hand computation, a published example or a constructed case."""

import math

import numpy as np
import pandas as pd
import pytest
from arch.bootstrap import SPA
from scipy import stats

from backtest.scoring.significance import (
    deflated_sharpe,
    diebold_mariano,
    expected_max_sharpe,
    holm,
    long_run_sd,
    model_confidence_set,
    probabilistic_sharpe,
    probability_of_backtest_overfitting,
    psr_from_moments,
    sharpe,
    spa_pvalue,
    superior_models,
    trial_variance,
)


def test_diebold_mariano_by_hand_on_a_named_series():
    # losses 4, 1, 4, 1 vs 1, 1, 1, 1: d = 3, 0, 3, 0; mean 1.5; gamma0 = sum((d - 1.5)^2) / 4 = 2.25
    # DM = 1.5 / sqrt(2.25 / 4) = 2; HLN at h = 1: * sqrt((4 + 1 - 2) / 4) = sqrt(3)/2 -> sqrt(3)
    stat, p = diebold_mariano(np.array([4.0, 1, 4, 1]), np.ones(4))
    assert stat == pytest.approx(math.sqrt(3))
    assert p == pytest.approx(2 * stats.t.sf(math.sqrt(3), df=3))


def test_diebold_mariano_at_horizon_one_is_the_paired_t_test():
    rng = np.random.default_rng(3)
    a, b = rng.normal(1.0, 1.0, 250) ** 2, rng.normal(0.9, 1.0, 250) ** 2
    stat, p = diebold_mariano(a, b)
    t = stats.ttest_rel(a, b)
    assert stat == pytest.approx(t.statistic, rel=1e-12) and p == pytest.approx(t.pvalue, rel=1e-10)


def test_diebold_mariano_horizon_two_adds_the_first_autocovariance():
    d = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 6.0])
    c = d - d.mean()
    n = len(d)
    g0, g1 = c @ c / n, c[1:] @ c[:-1] / n
    expected = d.mean() / math.sqrt((g0 + 2 * g1) / n) * math.sqrt((n + 1 - 4 + 2 / n) / n)
    stat, _ = diebold_mariano(d, np.zeros(n), horizon=2)
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
    assert spa_pvalue(bench, (bench * 1.5)[:, None], 500, 0) > 0.2  # no rejection (a worse model sits near 0.5)


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
    assert spa_pvalue(bench, np.column_stack([bench, worse]), 200, 0) > 0.2
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


def test_a_trial_that_never_moved_counts_as_sharpe_zero_in_the_variance():
    assert trial_variance(np.array([0.1, np.nan, -0.1])) == pytest.approx(np.var([0.1, 0.0, -0.1], ddof=1))
    assert trial_variance(np.array([0.2])) == 0.0


def test_a_constant_column_ranks_as_sharpe_zero_in_pbo_whatever_its_level():
    """Sums of squares lose digits; the old absolute cut-off gave a constant 1e-4 a Sharpe of ~1e8."""
    from backtest.scoring.significance import _block_sharpes
    for level in (1e-4, 2e-4, 3e-4, 7e-5):
        r = np.full((160, 1), level)
        assert _block_sharpes(r.sum(axis=0)[None], (r**2).sum(axis=0)[None], 160)[0, 0] == 0.0
