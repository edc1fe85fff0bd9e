"""A group of same-shaped LSTM/GRU models computed as one: every weight has a leading member dim.

The parameters of M members live in one tensor ``flat`` of shape (M, P). Its columns are a fixed
permutation of ``forecasters.reference.flatten(model)`` (``GroupRNN.from_reference`` / ``to_reference``):
each layer's weights and biases sit side by side as one matrix, stored transposed (inputs x gates), so a
timestep is one batched matrix product [h_(t-1), x_t, 1, 1] @ W with no separate bias additions and no
transposed operand (MKL runs these shapes 15-20% faster that way round). A permutation changes nothing for
Adam, which works element by element: a group of one is still exactly the torch.nn model it stands for.

The recurrences have their backward written out (``lstm_backward``, ``gru_backward``; checked against
finite differences and against torch.nn in tests/test_trainer.py). ``GroupRNN.forward`` wraps them in
``torch.autograd.Function`` s for evaluation and the tests; training uses ``GroupRNN.loss_grad``, the
whole step's forward and backward without autograd (its graph and bookkeeping cost ~20% of a CPU step,
measured). Sequences are time-major, (L, M, B, .), so
each timestep is one contiguous block. Per timestep: one product, then the pointwise rest (gates, cell
and hidden state; in the backward their gradients) as one pass of a C kernel on a CPU
(``forecasters/cpu_kernels.c``) or as the same arithmetic in torch operations elsewhere (the ``_torch``
twins below, which the CUDA path uses); weight gradients are accumulated timestep by timestep while the
data is in cache. These models are tiny (32 x 64 per member and step): on a CPU they are bound by
per-operation overhead, memory traffic and transcendentals, on a GPU by the number of kernels.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from forecasters import kernels
from forecasters.kernels import ptr
from forecasters.registry import Architecture

LOSSES = ("mse", "mae", "huber", "bce")  # the training losses ``loss_and_slope`` knows


def loss_and_slope(loss: str, pred: torch.Tensor, y: torch.Tensor, take: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Elementwise ``loss`` of ``pred`` against ``y`` and its derivative in ``pred``, both 0 where ``take`` is 0.

    As torch.nn.functional computes them before the mean: mse_loss; l1_loss (slope sign(e), 0 at e = 0);
    huber_loss with delta 1.0 (equal to smooth_l1_loss with beta 1.0: 0.5 e^2 inside |e| < 1, |e| - 0.5
    outside; slope e clipped to [-1, 1]); binary_cross_entropy_with_logits, ``pred`` the logit (slope
    sigmoid(pred) - y). All on the scaled targets.
    """
    err = (pred - y) * take  # take is 0/1
    if loss == "mse":
        return err * err, 2.0 * err
    if loss == "mae":
        return err.abs(), err.sign()
    if loss == "huber":
        size = err.abs()
        return torch.where(size < 1.0, 0.5 * err * err, size - 0.5), err.clamp(-1.0, 1.0)
    if loss == "bce":
        per = pred.clamp(min=0.0) - pred * y + torch.log1p(torch.exp(-pred.abs()))
        return per * take, (torch.sigmoid(pred) - y) * take
    raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")


class GroupRNN:
    """Stateless forward pass for a group; parameters are passed in as ``flat`` (M, P), internal layout."""

    def __init__(self, arch: Architecture, n_features: int, lookback: int) -> None:
        self.arch = arch
        self.lookback = lookback
        self.n_features = n_features
        # The torch.nn layout (parameters() order) ...
        self.layout: list[tuple[str, tuple[int, ...]]] = []
        # ... and the internal one, each block transposed (rows: inputs, columns: gates): per layer
        # [W_hh | W_ih | b_ih | b_hh]^T (LSTM) or [W_ih | b_ih]^T, [W_hh | b_hh]^T (GRU, whose n gate needs the
        # input and hidden parts apart), then [w_out | b_out]^T.
        self.blocks: list[tuple[str, tuple[int, int]]] = []
        inputs = n_features
        for i, h in enumerate(arch.hidden):
            g = arch.gates * h
            self.layout += [(f"w_ih{i}", (g, inputs)), (f"w_hh{i}", (g, h)), (f"b_ih{i}", (g,)), (f"b_hh{i}", (g,))]
            if arch.cell == "lstm":
                self.blocks.append((f"w{i}", (h + inputs + 2, g)))
            else:
                self.blocks += [(f"wx{i}", (inputs + 1, g)), (f"wh{i}", (h + 1, g))]
            inputs = h
        self.layout += [("w_out", (1, inputs)), ("b_out", (1,))]
        self.blocks.append(("out", (inputs + 1, 1)))
        self.n_params = sum(math.prod(shape) for _, shape in self.layout)
        assert self.n_params == arch.n_params(n_features)
        assert self.n_params == sum(math.prod(shape) for _, shape in self.blocks)
        self.perm = self._permutation()  # internal[:, k] = reference[:, perm[k]]
        self.inverse = torch.argsort(self.perm)
        # Dropout mask widths: whole sequence after inner layers, last step after the top layer.
        self.mask_sizes = [lookback * h for h in arch.hidden[:-1]] + [arch.hidden[-1]]
        self.mask_width = sum(self.mask_sizes)

    def _permutation(self) -> torch.Tensor:
        ref = torch.arange(self.n_params)
        parts = torch.split(ref, [math.prod(shape) for _, shape in self.layout])
        v = {name: part.view(shape) for (name, shape), part in zip(self.layout, parts, strict=True)}
        pieces = []
        for i in range(len(self.arch.hidden)):
            w_ih, w_hh, b_ih, b_hh = v[f"w_ih{i}"], v[f"w_hh{i}"], v[f"b_ih{i}"][:, None], v[f"b_hh{i}"][:, None]
            if self.arch.cell == "lstm":
                pieces.append(torch.cat([w_hh, w_ih, b_ih, b_hh], dim=1))
            else:
                pieces += [torch.cat([w_ih, b_ih], dim=1), torch.cat([w_hh, b_hh], dim=1)]
        pieces.append(torch.cat([v["w_out"], v["b_out"][:, None]], dim=1))
        return torch.cat([p.t().reshape(-1) for p in pieces])

    def from_reference(self, flat: torch.Tensor) -> torch.Tensor:
        """(M, P) rows of ``reference.flatten`` -> the internal layout."""
        return flat[:, self.perm.to(flat.device)]

    def to_reference(self, flat: torch.Tensor) -> torch.Tensor:
        """(M, P) internal layout -> rows of ``reference.flatten`` (parameters() order of the torch.nn model)."""
        return flat[:, self.inverse.to(flat.device)]

    def views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split (M, P) into named (M, rows, cols) blocks; no copies."""
        # split, not slicing: its backward is one concatenation instead of a zero-filled copy per view.
        parts = torch.split(flat, [math.prod(shape) for _, shape in self.blocks], dim=1)
        return {name: part.view(flat.shape[0], *shape) for (name, shape), part in zip(self.blocks, parts, strict=True)}

    def forward(self, flat: torch.Tensor, x: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
        """x: (M, B, L, F) scaled windows; masks: (M, B, mask_width) scaled keep-masks or None (eval).

        Returns (M, B) predictions in scaled units.
        """
        w = self.views(flat)
        m, b, length, _ = x.shape
        parts = list(torch.split(masks, self.mask_sizes, dim=-1)) if masks is not None else None
        seq = x.permute(2, 0, 1, 3)  # (L, M, B, F): time-major, so each step is one contiguous block
        for i, hidden in enumerate(self.arch.hidden):
            if self.arch.cell == "lstm":
                seq = _LSTMLayer.apply(seq, w[f"w{i}"])  # (L, M, B, H)
            else:
                seq = _GRULayer.apply(seq, w[f"wx{i}"], w[f"wh{i}"])
            if parts is not None and i < len(self.arch.hidden) - 1:
                seq = seq * parts[i].view(m, b, length, hidden).permute(2, 0, 1, 3)
        h = seq[-1]  # (M, B, H_top)
        if parts is not None:
            h = h * parts[-1]
        top = self.arch.hidden[-1]
        out = torch.baddbmm(w["out"][:, top:], h, w["out"][:, :top])  # (M, B, 1)
        return out.squeeze(-1)

    def loss_grad(self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor, take: torch.Tensor,
                  masks: torch.Tensor | None, grad: torch.Tensor, loss: str = "mse") -> torch.Tensor:
        """One training step's forward and backward without autograd: each member's batch-mean ``loss``
        (``LOSSES``) over the rows it ``take`` s (M, B) 0/1, differentiated with respect to ``flat`` into
        ``grad`` (M, P).

        The same arithmetic as ``forward`` + autograd (checked in tests), with less around it: no graph, the
        top layer's gradient enters at its last step only, and the weight gradients go straight to ``grad``.
        Returns the summed loss per member (M,).
        """
        w, g = self.views(flat), self.views(grad)
        m, b, length, _ = x.shape
        hidden = self.arch.hidden
        parts = None  # the inner layers' masks, time-major like their outputs
        if masks is not None:
            inner = torch.split(masks, self.mask_sizes, dim=-1)[:-1]
            parts = [p.view(m, b, length, h).permute(2, 0, 1, 3) for p, h in zip(inner, hidden, strict=False)]
        seq, saved = x.permute(2, 0, 1, 3), []
        for i in range(len(hidden)):
            if self.arch.cell == "lstm":
                seq, state = lstm_forward(seq, w[f"w{i}"])
            else:
                seq, state = gru_forward(seq, w[f"wx{i}"], w[f"wh{i}"])
            saved.append(state)
            if parts is not None and i < len(hidden) - 1:
                seq = seq * parts[i]
        top = hidden[-1]
        h = seq[-1] * masks[..., -top:] if masks is not None else seq[-1]  # (M, B, H_top)
        w_out = w["out"]  # (M, H_top + 1, 1)
        pred = torch.baddbmm(w_out[:, top:], h, w_out[:, :top])  # (M, B, 1)
        per, slope = loss_and_slope(loss, pred.squeeze(-1), y, take)  # (M, B) each
        d_pred = (slope * (1.0 / take.sum(1, keepdim=True).clamp(min=1))).unsqueeze(-1)  # (M, B, 1)
        g["out"][:, :top].copy_(torch.bmm(h.transpose(1, 2), d_pred))  # copies: out= views with a member stride
        g["out"][:, top:].copy_(d_pred.sum(1, keepdim=True))  # are not every backend's case
        d_h = d_pred * w_out[:, :top].transpose(1, 2)  # (M, B, H_top)
        if masks is not None:
            d_h = d_h * masks[..., -top:]
        for i in range(len(hidden) - 1, -1, -1):
            if self.arch.cell == "lstm":
                d_seq, d_w = lstm_backward(saved[i], d_h, want_seq=i > 0)
                g[f"w{i}"].copy_(d_w)
            else:
                d_seq, d_wx, d_wh = gru_backward(saved[i], d_h, want_seq=i > 0)
                g[f"wx{i}"].copy_(d_wx)
                g[f"wh{i}"].copy_(d_wh)
            if i:
                d_h = d_seq * parts[i - 1] if parts is not None else d_seq
        return per.sum(1)


_GATE_SCALES: dict[tuple[int, torch.dtype, torch.device], torch.Tensor] = {}


def _lstm_gate_scale(hidden: int, like: torch.Tensor) -> torch.Tensor:
    """(1, 4H): 2 for the g gate's columns, 1 elsewhere; made once per size, dtype and device."""
    key = (hidden, like.dtype, like.device)
    if key not in _GATE_SCALES:
        scale = torch.ones(1, 4 * hidden, dtype=like.dtype, device=like.device)
        scale[:, 2 * hidden:3 * hidden] = 2.0
        _GATE_SCALES[key] = scale
    return _GATE_SCALES[key]


def _accumulate(total: torch.Tensor | None, inputs: torch.Tensor, d: torch.Tensor, skip: int = 0) -> torch.Tensor:
    """total + inputs^T @ d per member: one timestep's share of a (transposed) weight gradient, added while
    d is in cache.

    ``skip``: the first columns of ``inputs`` are zeros (h_(-1) at t = 0), so their rows are left out.
    """
    if skip:
        if total is None:
            total = torch.zeros(d.shape[0], inputs.shape[-1], d.shape[-1], dtype=d.dtype, device=d.device)
        total[:, skip:].baddbmm_(inputs[..., skip:].transpose(1, 2), d)
        return total
    return torch.bmm(inputs.transpose(1, 2), d) if total is None else total.baddbmm_(inputs.transpose(1, 2), d)


def _step_grad(d_hs: torch.Tensor, t: int) -> torch.Tensor | None:
    """What reaches h_t from outside the recurrence, ``t`` counted from the end (-1: the last step): d_hs[t],
    or for a (M, B, H) ``d_hs`` (gradient of the last step only, as under a top layer) that at the last step
    and nothing before it."""
    if d_hs.dim() == 4:
        return d_hs[t]
    return d_hs if t == -1 else None


def lstm_forward(seq: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """torch.nn.LSTM's recurrence (gate order i, f, g, o) for every member at once.

    ``seq`` (L, M, B, I); ``w`` (M, H + I + 2, 4H) is [W_hh | W_ih | b_ih | b_hh]^T: step t is
    [h_(t-1), x_t, 1, 1] @ w. tanh(x) = 2 * sigmoid(2x) - 1, so doubling the g gate's columns lets one
    sigmoid cover all four gates. The pointwise rest of a step is ``wfbt_lstm_fwd`` (cpu_kernels.c) on a
    CPU, else ``_lstm_fwd_torch``, the same arithmetic as torch operations.
    Returns h for every step (L, M, B, H) and what ``lstm_backward`` needs.
    """
    length, m, b, inputs = seq.shape
    hidden = w.shape[2] // 4
    lib, threads = kernels.use_for(seq), torch.get_num_threads()
    # The kernel computes tanh for the g gate itself; the torch path doubles its columns instead.
    w_s = w if lib is not None else w * _lstm_gate_scale(hidden, w)  # (M, K, 4H)
    xh = seq.new_empty(length, m, b, hidden + inputs + 2)  # step t: [h_(t-1), x_t, 1, 1]
    xh[..., hidden:hidden + inputs] = seq
    xh[..., hidden + inputs:] = 1.0
    acts = seq.new_empty(length, m, b, 4 * hidden)  # i, f, g, o after their nonlinearities
    cells = seq.new_empty(length, m, b, hidden)
    tanh_c = torch.empty_like(cells)
    hs = torch.empty_like(cells)
    xs, a_t, c_t, tc_t, h_t = xh.unbind(0), acts.unbind(0), cells.unbind(0), tanh_c.unbind(0), hs.unbind(0)
    for t in range(length):
        if t:
            torch.bmm(xs[t], w_s, out=a_t[t])
        else:  # h_(-1) = 0: only the input and bias rows
            torch.bmm(xs[0][..., hidden:], w_s[:, hidden:], out=a_t[0])
        args = (a_t[t], c_t[t - 1] if t else None, c_t[t], tc_t[t], h_t[t], xs[t + 1] if t + 1 < length else None)
        if lib is not None:
            lib.wfbt_lstm_fwd(*map(ptr, args), m * b, hidden, xh.shape[-1], threads)
        else:
            _lstm_fwd_torch(*args)
    xh[0, ..., :hidden] = 0.0
    return hs, (xh, w, acts, cells, tanh_c)


def lstm_backward(saved: tuple[torch.Tensor, ...], d_hs: torch.Tensor, want_seq: bool
                  ) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Gradients of ``lstm_forward``: d_hs (L, M, B, H), or (M, B, H) for the last step only.

    Returns d seq (or None unless ``want_seq``) and d w.
    """
    xh, w, acts, cells, tanh_c = saved
    length, m, b, hidden = cells.shape
    inputs = xh.shape[-1] - hidden - 2
    # d [h, x] = d_pre @ w[:H + I]^T (unscaled: these are the grads of the unscaled w)
    w_in = (w[:, :hidden + inputs] if want_seq else w[:, :hidden]).transpose(1, 2)
    d_seq = xh.new_empty(length, m, b, inputs) if want_seq else None
    d_pre = torch.empty_like(acts[0])  # gradients of one step's (unscaled) pre-activations
    dc = torch.empty_like(cells[0])
    lib, threads = kernels.use_for(acts), torch.get_num_threads()
    d_in = d_w = None  # [d h_t, d x_(t+1)] from the step after; the weight gradient so far
    xs, a_t, c_t, tc_t = (x.unbind(0) for x in (xh, acts, cells, tanh_c))
    for t in range(length - 1, -1, -1):
        f_next = a_t[t + 1][..., hidden:] if t + 1 < length else None
        args = (a_t[t], c_t[t - 1] if t else None, tc_t[t], f_next, _step_grad(d_hs, t - length), d_in, dc, d_pre)
        if lib is not None:
            lib.wfbt_lstm_bwd(*map(ptr, args), m * b, hidden, d_in.shape[-1] if d_in is not None else 0, threads)
        else:
            _lstm_bwd_torch(*args)
        d_w = _accumulate(d_w, xs[t], d_pre, skip=0 if t else hidden)
        if t or want_seq:
            d_in = torch.bmm(d_pre, w_in)
            if want_seq:
                d_seq[t] = d_in[..., hidden:]
    return d_seq, d_w


class _LSTMLayer(torch.autograd.Function):
    """``lstm_forward`` / ``lstm_backward`` as an autograd Function."""

    @staticmethod
    def forward(ctx, seq, w):  # type: ignore[no-untyped-def,override]
        hs, saved = lstm_forward(seq, w)
        ctx.save_for_backward(*saved)
        return hs

    @staticmethod
    def backward(ctx, d_hs):  # type: ignore[no-untyped-def,override]
        return lstm_backward(ctx.saved_tensors, d_hs.contiguous(), ctx.needs_input_grad[0])


def _lstm_fwd_torch(a, c_prev, c, tc, h, h_next):  # type: ignore[no-untyped-def]
    """wfbt_lstm_fwd as torch operations, except that ``a`` comes with the g gate's rows doubled (one sigmoid
    for all four gates): gates in place, then c, tanh(c), h (and h into h_next[..., :H])."""
    hidden = c.shape[-1]
    a.sigmoid_()
    i_gate, f_gate, g_gate, o_gate = a.chunk(4, dim=-1)
    g_gate.mul_(2.0).sub_(1.0)  # sigmoid(2x) -> tanh(x)
    torch.mul(i_gate, g_gate, out=c)
    if c_prev is not None:
        c.addcmul_(f_gate, c_prev)
    torch.mul(o_gate, torch.tanh(c, out=tc), out=h)
    if h_next is not None:
        h_next[..., :hidden] = h


def _lstm_bwd_torch(a, c_prev, tc, f_next, dh_out, dh_rec, dc, d):  # type: ignore[no-untyped-def]
    """wfbt_lstm_bwd as torch operations (see cpu_kernels.c for the formulas)."""
    hidden = tc.shape[-1]
    i_gate, f_gate, g_gate, o_gate = a.chunk(4, dim=-1)
    if dh_rec is None:
        dh = dh_out if dh_out is not None else torch.zeros_like(tc)
    else:
        dh = dh_rec[..., :hidden] if dh_out is None else dh_out + dh_rec[..., :hidden]
    from_h = (1.0 - tc * tc).mul_(o_gate).mul_(dh)
    if f_next is None:
        dc.copy_(from_h)
    else:
        dc.mul_(f_next[..., :hidden]).add_(from_h)
    d_i, d_f, d_g, d_o = d.chunk(4, dim=-1)
    torch.mul(dc, g_gate, out=d_i).mul_(i_gate * (1.0 - i_gate))
    if c_prev is not None:
        torch.mul(dc, c_prev, out=d_f).mul_(f_gate * (1.0 - f_gate))
    else:
        d_f.zero_()
    torch.mul(dc, i_gate, out=d_g).mul_(1.0 - g_gate * g_gate)
    torch.mul(dh, tc, out=d_o).mul_(o_gate * (1.0 - o_gate))


def gru_forward(seq: torch.Tensor, wx: torch.Tensor, wh: torch.Tensor
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """torch.nn.GRU's recurrence (gate order r, z, n) for every member at once.

    h' = (1 - z) * n + z * h, n = tanh(x_n + r * (W_hn h + b_hn)): the n gate keeps its input and hidden
    parts apart, so ``wx`` (M, I + 1, 3H) = [W_ih | b_ih]^T and ``wh`` (M, H + 1, 3H) = [W_hh | b_hh]^T are
    two products per step. Pointwise rest: ``wfbt_gru_fwd`` or its torch twin.
    """
    length, m, b, inputs = seq.shape
    hidden = wh.shape[2] // 3
    x1 = seq.new_empty(length, m, b, inputs + 1)  # [x_t, 1]
    x1[..., :inputs] = seq
    x1[..., inputs:] = 1.0
    h1 = seq.new_empty(length, m, b, hidden + 1)  # [h_(t-1), 1]
    h1[..., hidden:] = 1.0
    h1[0, ..., :hidden] = 0.0
    gates = seq.new_empty(length, m, b, 3 * hidden)  # x side, then r, z, n in place
    h_part = torch.empty_like(gates)  # W_hh h_(t-1) + b_hh
    hs = seq.new_empty(length, m, b, hidden)
    lib, threads = kernels.use_for(seq), torch.get_num_threads()
    for t in range(length):
        torch.bmm(x1[t], wx, out=gates[t])
        if t:
            torch.bmm(h1[t], wh, out=h_part[t])
        else:
            torch.bmm(h1[0, ..., hidden:], wh[:, hidden:], out=h_part[0])
        args = (gates[t], h_part[t], hs[t - 1] if t else None, hs[t], h1[t + 1] if t + 1 < length else None)
        if lib is not None:
            lib.wfbt_gru_fwd(*map(ptr, args), m * b, hidden, hidden + 1, threads)
        else:
            _gru_fwd_torch(*args)
    return hs, (x1, h1, wx, wh, gates, h_part, hs)


def gru_backward(saved: tuple[torch.Tensor, ...], d_hs: torch.Tensor, want_seq: bool
                 ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Gradients of ``gru_forward``: d_hs (L, M, B, H), or (M, B, H) for the last step only.

    Returns d seq (or None unless ``want_seq``), d wx and d wh.
    """
    x1, h1, wx, wh, gates, h_part, hs = saved
    length, m, b, hidden = hs.shape
    inputs = x1.shape[-1] - 1
    d_x = torch.empty_like(gates[0])  # one step's d of the x-side pre-activations (r, z, n)
    d_h = torch.empty_like(gates[0])  # one step's d of W_hh h_(t-1) + b_hh (r, z, r * d n)
    w_hh, w_ih = wh[:, :hidden].transpose(1, 2), wx[:, :inputs].transpose(1, 2)
    lib, threads = kernels.use_for(gates), torch.get_num_threads()
    spare = [torch.empty_like(hs[0]), torch.empty_like(hs[0])]
    d_seq = x1.new_empty(length, m, b, inputs) if want_seq else None
    dh, d_wx, d_wh = _step_grad(d_hs, -1), None, None
    for t in range(length - 1, -1, -1):
        base = spare[t % 2] if t else None
        out_prev = _step_grad(d_hs, t - 1 - length) if t else None
        args = (gates[t], h_part[t], hs[t - 1] if t else None, dh, out_prev, d_x, d_h, base)
        if lib is not None:
            lib.wfbt_gru_bwd(*map(ptr, args), m * b, hidden, threads)
        else:
            _gru_bwd_torch(*args)
        d_wx, d_wh = _accumulate(d_wx, x1[t], d_x), _accumulate(d_wh, h1[t], d_h, skip=0 if t else hidden)
        if want_seq:
            torch.bmm(d_x, w_ih, out=d_seq[t])
        if t:
            dh = base.baddbmm_(d_h, w_hh)
    return d_seq, d_wx, d_wh


class _GRULayer(torch.autograd.Function):
    """``gru_forward`` / ``gru_backward`` as an autograd Function."""

    @staticmethod
    def forward(ctx, seq, wx, wh):  # type: ignore[no-untyped-def,override]
        hs, saved = gru_forward(seq, wx, wh)
        ctx.save_for_backward(*saved)
        return hs

    @staticmethod
    def backward(ctx, d_hs):  # type: ignore[no-untyped-def,override]
        return gru_backward(ctx.saved_tensors, d_hs.contiguous(), ctx.needs_input_grad[0])


def _gru_fwd_torch(g, hp, h_prev, h, h_next):  # type: ignore[no-untyped-def]
    """wfbt_gru_fwd as torch operations: r, z, n into g in place, then h (and h into h_next[..., :H])."""
    hidden = h.shape[-1]
    rz, n = g.split([2 * hidden, hidden], dim=-1)
    rz.add_(hp[..., :2 * hidden]).sigmoid_()
    r, z = rz.chunk(2, dim=-1)
    n.addcmul_(r, hp[..., 2 * hidden:]).tanh_()
    if h_prev is not None:
        torch.addcmul(n, z, h_prev - n, out=h)
    else:
        torch.addcmul(n, z, n, value=-1.0, out=h)
    if h_next is not None:
        h_next[..., :hidden] = h


def _gru_bwd_torch(g, hp, h_prev, dh, dh_out_prev, dx, dhp, base):  # type: ignore[no-untyped-def]
    """wfbt_gru_bwd as torch operations (see cpu_kernels.c for the formulas)."""
    hidden = dh.shape[-1]
    r, z, n = g.chunk(3, dim=-1)
    d_r, d_z, d_n = dx.chunk(3, dim=-1)
    torch.mul(dh, (1.0 - z) * (1.0 - n * n), out=d_n)
    torch.mul(d_n, hp[..., 2 * hidden:] * r * (1.0 - r), out=d_r)
    torch.mul(-n if h_prev is None else h_prev - n, dh * z * (1.0 - z), out=d_z)
    dhp[..., :2 * hidden] = dx[..., :2 * hidden]
    torch.mul(d_n, r, out=dhp[..., 2 * hidden:])
    if base is not None and dh_out_prev is not None:
        torch.addcmul(dh_out_prev, dh, z, out=base)
    elif base is not None:
        torch.mul(dh, z, out=base)


def predict_members(arch: Architecture, weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(M, N) predictions in scaled units of M trained members (``weights``: (M, P) rows in ``reference.flatten``'s
    layout, as the trainer hands them back) on the same windows ``x`` (N, L, F), in evaluation mode: the
    trainer's own forward (its kernels, its thread pool), all members in one call."""
    if len(x) == 0:
        return np.zeros((len(weights), 0))
    net = GroupRNN(arch, x.shape[-1], x.shape[1])
    flat = net.from_reference(torch.as_tensor(np.asarray(weights), dtype=torch.float32))
    windows = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    with torch.no_grad():
        return net.forward(flat, windows.expand(len(weights), *windows.shape).contiguous()).numpy().astype(np.float64)

