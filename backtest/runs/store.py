"""Writing a RunResult to its folder, and reading a finished folder back for `show` and `compare`.

Layout of ``runs/<name>/``::

    config.toml       the resolved configuration (every key, defaults included)
    manifest.json     versions, seed, device, data fingerprint, folds, timings; written last
    predictions.csv   date, model, fold, predicted, actual, naive
    folds.csv         model, fold, epochs, best_epoch, train_loss, val_loss, seconds, per-epoch loss curves,
                      date ranges, rows
    equity.csv        date + one column per strategy: portfolio value after costs
    orders.csv        strategy, date, side, size, price, fees: every fill
    insample.csv.gz   date, model, fold, split (train | val), predicted, actual: each network's fit of its
                      fold's training and validation days (gzip; the studies' in-sample pictures)
    metrics.json      {"forecast": [...], "forecast_by_fold": [...], "trading": [...], "look_ahead": false,
                      "study": {...} (a study-protocol run: its split and errors in scaled units), ...}
    report.html       the interactive report (plotly, self-contained)
    equity.png        equity curves and drawdowns (matplotlib)
"""

from __future__ import annotations

import gzip
import json
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from backtest.core.config import RunConfig
from backtest.core.errors import RunDirError
from backtest.core.files import (
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    describe,
    verify,
)
from backtest.core.kinds import Kind, kind_of
from backtest.core.manifest import current_manifest
from backtest.runs.folder import finish_run_dir, read_manifest, require_complete
from strategies.signals import BENCHMARK

if TYPE_CHECKING:  # only the type: reading a run folder must not load torch
    from backtest.engine.pipeline import RunResult


def to_toml(config: RunConfig) -> str:
    """Serialise the resolved config; None values become comments so the file reads back the same."""
    return sections_toml(config.to_dict())


def sections_toml(sections: dict[str, dict[str, Any]],
                  title: str = "Resolved configuration of this run (defaults included).") -> str:
    """A config as TOML tables, one per section; None values become comments so the file reads back the same."""
    lines = [f"# {title}", ""]
    for section, values in sections.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if value is None:
                lines.append(f"# {key} = (not set)")
            else:
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} to TOML")


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")


DATA_ARTIFACTS = ["config.toml", "predictions.csv", "folds.csv", "equity.csv", "metrics.json", "orders.csv",
                  "insample.csv.gz"]
FITS = ("train_fit", "val_fit")  # the fold log's in-sample predictions, written to insample.csv.gz
PICTURES = ["report.html", "equity.png"]


def write_data(result: RunResult, run_dir: Path) -> dict[str, Any]:
    """Write every data artifact of ``result``; return its manifest with their sizes and checksums.

    The pictures (backtest.report.publish) and the manifest itself come after; nothing is marked finished here.
    """
    _write_data(result, run_dir)
    return {**result.manifest, "artifacts": {name: describe(run_dir / name) for name in DATA_ARTIFACTS}}


def mark_complete(summary: RunSummary) -> None:
    """Mark the run complete once every artifact is still the file the run wrote."""
    verify(summary.run_dir, summary.manifest["artifacts"])
    finish_run_dir(summary.run_dir, summary.manifest)
    shutil.rmtree(summary.run_dir / "partial", ignore_errors=True)  # checkpoints are spent once the run is whole


def _write_data(result: RunResult, run_dir: Path) -> None:
    atomic_write_text(run_dir / "config.toml", to_toml(result.config))
    preds = result.predictions.copy()
    preds["date"] = preds["date"].dt.strftime("%Y-%m-%d")
    atomic_write_csv(run_dir / "predictions.csv", preds)
    atomic_write_csv(run_dir / "folds.csv", result.fold_log.drop(columns=list(FITS), errors="ignore"))
    # mtime=0: the same run writes the same bytes (resume and --force compare checksums)
    text = insample_table(result).to_csv(index=False, lineterminator="\n", float_format="%.6g")
    atomic_write_bytes(run_dir / "insample.csv.gz", gzip.compress(text.encode("utf-8"), mtime=0))
    equity = result.equity.copy()
    equity.index = equity.index.strftime("%Y-%m-%d")
    equity.index.name = "date"
    atomic_write_csv(run_dir / "equity.csv", equity, index=True)
    metrics = {
        "forecast": _records(result.forecast_metrics),
        "forecast_by_fold": _records(result.forecast_metrics_by_fold),
        "trading": _records(result.trading_metrics.reset_index()),
        "statistics": result.statistics,
        "benchmark": BENCHMARK,
        "execution": result.config.backtest.execution,
        "out_of_sample": result.manifest["out_of_sample"],
        "look_ahead": result.manifest.get("look_ahead", False),  # true: scalers saw the test days (a study's)
        "study": result.study,
    }
    atomic_write_json(run_dir / "metrics.json", metrics)
    orders = result.orders.copy()
    orders["date"] = pd.to_datetime(orders["date"]).dt.strftime("%Y-%m-%d")
    atomic_write_csv(run_dir / "orders.csv", orders)


def insample_table(result: RunResult) -> pd.DataFrame:
    """Every network's in-sample predictions, long: date, model, fold, split (train | val), predicted, actual.

    A fold's training samples are its rows ``[train_start + lookback, val_start)`` (fewer, from the end, when
    derived features' warm-up trims the first fitting rows), its validation samples ``[val_start, train_end)``,
    in the order the fold log's ``train_fit`` and ``val_fit`` list them.
    """
    columns = ["date", "model", "fold", "split", "predicted", "actual"]
    log = result.fold_log
    if not set(FITS) <= set(log.columns):
        return pd.DataFrame(columns=columns)
    close, folds = result.prices["close"].to_numpy(dtype=np.float64), {f.index: f for f in result.folds}
    lookback, parts = result.config.forecast.lookback, []
    for row in log.itertuples():
        fold = folds[row.fold]
        for split, text, start, end in (("train", row.train_fit, fold.train_start + lookback, fold.val_start),
                                        ("val", row.val_fit, fold.val_start, fold.train_end)):
            values = np.array(str(text).split(), dtype=np.float64) if isinstance(text, str) else np.zeros(0)
            if split == "train":  # derived features' warm-up trims a fold's first fitting rows, never its last
                start = max(start, end - len(values))
            if len(values) == 0 or len(values) != end - start:  # a baseline, or a trainer that kept no weights
                continue
            parts.append(pd.DataFrame({"date": result.prices.index[start:end].strftime("%Y-%m-%d"),
                                       "model": row.model, "fold": row.fold, "split": split, "predicted": values,
                                       "actual": close[start:end]}))
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


@dataclass
class RunSummary:
    """What the console summary needs, read from a finished run folder."""

    kind: ClassVar[Kind] = Kind.SINGLE
    run_dir: Path
    manifest: dict[str, Any]
    forecast: pd.DataFrame
    forecast_by_fold: pd.DataFrame
    trading: pd.DataFrame  # indexed by strategy, in the saved (Sharpe) order
    equity: pd.DataFrame  # DatetimeIndex x strategy
    execution: str
    statistics: dict[str, Any] = field(default_factory=dict)  # {"forecast": {...}, "trading": {...}} set tests
    study: dict[str, Any] = field(default_factory=dict)  # a study-protocol run's split and scaled errors
    look_ahead: bool = False  # the scalers saw the test days (forecast.scaler_fit = "whole_series")

    def predictions(self) -> pd.DataFrame:
        """predictions.csv with parsed dates (read on demand: it is the largest artifact)."""
        return _read_csv(self.run_dir / "predictions.csv", parse_dates=["date"])

    def insample(self) -> pd.DataFrame:
        """insample.csv.gz with parsed dates: the networks' fits of their training and validation days (empty
        for a run saved before it existed)."""
        path = self.run_dir / "insample.csv.gz"
        if not path.exists():
            return pd.DataFrame(columns=["date", "model", "fold", "split", "predicted", "actual"])
        return _read_csv(path, parse_dates=["date"])

    def orders(self) -> pd.DataFrame:
        """orders.csv with parsed dates: every fill (strategy, date, side, size, price, fees)."""
        return _read_csv(self.run_dir / "orders.csv", parse_dates=["date"])

    def folds(self) -> pd.DataFrame:
        return _read_csv(self.run_dir / "folds.csv", parse_dates=["test_start", "test_end"],
                         dtype={"train_curve": str, "val_curve": str})

    def config_text(self) -> str:
        try:
            return (self.run_dir / "config.toml").read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise RunDirError(f"run folder {str(self.run_dir)!r} is damaged ({exc}). Run it again.") from None

    def config(self) -> dict[str, Any]:
        try:
            return tomllib.loads(self.config_text())
        except tomllib.TOMLDecodeError as exc:
            raise RunDirError(f"run folder {str(self.run_dir)!r} has a damaged config.toml ({exc}). "
                              "Run it again.") from None


def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    try:
        return pd.read_csv(path, float_precision="round_trip", **kwargs)
    except (OSError, ValueError) as exc:
        raise RunDirError(f"run folder {str(path.parent)!r} is damaged ({exc}). Run it again.") from None


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """JSON nulls back to NaN: every column but the text ones as numbers."""
    text = {"model", "strategy", "verdict", "in_mcs"}
    return frame.apply(lambda col: col if col.name in text else pd.to_numeric(col, errors="coerce"))


def _numbers(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Metric records as a frame, JSON's null (how a NaN is saved) back to NaN in every numeric column.

    A column that is null on every row (e.g. Theil's U when the naive error is 0) would otherwise come
    back as Python None, which the tables cannot compare or format.
    """
    frame = pd.DataFrame(records)
    for col in frame.columns:
        if frame[col].dtype == object and all(v is None or isinstance(v, int | float) for v in frame[col]):
            frame[col] = pd.to_numeric(frame[col])
    return frame


def load_summary(path: Path, manifest: dict[str, Any] | None = None) -> RunSummary:
    """Read a run folder's artifacts (no completeness check: ``read_run`` does that)."""
    try:
        if manifest is None:
            manifest = current_manifest(json.loads((path / "manifest.json").read_text(encoding="utf-8")))
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        equity = pd.read_csv(path / "equity.csv", index_col="date", parse_dates=["date"])
        trading = _numeric(pd.DataFrame(metrics["trading"]).set_index("strategy"))
        forecast, by_fold = _numeric(_numbers(metrics["forecast"])), _numbers(metrics["forecast_by_fold"])
    except (OSError, ValueError, KeyError, TypeError) as exc:  # ValueError covers bad JSON and bad CSV
        raise RunDirError(f"run folder {str(path)!r} is damaged ({exc}). Run it again.") from None
    return RunSummary(run_dir=path, manifest=manifest, forecast=forecast, forecast_by_fold=by_fold, trading=trading,
                      equity=equity, execution=metrics.get("execution", "next_open"),
                      statistics=metrics.get("statistics", {}), study=metrics.get("study") or {},
                      look_ahead=bool(metrics.get("look_ahead", False)))


# What the console, the pages and compare read from a manifest: section -> keys (None: a plain value).
MANIFEST_KEYS: dict[str, list[str] | None] = {
    "name": None, "seed": None, "device": None, "folds": None,
    "data": ["source", "symbol", "rows", "first", "last"], "out_of_sample": ["first", "last", "days"],
    "artifacts": [],
}


def check_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Refuse a manifest that lacks what the readers need (edited, or written by another program)."""
    if kind_of(manifest) is not Kind.SINGLE:
        raise RunDirError(f"run folder {str(path)!r} is a universe run, not a single-symbol run. Read it with "
                          f"`wfbt show {path}`; compare it with other universe runs only.")
    missing = []
    for key, inner in MANIFEST_KEYS.items():
        if key not in manifest or (inner is not None and not isinstance(manifest[key], dict)):
            missing.append(key)
        elif inner:
            missing += [f"{key}.{k}" for k in inner if k not in manifest[key]]
    if not missing and not all(isinstance(v, dict) for v in manifest["artifacts"].values()):
        missing.append("artifacts (a table per file)")
    if missing:
        raise RunDirError(
            f"run folder {str(path)!r} has a manifest.json without {', '.join(missing)}: it was edited, or written "
            "by another program or an older wfbt (before artifact checksums). Run it again to get a complete folder."
        )


def read_run(run_dir: str | Path) -> RunSummary:
    """A finished run folder's summary, or a RunDirError saying why the folder is not one.

    The folder must be complete, its manifest must hold what the readers need, and every artifact
    must still be the file the run wrote (size, rows, SHA-256), so a cut-off file is never read as
    a shorter run.
    """
    path = require_complete(run_dir)
    manifest = read_manifest(path) or {}
    check_manifest(path, manifest)
    verify(path, manifest["artifacts"])
    return load_summary(path, manifest)
