"""The batched walk-forward trainer: many same-shaped models (folds x seeds) trained as one group.

Each member keeps what it would have alone: its own data and sample count, its own shuffles and
dropout masks (counter-based draws keyed by its seed, forecasters/rng.py, so nothing depends on who
else is in the group), its own Adam state and step count, its own early stopping and best weights. A
member whose data ran out for this epoch sits the remaining steps out (its Adam state does not move);
members that stopped are dropped from the group at the end of the epoch and cost nothing further.

The loop is a few plain helpers (``train_group`` reads top to bottom): ``_start`` loads the group onto
the device, ``_plan_epoch`` draws the epoch's shuffles and builds its per-step tensors, ``_run_epoch``
runs the steps (``_train_step``: batch, masks, forward, backward, Adam), ``_early_stop`` keeps each member's
best, ``_compact`` drops the members that stopped, ``_results`` reads everything back once. All of it
is tensor operations over the whole group: the host's Python per step and per epoch does not grow with
the number of members, and the host reads from the device once per epoch (which members stopped, for
compaction and the progress line) and once at the end (losses, epochs, predictions).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np
import torch

from forecasters import kernels, rng
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
    seed: int  # in [0, 2**63): initial weights, shuffles and dropout masks


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


@dataclass
class _Live:
    """The members still training: row j of every tensor is member ids[j]. On the device unless noted."""

    ids: torch.Tensor  # (M,) int64 positions in train_group's ``members``
    seeds: torch.Tensor  # (M,) int64
    sizes: torch.Tensor  # (M,) int64 training windows
    sizes_host: torch.Tensor  # (M,) the same on the CPU: an epoch's step count is the host's to know
    x: torch.Tensor  # (M, N, L, F) training windows, zero-padded to the longest
    y: torch.Tensor  # (M, N)
    xv: torch.Tensor  # (M, Nv, L, F) validation windows, zero-padded
    yv: torch.Tensor  # (M, Nv)
    nv: torch.Tensor  # (M,) float32 validation windows
    flat: torch.Tensor  # (M, P) weights, GroupRNN's internal layout
    grad: torch.Tensor  # (M, P) each step's gradient, written by GroupRNN.loss_grad
    m1: torch.Tensor  # (M, P) Adam's first moments
    m2: torch.Tensor  # (M, P) Adam's second moments
    adam_steps: torch.Tensor  # (M,) float64 optimiser steps taken
    best: torch.Tensor  # (M, P) weights of the best epoch so far
    best_val: torch.Tensor  # (M,) float64 best validation loss so far
    bad: torch.Tensor  # (M,) int64 epochs since the last improvement
    sq_sum: torch.Tensor  # (M,) float32 the epoch's summed squared training error
    masks: torch.Tensor | None  # (M, B, mask width) float32 each step's dropout masks (None: no dropout)

    def select(self, rows: torch.Tensor) -> _Live:
        """The members at CPU row indices ``rows`` only (copies)."""
        on_device = rows.to(self.flat.device)
        picked = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, t in picked.items():
            if t is not None:
                picked[name] = t[rows if name == "sizes_host" else on_device]
        return _Live(**picked)


@dataclass
class _Record:
    """What every member leaves behind, by member id, kept on the device until ``_results`` reads it."""

    train_loss: torch.Tensor  # (T, E) float32, NaN after a member's last epoch
    val_loss: torch.Tensor  # (T, E) float32
    epochs: torch.Tensor  # (T,) int64 epochs trained
    best_epoch: torch.Tensor  # (T,) int64
    best_val: torch.Tensor  # (T,) float64
    weights: torch.Tensor  # (T, P) best weights, written when a member leaves the group


def _pad(arrays: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """Stack arrays of different first-dimension lengths into (M, N_max, ...) zero-padded."""
    n_max = max(1, max(len(a) for a in arrays))
    out = np.zeros((len(arrays), n_max, *arrays[0].shape[1:]), dtype=np.float32)
    for i, a in enumerate(arrays):
        out[i, :len(a)] = a
    return torch.from_numpy(out).to(device)


EVAL_BYTES = 128 * 2**20  # activations a no-grad forward (validation, test) may hold at once; more go in blocks


def _eval_floats(arch: Architecture, features: int, lookback: int) -> int:
    """Floats a no-grad forward holds per window: every layer's per-step inputs, gates, cell, tanh(cell), h."""
    inputs = [features, *arch.hidden[:-1]]
    return lookback * sum((arch.gates + 4) * h + i + 2 for h, i in zip(arch.hidden, inputs, strict=True))


def _eval_rows(net: GroupRNN, lookback: int) -> int:
    """Windows (members x rows) one evaluation block holds: what EVAL_BYTES of activations covers."""
    return max(1, EVAL_BYTES // (4 * _eval_floats(net.arch, net.n_features, lookback)))


def _blocked_forward(net: GroupRNN, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(M, N) no-grad predictions of ``net.forward(flat, x)`` for x (M, N, L, F), a block at a time.

    A block is whole members while they fit in ``_eval_rows`` windows, else row slices of one member, so a
    forward over a fold's whole validation set never holds all its activations at once (they are ~500
    floats a window and timestep: 7 GB for 12 folds x 60,000 windows x 5 days). A set that fits is one
    block, the same call as before; a block changes which rows share a matrix product, not the arithmetic
    of a row (float32 rounding of the product's kernel, ~1e-7 relative, at most).
    """
    m, n = x.shape[:2]
    rows = _eval_rows(net, x.shape[2])
    if m * n <= rows:
        return net.forward(flat, x)
    out = torch.empty(m, n, dtype=flat.dtype, device=flat.device)
    per = max(1, rows // max(n, 1))  # members per block
    width = n if per > 1 else rows  # rows per block
    for a in range(0, m, per):
        for r in range(0, n, width):
            out[a:a + per, r:r + width] = net.forward(flat[a:a + per], x[a:a + per, r:r + width])
    return out


def _masked_mse(pred: torch.Tensor, target: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """(M,) mean squared error over each member's first counts[m] entries."""
    n = pred.shape[1]
    valid = torch.arange(n, device=pred.device)[None, :] < counts[:, None]
    return ((pred - target) ** 2 * valid).sum(1) / counts.clamp(min=1)


def _check_members(members: list[Member]) -> None:
    if min(len(mb.x_train) for mb in members) == 0:
        raise ValueError("every member needs at least one training window")
    for mb in members:
        if not 0 <= mb.seed < 2**63:
            raise ValueError(f"a member's seed must be an integer in [0, 2**63). Got {mb.seed}.")


def _start(arch: Architecture, members: list[Member], settings: TrainSettings, device: torch.device
           ) -> tuple[GroupRNN, _Live, _Record]:
    """The group's network, its members' tensors on ``device`` and an empty record."""
    n_features, lookback = members[0].x_train.shape[2], members[0].x_train.shape[1]
    net = GroupRNN(arch, n_features, lookback)
    init = net.from_reference(torch.stack([flatten(init_reference(arch, n_features, mb.seed)) for mb in members]))
    init = init.to(device)  # (M, P)
    total = len(members)
    sizes = torch.tensor([len(mb.x_train) for mb in members])
    live = _Live(
        ids=torch.arange(total, device=device), seeds=torch.tensor([mb.seed for mb in members], device=device),
        sizes=sizes.to(device), sizes_host=sizes,
        x=_pad([mb.x_train for mb in members], device), y=_pad([mb.y_train for mb in members], device),
        xv=_pad([mb.x_val for mb in members], device), yv=_pad([mb.y_val for mb in members], device),
        nv=torch.tensor([len(mb.x_val) for mb in members], dtype=torch.float32, device=device),
        flat=init.clone(), grad=torch.empty_like(init), m1=torch.zeros_like(init), m2=torch.zeros_like(init),
        adam_steps=torch.zeros(total, dtype=torch.float64, device=device), best=init.clone(),
        best_val=torch.full((total,), math.inf, dtype=torch.float64, device=device),
        bad=torch.zeros(total, dtype=torch.int64, device=device), sq_sum=torch.zeros(total, device=device),
        masks=torch.empty(total, settings.batch_size, net.mask_width, device=device) if arch.dropout > 0 else None,
    )
    record = _Record(
        train_loss=torch.full((total, settings.epochs), math.nan, device=device),
        val_loss=torch.full((total, settings.epochs), math.nan, device=device),
        epochs=torch.zeros(total, dtype=torch.int64, device=device),
        best_epoch=torch.zeros(total, dtype=torch.int64, device=device),
        best_val=torch.full((total,), math.nan, dtype=torch.float64, device=device),
        weights=torch.zeros_like(init),
    )
    return net, live, record


def _adam_table(take: torch.Tensor, steps_done: torch.Tensor, lr: float) -> torch.Tensor:
    """The Adam coefficients of every step of an epoch, per member: (S, M, 4) float32.

    A member's step count advances only on steps where it has a batch (``take`` (S, M, B)); the bias
    corrections follow torch.optim.Adam's, in float64 as torch computes them in Python. A member with no
    batch at a step gets zeros: its moments and weights do not move. Advances ``steps_done`` (M,) in place.
    """
    active = take[:, :, 0].to(torch.float64)  # (S, M)
    t = (steps_done + active.cumsum(0)).clamp(min=1.0)
    table = torch.stack([active * (1 - BETA1), active * (1 - BETA2), active * lr / (1 - torch.pow(BETA1, t)),
                         torch.rsqrt(1 - torch.pow(BETA2, t))], dim=-1)
    steps_done.add_(active.sum(0))
    return table.to(torch.float32)


def _plan_epoch(live: _Live, epoch: int, settings: TrainSettings, dropout: float) -> list[torch.Tensor | None]:
    """Everything the epoch's steps read, built on the device in a fixed number of operations.

    Returns per-step tensors, step first: rows (S, M, B) int64, each batch slot's window as a row of the
    group's (M * N) training windows (``_batch`` gathers them at the step, so no copy of the epoch's data
    is made); take (S, M, B) 1.0 where a member has a window at that slot; Adam coefficients (S, M, 4);
    dropout keys (S, M, 2) int64 (None without dropout; the step draws its masks from them).
    """
    batch = settings.batch_size
    m, n = live.x.shape[:2]
    steps = math.ceil(int(live.sizes_host.max()) / batch)
    width = steps * batch
    order = rng.shuffles(live.seeds, live.sizes, epoch, n)  # (M, N): each member's windows, then its padding
    if width > n:  # the last batch runs past the padding: fill with a position that is never taken
        order = torch.nn.functional.pad(order, (0, width - n))
    idx = order[:, :width].view(m, steps, batch).transpose(0, 1)  # (S, M, B)
    slot = torch.arange(width, device=live.sizes.device).view(steps, 1, batch)
    take = (slot < live.sizes[None, :, None]).to(torch.float32)  # (S, M, B)
    rows = idx + n * torch.arange(m, device=idx.device)[None, :, None]  # (S, M, B)
    coef = _adam_table(take, live.adam_steps, settings.lr)
    keys = rng.keys(live.seeds, rng.DROPOUT, epoch, steps) if dropout > 0 else None
    return [rows, take, coef, keys]


def _batch(live: _Live, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step's windows (M, B, L, F) and targets (M, B), gathered from the training set by ``rows`` (M, B)."""
    m, b = rows.shape
    flat_rows = rows.reshape(-1)
    xb = live.x.view(-1, *live.x.shape[2:]).index_select(0, flat_rows).view(m, b, *live.x.shape[2:])
    return xb, live.y.view(-1).index_select(0, flat_rows).view(m, b)


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


def _train_step(net: GroupRNN, live: _Live, dropout: float, rows: torch.Tensor, take: torch.Tensor,
                coef: torch.Tensor, keys: torch.Tensor | None) -> None:
    """One optimiser step for every live member: batch, dropout masks, forward, per-member loss, gradient, Adam.

    rows and take (M, B), coef (M, 4), keys (M, 2) or None: one step of ``_plan_epoch``.
    """
    xb, yb = _batch(live, rows)  # (M, B, L, F), (M, B)
    masks = rng.keep_masks(keys, xb.shape[1], net.mask_width, dropout, out=live.masks) if keys is not None else None
    sq = net.loss_grad(live.flat, xb, yb, take, masks, live.grad)  # gradient of each member's batch-mean loss
    _adam_step(live.flat, live.grad, live.m1, live.m2, coef)
    live.sq_sum.add_(sq)


def _run_epoch(step: Callable[..., None], per_step: list[torch.Tensor | None], live: _Live,
               graph: _StepGraph | None, use_graph: bool) -> _StepGraph | None:
    """Run one epoch's steps, eagerly or as replays of a CUDA graph (captured on first use)."""
    live.sq_sum.zero_()
    if not use_graph:
        for s in range(per_step[0].shape[0]):
            step(*(t[s] if t is not None else None for t in per_step))
        return None
    if graph is None:
        graph = _StepGraph(step, per_step, [live.flat, live.m1, live.m2, live.sq_sum])
    graph.run_epoch(per_step)
    return graph


def _epoch_losses(net: GroupRNN, live: _Live, has_val: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(M,) training loss (sample-weighted MSE of the epoch's steps) and validation loss (NaN: no set)."""
    train_loss = live.sq_sum / live.sizes
    if not has_val:
        return train_loss, torch.full_like(train_loss, math.nan)
    with torch.no_grad():
        return train_loss, _masked_mse(_blocked_forward(net, live.flat, live.xv), live.yv, live.nv)


def _early_stop(live: _Live, record: _Record, epoch: int, train_loss: torch.Tensor, val_loss: torch.Tensor,
                settings: TrainSettings, has_val: bool) -> torch.Tensor:
    """Record the epoch and keep each member's best weights; returns (M,) bool: out of patience."""
    ids = live.ids
    record.train_loss[ids, epoch - 1] = train_loss
    record.val_loss[ids, epoch - 1] = val_loss
    record.epochs[ids] = epoch
    val = val_loss.to(torch.float64)  # compared in float64, as the reference loop compares Python floats
    if has_val:
        improved = val < live.best_val - settings.min_delta
    else:  # nothing to choose by: every epoch is the best so far
        improved = torch.ones_like(live.bad, dtype=torch.bool)
    live.best_val = torch.where(improved, val, live.best_val)
    live.bad = torch.where(improved, 0, live.bad + 1)
    live.best = torch.where(improved[:, None], live.flat, live.best)
    record.best_val[ids] = live.best_val
    record.best_epoch[ids] = torch.where(improved, epoch, record.best_epoch[ids])
    return ~improved & (live.bad >= settings.patience)


def _read_epoch(stop: torch.Tensor, val_loss: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The epoch's one read from the device: which members stopped (CPU bool (M,)) and the mean finite
    validation loss (NaN if none), for the progress line."""
    finite = torch.isfinite(val_loss)
    stats = torch.stack([torch.where(finite, val_loss, 0.0).sum(), finite.sum().to(val_loss.dtype)])
    host = torch.cat([stop.to(val_loss.dtype), stats]).cpu()
    total, count = float(host[-2]), float(host[-1])
    return host[:-2].bool(), total / count if count else math.nan


def _compact(live: _Live, record: _Record, stop: torch.Tensor) -> _Live | None:
    """Record the best weights of the members that ``stop`` (CPU bool (M,)); the rest, or None if none is left."""
    gone = stop.nonzero().squeeze(1).to(live.best.device)
    record.weights[live.ids[gone]] = live.best[gone]
    keep = (~stop).nonzero().squeeze(1)
    return live.select(keep) if len(keep) else None


def _results(net: GroupRNN, members: list[Member], record: _Record, keep_weights: bool) -> list[MemberResult]:
    """Every member's predictions from its best weights, and its record, read from the device once."""
    with torch.no_grad():
        preds = _blocked_forward(net, record.weights, _pad([mb.x_test for mb in members], record.weights.device))
    preds = preds.cpu().numpy()  # (T, N_test)
    weights = net.to_reference(record.weights).cpu().numpy() if keep_weights else None
    train, val = record.train_loss.cpu().numpy(), record.val_loss.cpu().numpy()
    epochs, best_epoch = record.epochs.cpu().tolist(), record.best_epoch.cpu().tolist()
    best_val = record.best_val.cpu().tolist()
    return [
        MemberResult(
            predictions=preds[m, :len(mb.x_test)].astype(np.float64), best_epoch=best_epoch[m], epochs=epochs[m],
            best_val_loss=best_val[m], train_loss=train[m, :epochs[m]].tolist(), val_loss=val[m, :epochs[m]].tolist(),
            weights=weights[m] if weights is not None else None,
        )
        for m, mb in enumerate(members)
    ]


def train_group(
    arch: Architecture, members: list[Member], settings: TrainSettings, *,
    device: str | torch.device = "cpu", progress: ProgressFn | None = None, keep_weights: bool = False,
) -> list[MemberResult]:
    """Train every member to early stopping; return each member's best-weight test predictions."""
    device = torch.device(device)
    _check_members(members)
    net, live, record = _start(arch, members, settings, device)
    has_val = min(len(mb.x_val) for mb in members) > 0
    use_graph = device.type == "cuda" and settings.cuda_graph
    graph: _StepGraph | None = None  # captured for the current live set; recaptured after compaction
    for epoch in range(1, settings.epochs + 1):
        per_step = _plan_epoch(live, epoch, settings, arch.dropout)
        step = functools.partial(_train_step, net, live, arch.dropout)
        graph = _run_epoch(step, per_step, live, graph, use_graph)
        train_loss, val_loss = _epoch_losses(net, live, has_val)
        stop = _early_stop(live, record, epoch, train_loss, val_loss, settings, has_val)
        stop, mean_val = _read_epoch(stop, val_loss)
        if progress is not None:
            progress(epoch, int((~stop).sum()), len(members), mean_val)
        if epoch == settings.epochs:
            stop[:] = True
        if stop.any():
            live, graph = _compact(live, record, stop), None
            if live is None:
                break
    return _results(net, members, record, keep_weights)


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
    """Upper estimate of the memory one group of ``members`` needs while training, in bytes (``sizes_bytes``)."""
    lookback, features = members[0].x_train.shape[1], members[0].x_train.shape[2]
    sizes = [(len(mb.x_train), len(mb.x_val), len(mb.x_test)) for mb in members]
    return sizes_bytes(arch, sizes, lookback, features, batch_size)


def sizes_bytes(arch: Architecture, sizes: list[tuple[int, int, int]], lookback: int, features: int,
                batch_size: int) -> int:
    """Upper estimate of the memory a group needs while training, in bytes (float32), from its members'
    (training, validation, test) window counts ``sizes``, before any window is cut.

    Parameters with gradient, two Adam moments, best, record and final weights (6 copies); padded
    training, validation and test windows; one epoch's per-step plans (batch rows and keys in int64,
    take, Adam coefficients), twice (on CUDA the step graph keeps its own copy); the shuffle's sort keys
    and order (int64); one step's gathered batch, and its dropout masks with the torch path's integer
    temporaries (~5 floats an element; the CPU's C loop writes 1); the activations a step keeps for its
    backward (gates and states for every layer and timestep, x3 for the backward's temporaries); one
    evaluation block's activations (at most ``EVAL_BYTES``: validation and test sets go a block at a time).
    """
    m = len(sizes)
    n_train, n_val, n_test = (max(column) for column in zip(*sizes, strict=True))
    net = GroupRNN(arch, features, lookback)
    params = 6 * m * net.n_params
    windows = m * (n_train + n_val + n_test) * (lookback * features + 1)
    steps = math.ceil(n_train / batch_size)
    epoch_plan = 2 * steps * m * batch_size * (2 + 1 + 4) + 6 * m * n_train
    step = m * batch_size * (lookback * features + 1 + (5 * net.mask_width if arch.dropout > 0 else 0))
    per_layer = sum((arch.gates + 3) * h for h in arch.hidden)
    activations = 3 * m * batch_size * lookback * per_layer
    evaluation = min(m * max(n_val, n_test), _eval_rows(net, lookback)) * _eval_floats(arch, features, lookback)
    return 4 * (params + windows + epoch_plan + step + activations + evaluation)
