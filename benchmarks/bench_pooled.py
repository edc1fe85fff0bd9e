"""Benchmark: pooled universe training per fold, wfbt's batched trainer against a plain torch loop.

Both train one pooled network per fold on the same windows (forecasters.panel, every symbol's return
sequences of the fold): wfbt trains every fold as one member of one batched group
(backtest.engine.pooled); the plain loop trains one ``nn.LSTM`` / ``nn.GRU`` per fold after the other,
as Qlib's ``pytorch_lstm`` does: shuffled index batches, Adam, the validation loss after every epoch,
early stopping with patience and the best epoch's weights kept.

    python benchmarks/bench_pooled.py --stocks 100 --lookback 20 --folds 2 --epochs 3
    python benchmarks/bench_pooled.py --synthetic --stocks 400 --days 1000 --lookback 240
    python benchmarks/bench_pooled.py --preset fk        # Fischer & Krauss's shape: 505 stocks, 240 returns, lstm25
    python benchmarks/bench_pooled.py --preset example   # configs/universe_example.toml's: lookback 5, lstm 64

Prints seconds per fold for both, the speed-up, and the achieved GFLOP/s of the recurrent and input
matrix products against this machine's measured float32 matrix-product peak (bench_trainer's helpers).
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's wfbt, also when run as a script

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from backtest.engine.devices import resolve_device  # noqa: E402
from backtest.engine.forecasting import train_members  # noqa: E402
from backtest.engine.pooled import fold_windows, pooled_members  # noqa: E402
from backtest.engine.schedule import Fold  # noqa: E402
from benchmarks.bench_trainer import matmul_peak, train_flops_per_sample  # noqa: E402
from forecasters.panel import PanelWindows  # noqa: E402
from forecasters.registry import Architecture, get_architecture  # noqa: E402
from forecasters.trainer import TrainSettings  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "sp500_5yr.csv.gz"


def real_close(stocks: int, days: int | None) -> pd.DataFrame:
    """The shared S&P 500 file's close panel: the first ``stocks`` symbols, the last ``days`` rows."""
    from backtest.data.universe import load_universe

    close = load_universe(str(SHARED)).prices["close"].unstack("symbol")
    close = close.iloc[:, :stocks]
    return close if days is None else close.iloc[-days:]


def synthetic_close(stocks: int, days: int, seed: int = 0) -> pd.DataFrame:
    """Seeded random walks, each listed from a random row in the first fifth (ragged like a real universe)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, (days, stocks)), axis=0))
    for s, first in enumerate(rng.integers(0, days // 5, stocks)):
        close[:first, s] = np.nan
    return pd.DataFrame(close, index=pd.bdate_range("2013-01-01", periods=days),
                        columns=[f"S{s:03d}" for s in range(stocks)])


def rolling_folds(n_rows: int, folds: int, train: int, val: int, test: int) -> list[Fold]:
    """The last ``folds`` rolling folds that fit in ``n_rows`` (train includes its validation tail)."""
    last = n_rows - folds * test
    if last < train:
        raise SystemExit(f"{n_rows} rows hold fewer than {folds} folds of {train} + {test} days; "
                         "use fewer folds or days, or --days larger.")
    out = []
    for k in range(folds):
        start = last - train + k * test
        out.append(Fold(k, start, start + train - val, start + train, start + train, start + train + test))
    return out


class PlainNet(torch.nn.Module):
    """Qlib's pytorch_lstm model: a torch recurrent stack, the last step's state, a linear head."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        cell = torch.nn.LSTM if arch.cell == "lstm" else torch.nn.GRU
        self.rnn = cell(1, arch.hidden[0], num_layers=len(arch.hidden), batch_first=True,
                        dropout=arch.dropout if len(arch.hidden) > 1 else 0.0)
        self.drop = torch.nn.Dropout(arch.dropout)  # wfbt's dropout after the (last) layer
        self.head = torch.nn.Linear(arch.hidden[0], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(self.drop(out[:, -1])).squeeze(-1)


def plain_fold(arch: Architecture, w: PanelWindows, settings: TrainSettings, seed: int) -> int:
    """Train one fold's pooled network the plain way; returns the epochs run."""
    torch.manual_seed(seed)
    net = PlainNet(arch)
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
    x, y = torch.from_numpy(w.x_train), torch.from_numpy(w.y_train)
    xv, yv = torch.from_numpy(w.x_val), torch.from_numpy(w.y_val)
    best, best_state, bad, ran = math.inf, None, 0, 0
    for _ in range(settings.epochs):
        ran += 1
        net.train()
        for rows in torch.randperm(len(x)).split(settings.batch_size):
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(x[rows]), y[rows]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            val = float(torch.nn.functional.mse_loss(net(xv), yv))
        if val < best - settings.min_delta:
            best, best_state, bad = val, copy.deepcopy(net.state_dict()), 0
        else:
            bad += 1
            if bad >= settings.patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    return ran


def time_plain(arch: Architecture, windows: list[PanelWindows], settings: TrainSettings) -> tuple[float, int]:
    """Seconds and sample-epochs of the plain loop over every fold."""
    start, work = time.perf_counter(), 0
    for k, w in enumerate(windows):
        work += plain_fold(arch, w, settings, k) * len(w.x_train)
    return time.perf_counter() - start, work


def time_pooled(arch: Architecture, folds: list[Fold], windows: list[PanelWindows], settings: TrainSettings,
                device: torch.device) -> tuple[float, int]:
    """Seconds and sample-epochs of wfbt's pooled training: every fold one member of one group."""
    members = pooled_members(arch.name, folds, windows, seed=0, seeds=1)
    start = time.perf_counter()
    results, _ = train_members(arch, members, settings, device)
    seconds = time.perf_counter() - start
    return seconds, sum(r.epochs * len(w.x_train) for r, w in zip(results, windows, strict=True))


def warm_up(arch: Architecture, folds: list[Fold], windows: list[PanelWindows], device: torch.device) -> None:
    """One untimed epoch of both on a slice of the data: the first calls in a process pay one-off setup."""
    small = [PanelWindows(**{**w.__dict__, "x_train": w.x_train[:256], "y_train": w.y_train[:256]})
             for w in windows[:1]]
    settings = TrainSettings(epochs=1, batch_size=64, patience=2)
    time_plain(arch, small, settings)
    time_pooled(arch, folds[:1], small, settings, device)


# The two shapes issue 32 asks about, as the configs run them (one fold each; --folds to change):
# configs/fischer_krauss.toml (750 training days of which 150 validate, 505 stocks, 240 returns, lstm25,
# batch 512) and configs/universe_example.toml (504 / 126 days, lookback 5, lstm 64 units, batch 512).
PRESETS = {
    "fk": dict(stocks=505, lookback=240, model="lstm25", batch_size=512, train_days=750, val_days=150,
               test_days=250, folds=1, epochs=1),
    "example": dict(stocks=505, lookback=5, model="lstm", batch_size=512, train_days=504, val_days=126,
                    test_days=63, folds=2, epochs=2),
}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), help="a named shape; other flags given are ignored")
    p.add_argument("--stocks", type=int, default=100)
    p.add_argument("--days", type=int, default=None, help="last rows of the panel (default: all)")
    p.add_argument("--synthetic", action="store_true", help="seeded random walks instead of the shared file")
    p.add_argument("--lookback", type=int, default=20)
    p.add_argument("--folds", type=int, default=2)
    p.add_argument("--train-days", type=int, default=500)
    p.add_argument("--val-days", type=int, default=100)
    p.add_argument("--test-days", type=int, default=100)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--model", default="lstm")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    if args.preset:
        for key, value in PRESETS[args.preset].items():
            setattr(args, key, value)
    return args


def report(rows: list[tuple[str, float, int]], folds: int, flops: float, peak: float) -> Table:
    """The result table: seconds per fold, speed-up against the plain loop, GFLOP/s and share of peak."""
    table = Table(title=f"pooled training per fold (float32 matmul peak {peak:.0f} GFLOP/s)")
    for col in ("trainer", "s / fold", "speed-up", "GFLOP/s", "share of peak"):
        table.add_column(col, justify="right")
    plain = rows[0][1]
    for name, seconds, work in rows:
        gflops = flops * work / seconds / 1e9
        table.add_row(name, f"{seconds / folds:.2f}", f"{plain / seconds:.1f}x", f"{gflops:.1f}",
                      f"{gflops / peak:.1%}")
    return table


def main() -> None:
    args = parse()
    device = resolve_device(args.device)
    days = args.days or (args.folds * args.test_days + args.train_days + args.lookback)
    close = synthetic_close(args.stocks, days) if args.synthetic else real_close(args.stocks, args.days)
    folds = rolling_folds(len(close), args.folds, args.train_days, args.val_days, args.test_days)
    windows = fold_windows(close, folds, args.lookback, "return")
    arch = get_architecture(args.model)
    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, patience=args.patience)
    console = Console()
    console.print(f"{close.shape[1]} stocks x {len(close)} days, lookback {args.lookback}, {args.folds} folds, "
                  f"{sum(len(w.x_train) for w in windows):,} training windows, {args.epochs} epochs, "
                  f"batch {args.batch_size}, {arch.name} {arch.hidden}, {device}, {torch.get_num_threads()} threads")
    warm_up(arch, folds, windows, device)
    rows = [("plain torch loop", *time_plain(arch, windows, settings)),
            ("wfbt pooled group", *time_pooled(arch, folds, windows, settings, device))]
    flops, peak = train_flops_per_sample(arch, 1, args.lookback), matmul_peak(device)
    console.print(report(rows, args.folds, flops, peak))
    windows_per_fold = sum(len(w.x_train) for w in windows) / args.folds
    epochs_run = rows[1][2] / (windows_per_fold * args.folds)  # epochs of the pooled group (early stop may cut)
    at_peak = flops * windows_per_fold / (peak * 1e9)
    measured = rows[1][1] / args.folds / max(epochs_run, 1e-9)
    console.print(f"one epoch of one fold: {flops * windows_per_fold / 1e12:.3f} TFLOP of matrix products, "
                  f"{at_peak:.1f} s at the measured peak; the pooled group took {measured:.1f} s "
                  f"({measured / at_peak:.1f}x the arithmetic)")


if __name__ == "__main__":
    main()
