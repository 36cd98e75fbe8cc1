"""Merging tiny random Llama models end to end: sharded input and output, dry runs, atomic output that survives
a kill and resumes, validation errors (architecture, shapes, vocabulary, NaN), tokenizer and config files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from llmopt.errors import ConfigError, InputError
from llmopt.testing import make_tiny_llama
from llmopt.train.merge import MergeError, ShapeMismatchError, run_merge
from llmopt.train.merge.mergekit_ref import load_tensors


def linear_config(models: dict, weights=(0.5, 0.3, 0.2)) -> dict:
    return {"merge_method": "linear", "dtype": "float32",
            "models": [{"model": models[k], "parameters": {"weight": w}} for k, w in zip(("m0", "m1", "m2"), weights)]}


def test_linear_merge_of_sharded_inputs_into_sharded_output_loads_in_transformers(tiny_models, tmp_path):
    single = run_merge(linear_config(tiny_models), tmp_path / "single")
    sharded = run_merge(linear_config(tiny_models), tmp_path / "sharded", max_shard_size="150KB", durable=True)
    assert single.shards == ["model.safetensors"] and len(sharded.shards) > 2
    index = json.loads((tmp_path / "sharded" / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(sharded.shards)
    a, b = load_tensors(tmp_path / "single"), load_tensors(tmp_path / "sharded")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    inputs = [load_tensors(Path(tiny_models[k])) for k in ("m0", "m1", "m2")]
    name = "model.layers.1.mlp.up_proj.weight"
    expected = (0.5 * inputs[0][name] + 0.3 * inputs[1][name] + 0.2 * inputs[2][name]) / 1.0
    assert torch.allclose(a[name], expected, atol=1e-6)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "sharded")
    assert torch.equal(model.state_dict()["model.norm.weight"], a["model.norm.weight"])
    assert AutoTokenizer.from_pretrained(tmp_path / "sharded").chat_template
    for name in ("config.json", "generation_config.json", "tokenizer.json", "mergekit_config.yml", "README.md"):
        assert (tmp_path / "sharded" / name).is_file()


def test_weight_one_reproduces_a_model_exactly(tiny_models, tmp_path):
    run_merge(linear_config(tiny_models, (0.0, 1.0, 0.0)), tmp_path / "out")
    merged, original = load_tensors(tmp_path / "out"), load_tensors(Path(tiny_models["m1"]))
    assert merged.keys() == original.keys() and all(torch.equal(merged[k], original[k]) for k in merged)


def test_dry_run_plans_without_writing(tiny_models, tmp_path):
    result = run_merge({"merge_method": "ties", "base_model": tiny_models["m0"], "models": [
        {"model": tiny_models["m1"], "parameters": {"weight": 0.5, "density": [0.2, 0.8]}},
        {"model": tiny_models["m2"], "parameters": {"weight": 0.5, "density": 0.5}}]},
        tmp_path / "out", dry_run=True, max_shard_size="200KB")
    assert not (tmp_path / "out").exists() and result.dry_run
    plan = result.plan.to_dict()
    assert plan["tensors"] == 39 and len(plan["shards"]) >= 2
    layer0 = next(t for t in plan["tensor_plan"] if t["name"] == "model.layers.0.mlp.up_proj.weight")
    layer3 = next(t for t in plan["tensor_plan"] if t["name"] == "model.layers.3.mlp.up_proj.weight")
    assert layer0["shape"] == [128, 64] and layer0["base"] == tiny_models["m0"] and len(layer0["sources"]) == 3
    assert layer0["parameters"]["per_input"][0]["density"] == pytest.approx(0.2)  # gradient over the depth
    assert layer3["parameters"]["per_input"][0]["density"] == pytest.approx(0.8)


def test_passthrough_slices_stack_layers_and_update_the_config(tiny_models, tmp_path):
    config = {"merge_method": "passthrough", "slices": [
        {"sources": [{"model": tiny_models["m0"], "layer_range": [0, 3]}]},
        {"sources": [{"model": tiny_models["m1"], "layer_range": [1, 4]}]}]}
    run_merge(config, tmp_path / "out")
    merged = load_tensors(tmp_path / "out")
    m1 = load_tensors(Path(tiny_models["m1"]))
    assert json.loads((tmp_path / "out" / "config.json").read_text())["num_hidden_layers"] == 6
    assert torch.equal(merged["model.layers.3.self_attn.q_proj.weight"], m1["model.layers.1.self_attn.q_proj.weight"])
    assert torch.equal(merged["lm_head.weight"], m1["lm_head.weight"])  # after the layers: from the last slice


def test_existing_output_needs_overwrite(tiny_models, tmp_path):
    run_merge(linear_config(tiny_models), tmp_path / "out")
    with pytest.raises(ConfigError, match="already exists; pass --overwrite"):
        run_merge(linear_config(tiny_models), tmp_path / "out")
    run_merge(linear_config(tiny_models, (1.0, 0.0, 0.0)), tmp_path / "out", overwrite=True)
    assert torch.equal(load_tensors(tmp_path / "out")["model.norm.weight"],
                       load_tensors(Path(tiny_models["m0"]))["model.norm.weight"])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


_KILL_SCRIPT = """
import sys, time, pathlib
from llmopt.train.merge import io
write = io.ShardWriter.write
count = [0]
def slow_write(self, name, tensor):
    write(self, name, tensor)
    count[0] += 1
    if count[0] == 12:  # a few shards are complete, one is half written
        pathlib.Path(sys.argv[3]).write_text("stop")
        time.sleep(120)
io.ShardWriter.write = slow_write
from llmopt.train.merge import run_merge
run_merge(sys.argv[1], sys.argv[2], max_shard_size="100KB")
"""


def test_a_killed_merge_leaves_no_output_and_the_rerun_resumes(tiny_models, tmp_path, write_config):
    config = write_config(linear_config(tiny_models))
    out, flag = tmp_path / "out", tmp_path / "flag"
    process = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(config), str(out), str(flag)])
    try:
        deadline = time.time() + 120
        while not flag.exists() and process.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        assert flag.exists(), "the merge never reached the kill point"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert not out.exists()
    work = [p for p in tmp_path.iterdir() if p.name.startswith(".out.llmopt-merge-")]
    assert len(work) == 1 and any(work[0].glob("*.partial"))
    resumed = run_merge(config, out, max_shard_size="100KB")
    assert resumed.resumed_shards >= 2 and not work[0].exists()
    fresh = run_merge(config, tmp_path / "fresh", max_shard_size="100KB")
    a, b = load_tensors(out), load_tensors(tmp_path / "fresh")
    assert fresh.resumed_shards == 0 and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_failing_merge_leaves_no_output(tiny_models, tmp_path, monkeypatch):
    from llmopt.train.merge import run as run_module

    def explode(plan, task, inputs):
        if task.name.startswith("model.layers.2"):
            raise MergeError("boom")
        return original(plan, task, inputs)

    original = run_module.merge_tensor
    monkeypatch.setattr(run_module, "merge_tensor", explode)
    with pytest.raises(MergeError, match="boom"):
        run_merge(linear_config(tiny_models), tmp_path / "merges" / "out", max_shard_size="100KB")
    assert list((tmp_path / "merges").iterdir()) == []  # neither the output nor a work folder


def test_nan_in_an_input_is_an_error_naming_the_tensor(tiny_models, tmp_path):
    from safetensors.torch import load_file, save_file

    broken = make_tiny_llama(tmp_path / "broken", seed=5, layers=4)
    tensors = load_file(broken / "model.safetensors")
    tensors["model.layers.2.mlp.down_proj.weight"][0, 0] = float("nan")
    save_file(tensors, broken / "model.safetensors", metadata={"format": "pt"})
    config = {"merge_method": "linear", "models": [{"model": tiny_models["m0"], "parameters": {"weight": 1}},
                                                   {"model": str(broken), "parameters": {"weight": 1}}]}
    with pytest.raises(MergeError, match="model.layers.2.mlp.down_proj.weight has NaN or Inf"):
        run_merge(config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_shape_and_architecture_mismatches_are_refused(tiny_models, tmp_path):
    narrow = make_tiny_llama(tmp_path / "narrow", seed=3, layers=4, hidden_size=32, intermediate_size=64)
    config = {"merge_method": "linear", "models": [{"model": tiny_models["m0"], "parameters": {"weight": 1}},
                                                   {"model": str(narrow), "parameters": {"weight": 1}}]}
    with pytest.raises(ShapeMismatchError, match="different shapes"):
        run_merge(config, tmp_path / "out", dry_run=True)
    deep = make_tiny_llama(tmp_path / "deep", seed=3, layers=6)
    config["models"][1]["model"] = str(deep)
    with pytest.raises(InputError, match="different numbers of layers"):
        run_merge(config, tmp_path / "out", dry_run=True)
    other = tmp_path / "other-arch"
    other.mkdir()
    for file in Path(tiny_models["m2"]).iterdir():
        (other / file.name).write_bytes(file.read_bytes())
    data = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**data, "architectures": ["MistralForCausalLM"]}))
    config["models"][1]["model"] = str(other)
    with pytest.raises(InputError, match="different architectures"):
        run_merge(config, tmp_path / "out", dry_run=True)


def test_vocabulary_sizes_differ_refused_unless_tokenizer_source_aligns_them(tiny_models, tmp_path):
    wide = make_tiny_llama(tmp_path / "wide", seed=4, layers=4, vocab_size=600)
    tokenizer = json.loads((wide / "tokenizer.json").read_text())  # give "a" and "b" each other's ids
    vocab = tokenizer["model"]["vocab"]
    vocab["a"], vocab["b"] = vocab["b"], vocab["a"]
    (wide / "tokenizer.json").write_text(json.dumps(tokenizer))
    config = {"merge_method": "linear", "dtype": "float32", "models": [
        {"model": tiny_models["m0"], "parameters": {"weight": 1.0}}, {"model": str(wide), "parameters": {"weight": 1.0}}]}
    with pytest.raises(ShapeMismatchError, match="vocabulary sizes differ: set tokenizer_source"):
        run_merge(config, tmp_path / "out", dry_run=True)
    result = run_merge({**config, "tokenizer_source": tiny_models["m0"]}, tmp_path / "out")
    base_vocab = json.loads((Path(tiny_models["m0"]) / "tokenizer.json").read_text())["model"]["vocab"]
    merged = load_tensors(tmp_path / "out")["model.embed_tokens.weight"]
    assert merged.shape[0] == len(base_vocab) == json.loads((tmp_path / "out" / "config.json").read_text())["vocab_size"]
    base_rows = load_tensors(Path(tiny_models["m0"]))["model.embed_tokens.weight"]
    wide_rows = load_tensors(wide)["model.embed_tokens.weight"]
    a = base_vocab["a"]
    assert torch.allclose(merged[a], (base_rows[a] + wide_rows[vocab["a"]]) / 2)  # aligned by token, not by id
    assert result.plan.alignment is not None and not result.plan.alignment.identity


def test_dare_is_reproducible_with_a_seed(tiny_models, tmp_path):
    config = {"merge_method": "dare_ties", "base_model": tiny_models["m0"], "models": [
        {"model": tiny_models["m1"], "parameters": {"weight": 0.5, "density": 0.5}},
        {"model": tiny_models["m2"], "parameters": {"weight": 0.5, "density": 0.5}}]}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        run_merge(config, tmp_path / name, seed=seed)
    a, b, c = (load_tensors(tmp_path / n)["model.layers.0.mlp.up_proj.weight"] for n in "abc")
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_chat_template_auto_and_literal_and_unused_parameter_warning(tiny_models, tmp_path):
    config = {**linear_config(tiny_models), "chat_template": "{{ messages[0]['content'] }}",
              "parameters": {"density": 0.5}}
    result = run_merge(config, tmp_path / "out")
    assert (tmp_path / "out" / "chat_template.jinja").read_text() == "{{ messages[0]['content'] }}"
    assert any("'density' does not apply to linear" in w for w in result.warnings)
    run_merge({**config, "chat_template": "auto"}, tmp_path / "auto")
    assert (tmp_path / "auto" / "chat_template.jinja").read_text().strip() == \
        (Path(tiny_models["m0"]) / "chat_template.jinja").read_text().strip()


def test_missing_local_model_and_unreachable_hub_id(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="model folder ./nowhere not found"):
        run_merge({"merge_method": "passthrough", "models": [{"model": "./nowhere"}]}, None, dry_run=True)
    with pytest.raises(InputError, match="not a local folder and could not be fetched"):
        run_merge({"merge_method": "passthrough", "models": [{"model": "nobody/no-such-model"}]}, None, dry_run=True)


@pytest.mark.parametrize("method, keys, base, message", [
    ("slerp", ("m0", "m1", "m2"), "m0", "slerp takes exactly 2 input model(s)"),
    ("slerp", ("m0", "m1"), None, "slerp needs a base model; set base_model"),
    ("model_stock", ("m1",), "m0", "model_stock needs at least 3 input models"),
    ("passthrough", ("m0", "m1"), None, "passthrough takes exactly 1 input model(s)"),
])
def test_method_input_rules_are_checked_before_anything_runs(tiny_models, method, keys, base, message):
    config = {"merge_method": method, "models": [{"model": tiny_models[k]} for k in keys]}
    if base:
        config["base_model"] = tiny_models[base]
    with pytest.raises(ConfigError) as info:
        run_merge(config, None, dry_run=True)
    assert message in str(info.value)


def test_a_tensor_merged_into_two_outputs_is_read_afresh_for_each(tiny_models, tmp_path):
    # the same layers twice (a frankenmerge): the in-place merge of the first copy must not leak into the second
    sources = [{"model": tiny_models["m0"], "layer_range": [0, 2], "parameters": {"weight": 0.5}},
               {"model": tiny_models["m1"], "layer_range": [0, 2], "parameters": {"weight": 0.5}}]
    run_merge({"merge_method": "linear", "slices": [{"sources": sources}, {"sources": sources}]}, tmp_path / "out")
    merged = load_tensors(tmp_path / "out")
    for suffix in ("mlp.up_proj.weight", "self_attn.q_proj.weight"):
        assert torch.equal(merged[f"model.layers.0.{suffix}"], merged[f"model.layers.2.{suffix}"])
    m0, m1 = load_tensors(Path(tiny_models["m0"])), load_tensors(Path(tiny_models["m1"]))
    name = "model.layers.1.mlp.up_proj.weight"
    assert torch.allclose(merged["model.layers.3.mlp.up_proj.weight"], (m0[name] + m1[name]) / 2)
