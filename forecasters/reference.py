"""The plain torch.nn model each registry entry stands for, and the one-model-at-a-time trainer.

``ReferenceModel`` is the studies' network written with torch.nn modules. Its parameters, flattened
in ``parameters()`` order, are exactly one member's row in the batched group (forecasters.batched).
``train_reference`` trains one model the way the studies do (minibatches of 32, shuffled or not as the
settings say, torch.optim.Adam, RMSprop or SGD, a torch.nn.functional loss, a fresh model per fold;
batches are sliced from a tensor rather than collated by a DataLoader, which only makes this baseline faster).
Its shuffles and dropout masks come from wfbt's counter-based draws
(forecasters/rng.py), the ones the batched trainer gives the same member, in place of a DataLoader's
``randperm`` and ``nn.Dropout``'s own: the studies' procedure with wfbt's random numbers, so a group of one
can be checked against it step for step, dropout included.
wfbt itself trains with the batched trainer and keeps this loop as the benchmark's baseline and the
tests' ground truth.
"""

from __future__ import annotations

import copy
import math
import typing

import numpy as np
import torch
from torch import nn

from forecasters import rng
from forecasters.registry import Architecture


class ReferenceModel(nn.Module):
    def __init__(self, arch: Architecture, n_features: int) -> None:
        super().__init__()
        cell = nn.LSTM if arch.cell == "lstm" else nn.GRU
        sizes = (n_features, *arch.hidden)
        self.layers = nn.ModuleList(cell(i, h, batch_first=True) for i, h in zip(sizes[:-1], sizes[1:], strict=False))
        self.hidden = arch.hidden
        self.drop = nn.Dropout(arch.dropout)
        self.head = nn.Linear(sizes[-1], 1)

    def forward(self, x: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, L, F) -> (B,). ``masks`` (B, mask_width(L)): scaled dropout keep-masks to apply in place of
        ``nn.Dropout``'s own draws (which apply only in training mode), laid out as the batched trainer's."""
        parts = None
        if masks is not None:
            parts = torch.split(masks, [x.shape[1] * h for h in self.hidden[:-1]] + [self.hidden[-1]], dim=1)
        for i, layer in enumerate(self.layers):
            x, _ = layer(x)  # (B, L, H_i)
            if i < len(self.layers) - 1:
                x = x * parts[i].view_as(x) if parts is not None else self.drop(x)
        top = x[:, -1]  # (B, H_top)
        return self.head(top * parts[-1] if parts is not None else self.drop(top)).squeeze(-1)

    def mask_width(self, lookback: int) -> int:
        """Dropout mask elements per sample: whole sequences after inner layers, the last step after the top."""
        return lookback * sum(self.hidden[:-1]) + self.hidden[-1]


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


LOSSES = {  # the trainer's losses (forecasters.batched.LOSSES) as torch.nn.functional computes them
    "mse": nn.functional.mse_loss,
    "mae": nn.functional.l1_loss,
    "huber": lambda pred, y: nn.functional.huber_loss(pred, y, delta=1.0),
    "bce": nn.functional.binary_cross_entropy_with_logits,  # the model's output is the logit
}


def make_optimizer(name: str, params: typing.Iterable[nn.Parameter], lr: float, momentum: float = 0.0
                   ) -> torch.optim.Optimizer:
    """torch.optim's Adam, RMSprop or SGD with their defaults (SGD: the given momentum)."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}")


def train_reference(
    arch: Architecture,
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
    *, epochs: int, batch_size: int = 32, lr: float = 1e-3, patience: int = 5, min_delta: float = 0.0,
    seed: int = 0, device: str = "cpu", optimizer: str = "adam", momentum: float = 0.0, loss: str = "mse",
    shuffle: bool = True, restore_best: bool = True, early_stopping: bool = True,
) -> tuple[ReferenceModel, int, list[float]]:
    """Train one model alone; returns (model with the kept weights, their epoch, validation losses).

    The options mean what forecasters.trainer.TrainSettings' fields of the same names mean.
    """
    model = init_reference(arch, x_train.shape[-1], seed).to(device)
    seeds, sizes = torch.tensor([seed], device=device), torch.tensor([len(x_train)], device=device)
    steps, width = math.ceil(len(x_train) / batch_size), model.mask_width(x_train.shape[1])
    xt, yt = torch.from_numpy(x_train).to(device), torch.from_numpy(y_train).to(device)
    opt, loss_fn = make_optimizer(optimizer, model.parameters(), lr, momentum), LOSSES[loss]
    xv, yv = torch.from_numpy(x_val).to(device), torch.from_numpy(y_val).to(device)
    best, best_state, best_epoch, bad, history = math.inf, copy.deepcopy(model.state_dict()), 0, 0, []
    for epoch in range(1, epochs + 1):
        model.train()
        # a random order, as DataLoader(shuffle=True), or the windows in order, as DataLoader(shuffle=False)
        order = rng.shuffles(seeds, sizes, epoch, len(xt))[0] if shuffle else torch.arange(len(xt), device=device)
        keys = rng.keys(seeds, rng.DROPOUT, epoch, steps) if arch.dropout > 0 else None  # (S, 1, 2)
        for step, start in enumerate(range(0, len(xt), batch_size)):
            batch = order[start:start + batch_size]
            xb, yb = xt[batch], yt[batch]
            masks = None
            if keys is not None:  # drawn for a full batch, as the group draws them; the rows it uses
                masks = rng.keep_masks(keys[step], batch_size, width, arch.dropout)[0, :len(batch)]
            opt.zero_grad()
            loss_fn(model(xb, masks), yb).backward()
            opt.step()
        if len(xv) == 0:
            best_state, best_epoch = copy.deepcopy(model.state_dict()), epoch
            continue
        model.eval()
        with torch.no_grad():
            val = loss_fn(model(xv), yv).item()  # the training loss on the validation windows
        history.append(val)
        if not restore_best:
            best_state, best_epoch = copy.deepcopy(model.state_dict()), epoch
        if val < best - min_delta:
            best, bad = val, 0
            if restore_best:
                best_state, best_epoch = copy.deepcopy(model.state_dict()), epoch
        else:
            bad += 1
            if early_stopping and bad >= patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return model, best_epoch, history


def predict_flat(arch: Architecture, weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """One member's predictions (N,) for windows ``x`` (N, L, F) from its flattened weights (``flatten``'s
    layout, as the batched trainer hands them back), in evaluation mode (no dropout)."""
    if len(x) == 0:
        return np.zeros(0)
    model = ReferenceModel(arch, x.shape[-1])
    torch.nn.utils.vector_to_parameters(torch.as_tensor(weights, dtype=torch.float32), model.parameters())
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy().astype(np.float64)
