"""Cross-sectional scores: information coefficients, decile returns and their HAC t-statistics.

Every function takes panels indexed by decision day with one column per symbol: a *score* known at
day t's close and a *return ahead*, dated t. The return a score is judged on is the one a book dated t
can earn (:func:`earnable_return`: bought at t+1's fill, valued at t+2's fill); the close-to-close
return from t to t+1 (``forecasters.crosssection.next_return``) is a reading beside it, no book earns it.
A day's cross-section is the names present (not NaN) in both. Too little data gives NaN, never an exception.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from backtest.scoring.significance import holm, newey_west_lags, newey_west_variance

MIN_NAMES = 3  # a correlation over two names is +-1 by construction: no information
IC_ABOVE, IC_BELOW, IC_SAME, IC_UNDEFINED = "IC > 0", "IC < 0", "not distinguishable from zero", "undefined"
RANK_IC_ABOVE, RANK_IC_BELOW = "rank IC > 0", "rank IC < 0"


def earnable_return(fill: pd.DataFrame, horizon: int = 1) -> pd.DataFrame:
    """The return a book dated t can earn: from t+1's fill price to the fill price ``horizon`` days later.

    Weights decided at t's close are filled at t+1's open (or at t+1's close when the file has closes only)
    and held to the next fill, so ``fill`` is the open panel (or the close panel) and the return dated t is
    ``fill_{t+1+h} / fill_{t+1} - 1``. qlib's label skips the first day for the same reason
    (``Ref($close, -2) / Ref($close, -1) - 1``).

    Parameters
    ----------
    fill : pd.DataFrame
        Fill prices (days x symbols); NaN = no fill that day.
    horizon : int, default 1
        Days held.

    Returns
    -------
    pd.DataFrame
        Same labels; NaN on the last ``horizon + 1`` rows and wherever either fill price is missing.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 day. Got {horizon}.")
    return fill.shift(-1 - horizon) / fill.shift(-1) - 1.0


def daily_ic(scores: pd.DataFrame, ahead: pd.DataFrame, method: Literal["pearson", "rank"] = "pearson",
             ) -> pd.Series:
    """Per day, the correlation across names between the score and the next return.

    Parameters
    ----------
    scores : pd.DataFrame
        Score panel (days x symbols).
    ahead : pd.DataFrame
        Next-return panel, same labels (the union of both is used; a name missing from either is out).
    method : {"pearson", "rank"}, default "pearson"
        ``"pearson"`` is the IC; ``"rank"`` is the rank IC (Spearman: Pearson over the day's ranks,
        ties given their average rank).

    Returns
    -------
    pd.Series
        IC by day; NaN on a day with fewer than 3 common names or a constant score or return.
    """
    if method not in ("pearson", "rank"):
        raise ValueError(f"method must be 'pearson' or 'rank'. Got {method!r}.")
    x, y = _common(scores, ahead)
    if method == "rank":
        x, y = x.rank(axis=1), y.rank(axis=1)
    x, y = x.sub(x.mean(axis=1), axis=0), y.sub(y.mean(axis=1), axis=0)
    cov = (x * y).sum(axis=1)
    scale = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    ic = (cov / scale.where(scale > 0)).where(x.notna().sum(axis=1) >= MIN_NAMES)
    return ic.rename("rank_ic" if method == "rank" else "ic")


def hac_t(series: pd.Series, lags: int | None = None) -> tuple[float, int]:
    """t-statistic of a series' mean with a Newey-West (HAC, Bartlett kernel) variance.

    The variance is ``significance.newey_west_variance``, the one Bartlett estimate the Diebold-Mariano
    test uses too (statsmodels' ``cov_type="HAC"`` without the small-sample correction):
    ``var(mean) = (g0 + 2 sum_j (1 - j / (L + 1)) g_j) / n`` with
    ``g_j`` the j-th autocovariance of the demeaned series (divided by n).

    Parameters
    ----------
    series : pd.Series
        Daily values (NaN days dropped).
    lags : int, optional
        Bartlett lags L; default :func:`newey_west_lags` of the number of days.

    Returns
    -------
    tuple of (float, int)
        The t-statistic (NaN with fewer than 3 days or no variance) and the lags used.
    """
    values = series.dropna().to_numpy(dtype=float)
    lags = newey_west_lags(len(values)) if lags is None else lags
    if len(values) < 3 or np.ptp(values) == 0:
        return float("nan"), lags
    return float(values.mean() / math.sqrt(newey_west_variance(values, lags) / len(values))), lags


def ic_summary(ic: pd.Series, lags: int | None = None) -> dict[str, float]:
    """Mean, standard deviation, ICIR, share of positive days and HAC t of a daily IC series.

    Parameters
    ----------
    ic : pd.Series
        Daily IC or rank IC (:func:`daily_ic`); NaN days are left out of everything.
    lags : int, optional
        Bartlett lags for the t-statistic; default :func:`newey_west_lags`.

    Returns
    -------
    dict
        ``mean``, ``std`` (ddof = 1), ``icir`` = mean / std per day (not annualised: multiply by
        sqrt(252) for a yearly figure), ``positive`` (share of days with IC > 0), ``t_hac``, ``lags``
        and ``days``. NaN where too few days.
    """
    values = ic.dropna()
    std = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
    mean = float(values.mean()) if len(values) else float("nan")
    t, used = hac_t(values, lags)
    return {"mean": mean, "std": std, "icir": mean / std if std > 0 else float("nan"),
            "positive": float((values > 0).mean()) if len(values) else float("nan"),
            "t_hac": t, "lags": float(used), "days": float(len(values))}


def horizon_ic(scores: pd.DataFrame, ahead: pd.DataFrame, horizon: int) -> dict[str, float]:
    """IC and rank IC against an h-day return, with HAC t-statistics that allow for the days' overlap.

    Consecutive days' h-day returns share h - 1 days, so the daily IC is autocorrelated up to lag h - 1 even
    with no skill: the Newey-West t takes ``max(newey_west_lags(days), horizon - 1)`` lags.

    Parameters
    ----------
    scores : pd.DataFrame
        Score panel (days x symbols).
    ahead : pd.DataFrame
        The h-day return dated t (:func:`earnable_return` with ``horizon``), same labels.
    horizon : int
        h, the days the return spans (>= 1).

    Returns
    -------
    dict
        ``ic_h``, ``rank_ic_h`` (means of the daily IC and rank IC), ``t_hac_h``, ``rank_t_hac_h``, ``lags_h``
        (the lags both t's used; NaN with fewer than 3 days, when there is no t) and ``days_h`` (days with an IC).
        NaN where too few days.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 day. Got {horizon}.")
    ic, rank_ic = daily_ic(scores, ahead), daily_ic(scores, ahead, method="rank")
    days = int(ic.notna().sum())
    lags = max(newey_west_lags(days), horizon - 1)
    a, b = ic_summary(ic, lags), ic_summary(rank_ic, lags)
    return {"ic_h": a["mean"], "rank_ic_h": b["mean"], "t_hac_h": a["t_hac"], "rank_t_hac_h": b["t_hac"],
            "lags_h": float(lags) if days >= 3 else float("nan"), "days_h": float(days)}


def ic_verdicts(t_hac: pd.Series, level: float, what: Literal["ic", "rank_ic"] = "ic") -> pd.DataFrame:
    """Each scorer's mean IC tested against zero: two-sided p of its HAC t, Holm-adjusted over the scorers.

    The t-statistic (:func:`hac_t`) is read against the standard normal (the days are many: hundreds out of
    sample). Holm's step-down adjustment (``significance.holm``) runs over the scorers with a t (a constant
    score, such as naive's, has none and is left out of the family), because a run reports every scorer's
    IC at once: one of five noise scorers passes an unadjusted 5 % test a fifth of the time.

    Parameters
    ----------
    t_hac : pd.Series
        HAC t-statistic of the daily IC per scorer (NaN: undefined).
    level : float
        The run's significance level (statistics.significance).
    what : {"ic", "rank_ic"}, default "ic"
        Which coefficient the t belongs to: it names the columns and the verdicts ("rank IC > 0").

    Returns
    -------
    pd.DataFrame
        Same index; ``ic_p`` (two-sided), ``ic_p_holm`` and ``ic_verdict``: "IC > 0" or "IC < 0" when the
        adjusted p is below ``level``, else "not distinguishable from zero"; "undefined" without a t. With
        ``what="rank_ic"``: ``rank_ic_p``, ``rank_ic_p_holm``, ``rank_ic_verdict``, "rank IC > 0" / "< 0".
    """
    if what not in ("ic", "rank_ic"):
        raise ValueError(f"what must be 'ic' or 'rank_ic'. Got {what!r}.")
    above, below = (IC_ABOVE, IC_BELOW) if what == "ic" else (RANK_IC_ABOVE, RANK_IC_BELOW)
    t = t_hac.astype(float).to_numpy()
    p = np.where(np.isfinite(t), 2.0 * stats.norm.sf(np.abs(t)), np.nan)
    adjusted = holm(p)
    verdict = [IC_UNDEFINED if not np.isfinite(a) else (above if x > 0 else below) if a < level else IC_SAME
               for x, a in zip(t, adjusted, strict=True)]
    return pd.DataFrame({f"{what}_p": p, f"{what}_p_holm": adjusted, f"{what}_verdict": verdict}, index=t_hac.index)


def ic_table(rows: dict[str, dict[str, float]], level: float) -> pd.DataFrame:
    """Scorer rows of IC figures (``t_hac`` of the IC, ``rank_t_hac`` of the rank IC) with both tested against
    zero (:func:`ic_verdicts`, Holm over the scorers for each); index named ``scorer``."""
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("scorer")
    return table.join(ic_verdicts(table["t_hac"], level)).join(ic_verdicts(table["rank_t_hac"], level, "rank_ic"))


def decile_returns(scores: pd.DataFrame, ahead: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Mean next return of each score quantile (1 = lowest scores), day by day.

    Each day the common names are sorted by score (ties by symbol name) and cut into ``bins`` groups
    of equal count with ``pd.qcut`` over their order, so tied scores never make empty or merged
    groups. A day with fewer names than ``bins`` gives a row of NaN (left out of the averages).

    Parameters
    ----------
    scores, ahead : pd.DataFrame
        Score and next-return panels (days x symbols).
    bins : int, default 10
        Number of groups (10 = deciles).

    Returns
    -------
    pd.DataFrame
        Days x groups 1..bins, the mean next return of each group.
    """
    x, y = _common(scores, ahead)
    x = x.reindex(columns=sorted(x.columns))
    order = x.rank(axis=1, method="first")
    rows = {day: _bin_means(order.loc[day], y.loc[day], bins) for day in x.index}
    return pd.DataFrame.from_dict(rows, orient="index", columns=range(1, bins + 1)).reindex(x.index)


def quantile_labels(scores: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Each name's score quantile per day (1 = lowest scores), cut as :func:`decile_returns` cuts.

    Parameters
    ----------
    scores : pd.DataFrame
        Score panel (days x symbols).
    bins : int, default 10
        Number of groups of equal count (ties by symbol name).

    Returns
    -------
    pd.DataFrame
        Same labels, 1..bins; NaN where a name has no score and on days with fewer names than ``bins``.
    """
    x = scores.astype(float).reindex(columns=sorted(scores.columns))
    order = x.rank(axis=1, method="first")
    rows = {day: _bin_labels(order.loc[day], bins) for day in x.index}
    return pd.DataFrame.from_dict(rows, orient="index").reindex(index=x.index, columns=scores.columns)


def quantile_turnover(scores: pd.DataFrame, quantile: int, bins: int = 10, lag: int = 1) -> pd.Series:
    """Per day, the share of the names in score quantile ``quantile`` that were not in it ``lag`` days before.

    alphalens' ``performance.quantile_turnover`` on the same cut: a name that had no score then counts as new.

    Parameters
    ----------
    scores : pd.DataFrame
        Score panel (days x symbols).
    quantile : int
        1 = the lowest scores' group, ``bins`` the highest.
    bins, lag : int
        Number of groups; days between the two memberships compared.

    Returns
    -------
    pd.Series
        In [0, 1]; NaN on the first ``lag`` days and on days with the group empty.
    """
    now = quantile_labels(scores, bins).eq(quantile)
    new = (now & ~now.shift(lag, fill_value=False)).sum(axis=1)
    count = now.sum(axis=1)
    out = (new / count.where(count > 0)).rename(f"turnover_q{quantile}")
    out.iloc[:lag] = np.nan
    return out


def rank_autocorrelation(scores: pd.DataFrame, lag: int = 1) -> pd.Series:
    """Per day, the rank correlation across names between the scores and the same names' scores ``lag`` days
    before (Spearman over the names scored on both days): how much of the ranking, and so of a book built on
    it, carries over; a value near 1 is a slow signal, near 0 one that reshuffles every day.

    Parameters
    ----------
    scores : pd.DataFrame
        Score panel (days x symbols).
    lag : int, default 1
        Days between the two rankings.

    Returns
    -------
    pd.Series
        NaN on the first ``lag`` days and where fewer than 3 names are scored on both days.
    """
    return daily_ic(scores, scores.shift(lag), method="rank").rename("rank_autocorrelation")


DECAY_HORIZONS = (1, 2, 5, 10, 20)  # days held, for the IC decay (alphalens' and qlib's usual periods)


def factor_profile(scores: pd.DataFrame, fill: pd.DataFrame, bins: int = 10,
                   horizons: tuple[int, ...] = DECAY_HORIZONS) -> dict[str, float]:
    """A score's tear-sheet figures: how fast it turns over, and how its rank IC decays with the horizon.

    Parameters
    ----------
    scores : pd.DataFrame
        Score panel (days x symbols).
    fill : pd.DataFrame
        Fill prices on the same days (:func:`earnable_return`'s input).
    bins : int, default 10
        Quantiles for the turnover of the top and bottom groups.
    horizons : tuple of int
        Days held for the decay.

    Returns
    -------
    dict
        ``rank_autocorrelation`` (mean lag-1, :func:`rank_autocorrelation`), ``turnover_top`` and
        ``turnover_bottom`` (mean daily :func:`quantile_turnover` of groups ``bins`` and 1), and
        ``decay_h`` per horizon: the mean daily rank IC against the h-day earnable return (overlapping
        windows for h > 1: a mean, not a test).
    """
    labels = quantile_labels(scores, bins)
    turn = {}
    for name, q in (("turnover_top", bins), ("turnover_bottom", 1)):
        now = labels.eq(q)
        count = now.sum(axis=1)
        new = (now & ~now.shift(1, fill_value=False)).sum(axis=1).iloc[1:]
        turn[name] = float((new / count.iloc[1:].where(count.iloc[1:] > 0)).mean())
    out = {"rank_autocorrelation": float(rank_autocorrelation(scores).mean()), **turn}
    for h in horizons:
        out[f"decay_{h}"] = float(daily_ic(scores, earnable_return(fill, h), method="rank").mean())
    return out


def cumulative_returns(daily: pd.DataFrame) -> pd.DataFrame:
    """Daily returns compounded: what 1 held through them becomes, minus 1; a NaN day adds nothing.

    alphalens' ``performance.cumulative_returns`` (empyrical's ``cum_returns`` from 1, NaN as 0) minus 1. Over
    :func:`decile_returns` it is alphalens' cumulative return by quantile (``plot_cumulative_returns_by_quantile``
    of ``mean_return_by_quantile(by_date=True, demeaned=False)``): an equal-weighted book of each quantile,
    rebalanced every day, before costs.

    Parameters
    ----------
    daily : pd.DataFrame
        Daily simple returns (days x columns).

    Returns
    -------
    pd.DataFrame
        Same labels; 0 before a column's first return.
    """
    return (1.0 + daily.astype(float).fillna(0.0)).cumprod() - 1.0


def by_month(daily: pd.Series) -> pd.DataFrame:
    """Mean of a daily series by calendar month: years as rows, months 1..12 as columns (NaN: no day)."""
    values = daily.dropna()
    index = pd.DatetimeIndex(values.index)
    table = values.groupby([index.year, index.month]).mean().unstack()
    return table.reindex(columns=range(1, 13)).rename_axis(index="year", columns="month")


def spread_summary(deciles: pd.DataFrame, lags: int | None = None) -> dict[str, float]:
    """The daily spread top group - bottom group of :func:`decile_returns`: its mean and HAC t.

    Parameters
    ----------
    deciles : pd.DataFrame
        Days x groups from :func:`decile_returns`.
    lags : int, optional
        Bartlett lags; default :func:`newey_west_lags`.

    Returns
    -------
    dict
        ``mean`` (mean daily spread), ``t_hac``, ``lags``, ``days``.
    """
    spread = (deciles.iloc[:, -1] - deciles.iloc[:, 0]).dropna()
    t, used = hac_t(spread, lags)
    return {"mean": float(spread.mean()) if len(spread) else float("nan"), "t_hac": t,
            "lags": float(used), "days": float(len(spread))}


def accuracy(prob: pd.DataFrame, target: pd.DataFrame, threshold: float = 0.5) -> float:
    """Share of (day, name) pairs where a classification score calls the above-median target right.

    Parameters
    ----------
    prob : pd.DataFrame
        Score panel, e.g. the probability of beating tomorrow's median; ``> threshold`` calls "above".
    target : pd.DataFrame
        The 0/1 target panel (``forecasters.crosssection.above_median_target``).
    threshold : float, default 0.5
        Score above which the call is "above".

    Returns
    -------
    float
        Accuracy over the pairs present in both; NaN when there are none.
    """
    x, y = _common(prob, target)
    hit = ((x > threshold).astype(float) == y).where(x.notna())
    count = hit.notna().to_numpy().sum()
    return float(hit.sum().sum() / count) if count else float("nan")


def _bin_means(order: pd.Series, ahead: pd.Series, bins: int) -> list[float]:
    """One day's mean return per group of equal count, or NaN for each when too few names."""
    present = order.dropna()
    if len(present) < bins:
        return [float("nan")] * bins
    group = pd.qcut(present, bins, labels=range(1, bins + 1))
    return ahead[present.index].groupby(group, observed=False).mean().tolist()


def _bin_labels(order: pd.Series, bins: int) -> pd.Series:
    """One day's group of each name (1..bins, equal counts by order), NaN for all when too few names."""
    present = order.dropna()
    if len(present) < bins:
        return pd.Series(np.nan, index=order.index)
    return pd.qcut(present, bins, labels=False).astype(float).add(1.0).reindex(order.index)


def _common(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both panels on the union of labels, each NaN wherever either is."""
    a, b = a.astype(float).align(b.astype(float), join="outer")
    both = a.notna() & b.notna()
    return a.where(both), b.where(both)


def group_ic(scores: pd.DataFrame, ahead: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Each group's mean daily IC and rank IC: the cross-section of each day cut to the group's stocks.

    Parameters
    ----------
    scores, ahead : pd.DataFrame
        Score panel and the return it is judged on (days x symbols), as for :func:`daily_ic`.
    groups : pd.Series
        Symbol -> group; symbols without one are left out.

    Returns
    -------
    pd.DataFrame
        One row per group (sorted): ``ic``, ``rank_ic`` (means over the days with an IC), ``t_hac`` of
        the IC, ``stocks`` (the group's symbols in the panel) and ``days``.
    """
    rows = {}
    for group in sorted(groups.unique()):
        cols = [c for c in scores.columns if groups.get(c) == group]
        summary = ic_summary(daily_ic(scores[cols], ahead[cols]))
        rank = float(daily_ic(scores[cols], ahead[cols], method="rank").mean())
        rows[group] = {"ic": summary["mean"], "rank_ic": rank, "t_hac": summary["t_hac"], "stocks": len(cols),
                       "days": summary["days"]}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("group")
