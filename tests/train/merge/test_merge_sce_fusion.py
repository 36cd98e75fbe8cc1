"""SCE, NearSwap and Arcee Fusion against hand-computed tensors, their chunked arithmetic against the whole-tensor
arithmetic mergekit uses, the parameters of the task-vector methods against mergekit 0.1.5's, and (slow) every
one of them against mergekit itself on tiny models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from llmopt.train.merge import run_merge
from llmopt.train.merge.mergekit_ref import compare, ensure_mergekit, run_mergekit
from llmopt.train.merge.methods import arcee_fusion as fusion_module
from llmopt.train.merge.methods import get_method
from llmopt.train.merge.methods import nearswap as nearswap_module
from llmopt.train.merge.methods import sce as sce_module
from llmopt.train.merge.methods.arcee_fusion import arcee_fusion, fusion_threshold, importance, quartile_positions
from llmopt.train.merge.methods.nearswap import nearswap
from llmopt.train.merge.methods.sce import energy_weights, sce, select_count, select_mask, variance
from llmopt.train.merge.methods.sparsify import della_magprune, rescaled, use_tie_order

from .test_merge_vs_mergekit import ROOT, VENV

T = torch.tensor


def close(a, b, tol=1e-6):
    assert torch.allclose(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64),
                          atol=tol), f"{a} != {b}"


# --- SCE ---

def test_sce_weights_by_energy_and_averages_only_the_agreeing_entries():
    base = torch.zeros(4)
    # mean squares 6/4 and 14/4: weights 0.3 and 0.7; every column's sum is >= 0, so + is elected everywhere
    d1, d2 = T([2.0, -1.0, 1.0, 0.0]), T([2.0, 3.0, -1.0, 0.0])
    close(energy_weights([d1, d2]), [0.3, 0.7])
    # col 0: both agree -> 2; col 1: only d2 -> 3; col 2: only d1 -> 1; col 3: nobody -> 0 (divisor floored)
    close(sce(base, [base + d1, base + d2]), [2.0, 3.0, 1.0, 0.0])


def test_sce_select_topk_keeps_the_entries_that_vary_most():
    base = T([1.0, 1.0, 1.0, 1.0])
    d1, d2 = T([2.0, -1.0, 1.0, 0.0]), T([2.0, 3.0, -1.0, 0.0])
    # variances 0, 4, 1, 0: two vary, int(2 * 0.5) = 1 kept (column 1); there only d2 agrees with +
    close(variance([d1, d2]), [0.0, 4.0, 1.0, 0.0])
    assert select_mask([d1, d2], 0.5).tolist() == [False, True, False, False]
    close(sce(base, [base + d1, base + d2], select_topk=0.5), [1.0, 4.0, 1.0, 1.0])
    close(sce(base, [base + d1, base + d2], select_topk=0.0), base)  # nothing selected: the base
    # a single model varies nowhere, so any selection below 1 keeps nothing (as mergekit)
    close(sce(base, [base + d1], select_topk=0.9), base)
    close(sce(base, [base + d1]), base + d1)


def test_sce_uniform_weights_below_the_energy_floor_and_the_divisor_floor():
    base = torch.zeros(2)
    # mean squares 5e-9 and 5e-8 sum under 1e-6: both weigh 1/2 (normalised they would be 1/11 and 10/11)
    small1, small2 = T([1e-4, 0.0]), T([3e-4, -1e-4])
    close(energy_weights([small1, small2]), [0.5, 0.5])
    close(sce(base, [small1, small2]), [2e-4, -1e-4], tol=1e-9)
    # only d2 agrees in column 1, with a weight of ~1e-12: divided by the 1e-6 floor, its 1e-3 all but vanishes
    out = sce(base, [T([1000.0, 0.0]), T([0.0, 1e-3])])
    close(out, [1000.0, 0.0], tol=1e-8)


def test_sce_select_count_rounds_like_mergekits_float32_product():
    # int64 tensor * float is float32 arithmetic in torch: 100 * 0.29 is 29 there but 28.999999999999996 in Python
    assert select_count(100, 0.29) == 29 and int(100 * 0.29) == 28
    assert select_count(90, 0.7) == 63 and int(90 * 0.7) == 62
    for n in (3, 97, 1000, 884_736):
        for fraction in (0.1, 0.3, 0.5, 0.77):
            assert select_count(n, fraction) == int(torch.count_nonzero(torch.ones(n)) * fraction)


def test_sce_chunked_variance_and_election_match_whole_tensor_arithmetic(monkeypatch):
    monkeypatch.setattr(sce_module, "CHUNK", 7)  # every tensor spans many chunks
    g = torch.Generator().manual_seed(0)
    base = torch.randn(13, 11, generator=g)
    others = [base + 0.1 * torch.randn(13, 11, generator=g) for _ in range(3)]
    deltas = [o - base for o in others]
    assert torch.equal(variance(deltas), torch.var(torch.stack(deltas), dim=0, unbiased=False))
    for dtype in (torch.bfloat16, torch.float16, torch.float64):
        for count in (2, 5):
            cast = [d.to(dtype) for d in deltas + deltas][:count]
            assert torch.equal(variance(cast), torch.var(torch.stack(cast), dim=0, unbiased=False)), (dtype, count)
    # the same SCE written with whole stacked tensors (mergekit's formulation)
    tvs = torch.stack(deltas)
    var = torch.var(tvs, dim=0, unbiased=False)
    k = int(torch.count_nonzero(var) * 0.6)
    keep = torch.zeros(var.numel())
    keep[torch.topk(var.view(-1), k).indices] = 1
    tvs = tvs * keep.view(var.shape)
    weights = tvs.square().reshape(3, -1).mean(dim=1)
    weights = (weights / weights.sum().item()).view(3, 1, 1)
    agree = tvs.sign() == ((tvs.sum(dim=0) >= 0).float() * 2 - 1)
    erased = weights * agree
    expected = base + (tvs * erased).sum(dim=0) / erased.sum(dim=0).clamp(min=1e-6)
    with use_tie_order("mergekit"):
        close(sce(base, others, select_topk=0.6), expected, tol=1e-6)
    assert [o for o in others if o is None] == []  # the pure call left its inputs alone


def test_sce_in_place_registry_call_matches_the_pure_function():
    g = torch.Generator().manual_seed(1)
    tensors = [torch.randn(6, 5, generator=g) for _ in range(3)]
    expected = sce(tensors[1], [tensors[0], tensors[2]], select_topk=0.5)
    owned = [t.clone() for t in tensors]
    method = get_method("sce")
    got = method.apply(owned, 1, {"select_topk": 0.5, "int8_mask": False}, [{}, {}, {}])
    assert torch.equal(got, expected) and owned == []


# --- NearSwap ---

def test_nearswap_swaps_near_entries_and_interpolates_far_ones():
    base, other = T([1.0, 1.0, 1.0, 1.0]), T([1.5, 1.05, -1.0, 1.0])
    # distances 0.5, 0.05, 2, 0 -> weights t / d = 0.2, 2 (-> 1), 0.05, 1e5 (-> 1)
    close(nearswap(0.1, base, other), [1.1, 1.05, 0.9, 1.0])
    close(nearswap(0.0, base, other), base)
    close(nearswap(10.0, base, other), other)
    assert torch.equal(base, T([1.0, 1.0, 1.0, 1.0]))  # not in place: base untouched


def test_nearswap_arithmetic_is_mergekits_bit_for_bit(monkeypatch):
    monkeypatch.setattr(nearswap_module, "CHUNK", 5)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(9, 7, generator=g)
    b = a + 0.05 * torch.randn(9, 7, generator=g)
    for t in (0.001, 0.03, 0.5):
        weight = (t / (a - b).abs().clamp(min=1e-6)).clamp(min=0, max=1)  # t / x is t * reciprocal(x) in torch
        assert torch.equal(nearswap(t, a.clone(), b, inplace=True), weight * b + (1 - weight) * a)


# --- Arcee Fusion ---

def test_arcee_fusion_takes_only_the_outliers_of_importance():
    base = torch.zeros(8)
    other = T([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 100.0]) * 0.01
    # importance = |d| * KL (one row): quartiles at positions 1, 3, 5 of 8 -> 2, 4, 6 (x 0.01 KL), threshold
    # 4 + 1.5 * (6 - 2) = 10: only the last entry is taken
    assert quartile_positions(8) == [1, 3, 5]
    close(arcee_fusion(base, other), [0.0] * 7 + [1.0])


def test_arcee_fusion_ignores_rows_whose_softmax_does_not_change():
    base = torch.zeros(2, 4)
    # row 0 moves by a constant: its softmax and so its KL divergence do not change -> importance 0 everywhere
    other = T([[5.0, 5.0, 5.0, 5.0], [0.1, 0.2, 0.4, 2.0]])
    scores = importance(base, other)
    assert torch.equal(scores[0], torch.zeros(4)) and bool((scores[1] > 0).all())
    # sorted: 0 0 0 0 .1k .2k .4k 2k -> q1 0, median 0, q3 .2k: threshold .3k keeps 0.4 and 2.0
    close(arcee_fusion(base, other), [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.4, 2.0]])


def test_arcee_fusion_quartile_positions_match_mergekits_float32_products():
    q = torch.tensor([0.25, 0.5, 0.75])
    for n in list(range(1, 3000)) + [65_537, 884_736, 999_999, 1_000_000]:
        assert quartile_positions(n) == (q * (n - 1)).long().tolist(), n


def test_arcee_fusion_blocked_arithmetic_matches_whole_tensor_arithmetic(monkeypatch):
    monkeypatch.setattr(fusion_module, "CHUNK", 24)  # blocks of 3 rows, the last one 2 rows
    g = torch.Generator().manual_seed(0)
    base = torch.randn(11, 8, generator=g)
    other = base + 0.05 * torch.randn(11, 8, generator=g)
    p = torch.softmax(other, dim=-1) + 1e-8
    q = torch.softmax(base, dim=-1) + 1e-8
    expected = (other - base).abs() * torch.sum(p * torch.log(p / q), dim=-1, keepdim=True)
    assert torch.equal(importance(base, other), expected)
    ordered = expected.reshape(-1).sort().values
    q1, median, q3 = ordered[[21, 43, 65]]  # floor(q * 87)
    threshold = median + 1.5 * (q3 - q1)
    assert torch.equal(fusion_threshold(expected), threshold)
    assert torch.equal(arcee_fusion(base, other), base + (other - base) * (expected >= threshold).float())


def test_arcee_fusion_samples_large_tensors_reproducibly(monkeypatch):
    monkeypatch.setattr(fusion_module, "SAMPLE_SIZE", 50)
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(400, generator=g)
    first = fusion_threshold(scores, np.random.default_rng(3))
    assert torch.equal(first, fusion_threshold(scores, np.random.default_rng(3)))
    # the quartiles of exactly the drawn sample (positions for 50 values: 12, 24, 36)
    sample = scores[torch.from_numpy(np.random.default_rng(3).integers(0, 400, 50))].sort().values
    assert torch.equal(first, sample[24] + 1.5 * (sample[36] - sample[12]))
    assert get_method("arcee_fusion").randomized


# --- DELLA ---

def test_della_ranks_by_one_sort_as_mergekits_double_argsort():
    g = torch.Generator().manual_seed(0)
    delta = torch.randn(8, 50, generator=g)
    # mergekit's probabilities: ranks from argsort(argsort(|x|)) + 1, spread over each row's min..max rank
    ranks = delta.abs().argsort(dim=1).argsort(dim=1).float() + 1
    low, high = ranks.min(dim=1, keepdim=True).values, ranks.max(dim=1, keepdim=True).values
    probability = (0.4 - 0.1) + ((ranks - low) / (high - low)).clamp(0, 1) * 2 * 0.1
    keep = torch.from_numpy(np.random.default_rng(5).random((8, 50), dtype=np.float32) < probability.numpy())
    expected = rescaled(delta, keep, True)
    assert torch.equal(della_magprune(delta, 0.4, 0.1, True, np.random.default_rng(5)), expected)
    owned = delta.clone()
    assert torch.equal(della_magprune(owned, 0.4, 0.1, True, np.random.default_rng(5), inplace=True), expected)


# --- parameters and defaults, as mergekit 0.1.5 declares them ---

def _spec(name: str) -> dict:
    method = get_method(name)
    return {p.name: (p.scope, None if p.required else p.default) for p in method.params}


def test_parameters_and_defaults_match_mergekit():
    task_vector = {"weight": ("non_base", None), "density": ("non_base", 1.0), "lambda": ("shared", 1.0),
                   "int8_mask": ("shared", False)}
    assert _spec("della") == {**task_vector, "normalize": ("shared", True), "rescale": ("shared", True),
                              "epsilon": ("non_base", 0.15)}
    assert _spec("della_linear") == {**task_vector, "normalize": ("shared", False), "rescale": ("shared", True),
                                     "epsilon": ("non_base", 0.15)}
    assert _spec("breadcrumbs_ties") == {**task_vector, "normalize": ("shared", False), "rescale": ("shared", False),
                                         "gamma": ("non_base", 0.01)}
    assert _spec("sce") == {"select_topk": ("shared", 1.0), "int8_mask": ("shared", False)}
    assert _spec("nearswap") == {"t": ("shared", None)}
    assert _spec("arcee_fusion") == {}
    for name in ("della", "della_linear", "breadcrumbs_ties", "sce", "nearswap", "arcee_fusion"):
        assert get_method(name).base == "required"
    for name in ("nearswap", "arcee_fusion"):
        assert (get_method(name).min_inputs, get_method(name).max_inputs) == (2, 2)


# --- against mergekit itself ---

def configs(m: dict) -> dict[str, dict]:
    def models(*specs):
        return [{"model": m[key], "parameters": params} if params else {"model": m[key]} for key, params in specs]
    return {
        "sce": {"merge_method": "sce", "base_model": m["m0"], "dtype": "float32", "parameters": {"select_topk": 0.6},
                "models": models(("m0", None), ("m1", None), ("m2", None))},
        "sce_all": {"merge_method": "sce", "base_model": m["m0"], "models": models(("m1", None), ("m2", None))},
        "nearswap": {"merge_method": "nearswap", "base_model": m["m0"], "dtype": "float32",
                     "parameters": {"t": [{"filter": "mlp", "value": [0.001, 0.01]}, {"value": 0.005}]},
                     "models": models(("m0", None), ("m1", None))},
        "arcee_fusion": {"merge_method": "arcee_fusion", "base_model": m["m0"], "dtype": "float32",
                         "models": models(("m0", None), ("m2", None))},
        "breadcrumbs_ties": {"merge_method": "breadcrumbs_ties", "base_model": m["m0"],
                             "parameters": {"normalize": True, "lambda": 0.9},
                             "models": models(("m1", {"weight": 0.6, "density": 0.8, "gamma": 0.05}),
                                              ("m2", {"weight": 0.4, "density": 0.6}))},
    }


@pytest.mark.slow
def test_outputs_equal_mergekit(tiny_models, tmp_path):
    try:
        python = ensure_mergekit(VENV, ROOT / "constraints.txt")
    except RuntimeError as exc:
        pytest.skip(f"mergekit cannot be installed here: {exc}")
    jobs, paths = [], {}
    for name, config in configs(tiny_models).items():
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(config))
        jobs.append({"config": str(paths[name]), "out": str(tmp_path / f"mergekit-{name}"), "seed": 0})
    run_mergekit(python, jobs)
    for name in paths:
        run_merge(paths[name], tmp_path / f"llmopt-{name}", tie_order="mergekit")
        result = compare(tmp_path / f"llmopt-{name}", tmp_path / f"mergekit-{name}")
        assert result["compared"] >= 39 and not result["only_ours"] and not result["only_theirs"], (name, result)
        assert not result["shape_mismatch"] and result["max_abs_diff"] <= 1e-5, (name, result)
