"""Shared test helpers: one seeded synthetic price generator and a tiny, fast config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.core.config import load_config

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def synthetic_prices(n: int = 420, seed: int = 0, start: str = "2015-01-01") -> pd.DataFrame:
    """A seeded random walk with consistent OHLCV: open/close inside [low, high], positive prices."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.004, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.005, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.005, n)))
    volume = rng.integers(1_000_000, 5_000_000, n).astype(float)
    index = pd.bdate_range(start, periods=n, name="date")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def write_yahoo_csv(frame: pd.DataFrame, path: Path) -> Path:
    out = frame.rename(columns=str.title).rename_axis("Date").reset_index()
    out.insert(5, "Adj Close", out["Close"])
    out.to_csv(path, index=False)
    return path


TINY = [
    "walkforward.train_days=160", "walkforward.val_days=40", "walkforward.test_days=40",
    "forecast.models=['lstm']", "training.epochs=2", "training.patience=2",
]


def tiny_config(*extra: str, csv: Path | None = None):  # type: ignore[no-untyped-def]
    overrides = list(TINY)
    if csv is not None:
        overrides += ["data.source='csv'", f"data.path={str(csv)!r}"]
    return load_config(None, overrides + list(extra))


@pytest.fixture
def prices() -> pd.DataFrame:
    return synthetic_prices()


@pytest.fixture(autouse=True)
def _tracebacks_in_tmp_path(tmp_path, monkeypatch):
    """The CLI's last-resort handler saves tracebacks in the temp folder: keep the tests' out of /tmp."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))


def said(result) -> str:
    """A CliRunner result's output on one line, as the messages are matched."""
    return " ".join(result.output.split())


def run_args(csv: Path, out: Path, *sets: str) -> list[str]:
    """`wfbt run --quiet` of a CSV file with the tiny settings and ``sets`` on top."""
    args = ["run", "--quiet", "--out", str(out), "--set", "data.source='csv'", "--set", f"data.path={str(csv)!r}"]
    for item in [*TINY, *sets]:
        args += ["--set", item]
    return args


def sweep_text(name: str = "s", grid: str = "'forecast.lookback' = [5, 10]", symbols: str = '["sample:sp500"]') -> str:
    """A sweep file of one symbol and ``grid``, as text."""
    return f"[sweep]\nname = {json.dumps(name)}\nsymbols = {symbols}\n[grid]\n{grid}\n"


def synthetic_universe(n_symbols: int = 8, n_days: int = 300, seed: int = 0) -> dict[str, pd.DataFrame]:
    """``n_symbols`` seeded random walks (symbols S0, S1, ...), each ``synthetic_prices`` with its own seed."""
    return {f"S{i}": synthetic_prices(n_days, seed=seed + i) for i in range(n_symbols)}


def write_long_csv(frames: dict[str, pd.DataFrame], path: Path) -> Path:
    """A long file (Date, Open, High, Low, Close, Volume, Name), as Kaggle's S&P 500 file is laid out."""
    parts = [f.rename(columns=str.title).rename_axis("Date").reset_index().assign(Name=s) for s, f in frames.items()]
    pd.concat(parts).to_csv(path, index=False)
    return path


def write_wide_csv(frames: dict[str, pd.DataFrame], path: Path) -> Path:
    """A wide close-only file: Date, then one close column per symbol."""
    pd.DataFrame({s: f["close"] for s, f in frames.items()}).rename_axis("Date").reset_index().to_csv(path, index=False)
    return path


def write_folder(frames: dict[str, pd.DataFrame], folder: Path) -> Path:
    """A folder of per-symbol Yahoo-style files, <symbol>.csv each."""
    folder.mkdir(parents=True, exist_ok=True)
    for symbol, frame in frames.items():
        write_yahoo_csv(frame, folder / f"{symbol}.csv")
    return folder


# A universe run small enough for a test: 8 names, k = 2 a leg, 4 folds of 40 days out of sample; the baselines
# and two rule books (a universe's own defaults, said here because `wfbt run` without a file reads
# configs/default.toml, whose single-symbol models and rules a universe run would otherwise take)
UNIVERSE_TINY = [
    "universe.enabled=true", "universe.k=2", "universe.n_drop=1", "universe.min_symbols=4",
    "walkforward.train_days=160", "walkforward.val_days=40", "walkforward.test_days=40",
    "statistics.pbo_blocks=4", "statistics.bootstrap_reps=200", "forecast.models=[]",
    "strategies.rules=['forecast', 'vote']",
]


def universe_config(path: Path, *extra: str):  # type: ignore[no-untyped-def]
    """A RunConfig of the tiny universe run on ``path``, with ``extra`` overrides on top."""
    return load_config(None, ["data.source='csv'", f"data.path={str(path)!r}", *UNIVERSE_TINY, *extra])
