"""Hostile and malformed requests get a clear 4xx, never a 500: lone surrogates, wrong JSON types, huge and
negative numbers, bodies that are not UTF-8; Host headers that are not this server's (DNS rebinding); and a
disallowed model's 403 names the rule without listing the operator's configuration."""

import json

import httpx
import pytest

QUESTION = "Where was Harbor Labs founded?"


def post(url, body: bytes | str, headers=None):
    data = body.encode() if isinstance(body, str) else body
    return httpx.post(f"{url}/v1/chat/completions", content=data, timeout=30,
                      headers={"content-type": "application/json", **(headers or {})})


def assert_4xx(response, status=400):
    assert response.status_code == status, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["message"] and "Traceback" not in response.text and "internal error" not in error["message"]
    return error


def message(content) -> dict:
    return {"model": "rag-k5", "messages": [{"role": "user", "content": content}]}


def test_a_lone_surrogate_in_a_message_is_400(start):
    url = start()
    # json.dumps writes the lone surrogate as the escape \ud800, which a JSON parser turns back into one
    error = assert_4xx(post(url, json.dumps(message("Where \ud800 was Harbor Labs founded?"))))
    assert error["param"] == "messages" and "UTF-8" in error["message"]
    parts = [{"type": "text", "text": "Where was it \udfff founded?"}]
    assert_4xx(post(url, json.dumps(message(parts))))


def test_a_lone_surrogate_in_the_model_name_is_4xx(start):
    url = start()
    response = post(url, json.dumps({**message(QUESTION), "model": "rag-k5\ud800"}))
    assert 400 <= response.status_code < 500, response.text
    assert_4xx(response, response.status_code)


@pytest.mark.parametrize("body", [
    b"\xff\xfe{\"model\": \"rag-k5\"}",                                        # not UTF-8
    "[1, 2]", "42", "null", "\"text\"",                                        # not an object
    '{"model": "rag-k5", "messages": "hello"}',                                # wrong types
    '{"model": "rag-k5", "messages": [{"role": "user", "content": 7}]}',
    '{"model": "rag-k5", "messages": [{"role": "king", "content": "hi"}]}',
    '{"model": ["rag-k5"], "messages": [{"role": "user", "content": "hi"}]}',
    '{"model": "rag-k5", "messages": [{"role": "user", "content": "hi"}], "stream": "perhaps"}',
    '{"model": "rag-k5", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}',
    '{"model": "rag-k5", "messages": [{"role": "user", "content": "hi"}], "stream_options": 3}',
    '{"model": "rag-k5", "messages": [{"role": "user", "content": [{"text": "no type"}]}]}',
    '{"model": "rag-k5", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -5}',  # out of range
    '{"model": "rag-k5", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}',
    '{"model": "rag-k5", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e400}',
    '{"model": "rag-k5", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1' + "0" * 40 + "}",
    '{"model": "rag-k5", "messages": [{"role": "user", "content": "hi"}], "seed": 1' + "0" * 40 + "}",
    '{"model": "rag-k5", "messages": [{"role": "user", "content": "hi"}], "seed": -1' + "0" * 40 + "}",
    '{"model": "rag-k5", "messages": [{"role": "user", "content": "hi"}], "temperature": NaN}',
    '{"model": "rag-k5", "messages": [{"role": "user", "content": "hi"}], "top_p": Infinity}',
    '{"model": "rag-k5", "messages": [{"role": "user", "content": "hi"}], "temperature": 1e400}',
    '{"model": "rag-k5", "messages": [{"role": "user", "content": "hi"}], "n": 1' + "0" * 40 + "}",
    '{"model": "rag:k=1' + "0" * 40 + '", "messages": [{"role": "user", "content": "hi"}]}',
    '{"model": "rag:k=-3", "messages": [{"role": "user", "content": "hi"}]}',
    '{"model": "rag:k=nan", "messages": [{"role": "user", "content": "hi"}]}',
    '{"model": "rag:max_context=inf", "messages": [{"role": "user", "content": "hi"}]}',
    '{"model": "none@fake:ok?n_ctx=abc", "messages": [{"role": "user", "content": "hi"}]}',  # bad spec options
    '{"model": "none@fake:ok?n_ctx=-5", "messages": [{"role": "user", "content": "hi"}]}',
    '{"model": "rag-k5", "messages": [{"role": "user", "content": "hi"}]',     # cut short
])
def test_malformed_requests_are_400_not_500(start, body):
    url = start()
    status = post(url, body).status_code
    assert 400 <= status < 500, (status, body)
    assert_4xx(post(url, body), status)


def test_a_seed_and_large_in_range_values_still_answer(start):
    url = start()
    body = {**message(QUESTION), "seed": 2**40, "max_tokens": 16, "temperature": 0}
    response = post(url, json.dumps(body))
    assert response.status_code == 200, response.text


def test_without_an_api_key_only_loopback_host_names_are_served(start):
    url = start()
    port = url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", "[::1]:" + port, "LOCALHOST"):
        assert httpx.get(f"{url}/health", headers={"host": host}).status_code == 200, host
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "localhost.evil.example"):
        response = httpx.get(f"{url}/health", headers={"host": host})
        error = assert_4xx(response, 400)
        assert error["code"] == "host_not_allowed" and "--allowed-host" in error["message"], host
        rebound = post(url, json.dumps(message(QUESTION)), headers={"host": host})
        assert rebound.status_code == 400 and rebound.json()["error"]["code"] == "host_not_allowed"


def test_allowed_hosts_are_served_and_an_api_key_lifts_the_host_rule(start):
    url = start(allowed_hosts=["llm.lan"])
    assert httpx.get(f"{url}/health", headers={"host": "llm.lan:8000"}).status_code == 200
    assert httpx.get(f"{url}/health", headers={"host": "localhost"}).status_code == 200
    assert httpx.get(f"{url}/health", headers={"host": "evil.example"}).status_code == 400
    keyed = start(api_key="k" * 24)
    assert httpx.get(f"{keyed}/health", headers={"host": "llm.example.com"}).status_code == 200


def test_allowed_hosts_setting_rejects_bad_names():
    from llmopt.errors import ConfigError
    from llmopt.serve.config import make_config

    for bad in ([""], ["http://x.lan"], ["x.lan/path"]):
        with pytest.raises(ConfigError, match="allowed_hosts"):
            make_config(None, allowed_hosts=bad)


def test_a_disallowed_model_403_names_the_rule_not_the_configuration(start):
    url = start(allow_models=["fake:*", "openai:secret-internal-model@http://10.0.0.7:9000/v1"])
    response = post(url, json.dumps({**message(QUESTION), "model": "rag-k5@llamacpp:other"}))
    error = assert_4xx(response, 403)
    assert error["code"] == "model_not_allowed" and "--allow-model" in error["message"]
    assert "secret-internal-model" not in response.text and "10.0.0.7" not in response.text
    assert "fake:" not in response.text


def test_step_tokens_in_a_model_name_obey_the_max_tokens_limit(start):
    """IterDRAG's per-step budget is generated tokens too: it may not exceed what max_tokens may ask for."""
    url = start()
    error = assert_4xx(post(url, json.dumps({**message(QUESTION), "model": "iterdrag:step_tokens=100000"})))
    assert error["code"] == "limit_exceeded" and "step_tokens" in error["message"]
    assert post(url, json.dumps({**message(QUESTION), "model": "iterdrag:step_tokens=64"})).status_code == 200
