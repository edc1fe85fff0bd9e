"""wfbt's engine: config, data, walk-forward schedule, orchestration, portfolio, metrics, reports.

    from backtest import load_config, run
    result = run(load_config("configs/default.toml", ["training.epochs=5"]))
    folder = write_run(result)          # runs/default: `wfbt show` and `wfbt compare` read it
    summary = read_run(folder)          # .trading, .equity, .predictions(), .folds(), .orders(), .statistics
    show(folder)                        # the console summary `wfbt show` prints

Either kind of run (a config with ``universe.enabled`` runs a universe): the calls are the same, and
``backtest.kinds`` holds what each kind does.

docs/api.md works the whole example.
"""

from __future__ import annotations

from typing import Any

from backtest.core.cores import quiet_openmp_waits

quiet_openmp_waits()  # before anything loads torch and its OpenMP runtime: see backtest/core/cores.py

__all__ = ["RunConfig", "RunResult", "UniverseResult", "compare", "load_config", "run", "read_run", "show",
           "write_run"]


def __getattr__(name: str) -> Any:  # lazy: `wfbt models` should not pay for importing torch and vectorbt
    if name in ("RunConfig", "load_config"):
        from backtest.core import config

        return getattr(config, name)
    if name == "RunResult":
        from backtest.engine.pipeline import RunResult

        return RunResult
    if name == "UniverseResult":
        from backtest.engine.universe import UniverseResult

        return UniverseResult
    if name in ("run", "read_run", "show", "compare", "write_run"):
        from backtest import kinds  # the lower layers' own run/show/compare are one kind's; these take either

        return getattr(kinds, {"run": "run_config", "read_run": "read_folder", "show": "show_folder",
                               "compare": "compare_folders"}.get(name, name))
    raise AttributeError(name)
