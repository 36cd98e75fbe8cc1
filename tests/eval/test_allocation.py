import itertools
import json

import numpy as np
import pytest

from llmopt.errors import ConfigError
from llmopt.eval.allocation import (
    Observation,
    allocate,
    fit_allocation,
    fit_groups,
    log_theta,
    measure_informativeness,
    sigmoid,
    strategy_for,
)
from llmopt.eval.api import allocate_from

A, B, C = np.array([0.45, 0.25, 0.30]), np.array([1.6, 2.2, 0.0]), -1.4
INFO = {"hotpot": [0.20, 0.05, 0.0], "musique": [0.08, 0.12, 0.0], "twowiki": [0.30, 0.20, 0.0]}
GRID = list(itertools.product([1, 2, 4, 8, 16], [0, 1, 2, 4], [1, 2, 3]))


def true_p(dataset, k, m, n):
    return sigmoid(float((A + B * np.array(INFO[dataset])) @ log_theta(k, m, n) + C))


def synthetic(count=None, seed=0, datasets=INFO):
    """Observations on every dataset; with `count`, each value is a binomial draw over that many questions."""
    rng = np.random.default_rng(seed)
    out = []
    for dataset in datasets:
        for k, m, n in GRID:
            p = true_p(dataset, k, m, n)
            value = p if count is None else rng.binomial(count, p) / count
            out.append(Observation(dataset, "M", "basic", strategy_for(k, m, n), k, m, n, value, count or 10**6,
                                   effective_context=120 * n * (1 + k) * (1 + 0.5 * m), key=f"{dataset}{k}{m}{n}"))
    return out


def test_recovers_known_coefficients_from_three_datasets():
    model = fit_allocation(synthetic(), informativeness=INFO)
    assert model.b is not None and model.datasets == sorted(INFO)
    assert np.allclose(model.a, A, atol=1e-6) and np.allclose(model.b[:2], B[:2], atol=1e-6)
    assert model.c == pytest.approx(C, abs=1e-6) and model.r2 == pytest.approx(1.0)
    assert model.holdout and model.holdout_mae < 1e-6  # held-out configurations predicted exactly


def test_recovers_coefficients_under_sampling_noise():
    """500 questions per configuration: the estimates land near the truth and held-out error stays small."""
    model = fit_allocation(synthetic(count=500, seed=1), informativeness=INFO)
    assert np.allclose(model.a, A, atol=0.12) and np.allclose(model.b[:2], B[:2], atol=0.8)
    assert model.c == pytest.approx(C, abs=0.15) and model.r2 > 0.9 and model.holdout_mae < 0.05


def test_one_dataset_fits_a_and_c_only():
    model = fit_allocation([o for o in synthetic() if o.dataset == "hotpot"])
    assert model.b is None
    expected = A + B * np.array(INFO["hotpot"])  # one dataset's slope is a + b*i
    assert np.allclose(model.a, expected, atol=1e-6)
    assert model.predict(4, 2, 1) == pytest.approx(true_p("hotpot", 4, 2, 1), abs=1e-6)


def test_two_datasets_without_informativeness_do_not_fit_b():
    obs = [o for o in synthetic() if o.dataset != "twowiki"]
    model = fit_allocation(obs)
    assert model.b is None and any("b not fit" in note for note in model.notes)


def test_informativeness_is_measured_from_none_rag_and_drag():
    obs = [Observation("d", "M", "basic", s, k, m, 1, value, 50)
           for s, k, m, value in [("none", 0, 0, 0.2), ("rag", 1, 0, 0.5), ("rag", 5, 0, 0.6), ("drag", 1, 1, 0.55)]]
    assert measure_informativeness(obs) == {"d": pytest.approx([0.3, 0.05, 0.0])}


def test_informativeness_uses_the_smallest_k_swept_with_and_without_demonstrations():
    """The benchmark grid: RAG at k=1, 3, 5, DRAG only at k=3. i_shot compares DRAG and RAG at k=3, not k=1."""
    obs = [Observation("d", "M", "basic", s, k, m, 1, value, 50)
           for s, k, m, value in [("none", 0, 0, 0.1), ("rag", 1, 0, 0.25), ("rag", 3, 0, 0.3), ("rag", 5, 0, 0.35),
                                  ("drag", 5, 1, 0.5), ("drag", 3, 2, 0.42), ("drag", 3, 1, 0.4)]]
    assert measure_informativeness(obs) == {"d": pytest.approx([0.15, 0.1, 0.0])}
    assert measure_informativeness([o for o in obs if o.k != 3 and o.k != 5]) == {}  # no k swept both ways


def test_components_that_do_not_vary_get_no_coefficient():
    obs = [o for o in synthetic() if o.dataset == "hotpot" and o.m == 2 and o.iterations == 1]
    model = fit_allocation(obs)
    assert model.a[1] == 0.0 and model.a[2] == 0.0 and any("m does not vary" in n for n in model.notes)
    with pytest.raises(ConfigError, match="distinct"):
        fit_allocation(obs[:2])


def test_clipping_keeps_perfect_scores_finite():
    obs = [Observation("d", "M", "basic", "rag", k, 0, 1, 1.0 if k > 2 else 0.0, 8) for k in (1, 2, 4, 8)]
    model = fit_allocation(obs)
    assert all(np.isfinite(model.a)) and 0.9 < model.predict(8, 0, 1) < 1.0


def test_allocate_stays_within_budget_and_measured_ranges():
    model = fit_allocation(synthetic(), informativeness=INFO)
    choice = allocate(model, 3000, dataset="twowiki")
    best = choice["best"]
    assert best["predicted_effective_context"] <= 3000 and best["k"] <= 16 and best["m"] <= 4 and best["n"] <= 3
    assert best["predicted"] >= max(a["predicted"] for a in choice["alternatives"])
    small = allocate(model, 300, dataset="twowiki")["best"]
    assert small["predicted_effective_context"] <= 300 and small["predicted"] < best["predicted"]
    assert allocate(model, 10, dataset="twowiki")["best"] is None


def test_fit_groups_reports_unfittable_groups():
    obs = synthetic()[:2] + [Observation("hotpot", "other", "basic", "rag", 1, 0, 1, 0.5, 10)]
    groups = fit_groups(obs)
    assert all("error" in g for g in groups)


def test_allocate_from_sweep_folders(tmp_path):
    folders = []
    for dataset in INFO:
        configs = [{"model": o.model, "prompt": o.prompt, "strategy": o.strategy, "k": o.k, "m": o.m,
                    "n": o.iterations - 1 if o.strategy == "iterdrag" else 0, "samples": 1, "count": o.count,
                    "acc": o.value, "effective_context_mean": o.effective_context, "budget_limited": 0.0,
                    "key": o.key} for o in synthetic() if o.dataset == dataset]
        folder = tmp_path / dataset
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps({"dataset": dataset, "metric": "acc", "configs": configs}))
        folders.append(folder)
    choice = allocate_from(folders, 2000, dataset="musique", informativeness=INFO)
    assert choice["fit"]["b"] is not None and choice["best"]["predicted_effective_context"] <= 2000
    assert choice["measured_best"]["effective_context"] <= 2000
    with pytest.raises(ConfigError, match="positive"):
        allocate_from(folders, 0)
