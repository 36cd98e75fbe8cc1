"""Every merge method against hand-computed tensors (pure math, no I/O)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from llmopt.errors import ConfigError
from llmopt.train.merge.methods import get_method, method_names
from llmopt.train.merge.methods.breadcrumbs import breadcrumbs
from llmopt.train.merge.methods.dare import dare
from llmopt.train.merge.methods.linear import linear
from llmopt.train.merge.methods.model_stock import model_stock
from llmopt.train.merge.methods.passthrough import passthrough
from llmopt.train.merge.methods.slerp import slerp
from llmopt.train.merge.methods.sparsify import (bernoulli, della_magprune, kth_smallest, magnitude,
                                                 magnitude_outliers, rank_window_mask, use_tie_order)
from llmopt.train.merge.methods.task_arithmetic import task_arithmetic
from llmopt.train.merge.methods.ties import ties

T = torch.tensor


def close(a, b, tol=1e-6):
    assert torch.allclose(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64),
                          atol=tol), f"{a} != {b}"


def test_registry_lists_every_required_method_and_refuses_unknown_ones():
    names = method_names()
    for name in ("linear", "slerp", "task_arithmetic", "ties", "dare_linear", "dare_ties", "breadcrumbs",
                 "model_stock", "passthrough"):
        assert name in names
    with pytest.raises(ConfigError, match="supported: arcee_fusion, breadcrumbs, .*karcher, linear, model_stock, multislerp, .*nuslerp, passthrough, .*slerp"):
        get_method("soup")


def test_linear_weighted_average_normalized_and_not():
    a, b = T([[1.0, 2.0], [3.0, 4.0]]), T([[5.0, 6.0], [7.0, 8.0]])
    close(linear([a, b], [1, 3]), [[4.0, 5.0], [6.0, 7.0]])  # (1a + 3b) / 4
    close(linear([a, b], [1, 3], normalize=False), [[16.0, 20.0], [24.0, 28.0]])
    assert linear([a.half(), b.half()], [1, 1]).dtype == torch.float16


def test_inplace_variants_match_pure_ones_and_pure_ones_leave_inputs_alone():
    g = torch.Generator().manual_seed(0)
    base, x, y = (torch.randn(6, 5, generator=g) for _ in range(3))
    originals = [t.clone() for t in (base, x, y)]
    pure = linear([base, x, y], [0.2, 0.5, 0.3])
    assert all(torch.equal(t, o) for t, o in zip((base, x, y), originals))
    owned = [t.clone() for t in originals]
    close(get_method("linear").apply(owned, None, {"normalize": True}, [{"weight": w} for w in (0.2, 0.5, 0.3)]), pure)
    expected = ties(base, [x, y], [0.7, 0.4], [0.5, 0.6])
    owned = [t.clone() for t in originals]
    shared = {"normalize": True, "rescale": False, "lambda": 1.0, "int8_mask": False}
    got = get_method("ties").apply(owned, 0, shared, [{}, {"weight": 0.7, "density": 0.5}, {"weight": 0.4, "density": 0.6}])
    close(got, expected)


def test_slerp_on_orthogonal_colinear_and_scaled_vectors():
    close(slerp(0.5, T([1.0, 0.0]), T([0.0, 1.0])), [math.sqrt(0.5), math.sqrt(0.5)])
    close(slerp(0.0, T([1.0, 0.0]), T([0.0, 1.0])), [1.0, 0.0])
    close(slerp(1.0, T([1.0, 0.0]), T([0.0, 1.0])), [0.0, 1.0])
    # magnitudes are interpolated with the same coefficients: sin(pi/4) / sin(pi/2) each
    close(slerp(0.5, T([2.0, 0.0]), T([0.0, 2.0])), [math.sqrt(2), math.sqrt(2)])
    # theta = 60 degrees, t = 1/3: coefficients sin(40)/sin(60) and sin(20)/sin(60)
    v1 = T([0.5, math.sqrt(3) / 2])
    ca, cb = math.sin(math.radians(40)) / math.sin(math.radians(60)), math.sin(math.radians(20)) / math.sin(math.radians(60))
    close(slerp(1 / 3, T([1.0, 0.0]), v1), [ca + cb * 0.5, cb * math.sqrt(3) / 2], tol=1e-6)


def test_slerp_falls_back_to_linear_for_colinear_and_antipodal_tensors():
    close(slerp(0.25, T([1.0, 1.0]), T([3.0, 3.0])), [1.5, 1.5])
    close(slerp(0.5, T([1.0, 0.0]), T([-1.0, 0.0])), [0.0, 0.0])
    # a zero tensor has no direction: its cosine is 0, so it is treated as orthogonal (as mergekit does)
    close(slerp(0.5, T([0.0, 0.0]), T([2.0, 0.0])), [math.sqrt(2), 0.0])


def test_task_arithmetic_adds_weighted_task_vectors():
    base, a, b = T([1.0, 1.0]), T([2.0, 0.0]), T([1.0, 3.0])  # task vectors [1, -1] and [0, 2]
    close(task_arithmetic(base, [a, b], [0.5, 1.0]), [1.5, 2.5])
    close(task_arithmetic(base, [a, b], [0.5, 1.0], lambda_=2.0), [2.0, 4.0])
    close(task_arithmetic(base, [a, b], [0.5, 1.0], normalize=True), [1 + 0.5 / 1.5, 1 + 1.5 / 1.5])
    close(task_arithmetic(base, [], []), base)


def test_ties_trims_elects_signs_and_averages_agreeing_entries():
    base = torch.zeros(4)
    a, b = T([3.0, -2.0, 1.0, 0.5]), T([-1.0, -4.0, 2.0, 0.1])
    # trimmed to 2 of 4: a -> [3, -2, 0, 0], b -> [0, -4, 2, 0]; elected signs +, -, +, +
    close(ties(base, [a, b], [1.0, 1.0], [0.5, 0.5]), [3.0, -3.0, 2.0, 0.0])
    close(ties(base, [a, b], [1.0, 1.0], [0.5, 0.5], normalize=False), [3.0, -6.0, 2.0, 0.0])
    # weights scale the deltas before the election: 1 * 2 + 2 * (-3) < 0 elects -, only b counts
    close(ties(T([1.0]), [T([3.0]), T([-2.0])], [1.0, 2.0], [1.0, 1.0]), [1.0 - 3.0])


def test_dare_drops_at_random_with_a_seed_and_keeps_the_l1_norm():
    g = torch.Generator().manual_seed(1)
    base, other = torch.zeros(20000), torch.randn(20000, generator=g)
    first = dare(base, [other], [1.0], [0.3], consensus=False, rng=np.random.default_rng(7))
    again = dare(base, [other], [1.0], [0.3], consensus=False, rng=np.random.default_rng(7))
    other_seed = dare(base, [other], [1.0], [0.3], consensus=False, rng=np.random.default_rng(8))
    assert torch.equal(first, again) and not torch.equal(first, other_seed)
    assert abs((first != 0).float().mean().item() - 0.3) < 0.02
    close(first.abs().sum(), other.abs().sum(), tol=1e-1)
    ratio = first[first != 0] / other[first != 0]
    assert (ratio - ratio[0]).abs().max() < 1e-5  # one rescale factor for the whole tensor
    close(dare(base, [other], [0.5], [1.0], consensus=True), other * 0.5)


def test_breadcrumbs_drops_outliers_and_small_entries():
    base, other = torch.zeros(100), torch.arange(1.0, 101.0)
    merged = breadcrumbs(base, [other], [1.0], [0.9], [0.05])
    # 100 entries, keep 90, drop the 5 largest and the 5 smallest
    close(merged, torch.where((other > 5) & (other <= 95), other, torch.zeros(100)))
    close(magnitude_outliers(-other, 0.1, gamma=0.0), torch.where(other > 90, -other, torch.zeros(100)))


def test_model_stock_ratio_follows_the_angle_between_task_vectors():
    base = torch.zeros(2)
    close(model_stock(base, [T([1.0, 0.0]), T([0.0, 1.0])]), [0.0, 0.0])  # orthogonal: t = 0
    close(model_stock(base, [T([1.0, 1.0]), T([1.0, 1.0])]), [1.0, 1.0])  # identical: t = 1
    w2 = T([0.5, math.sqrt(3) / 2])  # cos = 0.5: t = 2 * 0.5 / (1 + 0.5) = 2/3 of the mean
    close(model_stock(base, [T([1.0, 0.0]), w2]), (T([1.0, 0.0]) + w2) / 2 * (2 / 3))
    rows = model_stock(torch.zeros(2, 2), [T([[1.0, 0.0], [1.0, 1.0]]), T([[0.0, 1.0], [1.0, 1.0]])], filter_wise=True)
    close(rows, [[0.0, 0.0], [1.0, 1.0]])


def test_passthrough_copies_or_scales():
    x = T([1.0, -2.0])
    assert passthrough(x) is x
    close(passthrough(x, 0.5), [0.5, -1.0])


def test_magnitude_keeps_exactly_the_largest_entries():
    x = T([0.1, -5.0, 3.0, -0.2, 4.0, 0.0])
    close(magnitude(x, 0.5), [0.0, -5.0, 3.0, 0.0, 4.0, 0.0])
    close(magnitude(x, 0.01), [0.0, -5.0, 0.0, 0.0, 0.0, 0.0])  # at least one entry survives
    kept = magnitude(x, 0.5, rescale=True)
    close(kept.abs().sum(), x.abs().sum())
    big = torch.randn(200_000, generator=torch.Generator().manual_seed(3))
    assert int((magnitude(big, 0.37) != 0).sum()) == int(0.37 * 200_000)


def test_rank_window_breaks_ties_by_position_and_selection_is_exact():
    values = T([3.0, 1.0, 1.0, 1.0, 2.0, 5.0, 0.5, 0.5])
    assert rank_window_mask(values, 2, 5).tolist() == [False, True, True, True, False, False, False, False]
    assert rank_window_mask(values, 0, 3).tolist() == [False, True, False, False, False, False, True, True]
    g = torch.Generator().manual_seed(0)
    for n in (100, 50_000, 2_000_000):
        x = torch.randn(n, generator=g)
        for k in (1, n // 3, n - 1, n):
            assert kth_smallest(x, k) == torch.kthvalue(x, k).values.item()
    with pytest.raises(ValueError):
        kth_smallest(T([1.0]), 2)


def test_random_sparsifiers_are_seeded_and_della_checks_epsilon():
    x = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    a = bernoulli(x, 0.5, rng=np.random.default_rng(1))
    assert torch.equal(a, bernoulli(x, 0.5, rng=np.random.default_rng(1)))
    assert abs((a != 0).float().mean().item() - 0.5) < 0.05
    d = della_magprune(x, 0.5, 0.2, rng=np.random.default_rng(1))
    assert 0.35 < (d != 0).float().mean().item() < 0.65
    assert torch.equal(della_magprune(x, 1.0, 0.2), x)
    with pytest.raises(ValueError, match="epsilon"):
        della_magprune(x, 0.9, 0.2)


def test_ties_at_the_threshold_are_broken_by_position():
    # six entries of magnitude 2 compete for three places: without a reference order the earliest win
    x = torch.tensor([2.0, -2.0, 5.0, 2.0, 0.5, -2.0, 2.0, 1.0, 2.0, 4.0])
    assert rank_window_mask(x.abs(), 7, 10, descending=True).tolist() == [True, False, True, False, False, False,
                                                                          False, False, False, True]
    assert rank_window_mask(x.abs(), 2, 5).tolist() == [True, True, False, True, False, False, False, False, False, False]


@pytest.mark.parametrize("n", [10, 5_000, 300_000])
def test_ties_straddling_the_threshold_by_position_or_as_mergekit(n):
    # mergekit ranks with torch's unstable sort; where equal magnitudes straddle the cut, llmopt keeps the same ones
    g = torch.Generator().manual_seed(n)
    x = torch.randint(-40, 41, (n,), generator=g).float() / 8  # few distinct magnitudes: ties everywhere
    k = max(1, int(0.5 * n))
    threshold = x.abs().kthvalue(n - k + 1).values  # the k-th largest magnitude (nonzero for these densities)
    tied = (x.abs() == threshold).nonzero().flatten()
    expected = x.abs() > threshold
    expected[tied[:k - int(expected.sum())]] = True  # by position the earliest of the equal entries are kept
    with use_tie_order("position"):
        assert torch.equal(magnitude(x, 0.5), x * expected)
    with use_tie_order("mergekit"):
        _mergekit_ties_match(x, n)


def _mergekit_ties_match(x, n):
    for density in (0.3, 0.5, 0.77):
        k = max(1, int(density * n))
        reference = torch.zeros(n)
        reference[torch.argsort(x.abs(), descending=True)[:k]] = 1
        assert torch.equal(magnitude(x, density), x * reference)
        kept, top = int(density * n), int(0.05 * n)
        bottom = max(0, n - kept - top)
        reference = torch.zeros(n)
        reference[torch.sort(x.abs()).indices[bottom:bottom + kept]] = 1
        assert torch.equal(magnitude_outliers(x, density, gamma=0.05), x * reference)
