"""When is a difference real? Tests of forecasts against the naive forecast and of strategies against
buy-and-hold, as small functions over arrays.

Forecasts
    Diebold-Mariano with a Newey-West (HAC) long-run variance and the Harvey-Leybourne-Newbold
    small-sample correction (one model against a benchmark); Hansen's superior predictive ability (SPA)
    test of all models against a benchmark together (Hansen's p-value on ``arch.bootstrap``'s draws), and
    the model confidence set (Hansen, Lunde and Nason, ``arch.bootstrap``).
Strategies
    Probabilistic Sharpe ratio (Bailey and Lopez de Prado 2012), deflated Sharpe ratio (Bailey and Lopez
    de Prado 2014), SPA of strategy returns against buy-and-hold, the probability of backtest
    overfitting by combinatorially symmetric cross-validation (Bailey, Borwein, Lopez de Prado and Zhu 2017),
    and the difference of two strategies' Sharpe ratios (Ledoit and Wolf 2008, HAC), for `wfbt compare`.

Sharpe ratios here are per period (daily), not annualised, as the formulas need them. Too little data
gives NaN rather than an exception, as in the other metrics.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from arch.bootstrap import MCS, StationaryBootstrap, StepM
from scipy import stats

EULER_GAMMA = 0.5772156649015329


def newey_west_lags(n: int) -> int:
    """Newey & West's (1994) automatic lag rule, ``floor(4 (n / 100) ** (2 / 9))``: 4 lags for 100 or 250
    days, 5 for 500, 6 for 750 to 1,000, 7 for 1,250 (statsmodels' default)."""
    return int(math.floor(4 * (max(n, 0) / 100) ** (2 / 9)))


def hac_lags(d: np.ndarray) -> int:
    """The Newey-West (Bartlett) lag for the long-run variance of ``d``: Andrews' (1991) AR(1) plug-in
    bandwidth, floor(1.1447 (a T)^(1/3)) with a = 4 rho^2 / (1 - rho^2)^2 and rho the lag-1 autocorrelation,
    kept between Newey and West's (1994) floor(4 (T / 100)^(2/9)) and floor(sqrt(T)).

    The plug-in grows with the persistence of ``d`` (a level model off by a fold's drift for weeks: rho
    near 1), which a fixed rule cannot; the floor keeps the usual lag when ``d`` looks uncorrelated at lag 1;
    the ceiling is the mean block length of the bootstrap behind SPA and the MCS, beyond which a Bartlett
    estimate loses more to its downward bias than it gains and the t reference is too bold.
    """
    d = np.asarray(d, dtype=float)
    t = len(d)
    if t < 3:
        return 0
    c = d - d.mean()
    denominator = float(c @ c)
    rho = float(c[1:] @ c[:-1]) / denominator if denominator > 0 else 0.0
    rho = min(max(rho, -0.99), 0.99)
    alpha = 4 * rho**2 / (1 - rho**2) ** 2
    andrews = math.floor(1.1447 * (alpha * t) ** (1 / 3))
    return int(min(max(andrews, newey_west_lags(t)), math.floor(math.sqrt(t)), t - 1))


def newey_west_variance(d: np.ndarray, lags: int) -> float:
    """Long-run variance of ``d`` (the variance of sqrt(T) times its mean): autocovariances (divided by T)
    up to ``lags`` with Bartlett weights 1 - k / (lags + 1), as statsmodels' ``cov_type="HAC"``."""
    c = np.asarray(d, dtype=float) - np.mean(d)
    n = len(c)
    gamma = [float(c[k:] @ c[:n - k]) / n for k in range(min(lags, n - 1) + 1)]
    return gamma[0] + 2.0 * sum((1 - k / (lags + 1)) * g for k, g in enumerate(gamma) if k)


def diebold_mariano(loss_model: np.ndarray, loss_benchmark: np.ndarray, horizon: int = 1, *,
                    lags: int | None = None) -> tuple[float, float]:
    """Diebold-Mariano test of equal expected loss, with a HAC variance and the Harvey-Leybourne-Newbold
    correction.

    Parameters
    ----------
    loss_model, loss_benchmark : np.ndarray
        Losses (e.g. squared errors) of the two forecasts on the same days.
    horizon : int
        Forecast horizon h: it sets the HLN factor and the fewest lags (h - 1) of the variance.
    lags : int or None
        Bartlett lags of the Newey-West long-run variance of the loss differences; None: ``hac_lags``.
        ``lags=0`` (with h = 1) is the paired t-test of the losses.

    Returns
    -------
    (statistic, p_value)
        mean(d) / sqrt(LRV / T), d = model - benchmark, times the HLN factor sqrt((T + 1 - 2h + h(h - 1) / T)
        / T), and its two-sided p-value from Student's t with T - 1 degrees of freedom. Negative: the
        model's loss is lower. NaN for fewer than 3 days or a loss difference that does not vary.
    """
    d = np.asarray(loss_model, dtype=float) - np.asarray(loss_benchmark, dtype=float)
    n = len(d)
    if n < 3:
        return math.nan, math.nan
    lags = max(hac_lags(d) if lags is None else lags, horizon - 1)
    variance = newey_west_variance(d, lags) / n
    if not variance > 1e-24 * float(np.mean(d**2)):
        return math.nan, math.nan
    dm = d.mean() / math.sqrt(variance)
    correction = math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    statistic = float(dm * correction)
    return statistic, float(2.0 * stats.t.sf(abs(statistic), df=n - 1))


def long_run_sd(d: np.ndarray, block_size: int) -> np.ndarray:
    """Per column, the standard deviation of sqrt(T) times the mean of ``d`` (T x K): the stationary
    bootstrap's kernel estimate over all autocovariances (Politis and Romano 1994), as arch's SPA computes
    it for its consistency threshold."""
    t = len(d)
    centred = d - d.mean(axis=0)
    n = 1 << (2 * t - 1).bit_length()
    spectrum = np.fft.rfft(centred, n=n, axis=0)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), n=n, axis=0)[:t] / t  # (T, K): lags 0 .. T - 1
    lag = np.arange(1, t)
    q = 1.0 - 1.0 / block_size
    kappa = (1 - lag / t) * q**lag + (lag / t) * q ** (t - lag)
    variance = acov[0] + 2.0 * (kappa[:, None] * acov[1:]).sum(axis=0)
    return np.sqrt(np.maximum(variance, 0.0))


def _block_length(days: int) -> int:
    """The stationary bootstrap's mean block length, sqrt(T) as arch's default; the same for the sd and SPA."""
    return max(int(math.sqrt(days)), 1)


def _studentized_advantages(loss_benchmark: np.ndarray, loss_models: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Advantages benchmark - model (T, K'), each divided by its long-run sd; the (K,) mask of those kept;
    and the (K,) mask of columns better than the benchmark on every day by the same amount.

    Hansen's SPA statistic is the largest *studentized* mean advantage; arch's ``SPA`` takes the largest raw
    mean, so one noisy candidate can mask a clearly better one. Dividing first gives Hansen's statistic.
    A column whose advantage never varies cannot be studentized: a copy of the benchmark (a rule that is
    always long is buy-and-hold) carries no evidence either way and is left out (arch would count it as a
    rejection); one ahead by a constant every day is better without a test.
    """
    d = np.asarray(loss_benchmark, dtype=float)[:, None] - np.asarray(loss_models, dtype=float)
    sd = long_run_sd(d, _block_length(len(d)))
    scale = np.abs(d).mean(axis=0)
    keep = sd > 1e-9 * scale
    always_ahead = ~keep & (d.mean(axis=0) > 1e-9 * scale)
    return d[:, keep] / sd[keep], keep, always_ahead


def _hansen_consistent_pvalue(z: np.ndarray, reps: int, seed: int) -> float:
    """Hansen's (2005) consistent SPA p-value of studentized advantages ``z`` (T, K), on the same stationary
    bootstrap draws as arch's ``SPA`` (same block length, seed and recentring).

    Hansen's statistic is T_SPA = max(0, max_k mean z_k), each draw's max(0, max_k (mean z*_k - mu_k)), mu_k
    the mean of z_k where it is within sqrt(2 log log T / T) long-run sds of 0 and 0 where it is clearly
    below; the p-value is P*(T* >= T_SPA). While some candidate leads (T_SPA > 0) that is arch 8.0's
    p-value, draw for draw. When every candidate trails, T_SPA = 0 sits on the atom at 0 of T*'s
    distribution and the p-value is 1: the data show no model ahead. arch drops the floor, so it reports
    P*(max_k ... > max_k mean z_k) there, a larger statistic's p-value below 1; reading Hansen's formula
    with a strict inequality at the atom would give P*(any recentred draw above 0), which falls to 0 as the
    candidates trail further, i.e. rejects "none is better" because all are much worse.
    """
    t = len(z)
    block = _block_length(t)
    mean = z.mean(axis=0)
    threshold = -long_run_sd(z, block) * math.sqrt(2 * math.log(math.log(t)) / t)
    recentre = np.where(mean >= threshold, mean, 0.0)
    draws = StationaryBootstrap(block, z, seed=seed).bootstrap(reps)
    simulated = np.array([float((data[0].mean(axis=0) - recentre).max()) for data, _ in draws])
    statistic = float(mean.max())
    return 1.0 if statistic <= 0 else float(np.mean(simulated > statistic))


def spa_pvalue(loss_benchmark: np.ndarray, loss_models: np.ndarray, reps: int, seed: int) -> float:
    """Hansen's SPA test: p-value (consistent) of "no model has lower expected loss than the benchmark".

    ``loss_models`` is (T, K). Studentized advantages, stationary bootstrap with block length sqrt(T),
    seeded; Hansen's statistic max(0, max_k t_k), so a set in which every model trails gets Hansen's
    p-value 1, not arch's smaller figure (``_hansen_consistent_pvalue``). 1.0 when no model's loss differs
    from the benchmark's.
    """
    loss_models = np.asarray(loss_models, dtype=float).reshape(len(loss_benchmark), -1)
    if len(loss_benchmark) < 10 or loss_models.shape[1] == 0:
        return math.nan
    z, _, always_ahead = _studentized_advantages(loss_benchmark, loss_models)
    if always_ahead.any():
        return 0.0
    if z.shape[1] == 0:
        return 1.0
    return _hansen_consistent_pvalue(z, reps, seed)


def superior_models(loss_benchmark: np.ndarray, loss_models: pd.DataFrame, level: float, reps: int,
                    seed: int) -> list[str]:
    """The columns of ``loss_models`` with lower expected loss than the benchmark, by Romano and Wolf's
    stepwise SPA (``arch.bootstrap.StepM`` on studentized advantages): the family-wise error rate over all
    columns is at most ``level``, so one lucky model among many is not named."""
    if len(loss_benchmark) < 10 or loss_models.shape[1] == 0:
        return []
    z, keep, always_ahead = _studentized_advantages(loss_benchmark, loss_models.to_numpy(dtype=float))
    found = {str(m) for m in loss_models.columns[always_ahead]}
    if z.shape[1]:
        step = StepM(np.zeros(len(z)), pd.DataFrame(-z, columns=loss_models.columns[keep]), size=level,
                     block_size=_block_length(len(z)), reps=reps, seed=seed)
        step.compute()
        found |= {str(m) for m in step.superior_models}
    return [str(m) for m in loss_models.columns if str(m) in found]


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of p-values (NaN stays NaN): family-wise error control over a run's models.

    The i-th smallest of m p-values times (m - i), made non-decreasing in that order and capped at 1: what
    statsmodels' ``multipletests(p, method="holm")[1]`` returns (a test checks them equal), written out because
    that call runs a full ``gc.collect()`` each time, 0.1 to 0.7 s in a process holding a run's data.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, math.nan)
    finite = np.isfinite(p)
    if finite.any():
        q = p[finite]
        order = np.argsort(q, kind="stable")
        stepped = np.maximum.accumulate(q[order] * np.arange(len(q), 0, -1))
        adjusted = np.empty(len(q))
        adjusted[order] = np.minimum(stepped, 1.0)
        out[finite] = adjusted
    return out


def _degenerate(losses: pd.DataFrame) -> bool:
    """True when two columns' loss differences do not vary (identical forecasts): the MCS statistic is 0/0."""
    values = losses.to_numpy(dtype=float)
    diffs = values[:, :, None] - values[:, None, :]  # (T, K, K)
    spread = diffs.std(axis=0)
    off_diagonal = ~np.eye(values.shape[1], dtype=bool)
    # relative to the losses' size: a token priced at 3e-5 has squared errors near 1e-12, and they still differ
    return bool((spread[off_diagonal] <= 1e-12 * np.abs(values).mean() + 1e-300).any())


def model_confidence_set(losses: pd.DataFrame, size: float, reps: int, seed: int) -> pd.Series:
    """MCS p-value of every column of ``losses`` (T x models); a model is in the set when p > size.

    NaN for every model when the set cannot be computed: fewer than 10 days or 2 models, or two forecasts
    whose losses differ by a constant (the test's statistic is then undefined).
    """
    if len(losses) < 10 or losses.shape[1] < 2 or _degenerate(losses):
        return pd.Series(math.nan, index=losses.columns)
    mcs = MCS(losses.astype(float), size=size, reps=reps, seed=seed)
    mcs.compute()
    return mcs.pvalues["Pvalue"].reindex(losses.columns)


def sharpe(returns: np.ndarray) -> float:
    """Per-period Sharpe ratio, mean / standard deviation (ddof 1); NaN for flat or too-short series."""
    r = np.asarray(returns, dtype=float)
    if len(r) < 2:
        return math.nan
    sd = r.std(ddof=1)
    return float(r.mean() / sd) if sd > 0 else math.nan


def psr_from_moments(sr: float, n: int, skew: float, kurtosis: float, sr_benchmark: float) -> float:
    """Probabilistic Sharpe ratio: P[true SR > sr_benchmark] given an observed per-period ``sr``.

    ``kurtosis`` is Pearson's (3 for a normal distribution). Bailey and Lopez de Prado (2012), eq. (9).
    """
    if not (math.isfinite(sr) and math.isfinite(sr_benchmark)) or n < 2:
        return math.nan
    denominator = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2
    if not denominator > 0:
        return math.nan
    return float(stats.norm.cdf((sr - sr_benchmark) * math.sqrt(n - 1) / math.sqrt(denominator)))


def probabilistic_sharpe(returns: np.ndarray, sr_benchmark: float) -> float:
    """PSR of a return series against a per-period benchmark Sharpe ratio."""
    r = np.asarray(returns, dtype=float)
    if len(r) < 3 or not r.std() > 0:
        return math.nan
    return psr_from_moments(sharpe(r), len(r), float(stats.skew(r)), float(stats.kurtosis(r, fisher=False)),
                            sr_benchmark)


def expected_max_sharpe(variance: float, trials: int) -> float:
    """SR0: the expected maximum of ``trials`` per-period Sharpe ratios of zero-skill strategies whose
    estimates vary with ``variance`` (Bailey and Lopez de Prado 2014, eq. (2)). 0 for a single trial."""
    if trials <= 1:
        return 0.0
    if not math.isfinite(variance) or variance < 0:
        return math.nan
    z = ((1 - EULER_GAMMA) * stats.norm.ppf(1 - 1 / trials)
         + EULER_GAMMA * stats.norm.ppf(1 - 1 / (trials * math.e)))
    return float(math.sqrt(variance) * z)


def trial_variance(trial_sharpes: np.ndarray) -> float:
    """Variance (ddof 1) of the trials' per-period Sharpe ratios; a trial that never moved (NaN Sharpe)
    counts as Sharpe 0, so the trials counted and the trials in the variance are the same set."""
    sharpes = np.nan_to_num(np.asarray(trial_sharpes, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    return float(sharpes.var(ddof=1)) if len(sharpes) > 1 else 0.0


def deflated_sharpe(returns: np.ndarray, trial_sharpes: np.ndarray) -> float:
    """Deflated Sharpe ratio: PSR against SR0, the best Sharpe expected by luck among the trials.

    ``trial_sharpes`` are the per-period Sharpe ratios of every strategy tried (this one included); their
    count is the number of trials and their variance (``trial_variance``) the variance across trials.
    """
    sharpes = np.asarray(trial_sharpes, dtype=float)
    return probabilistic_sharpe(returns, expected_max_sharpe(trial_variance(sharpes), len(sharpes)))


def sharpe_difference(returns_a: np.ndarray, returns_b: np.ndarray, lags: int | None = None) -> tuple[float, float]:
    """Test of equal Sharpe ratios of two strategies traded on the same days: Ledoit and Wolf's (2008) HAC
    delta method.

    The difference of the per-period Sharpe ratios is a smooth function of the means and uncentred second
    moments of the two return series; its variance is the gradient through the Newey-West (Bartlett)
    long-run covariance of those four moments (statsmodels' ``S_hac_simple``), so fat tails, skew and
    autocorrelated returns (a strategy out of the market for weeks) are allowed, unlike Jobson-Korkie and
    Memmel's correction, which assume independent normal returns.

    Parameters
    ----------
    returns_a, returns_b : np.ndarray
        Per-period returns of the two strategies on the same days.
    lags : int or None
        Bartlett lags; None: ``newey_west_lags`` of the number of days.

    Returns
    -------
    (z, p_value)
        (SR_a - SR_b) / its standard error and the two-sided normal p-value. Positive: A's Sharpe is
        higher. NaN for fewer than 3 days, a flat series, or a difference whose variance is 0.
    """
    from statsmodels.stats.sandwich_covariance import S_hac_simple

    r = np.column_stack([np.asarray(returns_a, dtype=float), np.asarray(returns_b, dtype=float)])  # (T, 2)
    t = len(r)
    if t < 3:
        return math.nan, math.nan
    mu, gamma = r.mean(axis=0), (r**2).mean(axis=0)
    var = gamma - mu**2
    if not (var > 0).all():
        return math.nan, math.nan
    moments = np.column_stack([r - mu, r**2 - gamma])  # (T, 4): a, b, a^2, b^2
    psi = S_hac_simple(moments, nlags=newey_west_lags(t) if lags is None else lags) / t
    grad = np.array([gamma[0] / var[0] ** 1.5, -gamma[1] / var[1] ** 1.5,
                     -mu[0] / (2 * var[0] ** 1.5), mu[1] / (2 * var[1] ** 1.5)])
    se = math.sqrt(max(float(grad @ psi @ grad), 0.0) / t)
    diff = float(mu[0] / math.sqrt(var[0]) - mu[1] / math.sqrt(var[1]))
    if not se > 1e-12:  # the same Sharpe on every draw (one series a multiple of the other)
        return math.nan, math.nan
    z = diff / se
    return float(z), float(2.0 * stats.norm.sf(abs(z)))


@dataclass
class PBOResult:
    pbo: float  # share of splits whose in-sample best ranks at or below the median out of sample
    logits: np.ndarray  # (C,) logit of the in-sample best's relative out-of-sample rank, per split
    splits: int


# Sharpe ratios closer than this, relative to the Sharpe scale of the split (the larger of its largest |SR| and
# 1 / sqrt(days), the standard error of a Sharpe ratio near 0), are ties. Strategies that trade alike for weeks
# differ by rounding (1e-16) or by a perturbation of the returns (1e-12 moves a daily Sharpe by ~1e-10); a real
# difference of 1e-6 of the Sharpe's standard error is not something a choice by Sharpe can see either.
PBO_TIE_RTOL = 1e-6
# A strategy whose daily returns vary by less than this (in return units) does not move: its Sharpe is 0.
PBO_FLAT_SD = 1e-9


def _block_sharpes(sums: np.ndarray, squares: np.ndarray, count: int) -> np.ndarray:
    """Per-split Sharpe ratios from summed returns and squared returns over ``count`` rows: (C, N)."""
    mean = sums / count
    variance = np.maximum(squares - count * mean**2, 0.0) / (count - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sr = mean / np.sqrt(variance)
    # a strategy that never moves ranks as Sharpe 0; the cut-off is relative, as the sums lose digits, and
    # absolute, so that a flat strategy nudged by 1e-12 does not get the Sharpe ratio of its rounding noise
    moves = (variance > 1e-10 * squares / count) & (variance > PBO_FLAT_SD**2)
    return np.where(moves, sr, 0.0)


def _tie_tolerance(inside: np.ndarray, outside: np.ndarray, count: int) -> np.ndarray:
    """(C, 1) distance below which two Sharpe ratios of a split are a tie (see ``PBO_TIE_RTOL``)."""
    largest = np.maximum(np.abs(inside).max(axis=1), np.abs(outside).max(axis=1))
    return PBO_TIE_RTOL * np.maximum(largest, 1.0 / math.sqrt(count))[:, None]


def _count_below(values: np.ndarray, queries: np.ndarray, inclusive: bool) -> np.ndarray:
    """(C, M): per row, how many of ``values`` (C, N) lie below each of ``queries`` (C, M), or at or below
    when ``inclusive``; by one stable sort of both per row (C x (N + M) memory, not C x N x M)."""
    merged = np.concatenate([values, queries] if inclusive else [queries, values], axis=1)
    place = np.argsort(np.argsort(merged, axis=1, kind="stable"), axis=1, kind="stable")
    own = np.argsort(np.argsort(queries, axis=1, kind="stable"), axis=1, kind="stable")
    return (place[:, values.shape[1]:] if inclusive else place[:, :queries.shape[1]]) - own


def _relative_ranks(outside: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """(C, N) out-of-sample rank / (N + 1) of every strategy, 1 = worst; strategies within ``tolerance`` of
    one another share their average rank (below + (tied + 1) / 2, itself counted among the tied)."""
    below = _count_below(outside, outside - tolerance, inclusive=False)
    tied = _count_below(outside, outside + tolerance, inclusive=True) - below
    return (below + (tied + 1) / 2) / (outside.shape[1] + 1)


def probability_of_backtest_overfitting(returns: np.ndarray, blocks: int = 16) -> PBOResult:
    """PBO by combinatorially symmetric cross-validation over a (T days x N strategies) return matrix.

    The rows are cut into ``blocks`` equal blocks (the first T mod blocks rows are dropped). For every
    choice of half the blocks as in-sample, the strategy with the best in-sample Sharpe is ranked among all
    strategies out of sample (on the other half): w = rank / (N + 1), logit = log(w / (1 - w)). PBO is the
    share of splits with logit <= 0, i.e. where the in-sample best is at or below the out-of-sample median.

    Ties are ties on both sides, to ``PBO_TIE_RTOL`` of the split's Sharpe scale: out of sample, tied
    strategies share their average rank; in sample, when several strategies tie for the best, each is the
    choice with equal weight, so a split counts the share of its tied bests at or below the median (the PBO
    a random tie-break gives on average) and its logit is their mean. The result does not move when the
    returns move by rounding.
    """
    r = np.asarray(returns, dtype=float)
    t, n = r.shape
    if blocks % 2 or blocks < 2 or n < 2 or t < 2 * blocks:
        return PBOResult(math.nan, np.zeros(0), 0)
    size = t // blocks
    r = np.nan_to_num(r[t - size * blocks:]).reshape(blocks, size, n)
    sums, squares = r.sum(axis=1), (r**2).sum(axis=1)  # (S, N)
    chosen = np.array([[b in c for b in range(blocks)]
                       for c in itertools.combinations(range(blocks), blocks // 2)], dtype=float)  # (C, S)
    half = size * blocks // 2
    inside = _block_sharpes(chosen @ sums, chosen @ squares, half)  # (C, N)
    outside = _block_sharpes((1 - chosen) @ sums, (1 - chosen) @ squares, half)
    tolerance = _tie_tolerance(inside, outside, half)  # (C, 1)
    best = inside >= inside.max(axis=1, keepdims=True) - tolerance  # (C, N): the tied in-sample bests
    w = _relative_ranks(outside, tolerance)
    logit = np.log(w / (1 - w))
    weight = best / best.sum(axis=1, keepdims=True)  # (C, N): 1 / (number tied) on each tied best
    overfit = (weight * (logit <= 0)).sum(axis=1)
    return PBOResult(float(overfit.mean()), (weight * logit).sum(axis=1), len(chosen))
