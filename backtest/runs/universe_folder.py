"""Reading a universe run's folder back: what its console summary, report.html, `show` and `compare` need.

The run itself shows the summary read back from the files it has just written (as a single-symbol run
does), so ``wfbt show`` prints the same text from the folder alone. Nothing here loads the engine.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from backtest.core.errors import RunDirError
from backtest.core.files import verify
from backtest.core.kinds import Kind, kind_of
from backtest.runs.folder import read_manifest, require_complete

UNIVERSE_DATA = ["config.toml", "scores.csv.gz", "equity.csv", "equity_gross.csv", "ic.csv", "turnover.csv",
                 "symbols.csv", "metrics.json"]
UNIVERSE_PICTURES = ["report.html"]
TRAINING_LOG = "folds.csv"  # the networks' training log, written when the run trained any (older runs: none)
TEXT_COLUMNS = {"scorer", "book", "verdict", "ic_verdict", "rank_ic_verdict", "group"}


@dataclass
class UniverseSummary:
    """A written universe run, read from its folder: the tables the console and the pages show."""

    kind: ClassVar[Kind] = Kind.UNIVERSE
    run_dir: Path
    manifest: dict[str, Any]
    config: dict[str, Any]  # config.toml as read by tomllib (every key, defaults included)
    ic: pd.DataFrame  # scorer rows: ic, rank_ic, icir, t_hac, positive, spread, days (accuracy), *_close
    trading: pd.DataFrame  # book rows: mean_gross, mean_net, sharpe, turnover, ..., psr, dsr, verdict
    trading_summary: dict[str, Any]  # SPA, PBO, trials, significance
    deciles: pd.DataFrame  # scorer rows x deciles "1".."10": mean next return
    totals: dict[str, int]  # what loading did, in total
    survivorship: str | None
    fills: str
    equity: pd.DataFrame  # DatetimeIndex x books, after costs
    daily_ic: pd.DataFrame  # DatetimeIndex x "scorer:ic" / "scorer:rank_ic" / "scorer:spread" / "scorer:q1".. (deciles)
    turnover: pd.DataFrame  # DatetimeIndex x books: one-way turnover per day (fraction of the book)
    symbols: pd.DataFrame  # symbols.csv: per symbol, what loading did
    tearsheet: dict[str, Any] = field(default_factory=dict)  # metrics.json's tear sheet (runs.universe.tearsheet)
    forecast_return: str = "close t → close t+1"  # what IC and deciles are measured on (older runs: close to close)
    ic_by_group: pd.DataFrame | None = None  # with universe.groups: (scorer, group) rows of IC, rank IC, t, stocks
    horizon_return: str | None = None  # with universe.horizon > 1: what the ic table's *_h columns are measured on
    gross_equity: pd.DataFrame | None = None  # DatetimeIndex x books, before costs (None: written before it existed)
    training: pd.DataFrame | None = None  # folds.csv: the networks' training log (None: none trained, or older run)

    @property
    def name(self) -> str:
        return str(self.config.get("run", {}).get("name", self.run_dir.name))

    def config_text(self) -> str:
        return _read(self.run_dir, lambda: (self.run_dir / "config.toml").read_text(encoding="utf-8"))

    def scores(self) -> pd.DataFrame:
        """scores.csv.gz with parsed dates (read on demand: the largest artifact)."""
        return _read(self.run_dir, lambda: pd.read_csv(self.run_dir / "scores.csv.gz", parse_dates=["date"]))


def quantile_returns(daily_ic: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """ic.csv's "scorer:q1", "scorer:q2", ... columns as one frame per scorer (columns 1, 2, ...: each quantile's
    daily mean earnable return), for the scorers with at least one such return (none in an older run's ic.csv)."""
    found = daily_ic.columns.str.extract(r"^(.*):q(\d+)$")
    out = {}
    for scorer in found[0].dropna().unique():
        keep = (found[0] == scorer).to_numpy()
        frame = daily_ic.loc[:, keep].set_axis(found.loc[keep, 1].astype(int).to_list(), axis=1).sort_index(axis=1)
        if frame.notna().any().any():
            out[str(scorer)] = frame
    return out


def _read(path: Path, read: Any) -> Any:
    """``read()``, or a RunDirError naming the folder when a file is missing or malformed."""
    try:
        return read()
    except (OSError, ValueError, KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
        raise RunDirError(f"run folder {str(path)!r} is damaged ({exc}). Run it again.") from None


def _table(records: list[dict[str, Any]], index: str) -> pd.DataFrame:
    """metrics.json records as a frame indexed by ``index``, JSON null back to NaN in the number columns."""
    frame = pd.DataFrame(records).set_index(index)
    for col in frame.columns:
        if col not in TEXT_COLUMNS:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def _dated(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, index_col="date", parse_dates=["date"], float_precision="round_trip")


def _load(path: Path, manifest: dict[str, Any]) -> UniverseSummary:
    metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    return UniverseSummary(
        run_dir=path, manifest=manifest, config=tomllib.loads((path / "config.toml").read_text(encoding="utf-8")),
        ic=_table(metrics["ic"], "scorer"), trading=_table(metrics["trading"], "book"),
        trading_summary=metrics["statistics"]["trading"], deciles=_table(metrics["deciles"], "scorer"),
        totals={str(k): int(v) for k, v in metrics["data"].items()}, survivorship=metrics["survivorship"],
        fills=str(metrics["fills"]), equity=_dated(path / "equity.csv"), daily_ic=_dated(path / "ic.csv"),
        turnover=_dated(path / "turnover.csv"),
        symbols=pd.read_csv(path / "symbols.csv", keep_default_na=False, na_values=[""]),
        forecast_return=str(metrics.get("forecast_return", "close t → close t+1")),
        tearsheet=metrics.get("tearsheet", {}),
        ic_by_group=_table(metrics["ic_by_group"], "scorer") if metrics.get("ic_by_group") else None,
        horizon_return=metrics.get("horizon_return"),
        gross_equity=_dated(path / "equity_gross.csv") if (path / "equity_gross.csv").is_file() else None,
        training=_training(path, manifest),
    )


def _training(path: Path, manifest: dict[str, Any]) -> pd.DataFrame | None:
    """folds.csv, when the run wrote one (symbols as text, losses bit for bit)."""
    if TRAINING_LOG not in (manifest.get("artifacts") or {}):
        return None
    return pd.read_csv(path / TRAINING_LOG, float_precision="round_trip", dtype={"symbol": str},
                       keep_default_na=False, na_values=[""])


def load_universe_summary(path: Path, manifest: dict[str, Any]) -> UniverseSummary:
    """Read a universe run folder's artifacts (no completeness check: ``read_universe`` does that)."""
    return _read(path, lambda: _load(path, manifest))


def read_universe(run_dir: str | Path) -> UniverseSummary:
    """A finished universe run's summary, or a RunDirError saying why the folder is not one.

    The folder must be complete and every artifact still the file the run wrote (size, rows, SHA-256).
    """
    path = require_complete(run_dir)
    manifest = read_manifest(path) or {}
    if kind_of(manifest) is not Kind.UNIVERSE:
        raise RunDirError(f"run folder {str(path)!r} is not a universe run. `wfbt show {path}` reads it as a "
                          "single-symbol run.")
    if not isinstance(manifest.get("artifacts"), dict) or "turnover.csv" not in manifest["artifacts"]:
        raise RunDirError(f"run folder {str(path)!r} was written by an older wfbt (no turnover.csv) or edited. "
                          "Run it again with the same config to read it.")
    verify(path, manifest["artifacts"])
    return load_universe_summary(path, manifest)
