"""The batched walk-forward trainer: many same-shaped models (folds x seeds) trained as one group.

Each member keeps what it would have alone: its own data and sample count, its own shuffles and
dropout masks (counter-based draws keyed by its seed, forecasters/rng.py, so nothing depends on who
else is in the group), its own optimiser state and step count, its own early stopping and best weights. A
member whose data ran out for this epoch sits the remaining steps out (its optimiser state does not move);
members that stopped are dropped from the group at the end of the epoch and cost nothing further.

What ``TrainSettings`` chooses, each against its torch counterpart in forecasters/reference.py (tests):
the optimiser (torch.optim.Adam, RMSprop or SGD with their torch defaults), the loss (``batched.LOSSES``:
mean squared or absolute error, Huber, binary cross-entropy on the output as a logit), shuffled or
chronological batches, early stopping on or off, and whether a member keeps its best validation epoch's
weights or its last epoch's. The validation loss that early stopping and the best epoch are judged by is
the training loss (a member trained on the Huber loss is stopped by its Huber validation loss).

The loop is a few plain helpers (``train_group`` reads top to bottom): ``_start`` loads the group onto
the device, ``_plan_epoch`` draws the epoch's shuffles and builds its per-step tensors, ``_run_epoch``
runs the steps (``_train_step``: batch, masks, forward, backward, optimiser), ``_early_stop`` keeps each member's
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
from forecasters.batched import LOSSES, GroupRNN, loss_and_slope
from forecasters.reference import flatten, init_reference
from forecasters.registry import Architecture

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8  # torch.optim.Adam defaults
# torch.optim.RMSprop's defaults (alpha 0.99, eps 1e-8 added after the square root, no momentum, not
# centred), which this follows; Keras' RMSprop differs (rho 0.9, epsilon 1e-7).
RMSPROP_ALPHA = 0.99
OPTIMIZERS = ("adam", "rmsprop", "sgd")


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
    predictions: np.ndarray  # (N_test,) scaled units (bce: the probability, sigmoid of the logit), kept weights
    best_epoch: int  # the epoch whose weights are kept: the best validation epoch, or the last (restore_best off)
    epochs: int
    best_val_loss: float  # that epoch's validation loss
    train_loss: list[float] = field(default_factory=list)  # per epoch, sample-weighted mean of the loss
    val_loss: list[float] = field(default_factory=list)
    weights: np.ndarray | None = None  # (P,) the kept weights, same layout as reference.flatten


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    patience: int = 5
    min_delta: float = 0.0
    cuda_graph: bool = True  # on CUDA, replay each step as one captured graph (same kernels, no launch cost)
    optimizer: str = "adam"  # one of OPTIMIZERS, with torch.optim's defaults
    momentum: float = 0.0  # sgd only: torch.optim.SGD's momentum (no dampening, not Nesterov)
    loss: str = "mse"  # one of batched.LOSSES; bce needs 0/1 targets and treats the output as a logit
    shuffle: bool = True  # False: every epoch's batches in chronological order (DataLoader(shuffle=False))
    restore_best: bool = True  # False: keep the last epoch's weights instead of the best validation epoch's
    early_stopping: bool = True  # False: train every epoch (patience then plays no part)

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}. Got {self.optimizer!r}.")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}. Got {self.loss!r}.")
        if not 0.0 <= self.momentum < 1.0 or (self.momentum and self.optimizer != "sgd"):
            raise ValueError(f"momentum must be in [0, 1), and is for sgd only. Got {self.momentum!r} with "
                             f"{self.optimizer!r}.")


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
    m1: torch.Tensor  # (M, P) Adam's first moments; SGD's momentum buffer
    m2: torch.Tensor  # (M, P) Adam's second moments; RMSprop's square average
    adam_steps: torch.Tensor  # (M,) float64 optimiser steps taken
    best: torch.Tensor  # (M, P) weights of the best epoch so far
    best_val: torch.Tensor  # (M,) float64 best validation loss so far
    bad: torch.Tensor  # (M,) int64 epochs since the last improvement
    sq_sum: torch.Tensor  # (M,) float32 the epoch's summed training loss
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


def _masked_loss(pred: torch.Tensor, target: torch.Tensor, counts: torch.Tensor, loss: str = "mse") -> torch.Tensor:
    """(M,) mean ``loss`` over each member's first counts[m] entries."""
    n = pred.shape[1]
    valid = torch.arange(n, device=pred.device)[None, :] < counts[:, None]
    if loss == "mse":
        return ((pred - target) ** 2 * valid).sum(1) / counts.clamp(min=1)
    return loss_and_slope(loss, pred, target, valid.to(pred.dtype))[0].sum(1) / counts.clamp(min=1)


def _check_members(members: list[Member], loss: str = "mse") -> None:
    if min(len(mb.x_train) for mb in members) == 0:
        raise ValueError("every member needs at least one training window")
    if loss == "bce" and not all(np.isin(mb.y_train, (0.0, 1.0)).all() and np.isin(mb.y_val, (0.0, 1.0)).all()
                                 for mb in members):
        raise ValueError("the bce loss needs 0/1 targets (a label, such as above the cross-sectional median)")
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


def _optimizer_table(take: torch.Tensor, steps_done: torch.Tensor, settings: TrainSettings) -> torch.Tensor:
    """Every step's optimiser coefficients, per member: (S, M, 4) float32 (``_optimizer_step`` reads them).

    Adam: ``_adam_table``. RMSprop: (decay, weight, step, 0) = (alpha, 1 - alpha, lr) where a member has a
    batch and (1, 0, 0) where not. SGD: (decay, step, 0, 0) = (momentum, lr) or (1, 0): a member with no batch
    (its gradient is zero) keeps its square average or momentum buffer and its weights.
    """
    if settings.optimizer == "adam":
        return _adam_table(take, steps_done, settings.lr)
    active = take[:, :, 0].to(torch.float64)  # (S, M)
    steps_done.add_(active.sum(0))
    zero = torch.zeros_like(active)
    if settings.optimizer == "rmsprop":
        parts = [1 - active * (1 - RMSPROP_ALPHA), active * (1 - RMSPROP_ALPHA), active * settings.lr, zero]
    else:
        parts = [1 - active * (1 - settings.momentum), active * settings.lr, zero, zero]
    return torch.stack(parts, dim=-1).to(torch.float32)


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
    is made); take (S, M, B) 1.0 where a member has a window at that slot; optimiser coefficients (S, M, 4);
    dropout keys (S, M, 2) int64 (None without dropout; the step draws its masks from them). Without
    ``settings.shuffle`` each member's windows come in their own (chronological) order every epoch.
    """
    batch = settings.batch_size
    m, n = live.x.shape[:2]
    steps = math.ceil(int(live.sizes_host.max()) / batch)
    width = steps * batch
    if settings.shuffle:  # (M, N): each member's windows, then its padding
        order = rng.shuffles(live.seeds, live.sizes, epoch, n)
    else:
        order = torch.arange(n, device=live.sizes.device).expand(m, n)
    if width > n:  # the last batch runs past the padding: fill with a position that is never taken
        order = torch.nn.functional.pad(order, (0, width - n))
    idx = order[:, :width].view(m, steps, batch).transpose(0, 1)  # (S, M, B)
    slot = torch.arange(width, device=live.sizes.device).view(steps, 1, batch)
    take = (slot < live.sizes[None, :, None]).to(torch.float32)  # (S, M, B)
    rows = idx + n * torch.arange(m, device=idx.device)[None, :, None]  # (S, M, B)
    coef = _optimizer_table(take, live.adam_steps, settings)
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


def _optimizer_step(optimizer: str, flat: torch.Tensor, grad: torch.Tensor, m1: torch.Tensor, m2: torch.Tensor,
                    coef: torch.Tensor) -> None:
    """One step of ``optimizer`` per member with that step's coefficients ``coef`` (M, 4), ``_optimizer_table``'s.

    Adam may take the fused C kernel (``_adam_step``); RMSprop and SGD are torch operations on every device:
    torch.optim.RMSprop's square_avg = alpha * square_avg + (1 - alpha) * g^2, w -= lr * g / (sqrt(square_avg)
    + eps), and torch.optim.SGD's buf = momentum * buf + g, w -= lr * buf.
    """
    if optimizer == "adam":
        _adam_step(flat, grad, m1, m2, coef)
        return
    columns = coef.unsqueeze(-1).unbind(1)  # each (M, 1)
    if optimizer == "rmsprop":
        decay, weight, step = columns[:3]
        m2.mul_(decay).addcmul_(grad * weight, grad)  # in torch's order of operations: the same roundings
        flat.sub_(grad.div(m2.sqrt().add_(EPS)).mul_(step))
    else:
        decay, step = columns[:2]
        m1.mul_(decay).add_(grad)
        flat.addcmul_(m1, step, value=-1.0)


def _train_step(net: GroupRNN, live: _Live, dropout: float, rows: torch.Tensor, take: torch.Tensor,
                coef: torch.Tensor, keys: torch.Tensor | None, *, optimizer: str = "adam", loss: str = "mse") -> None:
    """One optimiser step for every live member: batch, dropout masks, forward, per-member loss, gradient, update.

    rows and take (M, B), coef (M, 4), keys (M, 2) or None: one step of ``_plan_epoch``.
    """
    xb, yb = _batch(live, rows)  # (M, B, L, F), (M, B)
    masks = rng.keep_masks(keys, xb.shape[1], net.mask_width, dropout, out=live.masks) if keys is not None else None
    summed = net.loss_grad(live.flat, xb, yb, take, masks, live.grad, loss)  # gradient of each batch-mean loss
    _optimizer_step(optimizer, live.flat, live.grad, live.m1, live.m2, coef)
    live.sq_sum.add_(summed)


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


def _epoch_losses(net: GroupRNN, live: _Live, has_val: bool, loss: str = "mse") -> tuple[torch.Tensor, torch.Tensor]:
    """(M,) training loss (sample-weighted mean ``loss`` of the epoch's steps) and validation loss (the same
    loss; NaN: no set)."""
    train_loss = live.sq_sum / live.sizes
    if not has_val:
        return train_loss, torch.full_like(train_loss, math.nan)
    with torch.no_grad():
        return train_loss, _masked_loss(_blocked_forward(net, live.flat, live.xv), live.yv, live.nv, loss)


def _early_stop(live: _Live, record: _Record, epoch: int, train_loss: torch.Tensor, val_loss: torch.Tensor,
                settings: TrainSettings, has_val: bool) -> torch.Tensor:
    """Record the epoch and keep each member's best weights (or, without ``restore_best``, its latest); returns
    (M,) bool: out of patience (never, without ``early_stopping``)."""
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
    kept = improved if settings.restore_best else torch.ones_like(improved)
    live.best = torch.where(kept[:, None], live.flat, live.best)
    record.best_val[ids] = live.best_val if settings.restore_best else val
    record.best_epoch[ids] = torch.where(kept, epoch, record.best_epoch[ids])
    out_of_patience = ~improved & (live.bad >= settings.patience)
    return out_of_patience if settings.early_stopping else torch.zeros_like(out_of_patience)


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


def _results(net: GroupRNN, members: list[Member], record: _Record, keep_weights: bool, loss: str = "mse"
             ) -> list[MemberResult]:
    """Every member's predictions from its kept weights (bce: as probabilities), and its record, read from the
    device once."""
    with torch.no_grad():
        preds = _blocked_forward(net, record.weights, _pad([mb.x_test for mb in members], record.weights.device))
        if loss == "bce":
            preds = torch.sigmoid(preds)
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
    """Train every member to early stopping (or through ``settings.epochs``); return each member's test
    predictions from its kept weights."""
    device = torch.device(device)
    _check_members(members, settings.loss)
    net, live, record = _start(arch, members, settings, device)
    has_val = min(len(mb.x_val) for mb in members) > 0
    use_graph = device.type == "cuda" and settings.cuda_graph
    graph: _StepGraph | None = None  # captured for the current live set; recaptured after compaction
    for epoch in range(1, settings.epochs + 1):
        per_step = _plan_epoch(live, epoch, settings, arch.dropout)
        step = functools.partial(_train_step, net, live, arch.dropout, optimizer=settings.optimizer,
                                 loss=settings.loss)
        graph = _run_epoch(step, per_step, live, graph, use_graph)
        train_loss, val_loss = _epoch_losses(net, live, has_val, settings.loss)
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
    return _results(net, members, record, keep_weights, settings.loss)


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
