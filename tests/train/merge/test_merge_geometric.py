"""The geometric merge methods (nuslerp, multislerp, karcher) on hand-computed tensors, their blockwise and in-place
paths against the same formulas written densely, and (slow) the whole merge against mergekit itself."""

from __future__ import annotations

import math

import pytest
import torch
import yaml

from llmopt.errors import ConfigError, InputError
from llmopt.train.merge import plan_merge, run_merge
from llmopt.train.merge.config import load_config
from llmopt.train.merge.methods import get_method, karcher as karcher_module, multislerp as multislerp_module
from llmopt.train.merge.methods import nuslerp as nuslerp_module
from llmopt.train.merge.methods.karcher import karcher
from llmopt.train.merge.methods.multislerp import multislerp
from llmopt.train.merge.methods.nuslerp import nuslerp, nuslerp_t
from llmopt.train.merge.mergekit_ref import compare, ensure_mergekit, run_mergekit
from tests.train.merge.test_merge_vs_mergekit import ROOT, VENV

T = torch.tensor
H = math.sqrt(0.5)


def close(a, b, tol=1e-6):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    assert a.shape == b.shape and torch.allclose(a, b, atol=tol), f"{a} != {b}"


@pytest.fixture
def small_chunks(monkeypatch):
    """Blocks of 7 entries, so that small tensors exercise the blockwise passes and their seams."""
    for module in (nuslerp_module, multislerp_module, karcher_module):
        monkeypatch.setattr(module, "CHUNK", 7)


def randoms(*shape, count=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(shape, generator=g)
    return [base] + [base + 0.3 * torch.randn(shape, generator=g) for _ in range(count - 1)]


# -- nuslerp -------------------------------------------------------------------------------------------------------

def test_nuslerp_t_is_the_second_weight_share_and_half_when_weights_cancel():
    assert nuslerp_t([0.6, 0.4]) == pytest.approx(0.4)
    assert nuslerp_t([1.0, 3.0]) == pytest.approx(0.75)
    assert nuslerp_t([1.0, -1.0]) == 0.5


def test_nuslerp_whole_tensors_rows_and_columns_by_hand():
    close(nuslerp(0.5, T([1.0, 0.0]), T([0.0, 1.0])), [H, H])  # quarter circle, halfway
    close(nuslerp(0.25, T([2.0, 0.0]), T([0.0, 2.0])),  # magnitudes mix like SLERP's: 2 * (cos 22.5, sin 22.5)
          [2 * math.cos(math.pi / 8), 2 * math.sin(math.pi / 8)])
    v0, v1 = T([[1.0, 0.0], [2.0, 0.0]]), T([[0.0, 1.0], [4.0, 0.0]])
    close(nuslerp(0.5, v0, v1, flatten=False), [[H, H], [3.0, 0.0]])  # rows; the second pair is colinear: linear
    c0, c1 = T([[1.0, 2.0], [0.0, 0.0]]), T([[0.0, 4.0], [1.0, 0.0]])
    close(nuslerp(0.5, c0, c1, flatten=False, row_wise=True), [[H, 3.0], [H, 0.0]])  # columns
    theta = math.acos(8 / math.sqrt(5 * 17))  # flattened: one angle for the whole tensors
    expect = (math.sin(0.5 * theta) * v0 + math.sin(0.5 * theta) * v1) / math.sin(theta)
    close(nuslerp(0.5, v0, v1), expect)
    close(nuslerp(0.5, v0, v1, row_wise=True), expect)  # flatten wins over row_wise, as in mergekit


def test_nuslerp_with_a_base_interpolates_the_task_vectors():
    base = T([1.0, 1.0])
    close(nuslerp(0.5, T([2.0, 1.0]), T([1.0, 2.0]), base), [1 + H, 1 + H])
    # a zero task vector has no direction: its cosine with the other is 0, so theta = 90 degrees (mergekit)
    s = math.sin(0.3 * math.pi / 2)
    close(nuslerp(0.3, T([1.0, 1.0]), T([3.0, 3.0]), base), [1 + 2 * s, 1 + 2 * s])


def test_nuslerp_blockwise_and_in_place_match_the_dense_formula(small_chunks):
    base, x, y = randoms(6, 5)
    for flatten, row_wise in ((True, False), (False, False), (False, True)):
        for b in (None, base):
            d0, d1 = (x, y) if b is None else (x - b, y - b)
            u0, u1 = (d.double().transpose(0, -1) if row_wise and not flatten else d.double() for d in (d0, d1))
            if flatten:
                u0, u1 = u0.reshape(-1), u1.reshape(-1)
            cos = (u0 * u1).sum(-1, keepdim=True) / (u0.norm(dim=-1, keepdim=True) * u1.norm(dim=-1, keepdim=True))
            theta = torch.acos(cos)
            dense = (torch.sin(0.3 * theta) * u0 + torch.sin(0.7 * theta) * u1) / torch.sin(theta)
            dense = (dense.transpose(0, -1) if row_wise and not flatten else dense).reshape(x.shape)
            dense = dense if b is None else dense + b
            originals = [t.clone() for t in (x, y, base)]
            close(nuslerp(0.7, x, y, b, flatten=flatten, row_wise=row_wise), dense, 1e-5)
            assert all(torch.equal(t, o) for t, o in zip((x, y, base), originals))  # the pure call copies
            owned = [x.clone(), y.clone()]
            close(nuslerp(0.7, *owned, b, flatten=flatten, row_wise=row_wise, inplace=True), dense, 1e-5)


def test_nuslerp_registry_reads_weights_and_takes_exactly_two_models_besides_the_base():
    method = get_method("nuslerp")
    base, x, y = randoms(4, 3)
    shared = {"nuslerp_row_wise": False, "nuslerp_flatten": True}
    got = method.apply([x.clone(), y.clone(), base.clone()], 2, shared, [{"weight": 0.6}, {"weight": 0.4}, {}])
    close(got, nuslerp(0.4, x, y, base))
    got = method.apply([x.clone(), y.clone()], None, shared, [{"weight": 1.0}, {"weight": 3.0}])
    close(got, nuslerp(0.75, x, y))
    assert method.base == "optional" and method.param("weight").required
    method.check_inputs(3, True, "")
    method.check_inputs(2, False, "")
    with pytest.raises(ConfigError, match="nuslerp takes exactly 2 model.*besides the base model, got 3"):
        method.check_inputs(3, False, "")
    with pytest.raises(ConfigError, match="got 1"):
        method.check_inputs(2, True, "")


# -- multislerp ----------------------------------------------------------------------------------------------------

def test_multislerp_by_hand():
    close(multislerp([T([1.0, 0.0]), T([0.0, 1.0])], [1, 1]), [H, H])  # the midpoint of the arc
    close(multislerp([T([2.0, 0.0]), T([0.0, 4.0])], [1, 1]), [3 * H, 3 * H])  # length: the weighted mean length
    # weights 3:1: the normalised Euclidean mean (3, 1)/sqrt(10); the tangent parts cancel in two dimensions
    close(multislerp([T([1.0, 0.0]), T([0.0, 1.0])], [3, 1]), [3 / math.sqrt(10), 1 / math.sqrt(10)])
    close(multislerp([T([1.0, 0.0]), T([0.0, 1.0])], [3, 1], normalize_weights=False),
          [4 * 3 / math.sqrt(10), 4 * 1 / math.sqrt(10)])  # unnormalised: the length is 3*1 + 1*1
    base = T([1.0, 1.0])
    close(multislerp([T([2.0, 1.0]), T([1.0, 2.0])], [1, 1], base), [1 + H, 1 + H])
    x = T([[1.0, 2.0]])
    assert multislerp([x], [0.3], base=x * 5) is x  # one model: returned as it is, base ignored (mergekit)


def test_multislerp_antipodal_pair_falls_back_to_linear_and_more_models_refuse():
    close(multislerp([T([1.0, 0.0]), T([-3.0, 0.0])], [1, 1]), [-1.0, 0.0])
    close(multislerp([T([2.0, 2.0]), T([0.0, 0.0])], [1, 1], T([1.0, 1.0])), [1.0, 1.0])
    with pytest.raises(InputError, match="weighted mean of the models' directions is zero.*change the weights"):
        multislerp([T([1.0, 0.0]), T([-1.0, 0.0]), T([0.0, 0.0])], [1, 1, 1])


def dense_multislerp(xs, ws, base=None, normalize=True, eps=1e-8):
    x = torch.stack([t.double().reshape(-1) for t in xs])
    if base is not None:
        x = x - base.double().reshape(-1)
    w = torch.tensor(ws, dtype=torch.float64)
    w = w / w.sum() if normalize else w
    norms = x.norm(dim=-1, keepdim=True)
    units = x / (norms + eps)
    mean = (units * w[:, None]).sum(0)
    mean = mean / mean.norm()
    tangent = ((units - (units @ mean)[:, None] * mean) * w[:, None]).sum(0)
    length = tangent.norm() + eps
    out = (mean * torch.cos(length) + tangent * torch.sin(length) / length) * (norms[:, 0] * w).sum()
    out = out.reshape(xs[0].shape)
    return out if base is None else out + base.double()


def test_multislerp_blockwise_and_in_place_match_the_dense_formula(small_chunks):
    base, *models = randoms(5, 4, count=4)
    for b in (None, base):
        for ws, normalize in (([0.5, 0.3, 0.2], True), ([1.0, 2.0, 0.5], False)):
            expect = dense_multislerp(models, ws, b, normalize)
            originals = [t.clone() for t in models]
            close(multislerp(models, ws, b, normalize_weights=normalize), expect, 1e-5)
            assert all(torch.equal(t, o) for t, o in zip(models, originals))
            close(multislerp([t.clone() for t in models], ws, b, normalize_weights=normalize, inplace=True),
                  expect, 1e-5)
    method = get_method("multislerp")
    got = method.apply([t.clone() for t in models] + [base.clone()], 3, {"normalize_weights": True, "eps": 1e-8},
                       [{"weight": w} for w in (0.5, 0.3, 0.2)] + [{}])
    close(got, dense_multislerp(models, [0.5, 0.3, 0.2], base), 1e-5)
    with pytest.raises(ConfigError, match="multislerp takes at least 1 model.*besides the base model, got 0"):
        method.check_inputs(1, True, "")


# -- karcher -------------------------------------------------------------------------------------------------------

def test_karcher_by_hand():
    close(karcher([T([1.0, 0.0]), T([0.0, 1.0])]), [H, H])
    close(karcher([T([2.0, 0.0]), T([0.0, 4.0])]), [3 * H, 3 * H])  # scaled by the mean norm
    # on a circle the Karcher mean of directions at 0, 60 and 90 degrees is the mean angle, 50 degrees
    angles = [0.0, math.pi / 3, math.pi / 2]
    units = [T([math.cos(a), math.sin(a)], dtype=torch.float64) for a in angles]
    close(karcher(units, max_iter=100, tol=1e-12), [math.cos(5 * math.pi / 18), math.sin(5 * math.pi / 18)], 1e-9)
    euclid = sum(units) / 3  # no iteration: the normalised Euclidean mean
    close(karcher(units, max_iter=0), euclid / euclid.norm(), 1e-12)
    close(karcher(units, [1, 0, 0], max_iter=50, tol=1e-12), [1.0, 0.0], 1e-9)


def test_karcher_zero_tensors_count_only_in_the_norm():
    close(karcher([T([0.0, 0.0]), T([1.0, 0.0]), T([0.0, 1.0])]), [2 / 3 * H, 2 / 3 * H])
    close(karcher([T([0.0, 0.0]), T([0.0, 0.0])]), [0.0, 0.0])
    x = T([[1.0, -2.0]])
    assert karcher([x]) is x


def test_karcher_blockwise_and_in_place_match_the_plain_iteration(small_chunks):
    models = randoms(6, 5, count=3)
    expect = karcher([t.double() for t in models], max_iter=50, tol=1e-12)
    originals = [t.clone() for t in models]
    close(karcher(models, max_iter=50, tol=1e-9), expect, 1e-5)
    assert all(torch.equal(t, o) for t, o in zip(models, originals))
    method = get_method("karcher")
    assert method.base == "ignored"
    close(method.apply([t.clone() for t in models], None, {"max_iter": 50, "tol": 1e-9}, [{}, {}, {}]), expect, 1e-5)


def test_karcher_takes_the_base_model_as_one_more_input(tiny_models):
    config = load_config({"merge_method": "karcher", "base_model": tiny_models["m0"],
                          "models": [{"model": tiny_models["m1"]}, {"model": tiny_models["m2"]}]})
    task = plan_merge(config).tasks[0]
    assert [s.model for s in task.sources] == [tiny_models["m1"], tiny_models["m2"], tiny_models["m0"]]
    assert task.base_index is None
    bad = load_config({"merge_method": "nuslerp", "models": [{"model": tiny_models[k], "parameters": {"weight": 1}}
                                                             for k in ("m0", "m1", "m2")]})
    with pytest.raises(ConfigError, match="nuslerp takes exactly 2 model"):
        plan_merge(bad)


# -- against mergekit ----------------------------------------------------------------------------------------------

def configs(m: dict) -> dict[str, dict]:
    def models(*specs):
        return [{"model": m[key], "parameters": params} if params else {"model": m[key]} for key, params in specs]
    return {
        "nuslerp_base": {"merge_method": "nuslerp", "base_model": m["m0"], "dtype": "float32",
                         "models": models(("m1", {"weight": 0.6}), ("m2", {"weight": [0.2, 0.8]}))},
        "nuslerp_rows": {"merge_method": "nuslerp", "parameters": {"nuslerp_flatten": False},
                         "models": models(("m1", {"weight": 0.3}), ("m2", {"weight": 0.7}))},
        "nuslerp_columns": {"merge_method": "nuslerp", "base_model": m["m0"],
                            "parameters": {"nuslerp_flatten": False, "nuslerp_row_wise": True},
                            "models": models(("m1", {"weight": 1.0}), ("m2", {"weight": 1.0}))},
        "multislerp_base": {"merge_method": "multislerp", "base_model": m["m0"],
                            "models": models(("m1", {"weight": 0.7}), ("m2", {"weight": [0.1, 0.9]}))},
        "multislerp_three": {"merge_method": "multislerp", "dtype": "float32",
                             "parameters": {"normalize_weights": False, "eps": 1e-6},
                             "models": models(("m0", {"weight": 0.2}), ("m1", {"weight": 0.5}),
                                              ("m2", {"weight": 0.3}))},
        "karcher_base": {"merge_method": "karcher", "base_model": m["m0"],
                         "models": models(("m1", None), ("m2", None))},
        "karcher_few_steps": {"merge_method": "karcher", "parameters": {"max_iter": 2, "tol": 1e-3},
                              "models": models(("m1", None), ("m2", None))},
    }


@pytest.mark.slow
def test_geometric_methods_equal_mergekit(tiny_models, tmp_path):
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
        run_merge(paths[name], tmp_path / f"llmopt-{name}")
        result = compare(tmp_path / f"llmopt-{name}", tmp_path / f"mergekit-{name}")
        assert result["compared"] >= 39 and not result["only_ours"] and not result["only_theirs"], (name, result)
        assert not result["shape_mismatch"] and result["max_abs_diff"] <= 1e-5, (name, result)
