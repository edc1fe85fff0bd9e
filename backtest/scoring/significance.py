"""When is a difference real? Tests of forecasts against the naive forecast and of strategies against
buy-and-hold, as small functions over arrays.

Forecasts
    Diebold-Mariano with the Harvey-Leybourne-Newbold small-sample correction (one model against a
    benchmark); Hansen's superior predictive ability (SPA) test of all models against a benchmark
    together, and the model confidence set (Hansen, Lunde and Nason), both from ``arch.bootstrap``.
Strategies
    Probabilistic Sharpe ratio (Bailey and Lopez de Prado 2012), deflated Sharpe ratio (Bailey and Lopez
    de Prado 2014), SPA of strategy returns against buy-and-hold, and the probability of backtest
    overfitting by combinatorially symmetric cross-validation (Bailey, Borwein, Lopez de Prado and Zhu 2017).

Sharpe ratios here are per period (daily), not annualised, as the formulas need them. Too little data
gives NaN rather than an exception, as in the other metrics.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from arch.bootstrap import MCS, SPA, StepM
from scipy import stats
from statsmodels.stats.multitest import multipletests

EULER_GAMMA = 0.5772156649015329


def diebold_mariano(loss_model: np.ndarray, loss_benchmark: np.ndarray, horizon: int = 1) -> tuple[float, float]:
    """Diebold-Mariano test of equal expected loss, with the Harvey-Leybourne-Newbold correction.

    Parameters
    ----------
    loss_model, loss_benchmark : np.ndarray
        Losses (e.g. squared errors) of the two forecasts on the same days.
    horizon : int
        Forecast horizon h; the loss differences' autocovariances up to lag h - 1 enter the variance.

    Returns
    -------
    (statistic, p_value)
        The corrected statistic (negative: the model's loss is lower) and its two-sided p-value from
        Student's t with T - 1 degrees of freedom. At h = 1 this is the paired t-test of the losses.
        NaN for fewer than 3 days or identical losses.
    """
    d = np.asarray(loss_model, dtype=float) - np.asarray(loss_benchmark, dtype=float)
    n = len(d)
    if n < 3:
        return math.nan, math.nan
    centred = d - d.mean()
    gamma = [float(centred @ centred) / n]
    gamma += [float(centred[k:] @ centred[:-k]) / n for k in range(1, horizon)]
    variance = (gamma[0] + 2.0 * sum(gamma[1:])) / n
    if not variance > 0:
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


def spa_pvalue(loss_benchmark: np.ndarray, loss_models: np.ndarray, reps: int, seed: int) -> float:
    """Hansen's SPA test: p-value (consistent) of "no model has lower expected loss than the benchmark".

    ``loss_models`` is (T, K). Studentized advantages, stationary bootstrap with block length sqrt(T),
    seeded. 1.0 when no model's loss differs from the benchmark's.
    """
    loss_models = np.asarray(loss_models, dtype=float).reshape(len(loss_benchmark), -1)
    if len(loss_benchmark) < 10 or loss_models.shape[1] == 0:
        return math.nan
    z, _, always_ahead = _studentized_advantages(loss_benchmark, loss_models)
    if always_ahead.any():
        return 0.0
    if z.shape[1] == 0:
        return 1.0
    spa = SPA(np.zeros(len(z)), -z, block_size=_block_length(len(z)), reps=reps, seed=seed)
    spa.compute()
    return float(spa.pvalues["consistent"])


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
    """Holm's step-down adjustment of p-values (NaN stays NaN): family-wise error control over a run's models."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, math.nan)
    finite = np.isfinite(p)
    if finite.any():
        out[finite] = multipletests(p[finite], method="holm")[1]
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


@dataclass
class PBOResult:
    pbo: float  # share of splits whose in-sample best ranks at or below the median out of sample
    logits: np.ndarray  # (C,) logit of the in-sample best's relative out-of-sample rank, per split
    splits: int


def _block_sharpes(sums: np.ndarray, squares: np.ndarray, count: int) -> np.ndarray:
    """Per-split Sharpe ratios from summed returns and squared returns over ``count`` rows: (C, N)."""
    mean = sums / count
    variance = np.maximum(squares - count * mean**2, 0.0) / (count - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sr = mean / np.sqrt(variance)
    # a strategy that never moves ranks as Sharpe 0; the cut-off is relative, as the sums lose digits
    moves = variance > 1e-10 * squares / count
    return np.where(moves, sr, 0.0)


def probability_of_backtest_overfitting(returns: np.ndarray, blocks: int = 16) -> PBOResult:
    """PBO by combinatorially symmetric cross-validation over a (T days x N strategies) return matrix.

    The rows are cut into ``blocks`` equal blocks (the first T mod blocks rows are dropped). For every
    choice of half the blocks as in-sample, the strategy with the best in-sample Sharpe is ranked among all
    strategies out of sample (on the other half): w = rank / (N + 1), logit = log(w / (1 - w)). PBO is the
    share of splits with logit <= 0, i.e. where the in-sample best is at or below the out-of-sample median.
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
    best = inside.argmax(axis=1)  # (C,)
    ranks = stats.rankdata(outside, axis=1)  # 1 = worst out of sample; ties share their average rank
    w = ranks[np.arange(len(best)), best] / (n + 1)
    logits = np.log(w / (1 - w))
    return PBOResult(float(np.mean(logits <= 0)), logits, len(best))
