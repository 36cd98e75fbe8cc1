import pytest

from llmopt.redact import redact


@pytest.mark.parametrize("text, secret", [
    ("llmopt serve --api-key K1x --port 8000", "K1x"),
    ("llmopt serve --api-key=K1x", "K1x"),
    ("llmopt x --hf-token 'a b c'", "a b c"),
    ("openai:m@https://user:pw9@h/v1", "pw9"),
    ("openai:m@http://h/v1?api_key=K2x&x=1", "K2x"),
    ("openai:m@http://h/v1?key=K2x", "K2x"),
    ("Authorization: Bearer abcdefgh123", "abcdefgh123"),
    ('{"api_key": "K3x", "max_tokens": 5}', "K3x"),
    ("OPENAI_API_KEY=K4x llmopt generate hi", "K4x"),
    ("password: hunter2", "hunter2"),
    ("refused sk-abcdefghijklmnopqrstuvwx", "sk-abcdefghijklmnopqrstuvwx"),
    ("token hf_abcdefghijklmnopqrstuvwxyz here", "hf_abcdefghijklmnopqrstuvwxyz"),
])
def test_secret_values_are_masked(text, secret):
    masked = redact(text)
    assert secret not in masked and "***" in masked


@pytest.mark.parametrize("text", [
    "llmopt generate hi --max-tokens 64 --model default",
    "llmopt serve --no-auth --port 8000",
    "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)",
    "milvus://host:19530/collection",
    "llmopt ask q --index demo --key-file /etc/x",
    "openai:granite-3.3-8b@http://127.0.0.1:8000/v1",
    "max_tokens=64 total_tokens: 80",
])
def test_ordinary_text_is_unchanged(text):
    assert redact(text) == text


def test_json_stays_well_formed():
    import json

    assert json.loads(redact('{"password": "p w", "n": 1}')) == {"password": "***", "n": 1}
