"""GGUF export: written with the gguf package, loaded by llama-cpp-python, same greedy tokens as transformers."""

import json

import pytest

from llmopt.train.export_gguf import ExportError, export_gguf


def test_export_is_verified_and_served_by_llamacpp(tiny_model, tmp_path):
    result = export_gguf(tiny_model, tmp_path / "tiny.gguf", outtype="f32")
    assert result.path.is_file() and result.to_dict()["greedy_tokens_equal"]
    assert len(result.hf_tokens) == 3 and all(result.hf_tokens)
    from llmopt import get_model

    served = get_model(f"llamacpp:{result.path}", cache=False)
    reference = get_model(f"hf:{tiny_model}", cache=False)
    for prompt in ("What is 2 plus 3?", "SELECT name FROM singer"):
        assert served.generate(prompt, max_tokens=4).text == reference.generate(prompt, max_tokens=4).text
    served.close()


def test_unverifiable_exports_are_refused_and_leave_nothing(tiny_model, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    for item in tiny_model.iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    tokenizer["pre_tokenizer"] = {"type": "Whitespace"}  # llama.cpp has no equivalent
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    with pytest.raises(ExportError, match="no known llama.cpp equivalent"):
        export_gguf(folder, tmp_path / "odd.gguf", outtype="f32")
    assert not list(tmp_path.glob("*.gguf")) and not list(tmp_path.glob(".*.tmp"))
    (folder / "config.json").unlink()
    with pytest.raises(ExportError, match="merge LoRA adapters first"):
        export_gguf(folder)


@pytest.mark.parametrize("index", ['{"metadata": {}}', "not json", '{"weight_map": {"a": "../x.safetensors"}}'])
def test_a_malformed_shard_index_is_one_line_naming_it(tiny_model, tmp_path, index):
    from llmopt.errors import InputError

    folder = tmp_path / "sharded"
    folder.mkdir()
    for item in tiny_model.iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    (folder / "model.safetensors.index.json").write_text(index)
    with pytest.raises(InputError, match="model.safetensors.index.json"):
        export_gguf(folder, tmp_path / "x.gguf", outtype="f32")
    assert not list(tmp_path.glob("*.gguf"))
