"""wfbt's counter-based random draws: shuffles and dropout masks as pure functions of their coordinates.

Every draw is a hash of where it sits, (member seed, epoch, step, position), never the next value of a
stateful generator. So a group draws all its members' shuffles or masks in a fixed number of tensor
operations, whatever the number of members; a member's draws cannot depend on which other members share
its group; a rerun draws the same bits; and because the hash is integer arithmetic whose every
intermediate stays below 2**63 (no signed overflow, no float), a CPU and a GPU compute the same bits.

The hash is ``mix32``, Chris Wellons' two-multiply integer permutation (hash-prospector's
[16 21f0aaad 15 735a2d97 15]; both multipliers are below 2**31, so a 32-bit value times either fits in
a signed int64). A draw keyed by a 64-bit key (k0, k1) is::

    word(counter) = mix32(mix32(counter ^ k0) ^ k1)        # 32 uniform bits

For a fixed key this is a bijection of the 32-bit counter, so a member's draws within one key never
repeat; two keys agree on a shifted stream only if their k1 are equal (chance 2**-32 a pair). Keys
chain ``mix32`` over the coordinates (two chains with different starts give k0 and k1)::

    k = mix32(...mix32(mix32(start ^ seed_lo) ^ seed_hi) ^ stream ... ^ step)

What each draw means:

* ``shuffles``: member m's order of its sizes[m] training windows in an epoch, the argsort of one word
  per window (ties, one in ~10^4 epochs of 750 windows, go to the lower position). Padding positions sort
  after every window, so the order does not depend on the group's padded width.
* ``keep_masks``: dropout keep-masks for one step. Word j decides elements 2j and 2j+1 of the member's
  flattened (rows, width) mask with its low and high 16 bits: kept when the 16 bits are >= round(p *
  65536) (so the drop rate is p to within 2**-17), scaled by 1 / (1 - p) as ``torch.nn.Dropout`` scales.
  On a CPU a fused C loop (``wfbt_keep_masks`` in cpu_kernels.c) writes the same floats as the torch
  operations here (6 ms against 420 ms for 1,280 members x 32 rows x 352 on the 2-core test host);
  tests/test_rng.py checks the two are equal bit for bit.
"""

from __future__ import annotations

import torch

from forecasters import kernels

MASK32 = 0xFFFFFFFF
SHUFFLE, DROPOUT = 1, 2  # streams: the same (seed, epoch, step) keys different draws for each use
_STARTS = (0x9E3779B9, 0x85EBCA6B)  # the two key chains' starting words (any two different constants)
_POSITION_BITS = 30  # shuffle sort keys are (word << 30) | position: unique, below 2**62
_PADDING = 1 << 62  # sort key offset of padding positions: after every real window


def mix32(x: torch.Tensor) -> torch.Tensor:
    """The 32-bit hash of each element of an int64 tensor of values in [0, 2**32); a new tensor."""
    x = x ^ (x >> 16)
    x = (x * 0x21F0AAAD) & MASK32  # < 2**32 * 2**31: no int64 overflow
    x = x ^ (x >> 15)
    x = (x * 0x735A2D97) & MASK32
    return x ^ (x >> 15)


def _mix32_(x: torch.Tensor, tmp: torch.Tensor) -> torch.Tensor:
    """``mix32`` in place, with ``tmp`` (same shape) as scratch: the big per-step tensors allocate nothing."""
    torch.bitwise_right_shift(x, 16, out=tmp)
    x.bitwise_xor_(tmp).mul_(0x21F0AAAD).bitwise_and_(MASK32)
    torch.bitwise_right_shift(x, 15, out=tmp)
    x.bitwise_xor_(tmp).mul_(0x735A2D97).bitwise_and_(MASK32)
    torch.bitwise_right_shift(x, 15, out=tmp)
    return x.bitwise_xor_(tmp)


def keys(seeds: torch.Tensor, stream: int, epoch: int, steps: int) -> torch.Tensor:
    """(steps, M, 2) int64: the key of every (step, member) of one epoch, for member seeds (M,) in [0, 2**63).

    ``stream`` (SHUFFLE, DROPOUT), ``epoch`` and the step index are words below 2**32.
    """
    if not 0 <= epoch <= MASK32 or not 0 <= steps <= MASK32 + 1:
        raise ValueError(f"epoch and step must be in [0, 2**32). Got epoch {epoch}, {steps} steps.")
    step = torch.arange(steps, dtype=torch.int64, device=seeds.device)[:, None]  # (S, 1)
    chains = []
    for start in _STARTS:
        h = mix32((seeds & MASK32) ^ start)
        h = mix32(h ^ (seeds >> 32))
        h = mix32(h ^ stream)
        h = mix32(h ^ epoch)  # (M,)
        chains.append(mix32(h[None, :] ^ step))  # (S, M)
    return torch.stack(chains, dim=-1)


def words(counter: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """32 uniform bits per counter value: ``counter`` (..., N) in [0, 2**32) under ``key`` (..., 2)."""
    x = counter ^ key[..., :1]
    tmp = torch.empty_like(x)
    _mix32_(x, tmp).bitwise_xor_(key[..., 1:])
    return _mix32_(x, tmp)


def shuffles(seeds: torch.Tensor, sizes: torch.Tensor, epoch: int, width: int) -> torch.Tensor:
    """(M, width) int64: per member a random order of its windows 0..sizes[m]-1, then its padding in order.

    ``seeds`` and ``sizes`` (M,) int64 on the training device; ``width`` >= max(sizes), the group's padded
    length. A member's first sizes[m] entries depend on its seed, size and epoch only.
    """
    if width >= 1 << _POSITION_BITS:
        raise ValueError(f"a shuffle covers fewer than 2**{_POSITION_BITS} windows. Got {width}.")
    key = keys(seeds, SHUFFLE, epoch, 1)[0]  # (M, 2)
    position = torch.arange(width, dtype=torch.int64, device=seeds.device)  # (N,)
    sort_key = words(position, key).bitwise_left_shift_(_POSITION_BITS)  # (M, N)
    sort_key.bitwise_or_(position)
    padding = position >= sizes[:, None]
    sort_key = torch.where(padding, position + _PADDING, sort_key)
    return torch.argsort(sort_key, dim=1)  # keys are unique, so any sort gives this order


def keep_threshold(p: float) -> int:
    """The 16-bit threshold at or above which an element is kept, for dropout probability ``p``."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1). Got {p}.")
    return round(p * 65536)


def keep_masks(key: torch.Tensor, rows: int, width: int, p: float, out: torch.Tensor | None = None) -> torch.Tensor:
    """(M, rows, width) float32 dropout keep-masks, 0 or 1 / (1 - p), for one step's keys ``key`` (M, 2).

    Element (r, c) of member m is decided by half of word (r * width + c) // 2 under key[m]. ``out``: a
    contiguous (M, rows, width) float32 buffer to write into (a trainer reuses one: on a CPU, fresh pages
    for a new tensor each step cost several times the drawing itself).
    """
    n = rows * width
    if n >= 1 << 33:
        raise ValueError(f"a step's mask holds fewer than 2**33 elements per member. Got {n}.")
    threshold, scale = keep_threshold(p), 1.0 / (1.0 - p)
    members = key.shape[0]
    if out is None:
        out = torch.empty(members, rows, width, dtype=torch.float32, device=key.device)
    lib = kernels.use_for(out)
    if lib is not None and key.device.type == "cpu" and key.dtype == torch.int64 and key.is_contiguous():
        # One thread: it writes ~0.4 ns an element; waking a second costs more than that on a shared host.
        lib.wfbt_keep_masks(kernels.ptr(key), kernels.ptr(out), members, n, threshold, scale, 1)
        return out
    counter = torch.arange((n + 1) // 2, dtype=torch.int64, device=key.device)
    w = words(counter, key)  # (M, ceil(n / 2))
    # low half >= t  <=>  (w & 0xFFFF) >= t;  high half >= t  <=>  w >= t << 16
    keep = torch.stack([(w & 0xFFFF) >= threshold, w >= threshold << 16], dim=-1).view(members, -1)[:, :n]
    return torch.mul(keep.reshape(members, rows, width), scale, out=out)  # 0 or scale, rounded to float32
