"""Benchmark: one `wfbt run` alone against N of them started together on the same machine.

Each run is a real `wfbt run --quiet` subprocess on a tiny config (the test suite's TINY settings: one
LSTM, 7 folds, a few epochs). Rounds alternate "alone" and "together" so that load from anything else
on the machine falls on both; the table gives the median and range of every run's wall time and of
the training time its manifest records.

    python benchmarks/bench_concurrent.py                       # 2 at once, 3 rounds
    python benchmarks/bench_concurrent.py --runs 2 --repeat 5 --epochs 6
    python benchmarks/bench_concurrent.py --env OMP_WAIT_POLICY=ACTIVE     # OpenMP workers spin
    python benchmarks/bench_concurrent.py --threads 1           # each run limited to one thread
    python benchmarks/bench_concurrent.py --data ../shared/data/GSPC_daily.csv

Two runs at once on a machine whose cores they share should each take about twice one run alone (the
cores are shared), not many times longer (threads waiting for each other: docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

TINY = ["walkforward.train_days=160", "walkforward.val_days=40", "walkforward.test_days=40",
        "forecast.models=['lstm']", "training.patience=100"]


def synthetic_csv(path: Path, n: int = 420, seed: int = 0) -> Path:
    """A seeded random-walk OHLCV file in Yahoo's layout."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.004, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.005, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.005, n)))
    frame = pd.DataFrame({"Date": pd.bdate_range("2015-01-01", periods=n).strftime("%Y-%m-%d"), "Open": open_,
                          "High": high, "Low": low, "Close": close, "Adj Close": close,
                          "Volume": rng.integers(1_000_000, 5_000_000, n)})
    frame.to_csv(path, index=False)
    return path


def command(args: argparse.Namespace, csv: Path, out: Path, name: str) -> list[str]:
    cmd = [sys.executable, "-m", "backtest", "run", "--quiet", "--out", str(out), "--set", f"run.name={name!r}",
           "--set", "data.source='csv'", "--set", f"data.path={str(csv)!r}",
           "--set", f"training.epochs={args.epochs}"]
    if args.data is not None:
        cmd += ["--set", "data.start='2010-01-01'"]
    for item in TINY:
        cmd += ["--set", item]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    return cmd


def launch(args: argparse.Namespace, csv: Path, out: Path, names: list[str]) -> list[tuple[float, float]]:
    """Start one run per name at once; (wall seconds, training seconds from its manifest) for each."""
    env = {**os.environ, **dict(e.split("=", 1) for e in args.env)}
    start = time.perf_counter()
    procs = [subprocess.Popen(command(args, csv, out, n), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for n in names]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate()
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"a run failed (exit {proc.returncode}):\n{stderr}")
        folder = Path(stdout.strip().splitlines()[-1])
        training = json.loads((folder / "manifest.json").read_text())["timings_s"]["training"]
        results.append((wall, training))
    return results


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2, help="runs started together")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of (alone, together)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="pass --threads N to every run")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the runs' environment")
    parser.add_argument("--data", type=Path, default=None, help="a price CSV (default: synthetic, 420 rows)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "runs"
        csv = args.data.resolve() if args.data else synthetic_csv(Path(tmp) / "prices.csv")
        launch(args, csv, out, ["warm-up"])  # compiles the C kernels once, fills the page cache
        alone: list[tuple[float, float]] = []
        together: list[tuple[float, float]] = []
        for r in range(args.repeat):
            alone += launch(args, csv, out, [f"alone-{r}"])
            together += launch(args, csv, out, [f"together-{r}-{k}" for k in range(args.runs)])
    table = Table(title=f"wfbt run, alone and {args.runs} at once: median (min-max) seconds over "
                        f"{args.repeat} round(s); {len(os.sched_getaffinity(0))} cores; load average "
                        f"{os.getloadavg()[0]:.1f}", title_justify="left")
    for col in ["", "runs", "wall s", "training s", "training vs alone"]:
        table.add_column(col, justify="left" if not col else "right")
    base = statistics.median([t for _, t in alone])
    for label, rows in (("alone", alone), (f"{args.runs} at once", together)):
        table.add_row(label, str(len(rows)), spread([w for w, _ in rows]), spread([t for _, t in rows]),
                      f"{statistics.median([t for _, t in rows]) / base:.1f}x")
    Console().print(table)
    print(f"settings: epochs={args.epochs}, threads={args.threads or 'auto'}, env={args.env or 'unchanged'}")


if __name__ == "__main__":
    main()
