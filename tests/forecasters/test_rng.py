"""wfbt's counter-based draws (forecasters/rng.py): the definition, its two implementations, and the
statistics a shuffle and a dropout mask need.

``spec_*`` below restate the definition with Python's unbounded integers and explicit 32-bit masking:
the torch operations (int64 tensors) and the C loop (uint32) must agree with them bit for bit, which
is what makes the draws the same on every device.
"""

import os
from collections import Counter

import numpy as np
import pytest
import torch
from scipy import stats

from forecasters import kernels, rng

M32 = 0xFFFFFFFF


def spec_mix32(x: int) -> int:
    x ^= x >> 16
    x = (x * 0x21F0AAAD) & M32
    x ^= x >> 15
    x = (x * 0x735A2D97) & M32
    return x ^ (x >> 15)


def spec_key(seed: int, stream: int, epoch: int, step: int) -> tuple[int, int]:
    out = []
    for start in (0x9E3779B9, 0x85EBCA6B):
        h = spec_mix32((seed & M32) ^ start)
        for word in (seed >> 32, stream, epoch, step):
            h = spec_mix32(h ^ word)
        out.append(h)
    return out[0], out[1]


def spec_word(counter: int, key: tuple[int, int]) -> int:
    return spec_mix32(spec_mix32(counter ^ key[0]) ^ key[1])


def spec_keep(key: tuple[int, int], element: int, p: float) -> bool:
    word = spec_word(element // 2, key)
    half = word & 0xFFFF if element % 2 == 0 else word >> 16
    return half >= round(p * 65536)


@pytest.fixture(params=["fused", "torch"])
def mask_path(request, monkeypatch):
    """Run a test on both implementations of keep_masks: the C loop (CPU) and the torch operations."""
    if request.param == "torch":
        monkeypatch.setattr(kernels, "use_for", lambda t: None)
    elif kernels.library() is None:
        if os.environ.get("WFBT_REQUIRE_CPU_KERNELS") == "1":
            pytest.fail("the fused CPU kernels did not build (see the RuntimeWarning)")
        pytest.skip("no C compiler: the fused CPU kernels are not built")
    return request.param


def test_mix32_known_answers():
    # Computed by a separate C program on uint32 (wrapping arithmetic), the CPU kernel's arithmetic.
    x = torch.tensor([0, 1, 2, 0x9E3779B9, 0xFFFFFFFF, 123456789])
    assert rng.mix32(x).tolist() == [0, 2261973619, 229111015, 1684164658, 2578835075, 956453899]


def test_mix32_and_keys_equal_the_definition_on_edge_and_random_values():
    gen = np.random.default_rng(0)
    values = [0, 1, 0x7FFFFFFF, 0x80000000, M32, *gen.integers(0, 2**32, 200).tolist()]
    assert rng.mix32(torch.tensor(values)).tolist() == [spec_mix32(v) for v in values]
    seeds = [0, 1, M32, 2**32, 2**63 - 1, *gen.integers(0, 2**63, 20).tolist()]
    got = rng.keys(torch.tensor(seeds), rng.DROPOUT, 7, 3)  # (3, M, 2)
    for step in range(3):
        assert [tuple(k) for k in got[step].tolist()] == [spec_key(s, rng.DROPOUT, 7, step) for s in seeds]
    assert rng.keys(torch.tensor([5]), rng.SHUFFLE, M32, 1)[0, 0].tolist() == list(spec_key(5, rng.SHUFFLE, M32, 0))


def test_mix32_and_keyed_words_avalanche():
    # Flipping any one input bit flips every output bit with probability 1/2: measured 0.5 +- 0.013 at
    # worst over the 32 x 32 (bit in, bit out) pairs with 20,000 inputs (one standard error is 0.0035).
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 2**32, (20_000,), generator=gen)
    key = rng.keys(torch.tensor([11]), rng.DROPOUT, 1, 1)[0, 0]  # (2,)
    bits = torch.arange(32)
    for f in (rng.mix32, lambda c: rng.words(c, key)):
        y = f(x)
        for i in range(32):
            flips = (((y ^ f(x ^ (1 << i)))[:, None] >> bits) & 1).double().mean(0)
            assert (flips - 0.5).abs().max() < 0.03, (i, flips)


def test_keep_masks_equal_the_definition(mask_path):
    seeds = torch.tensor([3, 2**40 + 9])
    key = rng.keys(seeds, rng.DROPOUT, 2, 4)[3]  # step 3's keys, (2, 2)
    masks = rng.keep_masks(key, 3, 5, 0.3)  # odd element count: the last word is half used
    scale = torch.tensor(1 / 0.7, dtype=torch.float32).item()
    for m, seed in enumerate(seeds.tolist()):
        k = spec_key(seed, rng.DROPOUT, 2, 3)
        expected = [[scale if spec_keep(k, r * 5 + c, 0.3) else 0.0 for c in range(5)] for r in range(3)]
        assert masks[m].tolist() == expected


def test_fused_keep_masks_equal_the_torch_operations_bit_for_bit(monkeypatch):
    if kernels.library() is None:
        pytest.skip("no C compiler: the fused CPU kernels are not built")
    key = rng.keys(torch.arange(37), rng.DROPOUT, 4, 1)[0]
    for rows, width, p in [(32, 64, 0.2), (32, 352, 0.4), (5, 7, 0.5), (1, 1, 0.1)]:
        fused = rng.keep_masks(key, rows, width, p)
        with monkeypatch.context() as patch:
            patch.setattr(kernels, "use_for", lambda t: None)
            plain = rng.keep_masks(key, rows, width, p)
        assert torch.equal(fused, plain), (rows, width, p)


def test_keep_masks_keep_one_minus_p_and_scale_like_torch_dropout(mask_path):
    key = rng.keys(torch.arange(64), rng.DROPOUT, 1, 1)[0]
    for p in (0.2, 0.4):
        masks = rng.keep_masks(key, 32, 352, p)  # 720,896 draws
        scale = torch.nn.functional.dropout(torch.ones(100_000), p).max()  # what nn.Dropout multiplies by
        assert set(masks.unique().tolist()) == {0.0, scale.item()}
        kept = (masks > 0).double().mean().item()
        expected = 1 - round(p * 65536) / 65536  # p to within 2**-17
        assert abs(expected - (1 - p)) <= 2**-17
        assert abs(kept - expected) < 5 * (expected * (1 - expected) / masks.numel()) ** 0.5


def test_words_are_uniform_and_masks_uncorrelated():
    key = rng.keys(torch.arange(4), rng.DROPOUT, 3, 2)  # (2 steps, 4 members, 2)
    words = rng.words(torch.arange(2**16), key[0])  # (4, 65536)
    for part in (words & 0xFF, (words >> 8) & 0xFF, (words >> 16) & 0xFF, words >> 24):
        counts = torch.bincount(part.reshape(-1), minlength=256).numpy()
        assert stats.chisquare(counts).pvalue > 1e-4
    masks = torch.cat([rng.keep_masks(key[s], 64, 200, 0.3) for s in range(2)]).reshape(8, -1).double()  # (8, N)
    n = masks.shape[1]
    bound = 5 / n**0.5  # five standard errors of a correlation of independent draws
    corr = torch.corrcoef(masks)  # members and steps against each other
    assert (corr - torch.eye(8, dtype=torch.float64)).abs().max() < bound
    for lag in (1, 2, 200):  # neighbouring elements, the two halves of a word, the same column a row apart
        assert abs(torch.corrcoef(torch.stack([masks[0, :-lag], masks[0, lag:]]))[0, 1]) < bound


def test_shuffles_equal_the_definition():
    seeds, sizes = [5, 2**33 + 1], [9, 6]
    order = rng.shuffles(torch.tensor(seeds), torch.tensor(sizes), 4, 9)
    for m, (seed, n) in enumerate(zip(seeds, sizes, strict=True)):
        key = spec_key(seed, rng.SHUFFLE, 4, 0)
        assert order[m, :n].tolist() == sorted(range(n), key=lambda pos, key=key: (spec_word(pos, key), pos))


def test_shuffles_are_permutations_then_padding():
    sizes = torch.tensor([5, 12, 1, 9])
    order = rng.shuffles(torch.tensor([1, 2, 3, 4]), sizes, 1, 14)
    for m, n in enumerate(sizes.tolist()):
        assert sorted(order[m, :n].tolist()) == list(range(n))
        assert order[m, n:].tolist() == list(range(n, 14))
    assert order[1, :12].tolist() != list(range(12))


def test_a_members_draws_do_not_depend_on_its_group():
    seeds, sizes = torch.tensor([10, 20, 30]), torch.tensor([700, 40, 250])
    group = rng.shuffles(seeds, sizes, 6, 700)
    group_keys = rng.keys(seeds, rng.DROPOUT, 6, 22)
    group_masks = rng.keep_masks(group_keys[21], 32, 64, 0.2)
    for m in range(3):
        alone = rng.shuffles(seeds[m:m + 1], sizes[m:m + 1], 6, int(sizes[m]))
        assert torch.equal(alone[0], group[m, :sizes[m]])
        alone_keys = rng.keys(seeds[m:m + 1], rng.DROPOUT, 6, 22)
        assert torch.equal(alone_keys[:, 0], group_keys[:, m])
        assert torch.equal(rng.keep_masks(alone_keys[21], 32, 64, 0.2)[0], group_masks[m])


def test_draws_repeat_exactly_and_change_with_each_coordinate():
    seeds, sizes = torch.tensor([7, 8]), torch.tensor([50, 50])
    first = rng.shuffles(seeds, sizes, 3, 50)
    assert torch.equal(first, rng.shuffles(seeds, sizes, 3, 50))
    assert not torch.equal(first[0], first[1])  # seed
    assert not torch.equal(first, rng.shuffles(seeds, sizes, 4, 50))  # epoch
    keys = rng.keys(seeds, rng.DROPOUT, 3, 2)
    assert torch.equal(keys, rng.keys(seeds, rng.DROPOUT, 3, 2))
    assert not torch.equal(keys[0], keys[1])  # step
    assert not torch.equal(keys, rng.keys(seeds, rng.SHUFFLE, 3, 2))  # stream
    assert len({tuple(k) for k in rng.keys(torch.arange(2000), rng.DROPOUT, 1, 1)[0].tolist()}) == 2000


def test_shuffles_are_uniform_over_permutations_and_positions():
    # 24 orders of 4 windows, each drawn by 48,000 (seed, epoch) pairs: a chi-square test of uniformity.
    seeds = torch.arange(4000)
    perms = torch.cat([rng.shuffles(seeds, torch.full((4000,), 4), e, 4) for e in range(1, 13)])
    counts = Counter(tuple(p) for p in perms.tolist())
    assert len(counts) == 24 and stats.chisquare(list(counts.values())).pvalue > 1e-4
    # where each of 20 windows lands: a uniform 20 x 20 table
    order = rng.shuffles(seeds, torch.full((4000,), 20), 1, 20)
    table = torch.zeros(20, 20, dtype=torch.int64)
    table.index_put_((order.reshape(-1), torch.arange(20).repeat(4000)), torch.ones(80_000, dtype=torch.int64),
                     accumulate=True)
    assert stats.chisquare(table.reshape(-1).numpy()).pvalue > 1e-4


def test_shuffle_ties_go_to_the_lower_position(monkeypatch):
    monkeypatch.setattr(rng, "words", lambda counter, key: torch.zeros(len(key), counter.shape[-1], dtype=torch.int64))
    assert rng.shuffles(torch.tensor([1, 2]), torch.tensor([4, 2]), 1, 4).tolist() == [[0, 1, 2, 3], [0, 1, 2, 3]]


def test_known_draws_are_pinned():
    # Changing the generator changes every run's results: this test makes such a change deliberate.
    order = rng.shuffles(torch.tensor([12345]), torch.tensor([10]), 1, 10)[0]
    assert order.tolist() == PINNED_ORDER
    key = rng.keys(torch.tensor([12345]), rng.DROPOUT, 1, 1)[0]
    assert key.tolist() == PINNED_KEY
    assert (rng.keep_masks(key, 2, 8, 0.5)[0] > 0).int().tolist() == PINNED_MASK


PINNED_ORDER = [9, 1, 0, 5, 6, 2, 8, 3, 7, 4]
PINNED_KEY = [[779208512, 2283100079]]
PINNED_MASK = [[0, 0, 1, 1, 1, 1, 0, 0], [0, 1, 1, 0, 0, 1, 0, 1]]


def test_out_of_range_coordinates_are_refused():
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\)\. Got 1\.0\."):
        rng.keep_threshold(1.0)
    with pytest.raises(ValueError, match=r"epoch and step must be in \[0, 2\*\*32\)\. Got epoch -1, 1 steps\."):
        rng.keys(torch.tensor([1]), rng.DROPOUT, -1, 1)
    with pytest.raises(ValueError, match=r"a shuffle covers fewer than 2\*\*30 windows\. Got 1073741824\."):
        rng.shuffles(torch.tensor([1]), torch.tensor([1]), 1, 2**30)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_draws_the_same_bits_as_the_cpu():
    seeds, sizes = torch.arange(300) * 7919, torch.randint(1, 800, (300,), generator=torch.Generator().manual_seed(1))
    cuda = torch.device("cuda")
    assert torch.equal(rng.shuffles(seeds, sizes, 5, 800), rng.shuffles(seeds.to(cuda), sizes.to(cuda), 5, 800).cpu())
    keys = rng.keys(seeds, rng.DROPOUT, 5, 3)
    assert torch.equal(keys, rng.keys(seeds.to(cuda), rng.DROPOUT, 5, 3).cpu())
    for p in (0.2, 0.4):
        assert torch.equal(rng.keep_masks(keys[2], 32, 352, p), rng.keep_masks(keys[2].to(cuda), 32, 352, p).cpu())
