"""The transformers backend: tiny random models for mechanics, the embedded model converted from GGUF for real."""

import json

import pytest

from llmopt.models.hf import HFLLM, converted_folder
from llmopt.models.registry import get_model
from llmopt.testing import make_tiny_llama


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = make_tiny_llama(tmp_path_factory.mktemp("tiny") / "m", seed=0)
    return HFLLM(folder, "tiny")


def test_tiny_generate_batch_logprobs_stream(tiny):
    gen = tiny.generate("The quick brown fox", max_tokens=5, logprobs=True)
    assert gen.completion_tokens <= 5 and len(gen.token_logprobs) == gen.completion_tokens
    batch = tiny.generate_batch(["The quick brown fox", "SELECT name FROM singer WHERE age > 30"], max_tokens=5)
    assert batch[0].text == gen.text  # left padding does not change a greedy answer
    stream = tiny.stream("The quick brown fox", max_tokens=5)
    assert "".join(stream) == gen.text == stream.result.text


def test_tiny_chat_template(tiny):
    rendered = tiny.apply_chat_template([{"role": "user", "content": "hi"}])
    assert rendered == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.integration
def test_gguf_pack_converted_once_without_quantization_config():
    folder = converted_folder("smollm2-135m")
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    llm = get_model("default@hf", cache=False)
    gen = llm.chat([{"role": "user", "content": "What is the capital of France?"}], max_tokens=12)
    assert gen.model == "hf:smollm2-135m" and "Paris" in gen.text
