"""A group of same-shaped LSTM/GRU models computed as one: every weight has a leading member dim.

The parameters of M members live in one tensor ``flat`` of shape (M, P); member m's row is exactly
``forecasters.reference.flatten(model_m)``, so a group of one is the torch.nn model it stands for.
Recurrent products are batched matrix products over the member dimension (``torch.baddbmm``).
"""

from __future__ import annotations

import math

import torch

from forecasters.registry import Architecture


class GroupRNN:
    """Stateless forward pass for a group; parameters are passed in as ``flat`` (M, P)."""

    def __init__(self, arch: Architecture, n_features: int, lookback: int) -> None:
        self.arch = arch
        self.lookback = lookback
        self.n_features = n_features
        self.layout: list[tuple[str, tuple[int, ...]]] = []
        inputs = n_features
        for i, h in enumerate(arch.hidden):
            g = arch.gates * h
            self.layout += [(f"w_ih{i}", (g, inputs)), (f"w_hh{i}", (g, h)), (f"b_ih{i}", (g,)), (f"b_hh{i}", (g,))]
            inputs = h
        self.layout += [("w_out", (1, inputs)), ("b_out", (1,))]
        self.n_params = sum(math.prod(shape) for _, shape in self.layout)
        assert self.n_params == arch.n_params(n_features)
        # Dropout mask widths: whole sequence after inner layers, last step after the top layer.
        self.mask_sizes = [lookback * h for h in arch.hidden[:-1]] + [arch.hidden[-1]]
        self.mask_width = sum(self.mask_sizes)

    def views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split (M, P) into named (M, *shape) views; no copies."""
        # split, not slicing: its backward is one concatenation instead of a zero-filled copy per view.
        parts = torch.split(flat, [math.prod(shape) for _, shape in self.layout], dim=1)
        return {name: part.view(flat.shape[0], *shape) for (name, shape), part in zip(self.layout, parts, strict=False)}

    def forward(self, flat: torch.Tensor, x: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
        """x: (M, B, L, F) scaled windows; masks: (M, B, mask_width) scaled keep-masks or None (eval).

        Returns (M, B) predictions in scaled units.
        """
        w = self.views(flat)
        m, b, length, _ = x.shape
        parts = list(torch.split(masks, self.mask_sizes, dim=-1)) if masks is not None else None
        seq = x
        n_layers = len(self.arch.hidden)
        h = x.new_zeros(0)
        for i, hidden in enumerate(self.arch.hidden):  # noqa: B007
            top = i == n_layers - 1
            step = _lstm_layer if self.arch.cell == "lstm" else _gru_layer
            outs, h = step(seq, w[f"w_ih{i}"], w[f"w_hh{i}"], w[f"b_ih{i}"], w[f"b_hh{i}"], hidden, keep_seq=not top)
            if not top:
                seq = outs  # (M, B, L, H)
                if parts is not None:
                    seq = seq * parts[i].view(m, b, length, hidden)
        if parts is not None:
            h = h * parts[-1]  # (M, B, H_top)
        out = torch.baddbmm(w["b_out"].unsqueeze(1), h, w["w_out"].transpose(1, 2))  # (M, B, 1)
        return out.squeeze(-1)


def _input_projection(seq: torch.Tensor, w_ih: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    m, b, length, inputs = seq.shape
    proj = torch.baddbmm(bias.unsqueeze(1), seq.reshape(m, b * length, inputs), w_ih.transpose(1, 2))
    return proj.view(m, b, length, -1).unbind(2)  # L x (M, B, G*H); unbind's backward is one stack


def _lstm_layer(seq, w_ih, w_hh, b_ih, b_hh, hidden, keep_seq):  # type: ignore[no-untyped-def]
    """torch.nn.LSTM's recurrence (gate order i, f, g, o) for every member at once.

    tanh(x) = 2 * sigmoid(2x) - 1, so doubling the g-gate rows lets one sigmoid call cover all four
    gates: transcendental functions, not matrix products, dominate the step on a CPU.
    """
    scale = torch.ones(4 * hidden, dtype=w_ih.dtype, device=w_ih.device)
    scale[2 * hidden:3 * hidden] = 2.0
    xp = _input_projection(seq, w_ih * scale[:, None], (b_ih + b_hh) * scale)
    w_hh_t = (w_hh * scale[:, None]).transpose(1, 2)  # (M, H, 4H)
    outs = []
    h = c = None
    for x_t in xp:
        gates = x_t if h is None else torch.baddbmm(x_t, h, w_hh_t)  # (M, B, 4H)
        i_gate, f_gate, g2, o_gate = gates.sigmoid().chunk(4, dim=-1)
        g = 2.0 * g2 - 1.0
        c = i_gate * g if c is None else torch.addcmul(i_gate * g, f_gate, c)
        h = o_gate * torch.tanh(c)  # (M, B, H)
        if keep_seq:
            outs.append(h)
    return (torch.stack(outs, dim=2) if keep_seq else None), h


def _gru_layer(seq, w_ih, w_hh, b_ih, b_hh, hidden, keep_seq):  # type: ignore[no-untyped-def]
    """torch.nn.GRU's recurrence (gate order r, z, n) for every member at once."""
    xp = _input_projection(seq, w_ih, b_ih)
    w_hh_t = w_hh.transpose(1, 2)  # (M, H, 3H)
    bias_h = b_hh.unsqueeze(1)  # (M, 1, 3H)
    outs = []
    h = None
    for x_t in xp:
        hp = bias_h if h is None else torch.baddbmm(bias_h, h, w_hh_t)  # (M, B, 3H)
        x_rz, x_n = x_t.split([2 * hidden, hidden], dim=-1)
        h_rz, h_n = hp.split([2 * hidden, hidden], dim=-1)
        r, z = (x_rz + h_rz).sigmoid().chunk(2, dim=-1)
        n = torch.tanh(torch.addcmul(x_n, r, h_n))
        h = n - z * n if h is None else torch.addcmul(n, z, h - n)  # (1 - z) * n + z * h
        if keep_seq:
            outs.append(h)
    return (torch.stack(outs, dim=2) if keep_seq else None), h
