"""Benchmark: the studies' one-model-at-a-time loop against wfbt's batched group trainer.

Same folds, same data, same fixed epoch count (no early stopping), in one process:

    python benchmarks/bench_trainer.py                    # 16 folds, lstm and gru, 5 epochs
    python benchmarks/bench_trainer.py --folds 32 --epochs 3 --models lstm gru gru3
    python benchmarks/bench_trainer.py --repeat 5         # medians of 5 paired runs, speed-up range
    python benchmarks/bench_trainer.py --default-run      # also: the default config's training, both ways
    python benchmarks/bench_trainer.py --members 16 64 256 1024 --epochs 2   # the batched trainer as groups grow

Prints model-epochs per second for each trainer, the speed-up, and the achieved GFLOP/s of the
recurrent and input matrix products (forward + backward = 3x forward) against this machine's
measured float32 matrix-product peak.

``--members N ...`` times the batched trainer alone on groups of N members (the folds, each with
ceil(N / folds) seeds) and splits its time: epoch planning (drawing the shuffles and dropout masks,
gathering the batches, the Adam table: ``trainer._plan_epoch``, ``trainer._batch`` and ``rng.keep_masks``,
timed in place) and loading (initial weights and data onto the device, once per group: ``trainer._start``).
On CUDA the timed calls are synchronised, and inside a captured step graph only the capture is timed:
use ``--no-cuda-graph`` there for the planning share.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from backtest.core.config import DataSection, RunConfig, WalkForwardSection, load_config
from backtest.data.load import load_prices
from backtest.engine.devices import kernel_path, resolve_device
from backtest.engine.forecasting import member_seed
from backtest.engine.schedule import make_folds
from forecasters import rng, trainer
from forecasters.reference import train_reference
from forecasters.registry import ARCHITECTURES, Architecture
from forecasters.trainer import Member, TrainSettings, train_group
from forecasters.windows import fold_data


def matmul_peak(device: torch.device, n: int = 2048, reps: int = 10) -> float:
    """Measured float32 matrix-product GFLOP/s on ``device``."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def train_flops_per_sample(arch: Architecture, n_features: int, lookback: int) -> float:
    """Matrix-product FLOPs of one training sample: forward, plus backward at twice the forward."""
    fwd, inputs = 0.0, n_features
    for h in arch.hidden:
        fwd += lookback * 2 * arch.gates * h * (inputs + h)
        inputs = h
    return 3 * (fwd + 2 * inputs)


def bench_model(arch: Architecture, data: list, epochs: int, device: torch.device,
                cuda_graph: bool = True) -> dict[str, float]:
    settings = TrainSettings(epochs=epochs, batch_size=32, patience=epochs + 1, cuda_graph=cuda_graph)
    members = [Member(d.x_train, d.y_train, d.x_val[:0], d.y_val[:0], d.x_test,
                      member_seed(0, arch.name, i, 0)) for i, d in enumerate(data)]
    # Untimed warm-up of both paths: the first calls in a process pay one-off setup (seconds on a CPU).
    train_reference(arch, members[0].x_train, members[0].y_train, members[0].x_val, members[0].y_val, epochs=1,
                    seed=0, device=str(device))
    train_group(arch, members[:2], TrainSettings(epochs=1, batch_size=32, patience=2, cuda_graph=cuda_graph),
                device=device)
    start = time.perf_counter()
    for mb in members:  # (a) the studies' way: a fresh torch.nn model per fold, one after another
        train_reference(arch, mb.x_train, mb.y_train, mb.x_val, mb.y_val, epochs=epochs, seed=mb.seed,
                        device=str(device))
    if device.type == "cuda":
        torch.cuda.synchronize()
    ref_s = time.perf_counter() - start
    start = time.perf_counter()
    train_group(arch, members, settings, device=device)  # (b) all folds as one group
    if device.type == "cuda":
        torch.cuda.synchronize()
    batched_s = time.perf_counter() - start
    samples = sum(len(mb.x_train) for mb in members) * epochs
    flops = samples * train_flops_per_sample(arch, data[0].x_train.shape[2], data[0].x_train.shape[1])
    model_epochs = len(members) * epochs
    return {"ref_s": ref_s, "batched_s": batched_s, "ref_rate": model_epochs / ref_s,
            "batched_rate": model_epochs / batched_s, "ref_gflops": flops / ref_s / 1e9,
            "batched_gflops": flops / batched_s / 1e9}


@contextlib.contextmanager
def timed(targets: dict[str, tuple[object, str]], device: torch.device) -> Iterator[dict[str, float]]:
    """Time the functions ``targets`` names ({label: (module, attribute)}) wherever they are called from, in
    seconds per label (on CUDA each call is synchronised, which the GPU's own timeline would not need)."""
    seconds = dict.fromkeys(targets, 0.0)
    originals = {label: getattr(module, name) for label, (module, name) in targets.items()}

    def wrap(label: str, fn: Callable) -> Callable:
        def timed_fn(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds[label] += time.perf_counter() - start
            return out
        return timed_fn

    for label, (module, name) in targets.items():
        setattr(module, name, wrap(label, originals[label]))
    try:
        yield seconds
    finally:
        for label, (module, name) in targets.items():
            setattr(module, name, originals[label])


def bench_members(arch: Architecture, data: list, n_members: int, epochs: int, device: torch.device,
                  cuda_graph: bool = True) -> dict[str, float]:
    """The batched trainer alone on ``n_members`` members (folds x seeds), fixed epochs; where its time goes."""
    seeds = math.ceil(n_members / len(data))
    members = [Member(d.x_train, d.y_train, d.x_val[:0], d.y_val[:0], d.x_test,
                      member_seed(0, arch.name, i, k)) for k in range(seeds) for i, d in enumerate(data)][:n_members]
    settings = TrainSettings(epochs=epochs, batch_size=32, patience=epochs + 1, cuda_graph=cuda_graph)
    targets = {"plan": (trainer, "_plan_epoch"), "batch": (trainer, "_batch"), "masks": (rng, "keep_masks"),
               "load": (trainer, "_start")}
    with timed(targets, device) as seconds:
        start = time.perf_counter()
        train_group(arch, members, settings, device=device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        total = time.perf_counter() - start
    planning = seconds["plan"] + seconds["batch"] + seconds["masks"]
    return {"seconds": total, "rate": n_members * epochs / total, "plan_s": planning,
            "plan_share": planning / total, "load_s": seconds["load"], "load_share": seconds["load"] / total}


def members_table(args: argparse.Namespace, data: list, device: torch.device, console: Console) -> None:
    """``--members``: model-epochs/s and the planning share as the group grows."""
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    table = Table(title=f"Batched trainer by group size: {len(data)} folds x seeds, {args.epochs} epochs, batch 32, "
                        f"on {name}", title_justify="left")
    for col in ["model", "members", "training (s)", "model-epochs/s", "planning (s)", "planning %", "loading %"]:
        table.add_column(col, justify="right")
    for model in args.models:
        arch = ARCHITECTURES[model]
        train_group(arch, [Member(d.x_train, d.y_train, d.x_val[:0], d.y_val[:0], d.x_test, i)
                           for i, d in enumerate(data[:2])], TrainSettings(epochs=1), device=device)  # warm-up
        for n in args.members:
            runs = [bench_members(arch, data, n, args.epochs, device, not args.no_cuda_graph)
                    for _ in range(args.repeat)]
            r = {key: float(np.median([run[key] for run in runs])) for key in runs[0]}
            table.add_row(model, f"{n:,}", f"{r['seconds']:.2f}", f"{r['rate']:.1f}", f"{r['plan_s']:.3f}",
                          f"{100 * r['plan_share']:.2f}", f"{100 * r['load_share']:.1f}")
    console.print(table)
    what = f"medians of {args.repeat} runs" if args.repeat > 1 else "one run each; --repeat N for medians"
    console.print(f"torch {torch.__version__}, device {device}, {kernel_path(device)}; {what}. Planning: shuffles, "
                  "dropout masks, batches and Adam table; loading: initial weights and data onto the device.")


def default_run_training(device: torch.device, console: Console) -> None:
    """The default config's training stage (early stopping on), one model at a time vs batched."""
    cfg: RunConfig = load_config("configs/default.toml")
    prices = load_prices(cfg.data)
    folds = make_folds(len(prices), cfg.walkforward)
    fc, tr = cfg.forecast, cfg.training
    data = [fold_data(prices, f.train, f.val, f.test, fc.features, fc.lookback, fc.scaler) for f in folds]
    settings = TrainSettings(tr.epochs, tr.batch_size, tr.lr, tr.patience, tr.min_delta)
    ref_total = batched_total = 0.0
    for name in fc.models:
        arch = ARCHITECTURES[name]
        members = [Member(d.x_train, d.y_train, d.x_val, d.y_val, d.x_test, member_seed(0, name, i, 0))
                   for i, d in enumerate(data)]
        start = time.perf_counter()
        for mb in members:
            train_reference(arch, mb.x_train, mb.y_train, mb.x_val, mb.y_val, epochs=tr.epochs, lr=tr.lr,
                            patience=tr.patience, seed=mb.seed, device=str(device))
        ref_total += time.perf_counter() - start
        start = time.perf_counter()
        train_group(arch, members, settings, device=device)
        batched_total += time.perf_counter() - start
    console.print(f"default config training ({len(folds)} folds x {len(fc.models)} architectures, early stopping): "
                  f"one at a time {ref_total:.1f}s, batched {batched_total:.1f}s, "
                  f"speed-up {ref_total / batched_total:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["lstm", "gru"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--default-run", action="store_true")
    parser.add_argument("--no-cuda-graph", action="store_true", help="on CUDA, launch each step's kernels eagerly")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time both trainers this many times (paired) and report medians and the speed-up range")
    parser.add_argument("--members", type=int, nargs="+", metavar="N",
                        help="time the batched trainer alone on groups of N members (folds x seeds) instead")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    if args.members and min(args.members) < 1:
        parser.error(f"--members must be at least 1, got {min(args.members)}")

    console = Console()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    prices = load_prices(DataSection(source="sample", symbol="sp500"))
    wf = WalkForwardSection(train_days=750, val_days=0, test_days=63, max_folds=args.folds)
    folds = make_folds(len(prices), wf)
    data = [fold_data(prices, f.train, f.val, f.test, ["open", "high", "low", "close"], 5, "standard") for f in folds]
    if args.members:
        members_table(args, data, device, console)
        return
    peak = matmul_peak(device)
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    table = Table(title=f"Training throughput: {len(folds)} folds of the S&P 500 sample (750-day rolling window, "
                        f"63-day step), {args.epochs} epochs, batch 32, on {name}", title_justify="left")
    for col in ["model", "one at a time (s)", "batched (s)", "model-epochs/s (one at a time)",
                "model-epochs/s (batched)", "speed-up", "GFLOP/s one / batched", f"% of {peak:.0f} GFLOP/s peak"]:
        table.add_column(col, justify="right")
    for model in args.models:
        runs = [bench_model(ARCHITECTURES[model], data, args.epochs, device, cuda_graph=not args.no_cuda_graph)
                for _ in range(args.repeat)]
        r = {key: float(np.median([run[key] for run in runs])) for key in runs[0]}
        ups = [run["ref_s"] / run["batched_s"] for run in runs]
        spread = f" ({min(ups):.1f}-{max(ups):.1f})" if len(runs) > 1 else ""
        table.add_row(model, f"{r['ref_s']:.2f}", f"{r['batched_s']:.2f}", f"{r['ref_rate']:.1f}",
                      f"{r['batched_rate']:.1f}", f"{np.median(ups):.1f}x{spread}",
                      f"{r['ref_gflops']:.1f} / {r['batched_gflops']:.1f}",
                      f"{100 * r['ref_gflops'] / peak:.2g} / {100 * r['batched_gflops'] / peak:.2g}")
    console.print(table)
    graphs = ", " + ("launched one by one (--no-cuda-graph)" if args.no_cuda_graph else kernel_path(device))
    what = (f"medians of {args.repeat} paired runs, speed-up range in brackets" if args.repeat > 1
            else "numbers are one run; --repeat N for medians and the spread")
    console.print(f"torch {torch.__version__}, device {device}{graphs}; {what}.")
    if args.default_run:
        default_run_training(device, console)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
