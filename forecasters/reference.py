"""The plain torch.nn model each registry entry stands for, and the one-model-at-a-time trainer.

``ReferenceModel`` is the studies' network written with torch.nn modules. Its parameters, flattened
in ``parameters()`` order, are exactly one member's row in the batched group (forecasters.batched).
``train_reference`` trains one model the way the studies do (shuffled minibatches of 32, torch.optim.Adam,
a fresh model per fold; batches are sliced from a tensor rather than collated by a DataLoader, which
only makes this baseline faster);
wfbt itself trains with the batched trainer and keeps this loop as the benchmark's baseline and the
tests' ground truth.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from forecasters.registry import Architecture


class ReferenceModel(nn.Module):
    def __init__(self, arch: Architecture, n_features: int) -> None:
        super().__init__()
        cell = nn.LSTM if arch.cell == "lstm" else nn.GRU
        sizes = (n_features, *arch.hidden)
        self.layers = nn.ModuleList(cell(i, h, batch_first=True) for i, h in zip(sizes[:-1], sizes[1:], strict=False))
        self.drop = nn.Dropout(arch.dropout)
        self.head = nn.Linear(sizes[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, L, F) -> (B,)
        for i, layer in enumerate(self.layers):
            x, _ = layer(x)  # (B, L, H_i)
            if i < len(self.layers) - 1:
                x = self.drop(x)
        return self.head(self.drop(x[:, -1])).squeeze(-1)


def init_reference(arch: Architecture, n_features: int, seed: int) -> ReferenceModel:
    """A freshly initialised model whose weights depend on ``seed`` alone, not on global RNG state."""
    with torch.random.fork_rng(devices=[]):
        # The CPU generator alone, which is what nn initialisation draws from (torch.manual_seed would also
        # queue seeds for every accelerator backend, ~2 ms a call with a captured stack trace each).
        torch.default_generator.manual_seed(seed)
        return ReferenceModel(arch, n_features)


def flatten(model: nn.Module) -> torch.Tensor:
    """All parameters in ``parameters()`` order as one vector: a member's row in a group."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def train_reference(
    arch: Architecture,
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
    *, epochs: int, batch_size: int = 32, lr: float = 1e-3, patience: int = 5, min_delta: float = 0.0,
    seed: int = 0, device: str = "cpu",
) -> tuple[ReferenceModel, int, list[float]]:
    """Train one model alone; returns (model with best weights, best epoch, validation losses)."""
    model = init_reference(arch, x_train.shape[-1], seed).to(device)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x_train).to(device), torch.from_numpy(y_train).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xv, yv = torch.from_numpy(x_val).to(device), torch.from_numpy(y_val).to(device)
    best, best_state, best_epoch, bad, history = math.inf, copy.deepcopy(model.state_dict()), 0, 0, []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(xt), generator=gen).to(device)  # what DataLoader(shuffle=True) draws
        for start in range(0, len(xt), batch_size):
            batch = order[start:start + batch_size]
            xb, yb = xt[batch], yt[batch]
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            opt.step()
        if len(xv) == 0:
            best_state, best_epoch = copy.deepcopy(model.state_dict()), epoch
            continue
        model.eval()
        with torch.no_grad():
            val = nn.functional.mse_loss(model(xv), yv).item()
        history.append(val)
        if val < best - min_delta:
            best, best_state, best_epoch, bad = val, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            bad += 1
            if bad >= patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return model, best_epoch, history
