"""One seeded tiny run's statistics, pinned: any change to them must be deliberate.

The run: synthetic prices (seed 0, 420 days), 7 quarterly-ish folds of 40 days, a GRU, the linear and drift
baselines, 3 epochs. About 30 numbers across forecasts, tests and trading are compared with the golden file
to 1e-9 relative. When a change is meant to move them (a new generator, a fixed bug), regenerate with

    WFBT_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py

and say in the commit why they moved.
"""

import json
import math
import os
from pathlib import Path

import pytest

from backtest.engine.pipeline import run
from tests.conftest import synthetic_prices, tiny_config

GOLDEN = Path(__file__).parent / "golden" / "tiny_run.json"
STRATEGIES = ["buy_and_hold", "bollinger", "macd", "gru:forecast", "gru:vote", "linear:forecast"]


def statistics() -> dict[str, float]:
    cfg = tiny_config("forecast.models=['gru', 'linear']", "training.epochs=3", "statistics.bootstrap_reps=200")
    result = run(cfg, prices=synthetic_prices(420))
    fc = result.forecast_metrics.set_index("model")
    tr = result.trading_metrics
    out: dict[str, float] = {}
    for model in ["naive", "gru", "linear", "drift"]:
        for key in ["rmse", "direction", "theil_u", "dm_p"]:
            if model != "naive" or key == "rmse":
                out[f"forecast.{model}.{key}"] = float(fc.loc[model, key])
    for strategy in STRATEGIES:
        for key in ["total_return", "sharpe", "max_drawdown", "trades"]:
            out[f"trading.{strategy}.{key}"] = float(tr.loc[strategy, key])
        if strategy != "buy_and_hold":
            out[f"trading.{strategy}.psr"] = float(tr.loc[strategy, "psr"])
    stats = result.statistics
    out["forecast.spa_p"] = float(stats["forecast"]["spa_p"])
    out["trading.spa_p"] = float(stats["trading"]["spa_p"])
    out["trading.pbo"] = float(stats["trading"]["pbo"])
    out["gru.epochs"] = float(result.fold_log.loc[result.fold_log["model"] == "gru", "epochs"].sum())
    return out


def test_the_golden_run_statistics_are_unchanged():
    got = statistics()
    if os.environ.get("WFBT_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert sorted(got) == sorted(golden) and len(golden) >= 30
    changed = {k: (golden[k], got[k]) for k in golden
               if not (math.isclose(got[k], golden[k], rel_tol=1e-9, abs_tol=1e-12)
                       or (math.isnan(got[k]) and math.isnan(golden[k])))}
    assert not changed, f"statistics moved (golden, now): {changed}"


@pytest.mark.parametrize("key", ["forecast.gru.theil_u", "trading.gru:forecast.sharpe"])
def test_the_golden_file_holds_real_numbers(key):
    assert math.isfinite(json.loads(GOLDEN.read_text())[key])
