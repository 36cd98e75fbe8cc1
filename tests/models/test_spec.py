import pytest

from llmopt.errors import ModelSpecError
from llmopt.models.spec import parse_spec


@pytest.mark.parametrize("text, engine, name, url", [
    ("default", None, "default", None),
    ("default@hf", "hf", "default", None),
    ("default@llamacpp", "llamacpp", "default", None),
    ("llamacpp:smollm2-135m", "llamacpp", "smollm2-135m", None),
    ("hf:/path/to/folder", "hf", "/path/to/folder", None),
    ("openai:granite-3.3-8b@http://127.0.0.1:8000/v1", "openai", "granite-3.3-8b", "http://127.0.0.1:8000/v1"),
    ("openai:a@b@http://h/v1", "openai", "a", "b@http://h/v1"),
    ("openai:gpt-4o-mini", "openai", "gpt-4o-mini", None),
    ("qwen2.5-coder-1.5b@llamacpp", "llamacpp", "qwen2.5-coder-1.5b", None),
    ("fake:echo", "fake", "echo", None),
])
def test_parse(text, engine, name, url):
    spec = parse_spec(text)
    assert (spec.engine, spec.name, spec.base_url) == (engine, name, url)


def test_options():
    spec = parse_spec("llamacpp:smollm2-135m?quant=q8_0&n_ctx=4096")
    assert spec.name == "smollm2-135m" and spec.options == {"quant": "q8_0", "n_ctx": "4096"}
    spec = parse_spec("openai:m?timeout=5@http://h/v1?x=1")
    assert spec.base_url == "http://h/v1?x=1" and spec.options == {"timeout": "5"}


@pytest.mark.parametrize("bad", ["", "vllm:foo", "default@cuda", "openai:@http://x", "llamacpp:"])
def test_bad_specs_name_the_fix(bad):
    with pytest.raises(ModelSpecError) as info:
        parse_spec(bad)
    assert str(info.value)


def test_unknown_model_lists_what_resolves():
    from llmopt.models.registry import get_model

    with pytest.raises(ModelSpecError) as info:
        get_model("no-such-model")
    message = str(info.value)
    assert "no-such-model" in message and "default@llamacpp" in message and "\n" not in message
