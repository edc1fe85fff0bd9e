"""The batched trainer against the torch.nn models and torch.optim.Adam it stands for.

On a machine with a GPU, ``WFBT_TEST_DEVICE=cuda python -m pytest tests/test_trainer.py`` runs the same
checks on CUDA (TF32 off, so float32 products stay float32 on both sides).
"""

import dataclasses
import itertools
import math
import os
from collections import Counter

import numpy as np
import pytest
import torch

from forecasters import kernels
from forecasters.batched import LOSSES, GroupRNN
from forecasters.reference import flatten, init_reference, train_reference
from forecasters.registry import ARCHITECTURES, Architecture
from forecasters.trainer import OPTIMIZERS, Member, TrainSettings, train_group

DEVICE = torch.device(os.environ.get("WFBT_TEST_DEVICE", "cpu"))
if DEVICE.type == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def member(n: int, seed: int, data_seed: int | None = None) -> Member:
    rng = np.random.default_rng(seed if data_seed is None else data_seed)
    x = rng.standard_normal((n, 5, 4)).astype(np.float32)
    y = (0.8 * x[:, -1, 3] + 0.1 * x[:, -2, 0]).astype(np.float32)
    xv = rng.standard_normal((40, 5, 4)).astype(np.float32)
    return Member(x, y, xv, (0.8 * xv[:, -1, 3] + 0.1 * xv[:, -2, 0]).astype(np.float32), xv[:10], seed)


@pytest.mark.parametrize("lookback", [5, 1])
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_group_of_one_matches_torch_nn_outputs_and_gradients(name, lookback):
    arch = ARCHITECTURES[name]
    ref = init_reference(arch, 4, seed=3).eval().to(DEVICE)
    net = GroupRNN(arch, 4, lookback)
    flat = net.from_reference(flatten(ref).unsqueeze(0)).clone().requires_grad_(True)
    x = torch.randn(64, lookback, 4, generator=torch.Generator().manual_seed(0)).to(DEVICE)
    with torch.backends.cudnn.flags(enabled=False):  # cuDNN's RNN has no backward in eval mode
        y_ref = ref(x)
        (y_ref ** 2).sum().backward()
    y_grp = net.forward(flat, x.unsqueeze(0))[0]
    (y_grp ** 2).sum().backward()
    g_ref = torch.cat([p.grad.reshape(-1) for p in ref.parameters()])
    assert ((y_ref - y_grp).norm() / y_ref.norm()).item() < 1e-5
    if DEVICE.type == "cuda":  # and the forward of cuDNN's own kernels
        with torch.no_grad():
            y_cudnn = ref(x)
        assert ((y_cudnn - y_grp).norm() / y_cudnn.norm()).item() < 1e-5
    g_grp = net.to_reference(flat.grad)[0]
    assert ((g_ref - g_grp).norm() / g_ref.norm()).item() < 1e-5


def _outputs_and_grads(net: GroupRNN, flat: torch.Tensor, x: torch.Tensor, masks: torch.Tensor):
    flat = flat.clone().requires_grad_(True)
    y = net.forward(flat, x, masks)
    (grad,) = torch.autograd.grad((y ** 2).sum(), flat)
    return y.detach(), grad


@pytest.mark.skipif(DEVICE.type != "cpu", reason="the fused kernels are CPU-only")
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_fused_cpu_kernels_equal_the_same_steps_as_torch_operations(name, monkeypatch):
    # CI sets WFBT_REQUIRE_CPU_KERNELS=1: there a missing compiler must fail, not skip.
    if kernels.library() is None:
        if os.environ.get("WFBT_REQUIRE_CPU_KERNELS") == "1":
            pytest.fail("the fused CPU kernels did not build (see the RuntimeWarning)")
        pytest.skip("no C compiler: the fused CPU kernels are not built")
    arch = ARCHITECTURES[name]
    net = GroupRNN(arch, 4, 5)
    gen = torch.Generator().manual_seed(1)
    flat = net.from_reference(torch.stack([flatten(init_reference(arch, 4, seed=s)) for s in range(3)]))
    x = torch.randn(3, 33, 5, 4, generator=gen)
    masks = (torch.rand(3, 33, net.mask_width, generator=gen) >= arch.dropout).float() / (1 - arch.dropout)
    y_fused, g_fused = _outputs_and_grads(net, flat, x, masks)
    monkeypatch.setattr(kernels, "use_for", lambda t: None)
    y_torch, g_torch = _outputs_and_grads(net, flat, x, masks)
    assert ((y_fused - y_torch).norm() / y_torch.norm()).item() < 1e-6
    assert ((g_fused - g_torch).norm() / g_torch.norm()).item() < 1e-5
    assert not torch.equal(g_fused, torch.zeros_like(g_fused))


@pytest.mark.parametrize("path", ["fused", "torch"])
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_training_step_gradient_equals_autograd_through_the_forward(name, path, monkeypatch):
    # The trainer's step (GroupRNN.loss_grad: no autograd, gradients written straight into a buffer) against
    # autograd through GroupRNN.forward, which the tests above tie to torch.nn. Partial batches (take), a
    # member with no batch at all, dropout masks; the buffer starts as NaN so every entry must be written.
    if path == "torch":
        monkeypatch.setattr(kernels, "use_for", lambda t: None)
    arch = ARCHITECTURES[name]
    net = GroupRNN(arch, 4, 5)
    gen = torch.Generator().manual_seed(5)
    flat = net.from_reference(torch.stack([flatten(init_reference(arch, 4, seed=s)) for s in range(3)])).to(DEVICE)
    x = torch.randn(3, 33, 5, 4, generator=gen).to(DEVICE)
    y = torch.randn(3, 33, generator=gen).to(DEVICE)
    take = torch.ones(3, 33, device=DEVICE)
    take[1, 20:] = 0.0
    take[2] = 0.0
    masks = ((torch.rand(3, 33, net.mask_width, generator=gen) >= arch.dropout).float() / (1 - arch.dropout)).to(DEVICE)
    f = flat.clone().requires_grad_(True)
    sq = (net.forward(f, x, masks) - y) ** 2 * take
    (expected,) = torch.autograd.grad((sq.sum(1) / take.sum(1).clamp(min=1)).sum(), f)
    grad = torch.full_like(flat, math.nan)
    sq_sum = net.loss_grad(flat, x, y, take, masks, grad)
    assert ((grad - expected).norm() / expected.norm()).item() < 1e-6
    assert torch.equal(grad[2], torch.zeros_like(grad[2]))  # no batch, no gradient
    torch.testing.assert_close(sq_sum, sq.sum(1).detach(), rtol=1e-6, atol=0.0)


def _live_group(net: GroupRNN, members: int, n: int, device: torch.device, sizes: list[int]):
    """A trainer state for ``members`` members of up to ``n`` windows on ``device`` (no values on the meta
    device, zeros elsewhere), and an empty record for 2 epochs."""
    from forecasters.trainer import _Live, _Record

    def t(*shape, dtype=torch.float32):
        return (torch.empty if device.type == "meta" else torch.zeros)(*shape, dtype=dtype, device=device)

    p, i64, f64 = net.n_params, torch.int64, torch.float64
    live = _Live(
        ids=torch.arange(members, device=device), seeds=torch.arange(members, device=device),
        sizes=torch.tensor(sizes, device=device), sizes_host=torch.tensor(sizes),
        x=t(members, n, 5, 4), y=t(members, n), xv=t(members, 8, 5, 4), yv=t(members, 8), nv=t(members),
        flat=t(members, p), grad=t(members, p), m1=t(members, p), m2=t(members, p), adam_steps=t(members, dtype=f64),
        best=t(members, p), best_val=t(members, dtype=f64), bad=t(members, dtype=i64), sq_sum=t(members),
        masks=t(members, 8, net.mask_width),
    )
    record = _Record(train_loss=t(members, 2), val_loss=t(members, 2), epochs=t(members, dtype=i64),
                     best_epoch=t(members, dtype=i64), best_val=t(members, dtype=f64), weights=t(members, p))
    return live, record


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_training_epoch_stays_on_its_device_and_never_reads_back(name):
    # The CUDA path's epoch on PyTorch's "meta" device, which has shapes but no data: a value read back to
    # the host (.item(), .cpu(), float(), a Python `if` on a tensor) raises, and so does a CPU tensor mixed
    # into an elementwise operation. Covers the epoch's plan (shuffles, batch rows, Adam table, dropout keys),
    # the step the CUDA graph captures (batch, dropout masks drawn from the keys, loss_grad, Adam), the losses and
    # early stopping: everything but the epoch's one read. Checks without a GPU that all of it is
    # device-agnostic and free of host synchronisation; the CUDA-only test below checks the same on a GPU
    # with CUDA's own sync detector.
    from forecasters.trainer import _early_stop, _epoch_losses, _plan_epoch, _train_step

    arch = ARCHITECTURES[name]
    net = GroupRNN(arch, 4, 5)
    meta = torch.device("meta")
    live, record = _live_group(net, 3, 40, meta, sizes=[40, 33, 7])
    per_step = _plan_epoch(live, 1, TrainSettings(batch_size=8), arch.dropout)
    assert [tuple(t.shape) for t in per_step] == [(5, 3, 8), (5, 3, 8), (5, 3, 4), (5, 3, 2)]
    assert all(t.device == meta for t in per_step)
    _train_step(net, live, arch.dropout, *(t[0] for t in per_step))
    train_loss, val_loss = _epoch_losses(net, live, has_val=True)
    stop = _early_stop(live, record, 1, train_loss, val_loss, TrainSettings(), has_val=True)
    assert live.sq_sum.device == meta and stop.device == meta and stop.shape == (3,)
    for optimizer, loss in zip(OPTIMIZERS, ["mae", "huber", "bce"], strict=True):  # the other options too
        settings = TrainSettings(batch_size=8, optimizer=optimizer, loss=loss, shuffle=False, restore_best=False,
                                 early_stopping=False)
        per_step = _plan_epoch(live, 2, settings, arch.dropout)
        _train_step(net, live, arch.dropout, *(t[0] for t in per_step), optimizer=optimizer, loss=loss)
        train_loss, val_loss = _epoch_losses(net, live, True, loss)
        assert _early_stop(live, record, 2, train_loss, val_loss, settings, has_val=True).device == meta


@pytest.mark.skipif(DEVICE.type != "cuda", reason="needs a GPU: WFBT_TEST_DEVICE=cuda")
@pytest.mark.parametrize("name", ["lstm_stacked", "gru"])
def test_cuda_training_epoch_never_synchronises_with_the_host(name):
    from forecasters.trainer import _early_stop, _epoch_losses, _plan_epoch, _train_step

    arch = ARCHITECTURES[name]
    net = GroupRNN(arch, 4, 5)
    live, record = _live_group(net, 3, 40, DEVICE, sizes=[40, 33, 7])
    live.flat.copy_(net.from_reference(torch.stack([flatten(init_reference(arch, 4, seed=s)) for s in range(3)])))
    live.x.normal_()
    live.y.normal_()
    live.nv.fill_(8.0)
    settings = TrainSettings(batch_size=8)
    per_step = _plan_epoch(live, 1, settings, arch.dropout)  # first calls: cuBLAS handles and workspaces
    _train_step(net, live, arch.dropout, *(t[0] for t in per_step))
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for epoch in (1, 2):
            per_step = _plan_epoch(live, epoch, settings, arch.dropout)
            for s in range(per_step[0].shape[0]):
                _train_step(net, live, arch.dropout, *(t[s] for t in per_step))
            train_loss, val_loss = _epoch_losses(net, live, has_val=True)
            _early_stop(live, record, epoch, train_loss, val_loss, settings, has_val=True)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(live.flat).all()


@pytest.mark.skipif(DEVICE.type != "cpu", reason="the fused kernels are CPU-only")
def test_fused_adam_equals_the_torch_operations(monkeypatch):
    if kernels.library() is None:
        pytest.skip("no C compiler: the fused CPU kernels are not built")
    from forecasters.trainer import _adam_step

    gen = torch.Generator().manual_seed(2)
    state = [torch.randn(3, 500, generator=gen), torch.randn(3, 500, generator=gen),
             torch.randn(3, 500, generator=gen) * 0.1, torch.rand(3, 500, generator=gen) * 0.01]
    coef = torch.tensor([[0.1, 0.001, 1e-3, 1.2], [0.0, 0.0, 0.0, 0.0], [0.1, 0.001, 5e-4, 3.0]])
    fused = [t.clone() for t in state]
    _adam_step(fused[0], fused[1], fused[2], fused[3], coef)
    monkeypatch.setattr(kernels, "use_for", lambda t: None)
    plain = [t.clone() for t in state]
    _adam_step(plain[0], plain[1], plain[2], plain[3], coef)
    for a, b in zip(fused, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert torch.equal(fused[0][1], state[0][1])  # zero coefficients: the member does not move
    assert not torch.equal(fused[0][0], state[0][0])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_hand_written_backward_passes_gradcheck_in_float64(cell):
    # Finite differences against the written-out backward (the torch-operation path: float64 never takes
    # the float32 C kernels), with the input sequence needing a gradient as in a stacked layer.
    from forecasters.batched import _GRULayer, _LSTMLayer

    gen = torch.Generator().manual_seed(4)
    length, m, b, inputs, hidden = 3, 2, 2, 3, 2
    seq = torch.randn(length, m, b, inputs, generator=gen, dtype=torch.float64, requires_grad=True)
    if cell == "lstm":
        w = (0.5 * torch.randn(m, hidden + inputs + 2, 4 * hidden, generator=gen, dtype=torch.float64)).requires_grad_()
        assert torch.autograd.gradcheck(_LSTMLayer.apply, (seq, w))
    else:
        wx = (0.5 * torch.randn(m, inputs + 1, 3 * hidden, generator=gen, dtype=torch.float64)).requires_grad_()
        wh = (0.5 * torch.randn(m, hidden + 1, 3 * hidden, generator=gen, dtype=torch.float64)).requires_grad_()
        assert torch.autograd.gradcheck(_GRULayer.apply, (seq, wx, wh))


@pytest.mark.parametrize("problem", ["no compiler", "unwritable cache"])
def test_missing_kernels_fall_back_with_a_warning_that_names_the_fix(problem, monkeypatch, tmp_path):
    monkeypatch.setattr(kernels, "_lib", None)
    monkeypatch.setattr(kernels, "_tried", False)
    monkeypatch.delenv("WFBT_CPU_KERNELS", raising=False)
    if problem == "no compiler":
        monkeypatch.setenv("CC", "no-such-cc")
        monkeypatch.setenv("WFBT_KERNEL_CACHE", str(tmp_path))
        expected = r"no C compiler 'no-such-cc'.*install a C compiler"
    else:
        if os.geteuid() == 0:
            blocker = tmp_path / "file"  # root writes anywhere: a file where the folder should be instead
            blocker.write_text("")
            monkeypatch.setenv("WFBT_KERNEL_CACHE", str(blocker))
        else:
            locked = tmp_path / "locked"
            locked.mkdir(mode=0o500)
            monkeypatch.setenv("WFBT_KERNEL_CACHE", str(locked))
        expected = r"WFBT_KERNEL_CACHE .* is writable"
    with pytest.warns(RuntimeWarning, match=expected):
        assert kernels.library() is None
    assert kernels.use_for(torch.zeros(1)) is None  # said once: the torch path from here on


def test_gru3_has_the_papers_parameter_count():
    assert ARCHITECTURES["gru3"].n_params(5) == 39_201
    assert GroupRNN(ARCHITECTURES["gru3"], 5, 5).n_params == 39_201


@pytest.mark.parametrize("arch", [
    Architecture("tiny", "lstm", (8,), 0.0, "test"),
    Architecture("tiny_dropout", "lstm", (8, 6), 0.3, "test"),  # inner masks over whole sequences, top mask
    Architecture("tiny_gru_dropout", "gru", (8, 6), 0.3, "test"),
], ids=lambda a: a.name)
def test_adam_shuffles_dropout_and_early_stopping_match_the_reference_loop(arch):
    # The reference loop draws its shuffles and dropout masks from forecasters.rng with the member's seed,
    # as the group does, so the whole training run (Adam, minibatches, masks, early stopping, best
    # weights) must agree with torch.nn + torch.optim.Adam.
    mb = member(150, seed=7)
    settings = TrainSettings(epochs=6, batch_size=32, lr=3e-3, patience=2)
    (res,) = train_group(arch, [mb], settings, device=DEVICE)
    model, best_epoch, val_hist = train_reference(
        arch, mb.x_train, mb.y_train, mb.x_val, mb.y_val, epochs=6, batch_size=32, lr=3e-3, patience=2, seed=7)
    with torch.no_grad():
        ref_pred = model(torch.from_numpy(mb.x_test)).numpy()
    assert res.best_epoch == best_epoch
    np.testing.assert_allclose(res.val_loss, val_hist, rtol=1e-4)
    np.testing.assert_allclose(res.predictions, ref_pred, rtol=1e-4, atol=1e-5)


def _per_epoch_work(members: int, epochs: int) -> tuple[Counter, int]:
    """Torch operations (by name) and lines of forecasters/ Python run by one train_group call."""
    import sys

    from torch.utils._python_dispatch import TorchDispatchMode

    class CountOps(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.ops: Counter = Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
            self.ops[str(func)] += 1
            return func(*args, **(kwargs or {}))

    package = os.path.dirname(os.path.abspath(kernels.__file__))
    lines = [0]

    def local(frame, event, arg):  # noqa: ANN001
        lines[0] += event == "line"
        return local

    def tracer(frame, event, arg):  # noqa: ANN001
        return local if frame.f_code.co_filename.startswith(package) else None

    arch = ARCHITECTURES["lstm_stacked"]
    group = [member(100, seed=i) for i in range(members)]  # same sizes: the same steps per epoch
    settings = TrainSettings(epochs=epochs, batch_size=32, patience=100)  # nobody stops early
    counting = CountOps()
    sys.settrace(tracer)
    try:
        with counting:
            train_group(arch, group, settings, device=DEVICE)
    finally:
        sys.settrace(None)
    return counting.ops, lines[0]


def test_host_work_per_epoch_does_not_grow_with_the_group():
    # What 2 more epochs add (so the once-per-group loading and result building drop out) must be the
    # same for a group of 2 and a group of 7: no tensor operation and no line of Python per member.
    work = {m: [_per_epoch_work(m, e) for e in (2, 4)] for m in (2, 7)}
    added = {m: (w[1][0] - w[0][0], w[1][1] - w[0][1]) for m, w in work.items()}
    assert added[2][0] == added[7][0]
    assert added[2][1] == added[7][1]
    assert sum(added[2][0].values()) > 0 and added[2][1] > 0


@pytest.mark.parametrize("name", ["lstm", "gru_stacked"])
def test_members_trained_together_equal_members_trained_alone(name):
    arch = ARCHITECTURES[name]
    members = [member(100 + 13 * i, seed=i) for i in range(4)]  # different sizes, as expanding windows
    settings = TrainSettings(epochs=3, batch_size=32, patience=1)
    together = train_group(arch, members, settings, device=DEVICE)
    for mb, res in zip(members, together, strict=False):
        (alone,) = train_group(arch, [mb], settings, device=DEVICE)
        assert alone.best_epoch == res.best_epoch and alone.epochs == res.epochs
        # float32 rounding differs between batched products of 1 and of 4 members: measured 2e-7 to 6e-7 relative
        # (norm of the difference / norm of the predictions), 3e-8 to 6e-8 absolute, after 3 epochs
        np.testing.assert_allclose(alone.predictions, res.predictions, rtol=1e-5, atol=1e-5)


def test_changing_one_members_data_changes_no_other_member():
    arch = ARCHITECTURES["gru"]
    settings = TrainSettings(epochs=2, patience=5)
    base = [member(120, seed=i) for i in range(3)]
    changed = list(base)
    changed[1] = member(120, seed=1, data_seed=99)
    a, b = train_group(arch, base, settings, device=DEVICE), train_group(arch, changed, settings, device=DEVICE)
    assert not np.allclose(a[1].predictions, b[1].predictions)
    for i in (0, 2):
        np.testing.assert_array_equal(a[i].predictions, b[i].predictions)


def test_stopped_members_leave_the_group_and_keep_their_best_weights():
    arch = ARCHITECTURES["gru"]
    members = [member(120, seed=i) for i in range(3)]
    res = train_group(arch, members, TrainSettings(epochs=12, patience=1), device=DEVICE, keep_weights=True)
    for r in res:
        assert r.epochs <= 12 and r.best_epoch == int(np.argmin(r.val_loss)) + 1
        assert r.epochs - r.best_epoch <= 1 or r.epochs == 12
    net = GroupRNN(arch, 4, 5)
    w = net.from_reference(torch.from_numpy(np.stack([r.weights for r in res])).to(DEVICE))
    with torch.no_grad():
        again = net.forward(w, torch.from_numpy(np.stack([m.x_test for m in members])).to(DEVICE))
    np.testing.assert_allclose(again.cpu().numpy(), np.stack([r.predictions for r in res]), rtol=1e-6)


def test_memory_estimate_splits_a_group_that_does_not_fit_and_refuses_one_member():
    from backtest.core.errors import WfbtError
    from backtest.engine.devices import split_to_fit
    from forecasters.trainer import group_bytes

    arch = ARCHITECTURES["lstm_stacked"]
    members = [member(200, seed=i) for i in range(10)]
    need = group_bytes(arch, members, 32)
    assert group_bytes(arch, members[:5], 32) < need
    assert split_to_fit(arch, members, 32, torch.device("cpu"), budget=need) == [members]
    with pytest.warns(UserWarning, match=r"training them in 4 groups of up to 3"):
        chunks = split_to_fit(arch, members, 32, torch.device("cpu"), budget=int(need * 0.35))
    assert [len(c) for c in chunks] == [2, 3, 3, 2] and sum(chunks, []) == members
    with pytest.raises(WfbtError, match=r"one lstm_stacked model needs about .* MiB to train but only 0 MiB"):
        split_to_fit(arch, members, 32, torch.device("cpu"), budget=1000)


@pytest.mark.skipif(DEVICE.type != "cuda", reason="CUDA graphs need a GPU: WFBT_TEST_DEVICE=cuda")
@pytest.mark.parametrize("name", ["lstm_stacked", "gru"])
def test_cuda_graph_replay_equals_eager_steps(name):
    # Expanding windows (different step counts), dropout, early stopping with compaction (recapture).
    arch = ARCHITECTURES[name]
    rng = np.random.default_rng(5)  # odd members learn noise, so they stop early and leave the group
    members = [member(90 + 25 * i, seed=i) for i in range(5)]
    members = [dataclasses.replace(m, y_train=rng.standard_normal(len(m.y_train)).astype(np.float32)) if i % 2 else m
               for i, m in enumerate(members)]
    settings = TrainSettings(epochs=8, batch_size=32, patience=1)
    graphed = train_group(arch, members, settings, device=DEVICE)
    eager = train_group(arch, members, TrainSettings(epochs=8, batch_size=32, patience=1, cuda_graph=False),
                        device=DEVICE)
    assert len({r.epochs for r in eager}) > 1  # members stopped at different epochs: the graph was recaptured
    for g, e in zip(graphed, eager, strict=True):
        assert (g.epochs, g.best_epoch) == (e.epochs, e.best_epoch)
        np.testing.assert_allclose(g.val_loss, e.val_loss, rtol=1e-6)
        np.testing.assert_allclose(g.predictions, e.predictions, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["lstm", "gru_stacked"])
def test_validation_and_test_sets_forwarded_in_blocks_train_the_same(monkeypatch, name):
    from forecasters import trainer

    arch = ARCHITECTURES[name]
    members = [member(90 + 7 * i, seed=i) for i in range(3)]  # 40 validation windows each, 10 test windows
    settings = TrainSettings(epochs=3, batch_size=32, patience=1)
    whole = train_group(arch, members, settings, device=DEVICE)
    per_window = trainer._eval_floats(arch, 4, 5)
    seen = []
    forward = GroupRNN.forward
    monkeypatch.setattr(GroupRNN, "forward", lambda self, flat, x, masks=None: seen.append(x.shape[:2]) or
                        forward(self, flat, x, masks))
    for rows in (50, 17):  # blocks of whole members (50 windows: one member's 40), then of row slices
        monkeypatch.setattr(trainer, "EVAL_BYTES", 4 * per_window * rows)
        seen.clear()
        blocked = train_group(arch, members, settings, device=DEVICE)
        # forward runs for evaluation only (training steps use loss_grad): every call is one block
        assert max(m * n for m, n in seen) <= rows and len(seen) > 2 * 3, (rows, seen)
        for a, b in zip(whole, blocked, strict=True):
            assert (a.best_epoch, a.epochs) == (b.best_epoch, b.epochs)
            # a block changes the row count of the validation products: float32 rounding at most
            np.testing.assert_allclose(b.val_loss, a.val_loss, rtol=1e-6)
            np.testing.assert_allclose(b.predictions, a.predictions, rtol=1e-6, atol=1e-7)


# Every training option against the torch.nn reference, in full: optimiser x loss x shuffle x restore_best x
# cell x layers (192 tiny runs of 5 epochs, ~0.06 s each on a CPU).
_OPTION_CASES = list(itertools.product(OPTIMIZERS, LOSSES, (True, False), (True, False), ("lstm", "gru"), (1, 2)))


def _option_member(loss: str, seed: int = 11) -> Member:
    """70 training and 24 validation windows (5 x 3) whose targets are mostly noise, so that the validation
    loss rises and falls (the best epoch is often not the last, and patience runs out); 0/1 targets for bce."""
    rng = np.random.default_rng(seed)
    x, xv = (rng.standard_normal((n, 5, 3)).astype(np.float32) for n in (70, 24))

    def target(w: np.ndarray) -> np.ndarray:
        y = 0.8 * w[:, -1, 2] + 0.3 * w[:, -2, 0] + 1.5 * rng.standard_normal(len(w))
        return (y > 0).astype(np.float32) if loss == "bce" else y.astype(np.float32)

    return Member(x, target(x), xv, target(xv), xv[:8], seed)


@pytest.mark.parametrize(("optimizer", "loss", "shuffle", "restore_best", "cell", "layers"), _OPTION_CASES,
                         ids=lambda v: str(v))
def test_every_training_option_matches_the_reference_loop(optimizer, loss, shuffle, restore_best, cell, layers):
    # two layers with dropout, one without; SGD with momentum on the stacked nets, plain on the single ones
    arch = Architecture("tiny", cell, (5, 4) if layers == 2 else (6,), 0.25 if layers == 2 else 0.0, "test")
    mb = _option_member(loss)
    options = dict(optimizer=optimizer, loss=loss, shuffle=shuffle, restore_best=restore_best,
                   momentum=0.9 if optimizer == "sgd" and layers == 2 else 0.0)
    lr = {"adam": 0.1, "rmsprop": 0.01, "sgd": 0.2}[optimizer]  # large: the validation loss rises and falls
    settings = TrainSettings(epochs=5, batch_size=32, lr=lr, patience=2, **options)
    (res,) = train_group(arch, [mb], settings, device=DEVICE)
    model, kept_epoch, val_hist = train_reference(
        arch, mb.x_train, mb.y_train, mb.x_val, mb.y_val, epochs=5, batch_size=32, lr=lr, patience=2, seed=11,
        **options)
    with torch.no_grad():
        ref_pred = model(torch.from_numpy(mb.x_test))
        ref_pred = (torch.sigmoid(ref_pred) if loss == "bce" else ref_pred).numpy()
    assert (res.best_epoch, res.epochs) == (kept_epoch, len(val_hist))
    if not restore_best:
        assert res.best_epoch == res.epochs
    np.testing.assert_allclose(res.val_loss, val_hist, rtol=1e-4)
    np.testing.assert_allclose(res.predictions, ref_pred, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("restore_best", [True, False])
def test_early_stopping_off_trains_every_epoch_as_the_reference_does(restore_best):
    arch = Architecture("tiny", "gru", (6,), 0.0, "test")
    mb = _option_member("mse")
    options = dict(optimizer="adam", loss="mse", restore_best=restore_best, early_stopping=False)
    (res,) = train_group(arch, [mb], TrainSettings(epochs=7, lr=0.1, patience=1, **options), device=DEVICE)
    model, kept_epoch, val_hist = train_reference(arch, mb.x_train, mb.y_train, mb.x_val, mb.y_val, epochs=7,
                                                  lr=0.1, patience=1, seed=11, **options)
    assert res.epochs == len(val_hist) == 7 and res.best_epoch == kept_epoch
    assert (res.best_epoch == 7) != restore_best or res.best_epoch == int(np.argmin(res.val_loss)) + 1
    with torch.no_grad():
        np.testing.assert_allclose(res.predictions, model(torch.from_numpy(mb.x_test)).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(DEVICE.type != "cpu", reason="the fused kernels are CPU-only")
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_fused_kernels_and_plain_torch_train_the_same_for_every_optimizer(optimizer, monkeypatch):
    # Adam's step may be the C kernel, RMSprop's and SGD's are torch operations: with the kernels and
    # without them (as WFBT_CPU_KERNELS=0 runs) a training run must agree to float32 rounding.
    arch = Architecture("tiny", "lstm", (5, 4), 0.25, "test")
    mb = _option_member("huber")
    settings = TrainSettings(epochs=3, lr=3e-3, optimizer=optimizer, loss="huber",
                             momentum=0.5 if optimizer == "sgd" else 0.0)
    (fused,) = train_group(arch, [mb], settings)
    monkeypatch.setattr(kernels, "use_for", lambda t: None)
    (plain,) = train_group(arch, [mb], settings)
    np.testing.assert_allclose(fused.val_loss, plain.val_loss, rtol=1e-5)
    np.testing.assert_allclose(fused.predictions, plain.predictions, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", LOSSES)
def test_training_step_gradient_of_every_loss_equals_autograd(loss):
    from forecasters.reference import LOSSES as TORCH_LOSSES

    arch = Architecture("tiny", "gru", (5, 4), 0.0, "test")
    net = GroupRNN(arch, 4, 5)
    gen = torch.Generator().manual_seed(6)
    flat = net.from_reference(torch.stack([flatten(init_reference(arch, 4, seed=s)) for s in range(2)]))
    x = torch.randn(2, 20, 5, 4, generator=gen)
    y = (torch.rand(2, 20, generator=gen) > 0.5).float() if loss == "bce" else 3 * torch.randn(2, 20, generator=gen)
    take = torch.ones(2, 20)
    take[1, 12:] = 0.0
    f = flat.clone().requires_grad_(True)
    pred = net.forward(f, x)
    total = TORCH_LOSSES[loss](pred[0], y[0]) + TORCH_LOSSES[loss](pred[1, :12], y[1, :12])
    (expected,) = torch.autograd.grad(total, f)
    grad = torch.full_like(flat, math.nan)
    summed = net.loss_grad(flat, x, y, take, None, grad, loss)
    assert ((grad - expected).norm() / expected.norm()).item() < 1e-5
    torch.testing.assert_close(summed / take.sum(1), torch.stack([
        TORCH_LOSSES[loss](pred[0], y[0]), TORCH_LOSSES[loss](pred[1, :12], y[1, :12])]).detach(), rtol=1e-5, atol=0)


def test_bce_refuses_targets_that_are_not_labels():
    with pytest.raises(ValueError, match="0/1 targets"):
        train_group(Architecture("tiny", "gru", (4,), 0.0, "test"), [_option_member("mse")],
                    TrainSettings(epochs=1, loss="bce"))


@pytest.mark.parametrize("name", ["lstm", "gru_stacked"])
def test_predict_members_equals_the_torch_nn_reference_of_each_member(name):
    """The in-sample fits use the trainer's own forward for all members at once; each row must be what the
    torch.nn model with that member's weights predicts (reference.predict_flat), to float32 rounding."""
    from forecasters.batched import predict_members
    from forecasters.reference import predict_flat

    arch = ARCHITECTURES[name]
    weights = np.stack([flatten(init_reference(arch, 4, seed=s)).numpy() for s in range(3)])
    x = np.random.default_rng(5).standard_normal((40, 5, 4)).astype(np.float32)
    got = predict_members(arch, weights, x)
    assert got.shape == (3, 40)
    for m in range(3):
        np.testing.assert_allclose(got[m], predict_flat(arch, weights[m], x), rtol=1e-5, atol=1e-6)
