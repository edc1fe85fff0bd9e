"""Writing a universe run to its folder: the same folder machinery as a single-symbol run, other files.

Layout of ``runs/<name>/`` for a universe run::

    config.toml       the resolved configuration, [universe] included
    manifest.json     data (origin, fingerprint, symbols, survivorship), folds, out-of-sample span, fills,
                      timings, artifacts; written last, with "complete": true
    scores.csv.gz     date, symbol, one column per scorer: every out-of-sample score (gzip CSV; pyarrow is
                      not a dependency, and pandas reads it in one line: pd.read_csv("scores.csv.gz"))
    equity.csv        date + one column per book: value after costs
    ic.csv            date + "scorer:ic" and "scorer:rank_ic" per scorer: the daily information coefficients
    symbols.csv       Universe.summary: what loading did to each symbol, and why one was refused
    metrics.json      {"kind": "universe", "ic": [...], "deciles": [...], "trading": [...],
                       "statistics": {"trading": {...}}, "data": {...}, "survivorship": "..." | null}
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from backtest.core.files import (
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    describe,
    verify,
)
from backtest.runs.folder import finish_run_dir
from backtest.runs.store import to_toml

if TYPE_CHECKING:  # only the type: the console that shows a universe run must not load the engine
    from backtest.engine.universe import UniverseResult

UNIVERSE_ARTIFACTS = ["config.toml", "scores.csv.gz", "equity.csv", "ic.csv", "symbols.csv", "metrics.json"]


@dataclass
class UniverseSummary:
    """A written universe run: its folder, its manifest (artifacts recorded) and the result it came from."""

    run_dir: Path
    manifest: dict[str, Any]
    result: UniverseResult


def scores_long(scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Score panels as one long table: date, symbol, one column per scorer; rows no scorer scored dropped."""
    stacked = {name: panel.stack(future_stack=True) for name, panel in scores.items()}
    table = pd.DataFrame(stacked).dropna(how="all")
    table.index.names = ["date", "symbol"]
    table = table.reset_index()
    table["date"] = table["date"].dt.strftime("%Y-%m-%d")
    return table


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    """A date-indexed frame with its dates written as ISO days in a ``date`` column."""
    out = frame.copy()
    out.index = pd.DatetimeIndex(out.index).strftime("%Y-%m-%d")
    return out.rename_axis("date").reset_index()


def metrics(result: UniverseResult) -> dict[str, Any]:
    """metrics.json of a universe run: the IC and trading tables, the tests, what loading did."""
    totals = result.universe.totals()["count"]
    return {
        "kind": "universe",
        "ic": result.ic.reset_index().to_dict(orient="records"),
        "deciles": result.deciles.rename(columns=str).reset_index().to_dict(orient="records"),
        "trading": result.trading.reset_index().to_dict(orient="records"),
        "statistics": {"trading": result.trading_summary},
        "data": {str(k): int(v) for k, v in totals.items()},
        "survivorship": result.universe.survivorship_note,
        "fills": result.fills,
    }


def write_universe(result: UniverseResult, run_dir: Path) -> UniverseSummary:
    """Write every artifact of a universe run; return its summary with the manifest (not yet complete)."""
    atomic_write_text(run_dir / "config.toml", to_toml(result.config))
    csv = scores_long(result.scores).to_csv(index=False, lineterminator="\n").encode("utf-8")
    atomic_write_bytes(run_dir / "scores.csv.gz", gzip.compress(csv, mtime=0))  # mtime=0: same bytes every run
    atomic_write_csv(run_dir / "equity.csv", _dated(result.equity))
    atomic_write_csv(run_dir / "ic.csv", _dated(result.daily_ic))
    atomic_write_csv(run_dir / "symbols.csv", result.universe.summary.reset_index())
    atomic_write_json(run_dir / "metrics.json", metrics(result))
    manifest = {**result.manifest, "artifacts": {name: describe(run_dir / name) for name in UNIVERSE_ARTIFACTS}}
    return UniverseSummary(run_dir, manifest, result)


def mark_universe_complete(summary: UniverseSummary) -> None:
    """Mark the universe run complete once every artifact is still the file the run wrote."""
    verify(summary.run_dir, summary.manifest["artifacts"])
    finish_run_dir(summary.run_dir, summary.manifest)
    shutil.rmtree(summary.run_dir / "partial", ignore_errors=True)
