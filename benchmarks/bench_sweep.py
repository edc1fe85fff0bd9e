"""Benchmark: training time as more sweep cells share each batched group.

Takes the first N cells of a sweep (default configs/sweep_example.toml: the shared price files x window
lengths), plans their training groups exactly as `wfbt sweep` does, and trains every group in this
process, one after another (no Dask, so only batching is measured), for N = 1, 6, 18 by default:

    python benchmarks/bench_sweep.py                          # from the checkout, with ../shared/data beside it
    python benchmarks/bench_sweep.py --cells 1 6 --models gru --device cuda

Prints per N the groups, models, training seconds and seconds per cell. A perfect batcher on an idle
device would train N cells in about the time of one; on a CPU the matrix products grow with N and the
per-step overhead is what is shared.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from backtest.sweep.fanout import plan_sweep, train_group_task
from backtest.sweep.spec import data_key, load_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default="configs/sweep_example.toml")
    parser.add_argument("--cells", type=int, nargs="+", default=[1, 6, 18])
    parser.add_argument("--models", nargs="+", default=None, help="Only these architectures (default: all).")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    if min(args.cells) < 1:
        parser.error("--cells must be positive")
    spec = load_sweep(args.sweep)
    plan = plan_sweep(spec, Path("/nonexistent-bench-out"))
    # grid point first, then symbol: the first 6 cells are the six symbols at one setting, which share groups
    cells = sorted((c for c in plan.cells if c.status == "pending"),
                   key=lambda c: (tuple(str(v) for v in c.values.values()), plan.cells.index(c)))
    table = Table(title=f"Training time vs cells batched together ({args.device}, {args.threads} threads, "
                        f"{spec.name})", title_justify="left")
    for col in ["cells", "groups", "models", "training s", "s per cell"]:
        table.add_column(col, justify="right")
    for n in args.cells:
        chosen = cells[:n]
        groups = {k: v for k, v in plan.groups.items() if args.models is None or k.model in args.models}
        seconds, models, used = 0.0, 0, 0
        for key, members in groups.items():
            mine = [c for c in members if c in chosen]
            if not mine:
                continue
            key = replace(key, device=args.device)
            items = [(c.name, c.config, plan.prices[data_key(c.config)]) for c in mine]
            start = time.perf_counter()
            out = train_group_task(key, items, args.threads)
            seconds += time.perf_counter() - start
            models += sum(len(log) for _, log in out.values()) * mine[0].config.forecast.seeds
            used += 1
        table.add_row(str(len(chosen)), str(used), f"{models:,}", f"{seconds:,.1f}", f"{seconds / len(chosen):,.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
