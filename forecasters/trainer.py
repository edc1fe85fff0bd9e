"""The batched walk-forward trainer: many same-shaped models (folds x seeds) trained as one group.

Each member keeps what it would have alone: its own data and sample count, its own shuffles and
dropout masks (drawn from its own generator, so nothing depends on who else is in the group), its own
Adam state and step count, its own early stopping and best weights. A member whose data ran out for
this epoch sits the remaining steps out (its Adam state does not move); members that stopped are
dropped from the group at the end of the epoch and cost nothing further.

On CUDA the step loop never waits for the device: losses are accumulated on the device and read once
per epoch, when early stopping needs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from forecasters import kernels
from forecasters.batched import GroupRNN
from forecasters.reference import flatten, init_reference
from forecasters.registry import Architecture

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8  # torch.optim.Adam defaults


@dataclass
class Member:
    """One model to train: scaled windows (N, L, F) and targets (N,), and the seed it is drawn from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    seed: int


@dataclass
class MemberResult:
    predictions: np.ndarray  # (N_test,) scaled units, from the best weights
    best_epoch: int
    epochs: int
    best_val_loss: float
    train_loss: list[float] = field(default_factory=list)  # per epoch, sample-weighted MSE
    val_loss: list[float] = field(default_factory=list)
    weights: np.ndarray | None = None  # (P,) best weights, same layout as reference.flatten


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    patience: int = 5
    min_delta: float = 0.0
    cuda_graph: bool = True  # on CUDA, replay each step as one captured graph (same kernels, no launch cost)


ProgressFn = Callable[[int, int, int, float], None]  # (epoch, members still training, total, mean val loss)


def _pad(arrays: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """Stack arrays of different first-dimension lengths into (M, N_max, ...) zero-padded."""
    n_max = max(1, max(len(a) for a in arrays))
    out = np.zeros((len(arrays), n_max, *arrays[0].shape[1:]), dtype=np.float32)
    for i, a in enumerate(arrays):
        out[i, :len(a)] = a
    return torch.from_numpy(out).to(device)


def _counts(arrays: list[np.ndarray], device: torch.device) -> torch.Tensor:
    return torch.tensor([len(a) for a in arrays], dtype=torch.float32, device=device)


def _masked_mse(pred: torch.Tensor, target: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """(M,) mean squared error over each member's first counts[m] entries."""
    n = pred.shape[1]
    valid = torch.arange(n, device=pred.device)[None, :] < counts[:, None]
    return ((pred - target) ** 2 * valid).sum(1) / counts.clamp(min=1)


def _epoch_plan(members: list[int], sizes: list[int], gens: list[torch.Generator],
                mask_gens: list[np.random.Generator], batch: int, dropout: float, mask_width: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Per-member shuffles and dropout keep-masks for one epoch, drawn on the CPU from each member's generators:
    the shuffles from a torch generator (what a seeded DataLoader draws), the masks from a numpy one (PCG64
    draws them ~3x faster than torch's Mersenne twister).

    Returns idx (S, M, B) sample positions, take (S, M, B) bool, keep (S, M, B, W) bool or None.
    """
    steps = [math.ceil(sizes[m] / batch) for m in members]
    s_max = max(steps)
    idx = torch.zeros(s_max, len(members), batch, dtype=torch.long)
    take = torch.zeros(s_max, len(members), batch, dtype=torch.bool)
    keep = torch.ones(s_max, len(members), batch, mask_width, dtype=torch.bool) if dropout > 0 else None
    for j, m in enumerate(members):
        n = sizes[m]
        perm = torch.randperm(n, generator=gens[m])
        padded = torch.zeros(steps[j] * batch, dtype=torch.long)
        padded[:n] = perm
        idx[:steps[j], j] = padded.view(steps[j], batch)
        take[:steps[j], j] = (torch.arange(steps[j] * batch) < n).view(steps[j], batch)
        if keep is not None:
            draws = mask_gens[m].random((steps[j], batch, mask_width), np.float32)
            keep[:steps[j], j] = torch.from_numpy(draws >= dropout)
    return idx, take, keep


def _plan_rows(plan: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None], rows: list[int]
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The plan of the members at ``rows`` only, without the steps none of them has any more."""
    idx, take, keep = plan
    sel = torch.tensor(rows)
    take = take[:, sel]
    s_needed = int(take[:, :, 0].any(1).nonzero().max()) + 1
    return idx[:s_needed, sel], take[:s_needed], keep[:s_needed, sel] if keep is not None else None


def _adam_table(take: torch.Tensor, steps_done: np.ndarray, lr: float) -> tuple[torch.Tensor, np.ndarray]:
    """The Adam coefficients of every step of an epoch, per member: (S, M, 4) float32.

    A member's step count advances only on steps where it has a batch; the bias corrections follow
    torch.optim.Adam's (computed in float64, as torch does in Python). A member with no batch at a step
    gets zeros: its moments and weights do not move. Returns the table and the step counts after it.
    """
    active = take[:, :, 0].numpy().astype(np.float64)  # (S, M)
    t = np.maximum(steps_done[None, :] + np.cumsum(active, axis=0), 1.0)
    table = np.stack([active * (1 - BETA1), active * (1 - BETA2), active * lr / (1 - BETA1 ** t),
                      1.0 / np.sqrt(1 - BETA2 ** t)], axis=-1)
    return torch.from_numpy(table.astype(np.float32)), steps_done + active.sum(0)


def _adam_step(flat: torch.Tensor, grad: torch.Tensor, m1: torch.Tensor, m2: torch.Tensor,
               coef: torch.Tensor) -> None:
    """torch.optim.Adam's update, per member, with that step's coefficients ``coef`` (M, 4)."""
    lib = kernels.use_for(flat)
    if lib is not None and all(t.is_contiguous() for t in (flat, grad, m1, m2, coef)):
        lib.wfbt_adam(*map(kernels.ptr, (flat, grad, m1, m2, coef)), flat.shape[0], flat.shape[1], EPS,
                      torch.get_num_threads())
        return
    w1, w2, step_size, inv_bias2_sqrt = coef.unsqueeze(-1).unbind(1)  # each (M, 1)
    m1.lerp_(grad, w1)
    m2.lerp_(grad * grad, w2)
    denom = m2.sqrt().mul_(inv_bias2_sqrt).add_(EPS)
    flat.addcdiv_(m1 * step_size, denom, value=-1.0)


def train_group(
    arch: Architecture, members: list[Member], settings: TrainSettings, *,
    device: str | torch.device = "cpu", progress: ProgressFn | None = None, keep_weights: bool = False,
) -> list[MemberResult]:
    """Train every member to early stopping; return each member's best-weight test predictions."""
    device = torch.device(device)
    n_features, lookback = members[0].x_train.shape[2], members[0].x_train.shape[1]
    net = GroupRNN(arch, n_features, lookback)
    total = len(members)
    gens = [torch.Generator().manual_seed(mb.seed) for mb in members]
    mask_gens = [np.random.default_rng(mb.seed) for mb in members]
    sizes = [len(mb.x_train) for mb in members]
    if min(sizes) == 0:
        raise ValueError("every member needs at least one training window")

    x_all = _pad([mb.x_train for mb in members], device)  # (M, N, L, F)
    y_all = _pad([mb.y_train for mb in members], device)  # (M, N)
    xv_all = _pad([mb.x_val for mb in members], device)
    yv_all = _pad([mb.y_val for mb in members], device)
    nv_all = _counts([mb.x_val for mb in members], device)
    has_val = bool(min(len(mb.x_val) for mb in members) > 0)

    init = net.from_reference(torch.stack([flatten(init_reference(arch, n_features, mb.seed)) for mb in members]))
    flat = init.to(device).clone()  # (M, P); a copy, so `init` stays as it was
    grad = torch.empty_like(flat)  # each step's gradient, written by net.loss_grad
    m1, m2 = torch.zeros_like(init, device=device), torch.zeros_like(init, device=device)
    adam_steps = np.zeros(total)  # per member id: optimiser steps taken
    best = init.to(device).clone()
    best_val = torch.full((total,), math.inf)
    best_epoch = [0] * total
    bad = [0] * total
    train_hist: list[list[float]] = [[] for _ in range(total)]
    val_hist: list[list[float]] = [[] for _ in range(total)]
    epochs_run = [0] * total
    live = list(range(total))  # member ids still training, in row order of the working tensors
    best_rows = torch.zeros_like(init, device=device)  # final best weights, by member id

    use_graph = device.type == "cuda" and settings.cuda_graph
    graph: _StepGraph | None = None  # captured for the current live set; recaptured after compaction
    sq_sum = torch.zeros(total, device=device)

    def step(xb: torch.Tensor, yb: torch.Tensor, tk: torch.Tensor, coef: torch.Tensor, mk: torch.Tensor | None
             ) -> None:
        """One optimiser step for every live member: forward, per-member loss, gradient, Adam."""
        sq = net.loss_grad(flat, xb, yb, tk, mk, grad)  # gradient of each member's batch-mean loss
        _adam_step(flat, grad, m1, m2, coef)
        sq_sum.add_(sq)

    plan = _epoch_plan(live, sizes, gens, mask_gens, settings.batch_size, arch.dropout, net.mask_width)
    for epoch in range(1, settings.epochs + 1):
        idx, take, keep_masks = plan
        rows = torch.arange(len(live), device=device)[None, :, None]
        idx_d = idx.to(device, non_blocking=True)
        xb_all = x_all[rows, idx_d]  # (S, M, B, L, F)
        yb_all = y_all[rows, idx_d]  # (S, M, B)
        take_d = take.to(device, non_blocking=True).float()  # (S, M, B)
        table, adam_steps[live] = _adam_table(take, adam_steps[live], settings.lr)
        masks_d = None
        if keep_masks is not None:
            masks_d = keep_masks.to(device, non_blocking=True).to(torch.float32).mul_(1.0 / (1.0 - arch.dropout))
        per_step = [xb_all, yb_all, take_d, table.to(device, non_blocking=True), masks_d]
        sq_sum.zero_()
        if use_graph:
            if graph is None:
                graph = _StepGraph(step, per_step, [flat, m1, m2, sq_sum])
            graph.run_epoch(per_step)
        else:
            for s in range(idx.shape[0]):
                step(*(t[s] if t is not None else None for t in per_step))
        if epoch < settings.epochs:  # draw the next epoch's plan while the device works through this one
            plan = _epoch_plan(live, sizes, gens, mask_gens, settings.batch_size, arch.dropout, net.mask_width)
        with torch.no_grad():
            train_loss = (sq_sum / torch.tensor([sizes[m] for m in live], device=device)).cpu()
            if has_val:
                val_loss = _masked_mse(net.forward(flat, xv_all), yv_all, nv_all).cpu()
            else:
                val_loss = torch.full((len(live),), math.nan)
        improved = []
        stopped = []
        for j, m in enumerate(live):
            epochs_run[m] = epoch
            train_hist[m].append(float(train_loss[j]))
            val_hist[m].append(float(val_loss[j]))
            if not has_val or float(val_loss[j]) < float(best_val[m]) - settings.min_delta:
                best_val[m], best_epoch[m], bad[m] = val_loss[j], epoch, 0
                improved.append(j)
            else:
                bad[m] += 1
                if bad[m] >= settings.patience:
                    stopped.append(j)
        with torch.no_grad():
            if improved:
                sel = torch.tensor(improved, device=device)
                best[sel] = flat[sel]
        if progress is not None:
            finite = val_loss[torch.isfinite(val_loss)]
            progress(epoch, len(live) - len(stopped), total, float(finite.mean()) if len(finite) else math.nan)
        if epoch == settings.epochs:
            stopped = list(range(len(live)))
        if stopped:
            gone = set(stopped)
            keep = [j for j in range(len(live)) if j not in gone]
            done_ids = torch.tensor([live[j] for j in stopped], device=device)
            best_rows[done_ids] = best[torch.tensor(stopped, device=device)]
            if not keep:
                break
            k = torch.tensor(keep, device=device)
            flat, grad, m1, m2, best, sq_sum = flat[k], grad[k], m1[k], m2[k], best[k], sq_sum[k]
            x_all, y_all, xv_all, yv_all, nv_all = x_all[k], y_all[k], xv_all[k], yv_all[k], nv_all[k]
            live = [live[j] for j in keep]
            plan = _plan_rows(plan, keep)
            graph = None

    with torch.no_grad():
        test = _pad([mb.x_test for mb in members], device)
        preds = net.forward(best_rows, test).cpu().numpy()  # (M, N_test)
    weights = net.to_reference(best_rows).cpu().numpy() if keep_weights else None
    return [
        MemberResult(
            predictions=preds[m, :len(members[m].x_test)].astype(np.float64),
            best_epoch=best_epoch[m], epochs=epochs_run[m], best_val_loss=float(best_val[m]),
            train_loss=train_hist[m], val_loss=val_hist[m],
            weights=weights[m] if weights is not None else None,
        )
        for m in range(total)
    ]


class _StepGraph:
    """One training step captured as a CUDA graph, replayed once per minibatch step of an epoch.

    A step is over a hundred tiny kernels; launched one by one from Python they leave the GPU idle most of the
    time. The graph reads its minibatch from static per-epoch buffers at a step counter that lives on
    the device and advances inside the graph, so an epoch is S replays with no host work in between.
    The replayed kernels are the eager step's kernels: results are the same as without the graph.
    """

    def __init__(self, step: Callable[..., None], per_step: list[torch.Tensor | None],
                 state: list[torch.Tensor]) -> None:
        self.buffers = [torch.empty_like(t) if t is not None else None for t in per_step]
        self.counter = torch.zeros(1, dtype=torch.long, device=state[0].device)

        def indexed_step() -> None:
            step(*(b.index_select(0, self.counter).squeeze(0) if b is not None else None for b in self.buffers))
            self.counter.add_(1)

        self._load(per_step)
        # Warm up on a side stream (the kernels' workspaces, cuBLAS handles, must exist before capture),
        # then put the state back as it was: the warm-up steps must not count as training.
        saved = [t.detach().clone() for t in state]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                indexed_step()
        torch.cuda.current_stream().wait_stream(side)
        with torch.no_grad():
            for t, v in zip(state, saved, strict=True):
                t.copy_(v)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            indexed_step()

    def _load(self, per_step: list[torch.Tensor | None]) -> None:
        for buffer, t in zip(self.buffers, per_step, strict=True):
            if buffer is not None and t is not None:
                buffer.copy_(t)
        self.counter.zero_()

    def run_epoch(self, per_step: list[torch.Tensor | None]) -> None:
        """Train one epoch: per_step tensors have the shapes captured, (S, M, ...) each."""
        self._load(per_step)
        for _ in range(per_step[0].shape[0]):
            self.graph.replay()


def group_bytes(arch: Architecture, members: list[Member], batch_size: int) -> int:
    """Upper estimate of the memory one group needs while training, in bytes (float32).

    Parameters with gradient, two Adam moments, best and final weights (6 copies); padded training,
    validation and test windows; one epoch of gathered batches, dropout masks and index plans, twice
    (on CUDA the step graph keeps its own copy); the activations a step keeps for its backward (gates and
    states for every layer and timestep, x3 for the backward's temporaries).
    """
    m = len(members)
    lookback, features = members[0].x_train.shape[1], members[0].x_train.shape[2]
    n_train = max(len(mb.x_train) for mb in members)
    n_other = max(len(mb.x_val) for mb in members) + max(len(mb.x_test) for mb in members)
    net = GroupRNN(arch, features, lookback)
    params = 6 * m * net.n_params
    windows = m * (n_train + n_other) * (lookback * features + 1)
    steps = math.ceil(n_train / batch_size)
    epoch_plan = 2 * steps * m * batch_size * (lookback * features + 1 + net.mask_width + 3)
    per_layer = sum((arch.gates + 3) * h for h in arch.hidden)
    activations = 3 * m * batch_size * lookback * per_layer
    return 4 * (params + windows + epoch_plan + activations)
