"""Where training runs and how much of it fits: device choice, the trainer path, memory-sized groups."""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import torch

from backtest.core.errors import ConfigError, DataWarning, WfbtError
from forecasters import kernels
from forecasters.trainer import Member, group_bytes


def kernel_path(device: torch.device) -> str:
    """How the trainer's steps ran: CUDA graphs, fused C kernels or plain torch operations."""
    if device.type == "cuda":
        return "CUDA graphs"
    return "fused C kernels" if kernels.library() is not None else "torch operations"


def resolve_device(choice: str) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("run.device = 'cuda' but torch sees no CUDA GPU. Use --device cpu or auto.")
        return torch.device("cuda")
    return torch.device("cpu")


def prepare_device(choice: str) -> torch.device:
    device = resolve_device(choice)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    return device


def available_bytes(device: torch.device) -> int:
    """Free memory on ``device``: the GPU's free memory, or the machine's available RAM."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 40


MEMORY_SHARE = 0.6  # of free memory a group may plan to use; the rest is headroom


def split_to_fit(arch: Any, members: list[Member], batch_size: int, device: torch.device,
                 budget: int | None = None) -> list[list[Member]]:
    """The group as one chunk if it fits in memory, else as few equal chunks as fit (with a warning).

    Members are independent, so splitting changes which members share a batched product, not what
    any member learns (up to float32 rounding, ~1e-7 relative).
    """
    budget = int(MEMORY_SHARE * available_bytes(device)) if budget is None else budget
    need = group_bytes(arch, members, batch_size)
    if need <= budget:
        return [members]
    one = group_bytes(arch, members[:1], batch_size)
    if one > budget:
        raise WfbtError(
            f"one {arch.name} model needs about {one / 2**20:,.0f} MiB to train but only {budget / 2**20:,.0f} MiB "
            f"of {device} memory is available. Use fewer training days or a smaller batch_size, or free memory."
        )
    per_chunk = max(1, int(len(members) * budget / need))
    n_chunks = math.ceil(len(members) / per_chunk)
    size = math.ceil(len(members) / n_chunks)
    warnings.warn(
        f"{arch.name}: {len(members)} models need about {need / 2**20:,.0f} MiB, more than the "
        f"{budget / 2**20:,.0f} MiB available on {device}; training them in {n_chunks} groups of up to {size}.",
        DataWarning, stacklevel=2,
    )
    bounds = [round(k * len(members) / n_chunks) for k in range(n_chunks + 1)]  # balanced chunk sizes
    return [members[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
