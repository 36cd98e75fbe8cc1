"""llmopt's merges against mergekit's own output on tiny models (mergekit runs in a cached throwaway virtual
environment, installed with the project's torch constraint; the test skips only if that install fails)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmopt.train.merge import run_merge
from llmopt.train.merge.mergekit_ref import compare, ensure_mergekit, run_mergekit

ROOT = Path(__file__).resolve().parents[3]
VENV = ROOT / ".llmopt" / "mergekit-venv"  # git-ignored, shared with bench/merge_vs_mergekit.py


def configs(m: dict) -> dict[str, dict]:
    """One config per method; m0 is the base, m1 a sharded checkpoint; gradients and filters included."""
    def models(*specs):
        return [{"model": m[key], "parameters": params} if params else {"model": m[key]} for key, params in specs]
    return {
        "linear": {"merge_method": "linear", "dtype": "float32",
                   "models": models(("m0", {"weight": 0.5}), ("m1", {"weight": 0.3}), ("m2", {"weight": [0.1, 0.9]}))},
        "slerp": {"merge_method": "slerp", "base_model": m["m0"], "dtype": "float32", "slices": [{"sources": [
            {"model": m["m0"], "layer_range": [0, 4]}, {"model": m["m1"], "layer_range": [0, 4]}]}],
            "parameters": {"t": [{"filter": "self_attn", "value": [0, 0.5, 0.3, 0.7, 1]},
                                 {"filter": "mlp", "value": [1, 0.5, 0.7, 0.3, 0]}, {"value": 0.5}]}},
        "task_arithmetic": {"merge_method": "task_arithmetic", "base_model": m["m0"], "parameters": {"lambda": 0.8},
                            "models": models(("m1", {"weight": 0.7}), ("m2", {"weight": -0.3}))},
        "ties": {"merge_method": "ties", "base_model": m["m0"], "dtype": "float32",
                 "models": models(("m1", {"weight": 0.6, "density": 0.5}), ("m2", {"weight": [0.2, 0.8], "density": 0.7}))},
        "breadcrumbs": {"merge_method": "breadcrumbs", "base_model": m["m0"],
                        "models": models(("m1", {"weight": 0.6, "density": 0.8, "gamma": 0.05}), ("m2", {"weight": 0.4, "density": 0.6}))},
        "model_stock": {"merge_method": "model_stock", "base_model": m["m0"], "models": models(("m1", None), ("m2", None))},
        "passthrough": {"merge_method": "passthrough", "slices": [
            {"sources": [{"model": m["m0"], "layer_range": [0, 3]}]},
            {"sources": [{"model": m["m1"], "layer_range": [1, 4]}], "parameters": {"scale": [{"filter": "o_proj", "value": 0.5}, {"value": 1.0}]}}]},
        "ties_tokenizer_base": {"merge_method": "ties", "base_model": m["m0"], "tokenizer_source": "base",
                                "models": models(("m1", {"weight": 0.6, "density": 0.5}), ("m2", {"weight": 0.4, "density": 0.5}))},
        "linear_bf16": {"merge_method": "linear", "dtype": "bfloat16", "out_dtype": "float32",
                        "models": models(("m0", {"weight": 1}), ("m1", {"weight": 2}))},
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
        run_merge(paths[name], tmp_path / f"llmopt-{name}")
        result = compare(tmp_path / f"llmopt-{name}", tmp_path / f"mergekit-{name}")
        assert result["compared"] >= 39 and not result["only_ours"] and not result["only_theirs"], (name, result)
        assert not result["shape_mismatch"] and result["max_abs_diff"] <= 1e-5, (name, result)
