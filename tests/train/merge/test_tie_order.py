"""The "mergekit" tie order: exactly the entries mergekit's torch.argsort / torch.sort selection keeps where equal
magnitudes straddle a TIES or breadcrumbs cut, found by following the sort's partitions (methods/sort_order.py),
never by a full sort. mergekit's selection expressions are replicated here with torch; mergekit itself is not
needed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmopt.train.merge.methods import sort_order
from llmopt.train.merge.methods.sort_order import equal_before, matches_torch
from llmopt.train.merge.methods.sparsify import magnitude, magnitude_outliers, rank_window_mask, use_tie_order


def mergekit_magnitude_mask(x: torch.Tensor, density: float) -> torch.Tensor:
    """mergekit 0.1.5 sparsify.magnitude's selection on CPU."""
    k = max(1, int(density * x.numel()))
    mask = torch.zeros(x.numel(), dtype=torch.bool)
    mask[torch.argsort(x.abs().reshape(-1).float(), descending=True)[:k]] = True
    return mask.reshape(x.shape)


def mergekit_outliers_mask(x: torch.Tensor, density: float, gamma: float) -> torch.Tensor:
    """mergekit 0.1.5 sparsify.magnitude_outliers' selection on CPU."""
    n = x.numel()
    kept, top = int(density * n), int(gamma * n)
    bottom = max(0, n - kept - top)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.sort(x.abs().reshape(-1).float(), descending=False).indices[bottom:bottom + kept]] = True
    return mask.reshape(x.shape)


def tied_tensor(n: int, seed: int, distinct: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(-distinct, distinct + 1, (n,), generator=g).float() / 8).to(dtype)


def task_vector(n: int, seed: int, dtype: torch.dtype) -> torch.Tensor:
    """A fine-tune minus its base, as the bench builds them: differences of nearby floats repeat exactly."""
    g = torch.Generator().manual_seed(seed)
    base = (torch.randn(n, generator=g) * 0.02).to(dtype)
    return (base.float() + torch.randn(n, generator=g) * 0.002).to(dtype) - base


def no_full_sort(flat: torch.Tensor) -> torch.Tensor:
    raise AssertionError("fell back to a full sort")


def test_the_sort_premise_holds_for_this_torch():
    assert matches_torch()


@pytest.mark.parametrize("window", [1 << 20, 64, 5])  # small scan windows exercise the windowed partition
def test_equal_before_matches_torch_argsort(window, monkeypatch):
    monkeypatch.setattr(sort_order, "WINDOW", window)
    rng = np.random.default_rng(window)
    for _ in range(40):
        n = int(rng.integers(1, 40 * window if window < 1_000 else 40_000))
        keys = rng.integers(0, int(rng.integers(1, 2_000)), n).astype(np.float32)
        for descending in (False, True):
            order = torch.argsort(torch.from_numpy(keys), descending=descending).numpy()
            sort_keys = -keys if descending else keys
            cut = int(rng.integers(1, n + 1))
            value = sort_keys[order[cut - 1]]
            expected = np.sort(order[:cut][sort_keys[order[:cut]] == value])
            found = equal_before(sort_keys.copy(), cut, value)
            assert found is not None and np.array_equal(np.sort(found), expected), (n, cut, descending)


@pytest.mark.parametrize("n", [20, 3_000, 100_000, 1_200_000])  # the largest spans two chunks of scratch work
def test_magnitude_keeps_what_mergekit_keeps_without_sorting(n):
    x = tied_tensor(n, seed=n, distinct=40)
    with use_tie_order("mergekit"):
        for density in ((0.3,) if n > 1_000_000 else (0.1, 0.3, 0.5, 0.77)):
            k = max(1, int(density * n))
            keep = rank_window_mask(x, n - k, n, lambda t: t.abs().float(), descending=True, torch_order=True,
                                    reference=no_full_sort)
            assert torch.equal(keep, mergekit_magnitude_mask(x, density)), density
            assert torch.equal(magnitude(x, density), x * mergekit_magnitude_mask(x, density))


@pytest.mark.parametrize("n", [20, 3_000, 100_000, 1_200_000])
def test_magnitude_outliers_keeps_what_mergekit_keeps_without_sorting(n):
    x = tied_tensor(n, seed=n + 1, distinct=25)
    settings = ((0.9, 0.01), (0.5, 0.05), (0.3, 0.3), (0.99, 0.05))
    with use_tie_order("mergekit"):
        for density, gamma in settings[:1] if n > 1_000_000 else settings:
            kept, top = int(density * n), int(gamma * n)
            bottom = max(0, n - kept - top)
            keep = rank_window_mask(x, bottom, bottom + kept, lambda t: t.abs().float(), torch_order=True,
                                    reference=no_full_sort)
            assert torch.equal(keep, mergekit_outliers_mask(x, density, gamma)), (density, gamma)
            assert torch.equal(magnitude_outliers(x, density, gamma), x * mergekit_outliers_mask(x, density, gamma))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_task_vectors_in_every_dtype_match_mergekit(dtype):
    # bfloat16 magnitudes tie in nearly every tensor; float64 ones tie once mergekit ranks them in float32
    x = task_vector(400_000, seed=7, dtype=dtype).reshape(800, 500)
    with use_tie_order("mergekit"):
        for density in (0.2, 0.5):
            assert torch.equal(magnitude(x, density), x * mergekit_magnitude_mask(x, density).to(x.dtype))
        expected = mergekit_outliers_mask(x, 0.9, 0.01)
        assert torch.equal(magnitude_outliers(x, 0.9, 0.01), x * expected.to(x.dtype))


def test_one_tie_group_spanning_both_ends_of_the_window():
    x = torch.full((5_000,), 0.5)
    x[:100] = 2.0
    x[-50:] = 0.1
    with use_tie_order("mergekit"):
        keep = rank_window_mask(x, 1_000, 3_000, lambda t: t.abs().float(), torch_order=True, reference=no_full_sort)
    assert torch.equal(keep, mergekit_outliers_mask(x, 2_000 / 5_000, 2_000 / 5_000))


def test_a_torch_whose_sort_differs_gets_the_full_sort(monkeypatch):
    monkeypatch.setattr("llmopt.train.merge.methods.sparsify.matches_torch", lambda: False)
    y = tied_tensor(5_000, seed=4, distinct=10)
    calls = []

    def full_sort(flat):
        calls.append(flat.numel())
        return torch.argsort(flat.abs().float(), descending=True)[:2_500]

    with use_tie_order("mergekit"):
        keep = rank_window_mask(y, 2_500, 5_000, lambda t: t.abs().float(), descending=True, torch_order=True,
                                reference=full_sort)
    assert calls == [5_000]
    assert torch.equal(keep, mergekit_magnitude_mask(y, 0.5))


def test_float64_magnitudes_are_ranked_in_float32_as_mergekit_does():
    # distinct in float64, equal in float32: mergekit ranks float32 magnitudes, so these are ties for it
    x = tied_tensor(20_000, seed=5, distinct=6).double()
    x += torch.rand(x.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64) * 1e-12
    with use_tie_order("mergekit"):
        assert torch.equal(magnitude(x, 0.4), x * mergekit_magnitude_mask(x, 0.4).double())
        assert torch.equal(magnitude_outliers(x, 0.6, 0.1), x * mergekit_outliers_mask(x, 0.6, 0.1).double())


@pytest.mark.parametrize("distinct", [1, 3, 200])  # groups of equal values: most of the tensor, many, few
def test_large_and_small_groups_of_equal_magnitudes(distinct):
    x = tied_tensor(60_000, seed=distinct, distinct=distinct)
    n = x.numel()
    for density in (0.2, 0.5, 0.9):
        k = max(1, int(density * n))
        keep = rank_window_mask(x, n - k, n, lambda t: t.abs().float(), descending=True, torch_order=True,
                                reference=no_full_sort)
        assert torch.equal(keep | (x == 0), mergekit_magnitude_mask(x, density) | (x == 0))  # zeros: kept or not
        bottom = max(0, n - k - n // 20)
        keep = rank_window_mask(x, bottom, bottom + k, lambda t: t.abs().float(), torch_order=True,
                                reference=no_full_sort)
        assert torch.equal(keep | (x == 0), mergekit_outliers_mask(x, density, 0.05) | (x == 0))
