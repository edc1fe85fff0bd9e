"""What differs between runs that `wfbt compare` puts side by side: their settings, their data, and
paired tests of one run against another.

Settings
    Every key of the runs' saved ``config.toml`` whose value is not the same in all of them (``run.name``
    and ``run.out_dir`` left out: they differ by construction and change no number).
Data
    Runs are on the same data when their source, symbol and path agree *and* their closes agree on every
    day both have out of sample. Otherwise the comparison says so first: errors in price units (an RMSE
    of 18.90 on the S&P 500 beside 0.52 on AAPL) and Sharpe ratios of different assets are not a contest.
Paired tests (only on the same data, on the common out-of-sample days)
    Forecasts, per model name both runs have (naive excepted: it is the same forecast on the same data):
    Diebold-Mariano on the two runs' squared errors, with the Newey-West variance and the
    Harvey-Leybourne-Newbold correction the run's own tests use (``significance.diebold_mariano``).
    Pairing by name answers the question a changed setting asks ("is lstm better with lookback 10?");
    picking each run's best network first would test a winner chosen on the same days.
    Strategies, per strategy name both runs have (buy-and-hold excepted: the same on the same data):
    the difference of Sharpe ratios by Ledoit and Wolf's (2008) HAC delta method
    (``significance.sharpe_difference``).
    Holm's adjustment runs over all the forecast pairs, and separately over all the strategy pairs; a
    run is called ``better`` or ``worse`` than another only when its adjusted p-value is below the first
    run's ``statistics.significance``; otherwise ``indistinguishable``.
    Universe runs (``paired_ics``), per scorer name both runs have, for the rank IC (the headline: the books
    trade on ranks) and the Pearson IC: the mean of the difference of their daily ICs (A minus B) on the days
    both have one, with the Newey-West t the runs' own IC tests use (``crosssection.hac_t``), two-sided normal
    p; Holm over all the scorer pairs of each kind of IC apart, as a run's own IC tests (``crosssection.ic_table``).
    Their books go through ``paired_sharpes`` as strategies do.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from backtest.scoring.crosssection import hac_t
from backtest.scoring.significance import diebold_mariano, holm, sharpe_difference
from forecasters.registry import NAIVE
from strategies.signals import BENCHMARK

IGNORED_SETTINGS = {"run.name", "run.out_dir"}  # differ between any two runs, change no number
SAMPLE_NAMES = {"sp500": "S&P 500", "nasdaq": "NASDAQ"}
BETTER, WORSE, SAME, IDENTICAL = "better", "worse", "indistinguishable", "identical"


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    """``{"section.key": value}`` of a parsed config.toml."""
    return {f"{section}.{key}": value for section, values in config.items() if isinstance(values, dict)
            for key, value in values.items()}


def settings_diff(configs: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The settings whose values differ between the runs: one row per key ("setting"), one column per run.

    A key one run's file lacks (not set, or written by an older wfbt) shows as "(not set)".
    """
    flats = {label: _flat(cfg) for label, cfg in configs.items()}
    keys = sorted(set().union(*flats.values()) - IGNORED_SETTINGS) if flats else []
    rows = []
    for key in keys:
        values = [flats[label].get(key, "(not set)") for label in flats]
        if any(v != values[0] for v in values[1:]):
            rows.append({"setting": key, **{label: _shown(v) for label, v in zip(flats, values, strict=True)}})
    return pd.DataFrame(rows, columns=["setting", *flats])


def _shown(value: Any) -> str:
    """A setting's value as text: strings quoted as in TOML, lists and tables as written."""
    if isinstance(value, str) and value != "(not set)":
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def data_name(manifest: dict[str, Any]) -> str:
    """A run's data in words: "S&P 500 (sample:sp500)", "csv:../shared/data/AAPL.csv", "yfinance:AAPL"."""
    data = manifest.get("data", {})
    source, symbol, path = data.get("source"), data.get("symbol"), data.get("path")
    if source == "sample":
        return f"{SAMPLE_NAMES.get(str(symbol), symbol)} (sample:{symbol})"
    return f"{source}:{path}" if source == "csv" and path else f"{source}:{symbol}"


def _data_key(manifest: dict[str, Any]) -> tuple[Any, ...]:
    data = manifest.get("data", {})
    return (data.get("source"), data.get("symbol") if data.get("source") != "csv" else None, data.get("path"))


def closes(predictions: pd.DataFrame) -> pd.Series:
    """The actual close of every out-of-sample day, by date, from a run's predictions."""
    return predictions.drop_duplicates("date").set_index("date")["actual"].sort_index()


def data_note(manifests: dict[str, dict[str, Any]], prices: dict[str, pd.Series]) -> str | None:
    """None when every run is on the same data; otherwise the warning that says how they differ."""
    names = {label: data_name(m) for label, m in manifests.items()}
    keys = {_data_key(m) for m in manifests.values()}
    first = next(iter(prices.values()))
    common = first.index
    for p in prices.values():
        common = common.intersection(p.index)
    differ = [label for label, p in prices.items()
              if not np.allclose(p.loc[common].to_numpy(), first.loc[common].to_numpy(), rtol=1e-9, atol=0.0)]
    if len(keys) == 1 and not differ:
        return None
    why = ("different data: " if len(keys) > 1 else
           f"the same data name but different closes on the common days ({', '.join(differ)} differ): ")
    return ("⚠ These runs are on " + why + "; ".join(f"{label}: {name}" for label, name in names.items())
            + ". Forecast errors are in each asset's price units and trading results are of different assets: "
            "they are shown side by side, not tested against each other.")


def _squared_errors(predictions: pd.DataFrame, model: str) -> pd.Series:
    g = predictions[predictions["model"] == model].set_index("date")
    return ((g["predicted"] - g["actual"]) ** 2).dropna()


def _verdict(stat: float, p_holm: float, level: float, lower_is_better: bool) -> str:
    """A's verdict against B from the paired test's statistic (A minus B) and its adjusted p-value."""
    if not math.isfinite(stat) or not math.isfinite(p_holm):
        return IDENTICAL if stat == 0 else SAME
    if p_holm >= level:
        return SAME
    return BETTER if (stat < 0) == lower_is_better else WORSE


def paired_forecasts(predictions: dict[str, pd.DataFrame], models: list[str] | None, level: float) -> pd.DataFrame:
    """DM of run A's forecast against run B's, per common model name, on their common days (Holm over pairs).

    ``dm_stat`` < 0: A's squared error is lower. ``models``: the names to keep (None: all).
    """
    rows = []
    for a, b in itertools.combinations(predictions, 2):
        pa, pb = predictions[a], predictions[b]
        common = [m for m in dict.fromkeys(pa["model"]) if m != NAIVE and m in set(pb["model"])
                  and (models is None or m in models)]
        for model in common:
            la, lb = _squared_errors(pa, model), _squared_errors(pb, model)
            days = la.index.intersection(lb.index)
            la, lb = la.loc[days].to_numpy(), lb.loc[days].to_numpy()
            stat, p = diebold_mariano(la, lb) if not np.array_equal(la, lb) else (0.0, math.nan)
            rows.append({"run_a": a, "run_b": b, "model": model, "days": len(days),
                         "rmse_a": math.sqrt(la.mean()) if len(la) else math.nan,
                         "rmse_b": math.sqrt(lb.mean()) if len(lb) else math.nan, "dm_stat": stat, "dm_p": p})
    table = pd.DataFrame(rows, columns=["run_a", "run_b", "model", "days", "rmse_a", "rmse_b", "dm_stat", "dm_p"])
    table["dm_p_holm"] = holm(table["dm_p"].to_numpy())
    table["verdict"] = [_verdict(s, p, level, lower_is_better=True)
                        for s, p in zip(table["dm_stat"], table["dm_p_holm"], strict=True)]
    return table


def paired_sharpes(returns: dict[str, pd.DataFrame], strategies: list[str], level: float) -> pd.DataFrame:
    """Ledoit-Wolf test of run A's Sharpe ratio against run B's, per common strategy (Holm over pairs).

    ``returns``: per run, daily returns on the common period, one column per strategy. ``z`` > 0: A's
    Sharpe is higher. Sharpe ratios here are annualised (252 days) for reading; the test is on daily ones.
    """
    rows = []
    for a, b in itertools.combinations(returns, 2):
        ra, rb = returns[a], returns[b]
        for strategy in [s for s in strategies if s != BENCHMARK and s in ra and s in rb]:
            x, y = ra[strategy].to_numpy(), rb[strategy].to_numpy()
            z, p = sharpe_difference(x, y) if not np.array_equal(x, y) else (0.0, math.nan)
            rows.append({"run_a": a, "run_b": b, "strategy": strategy, "days": len(x),
                         "sharpe_a": _annual_sharpe(x), "sharpe_b": _annual_sharpe(y), "sr_z": z, "sr_p": p})
    table = pd.DataFrame(rows, columns=["run_a", "run_b", "strategy", "days", "sharpe_a", "sharpe_b", "sr_z", "sr_p"])
    table["sr_p_holm"] = holm(table["sr_p"].to_numpy())
    table["verdict"] = [_verdict(z, p, level, lower_is_better=False)
                        for z, p in zip(table["sr_z"], table["sr_p_holm"], strict=True)]
    return table


def _ic_pair(a: pd.Series, b: pd.Series) -> dict[str, float] | None:
    """Means, mean difference, its HAC t and two-sided p, of two daily IC series on the days both have one
    (None: no such day)."""
    both = pd.concat([a, b], axis=1, join="inner").dropna()
    if not len(both):
        return None
    x, y = both.iloc[:, 0].to_numpy(dtype=float), both.iloc[:, 1].to_numpy(dtype=float)
    same = np.array_equal(x, y)
    t = 0.0 if same else hac_t(pd.Series(x - y))[0]
    p = 2.0 * float(stats.norm.sf(abs(t))) if math.isfinite(t) and not same else math.nan
    return {"days": len(x), "ic_a": float(x.mean()), "ic_b": float(y.mean()), "ic_diff": float((x - y).mean()),
            "t_hac": t, "ic_p": p}


IC_KINDS = {"rank_ic": "rank_", "ic": ""}  # ic.csv's "scorer:KIND" column -> prefix of its paired columns
IC_PAIR_COLUMNS = ["days", "ic_a", "ic_b", "ic_diff", "t_hac", "ic_p", "ic_p_holm", "verdict"]  # one kind's


def paired_ics(daily: dict[str, pd.DataFrame], scorers: list[str], level: float) -> pd.DataFrame:
    """HAC t of run A's daily IC minus run B's, per common scorer, for the rank IC and the (Pearson) IC, each on
    the days both runs have one; Holm over the pairs, for each kind of IC apart.

    ``daily``: per run, its daily ICs on the common period (ic.csv's "scorer:rank_ic" and "scorer:ic" columns).
    One row per pair and scorer: the rank IC's columns are the IC's with the prefix ``rank_`` (``rank_ic_diff``,
    ``rank_t_hac``, ``rank_verdict``, ...). ``t_hac`` > 0: A's IC is higher. A kind without a day is NaN (its
    verdict None); a scorer without any IC on a common day (a constant score, such as naive) is left out.
    """
    rows = []
    for a, b in itertools.combinations(daily, 2):
        for scorer in scorers:
            row = {}
            for kind, prefix in IC_KINDS.items():
                column = f"{scorer}:{kind}"
                pair = _ic_pair(daily[a][column], daily[b][column]) if column in daily[a] and column in daily[b] \
                    else None
                row.update({prefix + k: v for k, v in (pair or {}).items()})
            if row:
                rows.append({"run_a": a, "run_b": b, "scorer": scorer, **row})
    table = pd.DataFrame(rows, columns=["run_a", "run_b", "scorer", *[p + c for p in IC_KINDS.values()
                                                                      for c in IC_PAIR_COLUMNS]])
    for prefix in IC_KINDS.values():  # two families: the rank IC (the headline) and the IC, as a run's own tests
        table[f"{prefix}ic_p_holm"] = holm(table[f"{prefix}ic_p"].to_numpy(dtype=float))
        table[f"{prefix}verdict"] = [_verdict(t, p, level, lower_is_better=False) if pd.notna(n) else None
                                     for t, p, n in zip(table[f"{prefix}t_hac"], table[f"{prefix}ic_p_holm"],
                                                        table[f"{prefix}days"], strict=True)]
    return table


def _annual_sharpe(r: np.ndarray) -> float:
    sd = float(np.std(r, ddof=1)) if len(r) > 1 else 0.0
    return float(np.mean(r) / sd * math.sqrt(252)) if sd > 0 else math.nan
