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
