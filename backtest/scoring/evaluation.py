"""Scores with their tests: forecast errors beside Diebold-Mariano, SPA and the model confidence set;
trading results beside PSR, DSR, SPA and PBO; and the verdict each test allows.

Verdicts (the only words the reports use to rank against a baseline). Every verdict controls the
family-wise error over the run's models (or strategies) at the significance level, so that among many
candidates one lucky one is not called better or worse:

- a model is ``better`` than the naive forecast when the stepwise SPA test (Romano-Wolf ``StepM`` over
  all models, studentized) names it as having lower loss *and* its own Diebold-Mariano test (Newey-West
  variance, ``significance.hac_lags``) agrees (lower loss, p < level); ``worse`` when its
  Diebold-Mariano p-value, Holm-adjusted over the run's models, is below the level with a higher loss;
  otherwise ``indistinguishable``.
- a strategy is ``better`` than buy-and-hold when the stepwise SPA test of all strategies' returns
  against buy-and-hold's names it *and* its probabilistic Sharpe ratio against buy-and-hold's Sharpe is
  at least 1 - level; ``worse`` when that PSR (the one-sided p-value of "its Sharpe is not lower"),
  Holm-adjusted over the strategies, is below the level; otherwise ``indistinguishable``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backtest.core.config import StatisticsSection
from backtest.scoring.metrics import daily_rate, forecast_table
from backtest.scoring.significance import (
    deflated_sharpe,
    diebold_mariano,
    hac_lags,
    holm,
    model_confidence_set,
    probabilistic_sharpe,
    probability_of_backtest_overfitting,
    sharpe,
    spa_pvalue,
    superior_models,
    trial_variance,
)
from forecasters.registry import NAIVE

BETTER, WORSE, SAME = "better", "worse", "indistinguishable"


@dataclass
class Evaluation:
    table: pd.DataFrame  # one row per model (forecasts) or strategy (trading), scores and tests
    summary: dict[str, Any] = field(default_factory=dict)  # tests of the whole set


def _squared_errors(predictions: pd.DataFrame) -> pd.DataFrame:
    """Days x forecasts of squared errors in price units, the naive forecast first."""
    first = predictions["model"].iloc[0]
    base = predictions[predictions["model"] == first].set_index("date")
    losses = {NAIVE: (base[NAIVE] - base["actual"]) ** 2}
    for model, g in predictions.groupby("model", sort=False):
        g = g.set_index("date")
        losses[str(model)] = (g["predicted"] - g["actual"]) ** 2
    return pd.DataFrame(losses).dropna()


def _seed_spread(predictions: pd.DataFrame) -> pd.DataFrame:
    """Min and max Theil U of the single seeds, per model, when predictions carry seed_<k> columns."""
    seeds = [c for c in predictions.columns if c.startswith("seed_")]
    rows = []
    for model, g in predictions.groupby("model", sort=False):
        naive_rmse = math.sqrt(float(np.mean((g[NAIVE] - g["actual"]) ** 2)))
        us = [math.sqrt(float(np.mean((g[c] - g["actual"]) ** 2))) / naive_rmse
              for c in seeds if g[c].notna().all()]
        if len(us) > 1:
            rows.append({"model": model, "theil_u_seed_min": min(us), "theil_u_seed_max": max(us)})
    return pd.DataFrame(rows, columns=["model", "theil_u_seed_min", "theil_u_seed_max"])


def forecast_verdict(dm_stat: float, dm_p: float, dm_p_holm: float, superior: bool, level: float) -> str:
    if dm_stat > 0 and dm_p_holm < level:
        return WORSE
    return BETTER if superior and dm_stat < 0 and dm_p < level else SAME


def evaluate_forecasts(predictions: pd.DataFrame, cfg: StatisticsSection, seed: int) -> Evaluation:
    """Errors per model with DM against naive, MCS membership and verdicts; SPA of all models in the summary."""
    table = forecast_table(predictions)
    losses = _squared_errors(predictions)
    models = [c for c in losses.columns if c != NAIVE]
    spa_p = spa_pvalue(losses[NAIVE].to_numpy(), losses[models].to_numpy(), cfg.bootstrap_reps, seed)
    superior = superior_models(losses[NAIVE].to_numpy(), losses[models], cfg.significance, cfg.bootstrap_reps, seed)
    mcs_p = model_confidence_set(losses, cfg.mcs_size, cfg.bootstrap_reps, seed)
    dm = {m: diebold_mariano(losses[m].to_numpy(), losses[NAIVE].to_numpy()) for m in models}
    lags = {m: hac_lags(losses[m].to_numpy() - losses[NAIVE].to_numpy()) for m in models}
    table["dm_stat"] = [dm.get(m, (math.nan, math.nan))[0] for m in table["model"]]
    table["dm_p"] = [dm.get(m, (math.nan, math.nan))[1] for m in table["model"]]
    table["dm_p_holm"] = holm(table["dm_p"].to_numpy())
    table["dm_lags"] = [lags.get(m, math.nan) for m in table["model"]]  # Newey-West lags of DM's variance
    table["mcs_p"] = [float(mcs_p.get(m, math.nan)) for m in table["model"]]
    table["in_mcs"] = table["mcs_p"] > cfg.mcs_size
    table["verdict"] = [
        "baseline" if m == NAIVE else forecast_verdict(s, p, ph, m in superior, cfg.significance)
        for m, s, p, ph in zip(table["model"], table["dm_stat"], table["dm_p"], table["dm_p_holm"], strict=True)
    ]
    spread = _seed_spread(predictions)
    if len(spread):
        table = table.merge(spread, on="model", how="left")
    summary = {
        "benchmark": NAIVE, "loss": "squared error (price units)", "days": len(losses),
        "significance": cfg.significance, "spa_p": spa_p, "superior": superior, "mcs_size": cfg.mcs_size,
        "mcs": [m for m in losses.columns if float(mcs_p.get(m, math.nan)) > cfg.mcs_size],
        "bootstrap_reps": cfg.bootstrap_reps,
    }
    return Evaluation(table, summary)


def trading_verdict(psr_vs_benchmark: float, psr_holm: float, superior: bool, level: float) -> str:
    if superior and psr_vs_benchmark >= 1 - level:
        return BETTER
    return WORSE if psr_holm < level else SAME


def evaluate_trading(table: pd.DataFrame, returns: pd.DataFrame, benchmark: str, cfg: StatisticsSection,
                     seed: int, risk_free: float = 0.0) -> Evaluation:
    """Add PSR (against the benchmark's Sharpe), DSR and verdicts to ``table`` (indexed by strategy);
    SPA against the benchmark and PBO over every strategy go to the summary.

    Trials for the DSR are every strategy except the benchmark, which is the yardstick rather than a
    candidate; the variance of their per-period Sharpe ratios is the variance across trials. Every test
    sees the returns over the yearly ``risk_free`` rate (compounded to a daily one), as Sharpe in the table
    does: PSR, DSR and PBO rank Sharpe ratios of excess returns; SPA's differences against the benchmark
    do not change, since the same rate comes off every column.
    """
    returns = returns.fillna(0.0) - daily_rate(risk_free)
    trials = [c for c in returns.columns if c != benchmark]
    sr = {c: sharpe(returns[c].to_numpy()) for c in returns.columns}
    sr_bench = sr.get(benchmark, math.nan)
    trial_sharpes = np.array([sr[c] for c in trials])
    spa_p, superior = math.nan, []
    if benchmark in returns.columns and trials:
        losses = -returns[trials]  # SPA compares losses: a return is a negative loss
        spa_p = spa_pvalue(-returns[benchmark].to_numpy(), losses.to_numpy(), cfg.bootstrap_reps, seed)
        superior = superior_models(-returns[benchmark].to_numpy(), losses, cfg.significance, cfg.bootstrap_reps, seed)
    out = table.copy()
    out["psr"] = [probabilistic_sharpe(returns[c].to_numpy(), sr_bench) if c in trials else math.nan
                  for c in out.index]
    out["psr_holm"] = holm(out["psr"].to_numpy())
    out["dsr"] = [deflated_sharpe(returns[c].to_numpy(), trial_sharpes) if c in trials else math.nan
                  for c in out.index]
    out["verdict"] = [trading_verdict(p, ph, c in superior, cfg.significance) if c in trials else "benchmark"
                      for c, p, ph in zip(out.index, out["psr"], out["psr_holm"], strict=True)]
    pbo = probability_of_backtest_overfitting(returns.to_numpy(), cfg.pbo_blocks)
    summary = {
        "benchmark": benchmark, "significance": cfg.significance, "spa_p": spa_p, "superior": superior,
        "trials": len(trials),
        "sharpe_variance": trial_variance(trial_sharpes) if len(trial_sharpes) > 1 else math.nan,
        "pbo": pbo.pbo, "pbo_blocks": cfg.pbo_blocks, "pbo_splits": pbo.splits, "pbo_strategies": returns.shape[1],
        "bootstrap_reps": cfg.bootstrap_reps, "risk_free": risk_free,
    }
    return Evaluation(out, summary)
