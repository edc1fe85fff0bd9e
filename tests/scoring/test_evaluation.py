"""Verdicts: "better" or "worse" only when the tests say so; the words the reports print for them."""

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from backtest.core.config import StatisticsSection
from backtest.report.wording import forecast_sentences, trading_sentences
from backtest.scoring.evaluation import evaluate_forecasts, evaluate_trading, forecast_verdict, trading_verdict
from backtest.scoring.significance import deflated_sharpe, diebold_mariano, hac_lags, sharpe

CFG = StatisticsSection(bootstrap_reps=300)


@pytest.mark.parametrize(("dm_stat", "dm_p", "dm_p_holm", "superior", "verdict"), [
    (-3.0, 0.001, 0.003, True, "better"),
    (-3.0, 0.001, 0.003, False, "indistinguishable"),  # one good model among many counts only if StepM names it
    (-1.0, 0.30, 0.60, True, "indistinguishable"),  # StepM and the model's own DM test must agree
    (3.0, 0.001, 0.003, False, "worse"),
    (3.0, 0.02, 0.08, False, "indistinguishable"),  # worse alone, but not after Holm over the run's models
    (3.0, 0.08, 0.16, False, "indistinguishable"),
    (-3.0, float("nan"), float("nan"), True, "indistinguishable"),
])
def test_forecast_verdicts(dm_stat, dm_p, dm_p_holm, superior, verdict):
    assert forecast_verdict(dm_stat, dm_p, dm_p_holm, superior, 0.05) == verdict


@pytest.mark.parametrize(("psr", "psr_holm", "superior", "verdict"), [
    (0.99, 1.0, True, "better"), (0.99, 1.0, False, "indistinguishable"), (0.60, 1.0, True, "indistinguishable"),
    (0.003, 0.03, False, "worse"), (0.03, 0.30, False, "indistinguishable"),  # Holm over the strategies
    (float("nan"), float("nan"), True, "indistinguishable"),
])
def test_trading_verdicts(psr, psr_holm, superior, verdict):
    assert trading_verdict(psr, psr_holm, superior, 0.05) == verdict


def predictions(noise: dict[str, float], days: int = 400, seeds: int = 0) -> pd.DataFrame:
    """A random-walk close; each model predicts the actual close plus noise of the given size."""
    rng = np.random.default_rng(0)
    close = 100 + np.cumsum(rng.normal(0, 1.0, days + 1))
    dates = pd.bdate_range("2020-01-01", periods=days)
    frames = []
    for model, sd in noise.items():
        frame = pd.DataFrame({"date": dates, "model": model, "fold": 0,
                              "predicted": close[1:] + rng.normal(0, sd, days), "actual": close[1:],
                              "naive": close[:-1]})
        for k in range(seeds):
            frame[f"seed_{k}"] = close[1:] + rng.normal(0, sd * (1 + k), days)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_a_model_far_better_than_naive_is_called_better_and_a_far_worse_one_worse():
    ev = evaluate_forecasts(predictions({"oracle": 0.2, "wild": 3.0, "close_call": 0.99}), CFG, 0)
    verdicts = dict(zip(ev.table["model"], ev.table["verdict"], strict=True))
    assert verdicts == {"naive": "baseline", "oracle": "better", "wild": "worse", "close_call": "indistinguishable"}
    assert ev.summary["spa_p"] < 0.05 and "wild" not in ev.summary["mcs"] and "oracle" in ev.summary["mcs"]
    sentences = " ".join(forecast_sentences(ev.table, ev.summary))
    assert "Better than the naive forecast at 5 %: oracle (DM p < 0.001)" in sentences
    assert "Worse than naive at 5 % (Holm-adjusted over 3 forecasts): wild" in sentences


def test_no_model_is_called_better_when_none_is():
    ev = evaluate_forecasts(predictions({"a": 1.0, "b": 1.0}), CFG, 0)
    assert set(ev.table["verdict"]) == {"baseline", "indistinguishable"}
    assert forecast_sentences(ev.table, ev.summary)[0].startswith(
        "No forecast is better than the naive forecast at 5 % (SPA p = ")


def test_several_seeds_report_the_spread_of_single_seeds():
    ev = evaluate_forecasts(predictions({"m": 0.5}, seeds=3), CFG, 0)
    row = ev.table.set_index("model").loc["m"]
    assert row["theil_u_seed_min"] < row["theil_u_seed_max"]


def test_trading_tests_name_trials_and_verdicts():
    rng = np.random.default_rng(1)
    days = pd.bdate_range("2020-01-01", periods=600)
    bench = rng.normal(0.0003, 0.01, 600)
    returns = pd.DataFrame({"buy_and_hold": bench, "great": bench + 0.004, "poor": bench - 0.004,
                            "coin": rng.normal(0.0003, 0.01, 600)}, index=days)
    table = pd.DataFrame({"sharpe": returns.mean() / returns.std() * np.sqrt(252)})
    ev = evaluate_trading(table, returns, "buy_and_hold", CFG, 0)
    assert ev.summary["trials"] == 3 and ev.summary["pbo_strategies"] == 4
    assert ev.table.loc["great", "verdict"] == "better" and ev.table.loc["poor", "verdict"] == "worse"
    assert ev.table.loc["coin", "verdict"] == "indistinguishable"
    assert ev.table.loc["buy_and_hold", "verdict"] == "benchmark" and np.isnan(ev.table.loc["buy_and_hold", "psr"])
    trial_sharpes = [sharpe(returns[c].to_numpy()) for c in ["great", "poor", "coin"]]  # the benchmark is no trial
    assert ev.table.loc["coin", "dsr"] == pytest.approx(deflated_sharpe(returns["coin"].to_numpy(), trial_sharpes))
    text = " ".join(trading_sentences(ev.table, ev.summary))
    assert "Higher Sharpe than buy_and_hold at 5 %: great" in text and "Lower Sharpe" in text and "poor" in text


def test_a_persistent_error_is_tested_with_its_long_run_variance():
    """A level-like model off by a bias that drifts for weeks: DM's variance is Newey-West's at the lags of
    the documented rule (statsmodels' HAC on the loss differential; 14 lags here), and its p-value 0.07
    where the paired t-test said 1e-7."""
    frame = predictions({"level_like": 0.5})
    bias = np.repeat(np.random.default_rng(2).normal(0, 1.5, 20), 20)  # 20 stretches of 20 days each
    frame["predicted"] += bias
    ev = evaluate_forecasts(frame, CFG, 0)
    row = ev.table.set_index("model").loc["level_like"]
    d = ((frame["predicted"] - frame["actual"]) ** 2 - (frame["naive"] - frame["actual"]) ** 2).to_numpy()
    lags = hac_lags(d)
    assert row["dm_lags"] == lags > math.floor(4 * 4 ** (2 / 9))  # above Newey-West's 5: the plug-in saw persistence
    ols = sm.OLS(d, np.ones(len(d))).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    assert row["dm_stat"] == pytest.approx(float(ols.tvalues[0]) * np.sqrt(399 / 400))
    assert row["dm_p"] > 10 * diebold_mariano(d, np.zeros(len(d)), lags=0)[1]


def test_every_model_trailing_naive_gives_hansens_spa_p_of_one():
    ev = evaluate_forecasts(predictions({"a": 1.5, "b": 2.0}), CFG, 0)
    assert ev.summary["spa_p"] == 1.0 and ev.summary["superior"] == []


def test_statistics_significance_and_mcs_size_are_the_levels_of_the_forecast_tests():
    # a model a little worse than naive (noise 1.08 against the random walk's step of 1): its DM p is 0.064
    p = predictions({"m": 1.08})

    def run(**levels):  # type: ignore[no-untyped-def]
        ev = evaluate_forecasts(p, StatisticsSection(bootstrap_reps=300, **levels), 0)
        return ev.table.set_index("model").loc["m", "verdict"], ev.summary["mcs"]

    assert run() == ("indistinguishable", ["naive"])  # p 0.064 > 0.05; the set at size 0.10 drops m
    assert run(significance=0.1)[0] == "worse"  # statistics.significance = 0.1: 0.064 is below it
    assert run(mcs_size=0.05)[1] == ["naive", "m"]  # statistics.mcs_size = 0.05: m's MCS p is not below it
