"""Vocabularies that cannot be reconciled are refused before any tensor is read, each with one line that names the
models, the sizes or tokens at odds, and the fix; the `tokenizer:` block reads like mergekit's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmopt.errors import ConfigError, InputError, LlmoptError
from llmopt.testing import make_tiny_llama
from llmopt.train.merge import ShapeMismatchError, run_merge


@pytest.fixture(scope="module")
def vocab_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vocab-models")
    models = {"a": make_tiny_llama(root / "a", seed=0), "b": make_tiny_llama(root / "b", seed=1),
              "no_tokenizer": make_tiny_llama(root / "no_tokenizer", seed=2, tokenizer=False),
              "wide": make_tiny_llama(root / "wide", seed=3, vocab_size=600),
              "narrow": make_tiny_llama(root / "narrow", seed=4, vocab_size=400, tokenizer=False)}
    for file in models["a"].iterdir():  # narrow: 400 embedding rows under a's 471-token tokenizer
        if file.name.startswith(("tokenizer", "special_tokens")) or file.suffix == ".jinja":
            (models["narrow"] / file.name).write_bytes(file.read_bytes())
    liar = make_tiny_llama(root / "liar", seed=5, vocab_size=500)  # config says 512, the embedding has 500 rows
    config = json.loads((liar / "config.json").read_text())
    (liar / "config.json").write_text(json.dumps({**config, "vocab_size": 512}))
    models["liar"] = liar
    return models


def linear(*models: Path, **extra) -> dict:
    return {"merge_method": "linear", "dtype": "float32",
            "models": [{"model": str(m), "parameters": {"weight": 1.0}} for m in models], **extra}


def refusal(config: dict, tmp_path: Path, kind: type = LlmoptError) -> str:
    with pytest.raises(kind) as info:
        run_merge(config, tmp_path / "out", dry_run=True)
    message = str(info.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("where", ["model", "base", "source"])
def test_an_unreadable_tokenizer_is_one_line_naming_the_model_and_the_fix(vocab_models, tmp_path, where):
    a, missing = vocab_models["a"], vocab_models["no_tokenizer"]
    config = {"model": linear(a, missing, tokenizer_source="base"),
              "base": linear(missing, a, tokenizer_source="base"),
              "source": linear(a, vocab_models["b"], tokenizer_source=str(missing))}[where]
    message = refusal(config, tmp_path, InputError)
    assert str(missing) in message and "tokenizer" in message
    assert "copy the tokenizer files" in message  # the fix


def test_vocabulary_sizes_differing_without_tokenizer_source_name_models_sizes_and_fix(vocab_models, tmp_path):
    message = refusal(linear(vocab_models["a"], vocab_models["wide"]), tmp_path, ShapeMismatchError)
    assert f"{vocab_models['a']}: [512, 64]" in message and f"{vocab_models['wide']}: [600, 64]" in message
    assert "set tokenizer_source: base" in message


def test_a_config_vocab_size_beyond_the_embedding_rows_is_refused_with_both_sizes(vocab_models, tmp_path):
    message = refusal(linear(vocab_models["a"], vocab_models["liar"], tokenizer_source="base"), tmp_path, InputError)
    assert str(vocab_models["liar"]) in message and "vocab_size 512" in message and "500 rows" in message
    assert "config.json" in message


def test_a_tokenizer_source_with_more_tokens_than_embedding_rows_is_refused(vocab_models, tmp_path):
    narrow = vocab_models["narrow"]
    message = refusal(linear(vocab_models["a"], narrow, tokenizer_source=str(narrow)), tmp_path, InputError)
    assert str(narrow) in message and "400" in message and "471" in message  # rows, tokens
    assert "tokenizer_source" in message
    # as one model among others (not the source), its extra tokens are simply missing from it, as in mergekit
    result = run_merge(linear(vocab_models["a"], narrow, tokenizer_source="base"), tmp_path / "ok", dry_run=True)
    assert result.plan.alignment.to_dict()["missing_tokens"][str(narrow)] == 71


def other_vocabulary(source: Path, target: Path) -> Path:
    """A copy of `source` whose tokenizer has ids the base puts elsewhere and tokens the base lacks."""
    target.mkdir()
    for file in source.iterdir():
        (target / file.name).write_bytes(file.read_bytes())
    data = json.loads((target / "tokenizer.json").read_text())
    vocab = data["model"]["vocab"]
    vocab["a"], vocab["b"] = vocab["b"], vocab["a"]
    top = max(max(vocab.values()), *(e["id"] for e in data["added_tokens"])) + 1
    vocab.update({"\u0120zebra": top, "quokka": top + 1})  # byte-level BPE: \u0120 is a leading space
    (target / "tokenizer.json").write_text(json.dumps(data))
    return target


def test_union_keeps_every_models_tokens_and_the_merged_model_loads(vocab_models, tmp_path):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    a, wide = vocab_models["a"], other_vocabulary(vocab_models["wide"], tmp_path / "other")
    vocab_a = AutoTokenizer.from_pretrained(a).get_vocab()
    vocab_wide = AutoTokenizer.from_pretrained(wide).get_vocab()
    extra = sorted(set(vocab_wide) - set(vocab_a), key=vocab_wide.get)
    assert extra  # the fixture's wider tokenizer has tokens the base lacks
    out = tmp_path / "union"
    result = run_merge(linear(a, wide, tokenizer_source="union"), out)
    merged_tok = AutoTokenizer.from_pretrained(out)
    vocab = merged_tok.get_vocab()
    assert {t: vocab[t] for t in vocab_a} == vocab_a  # the base's ids unchanged
    assert set(vocab) == set(vocab_a) | set(vocab_wide)
    assert result.plan.union.added == extra  # in the other model's id order
    rows = load_file(out / "model.safetensors")["model.embed_tokens.weight"]
    assert rows.shape[0] == len(vocab) == json.loads((out / "config.json").read_text())["vocab_size"]
    rows_a = load_file(a / "model.safetensors")["model.embed_tokens.weight"]
    rows_wide = load_file(wide / "model.safetensors")["model.embed_tokens.weight"]
    new = extra[0]  # only wide has it: its row is wide's
    assert torch.equal(rows[vocab[new]], rows_wide[vocab_wide[new]])
    shared = "a"  # at another id in each model: aligned by token, not by id
    assert vocab_a["a"] != vocab_wide["a"]
    assert torch.allclose(rows[vocab[shared]], (rows_a[vocab_a[shared]] + rows_wide[vocab_wide[shared]]) / 2)
    assert merged_tok.decode([vocab[new]]) == " zebra"  # decoded as text, not as the literal byte symbols
    model = AutoModelForCausalLM.from_pretrained(out)
    ids = merged_tok("hello world", return_tensors="pt").input_ids
    assert model.generate(ids, max_new_tokens=3, do_sample=False).shape[1] == ids.shape[1] + 3


def test_union_is_the_tokenizer_blocks_default_and_pads(vocab_models, tmp_path):
    a, wide = vocab_models["a"], other_vocabulary(vocab_models["wide"], tmp_path / "other")
    plan = run_merge(linear(a, wide, tokenizer={"pad_to_multiple_of": 64}), tmp_path / "p", dry_run=True).plan
    plan_union = run_merge(linear(a, wide, tokenizer_source="union"), tmp_path / "u", dry_run=True).plan
    assert plan.union.vocab == plan_union.union.vocab
    assert plan.alignment.rows % 64 == 0 and plan.alignment.real_rows == len(plan_union.union.vocab)
    assert plan_union.union.added == ["\u0120zebra", "quokka"]


def test_union_without_a_tokenizer_json_is_one_line_naming_the_fix(vocab_models, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for file in vocab_models["b"].iterdir():
        if file.name != "tokenizer.json":
            (bare / file.name).write_bytes(file.read_bytes())
    message = refusal(linear(vocab_models["a"], bare, tokenizer_source="union"), tmp_path, LlmoptError)
    assert str(bare) in message and "tokenizer" in message


def test_union_tokenizer_math_on_hand_made_vocabularies():
    from llmopt.train.merge.vocab import union_tokenizer

    base = {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []},
            "added_tokens": [{"id": 2, "content": "<s>", "special": True, "lstrip": False}]}
    other = {"model": {"type": "BPE", "vocab": {"b": 0, "c": 1, "d": 2, "e": 9}, "merges": []},
             "added_tokens": [{"id": 3, "content": "<tool>", "special": True, "lstrip": True},
                              {"id": 4, "content": "<s>", "special": True, "lstrip": False}]}
    union = union_tokenizer(base, [(other, 5)], config={"added_tokens_decoder": {}})
    assert union.vocab == {"a": 0, "b": 1, "<s>": 2, "c": 3, "d": 4, "<tool>": 5}  # e: id 9 has no row
    assert union.added == ["c", "d", "<tool>"]
    written = json.loads(union.files["tokenizer.json"])
    assert written["model"]["vocab"] == {"a": 0, "b": 1, "c": 3, "d": 4}
    assert written["added_tokens"][-1] == {"id": 5, "content": "<tool>", "special": True, "lstrip": True}
    assert json.loads(union.files["tokenizer_config.json"])["added_tokens_decoder"]["5"]["lstrip"] is True
    assert base["model"]["vocab"] == {"a": 0, "b": 1}  # inputs untouched
    unigram = {"model": {"type": "Unigram", "vocab": [["a", -1.0], ["b", -2.0]]}}
    grown = union_tokenizer(unigram, [({"model": {"type": "Unigram", "vocab": [["c", -1.5]]}}, 1)])
    assert json.loads(grown.files["tokenizer.json"])["model"]["vocab"][2] == ["c", -3.0] and grown.vocab["c"] == 2


def test_the_tokenizer_block_aligns_and_pads_like_tokenizer_source(vocab_models, tmp_path):
    a, wide = vocab_models["a"], vocab_models["wide"]
    plain = run_merge(linear(a, wide, tokenizer_source="base"), tmp_path / "p", dry_run=True).plan
    block = run_merge(linear(a, wide, tokenizer={"source": "base"}), tmp_path / "b", dry_run=True).plan
    assert plain.alignment == block.alignment and plain.alignment.rows == 471  # the base tokenizer's tokens
    padded = run_merge(linear(a, wide, tokenizer={"source": str(wide), "pad_to_multiple_of": 64}), tmp_path / "x",
                       dry_run=True).plan
    assert padded.alignment.rows % 64 == 0 and padded.out_config["vocab_size"] == padded.alignment.rows
    assert padded.tokenizer_folder == wide
