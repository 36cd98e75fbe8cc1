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


def test_union_is_refused_naming_the_alternatives_also_as_the_tokenizer_blocks_default(vocab_models, tmp_path):
    a, b = vocab_models["a"], vocab_models["b"]
    message = refusal(linear(a, b, tokenizer_source="union"), tmp_path, ConfigError)
    assert "'union' is not supported" in message and "base" in message
    message = refusal(linear(a, b, tokenizer={"pad_to_multiple_of": 64}), tmp_path, ConfigError)
    assert "default" in message and "tokenizer.source: base" in message


def test_the_tokenizer_block_aligns_and_pads_like_tokenizer_source(vocab_models, tmp_path):
    a, wide = vocab_models["a"], vocab_models["wide"]
    plain = run_merge(linear(a, wide, tokenizer_source="base"), tmp_path / "p", dry_run=True).plan
    block = run_merge(linear(a, wide, tokenizer={"source": "base"}), tmp_path / "b", dry_run=True).plan
    assert plain.alignment == block.alignment and plain.alignment.rows == 471  # the base tokenizer's tokens
    padded = run_merge(linear(a, wide, tokenizer={"source": str(wide), "pad_to_multiple_of": 64}), tmp_path / "x",
                       dry_run=True).plan
    assert padded.alignment.rows % 64 == 0 and padded.out_config["vocab_size"] == padded.alignment.rows
    assert padded.tokenizer_folder == wide
