"""`llmopt extract-lora`: a LoRA-trained model is reconstructed from its extraction at the adapter's rank."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from llmopt.cli.main import main
from llmopt.errors import ConfigError, InputError
from llmopt.train.merge.extract_lora import extract_lora
from llmopt.train.merge.lowrank import choose_rank, factorize
from llmopt.train.merge.plan import ShapeMismatchError

pytest.importorskip("peft")
RANK = 4
TARGETS = ["q_proj", "v_proj", "o_proj", "gate_proj", "down_proj"]


def _load(folder):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)


def _lora_trained(base: Path, out: Path, rank_pattern: dict | None = None, extra=None) -> Path:
    """A PEFT LoRA of `base` with random non-zero A and B (scaling 2), merged and saved as a full model."""
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(_load(base), LoraConfig(r=RANK, lora_alpha=2 * RANK, target_modules=TARGETS,
                                                        rank_pattern=rank_pattern or {}))
    generator = torch.Generator().manual_seed(7)
    for name, parameter in peft_model.named_parameters():
        if "lora_" in name:
            parameter.data = torch.randn(parameter.shape, generator=generator) * 0.05
    merged = peft_model.merge_and_unload()
    if extra:
        extra(merged)
    merged.save_pretrained(out, safe_serialization=True)
    return out


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    from llmopt.testing import make_tiny_llama

    root = tmp_path_factory.mktemp("extract-lora")
    base = make_tiny_llama(root / "base", seed=0)
    return base, _lora_trained(base, root / "tuned")


def _reconstructed(base: Path, adapter: Path):
    from peft import PeftModel

    return PeftModel.from_pretrained(_load(base), adapter).merge_and_unload()


def test_extraction_at_the_adapters_rank_reconstructs_the_fine_tuned_model(pair, tmp_path):
    base, tuned = pair
    result = extract_lora(tuned, base, tmp_path / "adapter", rank=RANK)
    assert result.rank == RANK and len(result.modules) == 2 * len(TARGETS)  # 2 layers
    assert {m.name.rsplit(".", 1)[1] for m in result.modules} == set(TARGETS)
    assert result.unchanged == 2 * 2 + 2  # left out: k_proj and up_proj of each layer, embed_tokens, lm_head
    assert result.max_rel_error <= 1e-4 and result.parameters > 0 and result.warnings == []
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == config["lora_alpha"] == RANK

    rebuilt, expected, original = _reconstructed(base, tmp_path / "adapter"), _load(tuned), _load(base)
    rebuilt_weights, original_weights = rebuilt.state_dict(), original.state_dict()
    for name, weight in expected.state_dict().items():
        error = (rebuilt_weights[name] - weight).abs().max()
        scale = (weight - original_weights[name]).abs().max()  # relative to the difference, not to the weight
        assert error <= 1e-4 * max(scale, weight.abs().max() * 1e-3), name
    ids = torch.randint(0, 512, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want, got, before = expected(ids).logits, rebuilt(ids).logits, original(ids).logits
    assert (got - want).abs().max() <= 1e-4 * (want - before).abs().max()


def test_a_rank_below_the_adapters_reports_a_larger_error(pair, tmp_path):
    base, tuned = pair
    exact = extract_lora(tuned, base, tmp_path / "r4", rank=RANK)
    low = extract_lora(tuned, base, tmp_path / "r2", rank=2)
    assert low.rank == 2 and low.max_rel_error > 0.1 > 1e-4 >= exact.max_rel_error
    assert all(m.max_abs_error > 0 for m in low.modules)


def test_a_higher_rank_stops_at_the_differences_own_rank(pair, tmp_path):
    base, tuned = pair
    result = extract_lora(tuned, base, tmp_path / "r16", rank=16)
    assert result.rank == RANK and result.max_rel_error <= 1e-4


def test_per_module_ranks_go_to_rank_pattern_and_load(tmp_path, pair):
    base, _ = pair
    tuned = _lora_trained(base, tmp_path / "tuned", rank_pattern={"q_proj": 2})
    result = extract_lora(tuned, base, tmp_path / "adapter", rank=8)
    ranks = {m.name: m.rank for m in result.modules}
    assert ranks["model.layers.0.self_attn.q_proj"] == 2 and ranks["model.layers.1.mlp.down_proj"] == RANK
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == RANK and len(config["rank_pattern"]) == 2
    rebuilt, expected = _reconstructed(base, tmp_path / "adapter"), _load(tuned)
    for name, weight in expected.state_dict().items():
        assert torch.allclose(rebuilt.state_dict()[name], weight, atol=1e-6), name


def test_max_error_picks_the_smallest_rank_reaching_it(pair, tmp_path):
    base, tuned = pair
    result = extract_lora(tuned, base, tmp_path / "adaptive", rank=RANK, max_error=0.6)
    assert all(m.rel_error <= 0.6 for m in result.modules) and result.rank < RANK
    for module in result.modules:  # one rank less would not have reached it
        lower = extract_lora(tuned, base, tmp_path / f"check-{module.rank}", rank=module.rank - 1,
                             include=[module.name], overwrite=True) if module.rank > 1 else None
        assert lower is None or lower.modules[0].rel_error > 0.6


def test_changed_embeddings_and_norms(tmp_path, pair):
    base, _ = pair

    def touch(model):
        with torch.no_grad():
            model.model.embed_tokens.weight[:3] += torch.randn(3, 64, generator=torch.Generator().manual_seed(3))
            model.model.norm.weight += 0.01

    tuned = _lora_trained(base, tmp_path / "tuned", extra=touch)
    saved = extract_lora(tuned, base, tmp_path / "saved", rank=RANK)
    assert [m.kind for m in saved.modules if "embed" in m.name] == ["saved"]
    assert saved.warnings and "model.norm.weight" in saved.warnings[0] and "--save-module" in saved.warnings[0]
    full = extract_lora(tuned, base, tmp_path / "full", rank=RANK, save_modules=[r"^model\.norm$"])
    lora = extract_lora(tuned, base, tmp_path / "lora", rank=RANK, embeddings="lora", save_modules=[r"^model\.norm$"])
    assert full.warnings == [] and [m.rank for m in lora.modules if "embed" in m.name] == [3]
    expected = _load(tuned).state_dict()
    for adapter in ("full", "lora"):
        rebuilt = _reconstructed(base, tmp_path / adapter).state_dict()
        for name, weight in expected.items():
            assert torch.allclose(rebuilt[name], weight, atol=1e-5), (adapter, name)


def test_factorize_is_the_truncated_svd():
    generator = torch.Generator().manual_seed(0)
    delta = torch.randn(40, 30, generator=generator)
    found = factorize(delta, 10)
    singular = torch.linalg.svdvals(delta)
    assert found.rank == 10 and found.a.shape == (10, 30) and found.b.shape == (40, 10)
    assert found.rel_error == pytest.approx(float(singular[10:].norm() / singular.norm()), rel=1e-4)
    assert factorize(delta, 10, svd="lowrank").rel_error == pytest.approx(found.rel_error, rel=0.05)
    assert factorize(delta, 10, dtype=torch.bfloat16).a.dtype == torch.bfloat16
    assert choose_rank(torch.tensor([3.0, 4.0]), 25.0, 2, max_error=0.81) == 1  # sqrt(16/25) = 0.8
    assert choose_rank(torch.tensor([3.0, 4.0]), 25.0, 2, max_error=0.79) == 2


def test_shape_mismatch_is_one_line(tmp_path, pair, capsys):
    from llmopt.testing import make_tiny_llama

    base, _ = pair
    wider = make_tiny_llama(tmp_path / "wider", vocab_size=640, tokenizer=False)
    with pytest.raises(ShapeMismatchError, match=r"has shape \[640, 64\] in the fine-tuned model but \[512, 64\]"):
        extract_lora(wider, base, tmp_path / "out")
    capsys.readouterr()  # what making the models printed
    code, out, err = _run(["extract-lora", "--model", str(wider), "--base", str(base), "--out",
                           str(tmp_path / "out")], capsys)
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1 and "shape [640, 64]" in err
    deeper = make_tiny_llama(tmp_path / "deeper", layers=3, tokenizer=False)
    with pytest.raises(InputError, match="model.layers.2.* is only in the fine-tuned model"):
        extract_lora(deeper, base, tmp_path / "out")


def test_bad_inputs_name_the_fix(tmp_path, pair):
    base, tuned = pair
    with pytest.raises(InputError, match="--model .* is not a folder"):
        extract_lora(tmp_path / "missing", base, tmp_path / "out")
    with pytest.raises(InputError, match="nothing to extract"):
        extract_lora(base, base, tmp_path / "out")
    with pytest.raises(ConfigError, match="--rank"):
        extract_lora(tuned, base, tmp_path / "out", rank=0)
    with pytest.raises(ConfigError, match="--device"):
        extract_lora(tuned, base, tmp_path / "out", device="gpu")
    with pytest.raises(ConfigError, match="--embeddings"):
        extract_lora(tuned, base, tmp_path / "out", embeddings="keep")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(ConfigError, match="--overwrite"):
        extract_lora(tuned, base, tmp_path / "busy")
    with pytest.raises(ConfigError, match="would replace the input model"):
        extract_lora(tuned, base, base, overwrite=True)
    assert not (tmp_path / "out").exists()


def _run(args, capsys) -> tuple[int, str, str]:
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_prints_the_error_table_and_json(pair, tmp_path, capsys):
    base, tuned = pair
    code, out, _ = _run(["extract-lora", "--model", str(tuned), "--base", str(base), "--rank", "4", "--out",
                         str(tmp_path / "adapter")], capsys)
    assert code == 0 and "model.layers.1.mlp.down_proj" in out and "max relative error" in out
    code, out, _ = _run(["extract-lora", "-m", str(tuned), "-b", str(base), "-r", "2", "-o", str(tmp_path / "adapter"),
                         "--overwrite", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["rank"] == 2 and data["max_rel_error"] > 0.1 and len(data["modules"]) == 10
