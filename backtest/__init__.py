"""wfbt's engine: config, data, walk-forward schedule, orchestration, portfolio, metrics, reports.

    from backtest import load_config, run
    result = run(load_config("configs/default.toml", ["training.epochs=5"]))
    folder = write_run(result)          # runs/default: `wfbt show` and `wfbt compare` read it
    summary = read_run(folder)          # .trading, .equity, .predictions(), .folds(), .orders(), .statistics

docs/api.md works the whole example.
"""

from __future__ import annotations

from typing import Any

from backtest.core.cores import quiet_openmp_waits

quiet_openmp_waits()  # before anything loads torch and its OpenMP runtime: see backtest/core/cores.py

__all__ = ["RunConfig", "RunResult", "load_config", "run", "read_run", "write_run"]


def __getattr__(name: str) -> Any:  # lazy: `wfbt models` should not pay for importing torch and vectorbt
    if name in ("RunConfig", "load_config"):
        from backtest.core import config

        return getattr(config, name)
    if name in ("run", "RunResult"):
        from backtest.engine import pipeline as engine

        return getattr(engine, name)
    if name == "read_run":
        from backtest.runs.store import read_run

        return read_run
    if name == "write_run":
        from backtest.report.publish import write_run

        return write_run
    raise AttributeError(name)
