"""Fischer & Krauss per study period: a finished universe run folder read back, figures per fold and overall.

    python benchmarks/fk_periods.py runs/fischer_krauss            # after `wfbt run configs/fischer_krauss.toml`
    python benchmarks/fk_periods.py runs/fischer_krauss --k 10 --scorers lstm25 reversal

The run's own summary gives the figures over all its out-of-sample days; this script cuts them by study period
(the walk-forward folds of the run's config), as the paper reports them, and adds two readings of its own:

- accuracy: the share of (day, stock) pairs where "score above the day's median score" matches the paper's
  target (the next close-to-close return beats the day's cross-sectional median),
- the long-short book in the paper's accounting *before* costs: each day the mean return of the k best-ranked
  stocks minus the mean of the k worst (``strategies.crosssection.long_short_top_k`` with a full unit a leg),
  on the return a book dated t can earn (open t+1 -> open t+2, wfbt's fills); beside it the run's own
  long_short book before costs (equity_gross.csv, where the run wrote it). *After* costs it is the run's
  own long_short book (vectorbt, 5 bp a half-turn on what it traded), read from equity.csv; at
  ``universe.leg_gross = 1.0`` that book is the paper's accounting too.

IC and rank IC are the run's daily series (ic.csv) with their Newey-West t (``scoring.crosssection.hac_t``).
"vs EW" and "vs reversal" are the mean daily difference of the after-cost long-short returns (the scorer's
book minus the equal-weighted universe, or minus reversal's long-short book), with its HAC t and two-sided p;
over a study period of 250 days, a |t| below ~2 says "indistinguishable".
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's wfbt, also when run as a script

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from scipy import stats  # noqa: E402

from backtest.core.config import load_config  # noqa: E402
from backtest.engine.schedule import make_folds  # noqa: E402
from backtest.engine.universe import _fill_prices, _load  # noqa: E402
from backtest.scoring import crosssection as xs  # noqa: E402
from forecasters.crosssection import above_median_target  # noqa: E402
from strategies.crosssection import long_short_top_k  # noqa: E402


def read_run(run: Path) -> tuple[object, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The run's config, scores (date x symbol per scorer, long), daily IC table and equity table."""
    config = load_config(run / "config.toml")
    scores = pd.read_csv(run / "scores.csv.gz", parse_dates=["date"]).set_index(["date", "symbol"])
    ic = pd.read_csv(run / "ic.csv", index_col="date", parse_dates=["date"])
    equity = pd.read_csv(run / "equity.csv", index_col="date", parse_dates=["date"])
    return config, scores, ic, equity


def periods(config, calendar: pd.DatetimeIndex) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """Each fold's out-of-sample span, as (label, first day, last day)."""
    folds = make_folds(len(calendar), config.walkforward)
    return [(f"{calendar[f.test_start]:%Y-%m-%d} → {calendar[f.test_end - 1]:%Y-%m-%d}",
             calendar[f.test_start], calendar[f.test_end - 1]) for f in folds]


def t_and_p(series: pd.Series) -> tuple[float, float]:
    """HAC t of the series' mean and its two-sided normal p."""
    t, _ = xs.hac_t(series)
    return t, (2 * stats.norm.sf(abs(t)) if math.isfinite(t) else float("nan"))


def scorer_days(name: str, panel: pd.DataFrame, ahead: pd.DataFrame, labels: pd.DataFrame, ic: pd.DataFrame,
                net: pd.DataFrame, before: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per day for one scorer: accuracy hits, IC, rank IC, paper long-short before costs, book after costs."""
    above = panel.gt(panel.median(axis=1), axis=0).astype(float).where(panel.notna())
    x, y = above.align(labels.reindex_like(above), join="inner")
    hit = (x == y).astype(float).where(x.notna() & y.notna())
    weights = long_short_top_k(panel, k, gross=2.0)  # a full unit a leg: mean long minus mean short
    gross = (weights * ahead.reindex_like(weights)).sum(axis=1, min_count=1).where(weights.abs().sum(axis=1) > 0)
    book = net.get(f"{name}:long_short", pd.Series(np.nan, index=net.index))
    return pd.DataFrame({"hits": hit.sum(axis=1), "pairs": hit.notna().sum(axis=1), "ic": ic[f"{name}:ic"],
                         "rank_ic": ic[f"{name}:rank_ic"], "gross": gross, "net": book,
                         "book_gross": before.get(f"{name}:long_short", pd.Series(np.nan, index=net.index)),
                         "vs_ew": book - net["equal_weight"],
                         "vs_rev": book - net.get("reversal:long_short", np.nan)})


def period_row(days: pd.DataFrame) -> dict[str, str]:
    """The figures of one scorer over some days, formatted."""
    ic_t, _ = t_and_p(days["ic"])
    rank_t, _ = t_and_p(days["rank_ic"])
    ew_t, ew_p = t_and_p(days["vs_ew"])
    rev_t, rev_p = t_and_p(days["vs_rev"])
    acc = days["hits"].sum() / days["pairs"].sum() if days["pairs"].sum() else float("nan")
    return {"acc %": f"{100 * acc:.2f}", "IC (t)": f"{days['ic'].mean():.4f} ({ic_t:.2f})",
            "rank IC (t)": f"{days['rank_ic'].mean():.4f} ({rank_t:.2f})",
            "LS before %/d": f"{100 * days['gross'].mean():.3f}",
            "book before %/d": f"{100 * days['book_gross'].mean():.3f}",
            "LS after %/d": f"{100 * days['net'].mean():.3f}",
            "vs EW %/d (t, p)": f"{100 * days['vs_ew'].mean():+.3f} ({ew_t:.2f}, {ew_p:.2f})",
            "vs reversal %/d (t, p)": "—" if days["vs_rev"].isna().all() or days["vs_rev"].abs().sum() == 0
            else f"{100 * days['vs_rev'].mean():+.3f} ({rev_t:.2f}, {rev_p:.2f})"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a finished universe run folder")
    p.add_argument("--k", type=int, default=None, help="names a leg (default: the run's universe.k)")
    p.add_argument("--scorers", nargs="*", default=None, help="default: every scorer with a long_short book")
    args = p.parse_args()
    config, scores, ic, equity = read_run(args.run)
    universe = _load(config)
    fill = _fill_prices(universe)[0]
    days = equity.index
    ahead = xs.earnable_return(fill).reindex(days)
    labels = above_median_target(universe.field("close"), 1).reindex(days)
    net = equity.pct_change().iloc[1:]  # the first day only decides: no book has a return yet
    gross_file = args.run / "equity_gross.csv"  # the books before costs, where the run wrote them
    before = (pd.read_csv(gross_file, index_col="date", parse_dates=["date"]).pct_change().iloc[1:]
              if gross_file.is_file() else pd.DataFrame(index=net.index))
    k = args.k or config.universe.k
    names = args.scorers or [c.split(":")[0] for c in equity.columns if c.endswith(":long_short")]
    table = Table(title=f"{args.run.name}: per study period, k = {k}, long-short in the paper's accounting")
    for col in ("scorer", "period", "acc %", "IC (t)", "rank IC (t)", "LS before %/d", "book before %/d",
                "LS after %/d", "vs EW %/d (t, p)", "vs reversal %/d (t, p)"):
        table.add_column(col, justify="left" if col in ("scorer", "period") else "right")
    for name in names:
        per_day = scorer_days(name, scores[name].unstack("symbol").reindex(days), ahead, labels, ic, net,
                              before, k)
        per_day = per_day.iloc[1:]  # books start on the second out-of-sample day
        for label, first, last in [*periods(config, universe.calendar), ("all", days[0], days[-1])]:
            window = per_day.loc[first:last]
            if len(window):
                table.add_row(name, f"{label} ({len(window)} d)", *period_row(window).values())
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
