"""`llmopt merge-moe`: outputs that load in transformers and generate, prompt routing, seeded random gates,
one-line errors, and (slow) mergekit-moe's own output on the same config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from llmopt.errors import ConfigError, InputError
from llmopt.train.merge.moe import run_moe

WORDS = ["the cat sat on the mat", "a dog ran in the park"]
NUMBERS = ["1 2 3 4 5 6", "42 + 17 = 59"]


def make_tiny_qwen2(path: Path, seed: int) -> Path:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from llmopt.testing import tiny_tokenizer

    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, eos_token_id=2, pad_token_id=0)
    Qwen2ForCausalLM(config).save_pretrained(path)
    tiny_tokenizer(512).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    """l0 (base) .. l2: tiny Llamas with different random weights; l3: another size; q0, q1: tiny Qwen2s."""
    from llmopt.testing import make_tiny_llama

    root = tmp_path_factory.mktemp("moe-models")
    found = {f"l{i}": str(make_tiny_llama(root / f"l{i}", seed=i)) for i in range(3)}
    found["l3"] = str(make_tiny_llama(root / "l3", seed=3, intermediate_size=96))
    found.update({f"q{i}": str(make_tiny_qwen2(root / f"q{i}", seed=10 + i)) for i in range(2)})
    return found


def prompted(models, base="l0", experts=("l1", "l2"), **extra) -> dict:
    return {"base_model": models[base], "gate_mode": "hidden", **extra, "experts": [
        {"source_model": models[experts[0]], "positive_prompts": WORDS, "negative_prompts": NUMBERS},
        {"source_model": models[experts[1]], "positive_prompts": NUMBERS, "negative_prompts": WORDS}]}


def load(folder: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, info = AutoModelForCausalLM.from_pretrained(folder, output_loading_info=True)
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set(), info
    return model.eval(), AutoTokenizer.from_pretrained(folder)


def logits(model, tokenizer, text: str) -> torch.Tensor:
    with torch.no_grad():
        return model(**tokenizer(text, return_tensors="pt")).logits


def test_mixtral_output_loads_and_generates(models, tmp_path):
    result = run_moe(prompted(models), tmp_path / "moe")
    assert (result.architecture, result.experts, result.gate_mode) == ("mixtral", 2, "hidden")
    model, tokenizer = load(tmp_path / "moe")
    assert type(model).__name__ == "MixtralForCausalLM" and model.config.num_local_experts == 2
    assert sum(p.numel() for p in model.parameters()) == result.parameters
    generated = model.generate(**tokenizer("the cat", return_tensors="pt"), max_new_tokens=5, do_sample=False)
    assert generated.shape[1] > 2 and (tmp_path / "moe" / "tokenizer.json").is_file()
    assert not list(tmp_path.glob(".moe.llmopt-moe-*"))  # the work folder became the output


def test_experts_equal_to_the_base_reproduce_it_exactly(models, tmp_path):
    """Top-k weights sum to one, so an MoE of copies of one model is that model: proves every expert tensor
    (w1/w3/w2, gate/up/down) lands where the architecture reads it, and the non-MLP tensors are the base's."""
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(models["l0"]).eval()
    config = {"base_model": models["l0"], "gate_mode": "random", "experts": [{"source_model": models["l0"]}] * 3}
    result = run_moe(config, tmp_path / "mixtral")
    assert any("same model" in w for w in result.warnings)
    noisy = {**config, "experts": [{"source_model": models["l0"]}, {"source_model": models["l0"], "noise_scale": 0.01}]}
    assert not run_moe(noisy, tmp_path / "noisy").warnings  # noise makes the copies different experts
    model, tokenizer = load(tmp_path / "mixtral")
    assert torch.allclose(logits(model, tokenizer, "the cat sat"), logits(base, tokenizer, "the cat sat"), atol=1e-5)
    # Qwen2-MoE adds a shared expert: residual_scale 0 silences it, and the same identity holds
    qwen_base = AutoModelForCausalLM.from_pretrained(models["q0"]).eval()
    config = {"base_model": models["q0"], "gate_mode": "random", "experts": [{"source_model": models["q0"]}] * 2,
              "shared_experts": [{"source_model": models["q1"], "residual_scale": 0.0}]}
    assert run_moe(config, tmp_path / "qwen").architecture == "qwen2_moe"
    model, tokenizer = load(tmp_path / "qwen")
    assert type(model).__name__ == "Qwen2MoeForCausalLM"
    assert torch.allclose(logits(model, tokenizer, "the cat"), logits(qwen_base, tokenizer, "the cat"), atol=1e-5)


@pytest.mark.parametrize("mode", ["hidden", "hidden_avg", "cheap_embed"])
def test_the_router_sends_each_experts_prompts_to_it(models, tmp_path, mode):
    """Top-1 of the first MoE layer's router logits, averaged over each prompt's tokens, is the prompt's expert;
    swapping the experts' prompts swaps the routing (so it is the prompts that route, not chance)."""
    for swapped in (False, True):
        config = prompted(models, gate_mode=mode, experts_per_token=1)
        if swapped:
            config["experts"].reverse()
        run_moe(config, tmp_path / f"{mode}-{swapped}")
        model, tokenizer = load(tmp_path / f"{mode}-{swapped}")
        seen = {}
        model.model.layers[0].mlp.gate.register_forward_hook(lambda module, args, output: seen.update(r=output[0]))
        for expert, prompts in enumerate((WORDS, NUMBERS)):
            for prompt in prompts:
                logits(model, tokenizer, prompt)
                assert int(seen["r"].mean(dim=0).argmax()) == (1 - expert if swapped else expert), (mode, prompt)


def test_qwen2_experts_with_a_prompted_shared_expert(models, tmp_path):
    config = prompted(models, base="q0", experts=("q0", "q1"))
    config["shared_experts"] = [{"source_model": models["q0"], "positive_prompts": WORDS + NUMBERS}]
    result = run_moe(config, tmp_path / "qwen")
    assert (result.architecture, result.shared_experts) == ("qwen2_moe", 1)
    model, tokenizer = load(tmp_path / "qwen")
    gate = model.model.layers[1].mlp.shared_expert_gate.weight
    assert gate.shape == (1, 64) and abs(float(gate.detach().norm()) - 1) < 1e-4  # a unit prompt direction
    assert model.generate(**tokenizer("1 2", return_tensors="pt"), max_new_tokens=3, do_sample=False).shape[1] > 2


def test_random_gates_are_seeded(models, tmp_path):
    from safetensors.torch import load_file

    config = {"base_model": models["l0"], "gate_mode": "random",
              "experts": [{"source_model": models["l1"]}, {"source_model": models["l2"], "noise_scale": 0.01}]}
    outputs = [load_file(tmp_path / name / "model.safetensors")
               for name, seed in (("a", 1), ("b", 1), ("c", 2)) if run_moe(config, tmp_path / name, seed=seed)]
    gate, noisy = "model.layers.1.block_sparse_moe.gate.weight", "model.layers.0.block_sparse_moe.experts.1.w1.weight"
    assert torch.equal(outputs[0][gate], outputs[1][gate]) and torch.equal(outputs[0][noisy], outputs[1][noisy])
    assert not torch.equal(outputs[0][gate], outputs[2][gate]) and not torch.equal(outputs[0][noisy], outputs[2][noisy])
    clean = load_file(Path(models["l1"]) / "model.safetensors")["model.layers.0.mlp.gate_proj.weight"]
    assert torch.equal(outputs[0]["model.layers.0.block_sparse_moe.experts.0.w1.weight"], clean)


def test_dtype_and_shards(models, tmp_path):
    config = {"base_model": models["l0"], "gate_mode": "uniform_random", "dtype": "bfloat16",
              "experts": [{"source_model": models["l1"]}, {"source_model": models["l2"]}]}
    result = run_moe(config, tmp_path / "moe", max_shard_size="200KB")
    assert len(result.shards) > 1 and (tmp_path / "moe" / "model.safetensors.index.json").is_file()
    model, _ = load(tmp_path / "moe")
    assert model.dtype == torch.bfloat16 and json.loads((tmp_path / "moe" / "config.json").read_text())["dtype"] == "bfloat16"


def test_hidden_gates_of_a_bfloat16_base(tmp_path):
    """The forward pass runs in the checkpoint's dtype; the output keeps it."""
    from llmopt.testing import make_tiny_llama

    for name in ("b0", "b1"):
        make_tiny_llama(tmp_path / name, seed=len(name), dtype="bfloat16")
    config = {"base_model": str(tmp_path / "b0"), "experts": [
        {"source_model": str(tmp_path / "b0"), "positive_prompts": WORDS},
        {"source_model": str(tmp_path / "b1"), "positive_prompts": NUMBERS}]}
    run_moe(config, tmp_path / "moe")
    model, _ = load(tmp_path / "moe")
    gate = model.model.layers[0].mlp.gate.weight
    assert model.dtype == torch.bfloat16 and torch.allclose(gate.detach().float().norm(dim=1), torch.ones(2), atol=1e-2)


@pytest.mark.parametrize("change, error, message", [
    (lambda c, m: c["experts"][1].update(source_model=m["q1"]), InputError,
     "expert 1 (.*) is a qwen2 model but the base model .* is llama; every expert must share"),
    (lambda c, m: c["experts"][1].update(source_model=m["l3"]), InputError,
     "expert 1 .* has intermediate_size 96 but the base model .* has 128; every expert must have the base model's"),
    (lambda c, m: c["experts"][0].pop("positive_prompts"), ConfigError,
     "expert 0 .* has no positive_prompts; gate_mode hidden routes by prompts, so give every expert"),
    (lambda c, m: c.update(gate_mode="soup"), ConfigError,
     "unknown gate_mode 'soup'; use one of: hidden, hidden_avg, cheap_embed, random, uniform_random"),
    (lambda c, m: c.update(experts_per_token=3), ConfigError, "experts_per_token is 3 but there are only 2 experts"),
    (lambda c, m: c.update(architecture="deepseek"), ConfigError, "unknown architecture 'deepseek'; use one of: mix"),
    (lambda c, m: c.update(shared_experts=[{"source_model": m["l0"]}], architecture="mixtral"), ConfigError,
     "mixtral output has no shared experts; remove shared_experts"),
    (lambda c, m: c.update(base_model=m["q0"], experts=[{**e, "source_model": m["q0"]} for e in c["experts"]]),
     ConfigError, "qwen2_moe output needs exactly 1 shared expert.s., got 0; add shared_experts"),
    (lambda c, m: [e.update(positive_prompts=["same"], negative_prompts=None) for e in c["experts"]], ConfigError,
     "every expert has the same prompts"),
])
def test_bad_configs_are_one_line_errors(models, tmp_path, change, error, message):
    config = prompted(models)
    change(config, models)
    with pytest.raises(error, match=message) as caught:
        run_moe(config, tmp_path / "out")
    assert "\n" not in str(caught.value) and not (tmp_path / "out").exists()


def test_cli_prints_one_json_object_and_one_line_errors(models, tmp_path, capsys):
    from llmopt.cli.main import main

    def run(args):
        try:
            main(args)
        except SystemExit as exc:
            return exc.code or 0, *capsys.readouterr()
        return 0, *capsys.readouterr()

    path = tmp_path / "moe.yaml"
    path.write_text(yaml.safe_dump(prompted(models)))
    code, out, _ = run(["merge-moe", str(path), "--out", str(tmp_path / "out"), "--json"])
    assert code == 0 and json.loads(out)["architecture"] == "mixtral" and json.loads(out)["experts"] == 2
    code, out, err = run(["merge-moe", str(path), "--out", str(tmp_path / "out")])
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1 and "pass --overwrite" in err


@pytest.mark.slow
def test_expert_and_shared_tensors_equal_mergekit_moe(models, tmp_path):
    """mergekit-moe (0.1.5, its own environment) on the same config: every tensor but the routers, which come
    from its bf16 forward pass, is identical (its Mixtral experts are written fused, ours per expert)."""
    from llmopt.train.merge.mergekit_ref import ensure_mergekit, load_tensors, run_mergekit_moe

    root = Path(__file__).resolve().parents[3]
    try:
        python = ensure_mergekit(root / ".llmopt" / "mergekit-venv", root / "constraints.txt")
    except RuntimeError as exc:
        pytest.skip(f"mergekit cannot be installed here: {exc}")
    path = tmp_path / "moe.yaml"
    path.write_text(yaml.safe_dump(prompted(models, gate_mode="cheap_embed")))
    run_mergekit_moe(python, path, tmp_path / "theirs")
    run_moe(path, tmp_path / "ours")
    ours, theirs = load_tensors(tmp_path / "ours"), load_tensors(tmp_path / "theirs")
    for layer in range(2):
        mlp = f"model.layers.{layer}.mlp.experts."
        expert = [f"model.layers.{layer}.block_sparse_moe.experts.{e}." for e in range(2)]
        gate_up = torch.stack([torch.cat([ours[p + "w1.weight"], ours[p + "w3.weight"]]) for p in expert])
        down = torch.stack([ours[p + "w2.weight"] for p in expert])
        assert torch.equal(gate_up, theirs.pop(mlp + "gate_up_proj")) and torch.equal(down, theirs.pop(mlp + "down_proj"))
        router = f"model.layers.{layer}.mlp.gate.weight"
        assert torch.allclose(ours[f"model.layers.{layer}.block_sparse_moe.gate.weight"], theirs.pop(router), atol=1e-5)
    for name, tensor in theirs.items():
        assert torch.equal(ours[name], tensor), name
