"""The openai backend against a real OpenAI-compatible server (llama-cpp-python's server serving the embedded
GGUF on 127.0.0.1), cross-checked with the official openai client; retry and error behaviour against small
scripted HTTP servers."""

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from llmopt.errors import EndpointError
from llmopt.models.openai_http import OpenAIHTTP
from llmopt.models.packs import resolve_gguf
from llmopt.models.registry import get_model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("server") / "server.log", "w+")  # a pipe nobody reads would block it
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(resolve_gguf("smollm2-135m")),
         "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(log.read()[-2000:])
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("llama_cpp.server did not start in 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.mark.integration
class TestRealServer:
    def test_chat_completion_and_usage(self, llama_server):
        llm = get_model(f"openai:smollm2@{llama_server}", cache=False)
        gen = llm.chat([{"role": "user", "content": "Say hello."}], max_tokens=8)
        assert gen.text and gen.prompt_tokens > 0 and 0 < gen.completion_tokens <= 8
        assert gen.model == f"openai:smollm2@{llama_server}" and gen.engine == "openai"

    def test_completion_logprobs_and_stop(self, llama_server):
        llm = get_model(f"openai:smollm2@{llama_server}", cache=False)
        gen = llm.generate("1, 2, 3, 4,", max_tokens=12, logprobs=True, stop=[" 8"])
        assert " 8" not in gen.text and gen.token_logprobs and all(lp <= 0 for lp in gen.token_logprobs)

    def test_stream_matches_text(self, llama_server):
        # a continuation the model is sure of: greedy answers do not depend on the server's cache state
        llm = get_model(f"openai:smollm2@{llama_server}", cache=False)
        full = llm.generate("1, 2, 3, 4, 5,", max_tokens=8)
        stream = llm.stream("1, 2, 3, 4, 5,", max_tokens=8)
        assert "".join(stream) == stream.result.text == full.text and "6" in full.text
        chat = llm.stream_chat([{"role": "user", "content": "Name a colour."}], max_tokens=8)
        assert "".join(chat) == chat.result.text and chat.result.text

    def test_batch_with_bounded_concurrency(self, llama_server):
        llm = get_model(f"openai:smollm2?concurrency=2@{llama_server}", cache=False)
        gens = llm.generate_batch([f"Count: {i}," for i in range(4)], max_tokens=3)
        assert len(gens) == 4 and all(g.completion_tokens > 0 for g in gens)

    def test_official_client_agrees(self, llama_server):
        from openai import OpenAI

        client = OpenAI(base_url=llama_server, api_key="none")
        llm = get_model(f"openai:smollm2@{llama_server}", cache=False)
        theirs = client.completions.create(model="smollm2", prompt="1, 2, 3, 4, 5,", max_tokens=8, temperature=0)
        ours = llm.generate("1, 2, 3, 4, 5,", max_tokens=8)
        assert theirs.choices[0].text == ours.text
        assert (theirs.usage.prompt_tokens, theirs.usage.completion_tokens) == (ours.prompt_tokens, ours.completion_tokens)
        messages = [{"role": "user", "content": "What is 2 + 2?"}]
        chat = client.chat.completions.create(model="smollm2", messages=messages, max_tokens=10, temperature=0)
        assert chat.usage.prompt_tokens == llm.chat(messages, max_tokens=10).prompt_tokens
        chunks = client.chat.completions.create(model="smollm2", messages=messages, max_tokens=10, temperature=0,
                                                stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()


class Scripted(BaseHTTPRequestHandler):
    """Answers from a class-level script of (status, body, headers); the last entry repeats."""

    script: list = []
    hits: list = []

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        status, body, headers = self.script[min(len(self.hits), len(self.script) - 1)]
        self.hits.append(time.time())
        payload = json.dumps(body).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted():
    def start(script):
        handler = type("H", (Scripted,), {"script": script, "hits": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1", handler

    servers = []
    yield start
    for s in servers:
        s.shutdown()


OK = {"choices": [{"text": "fine", "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


def test_retries_429_and_5xx_then_succeeds(scripted):
    url, handler = scripted([(429, {"error": {"message": "slow down"}}, {"retry-after": "0.1"}),
                             (503, {"error": "busy"}, {}), (200, OK, {})])
    gen = OpenAIHTTP("m", url, backoff_s=0.05).generate("hi")
    assert gen.text == "fine" and len(handler.hits) == 3 and gen.prompt_tokens == 3


def test_gives_up_after_bounded_retries(scripted):
    url, handler = scripted([(500, {"error": {"message": "exploded"}}, {})])
    with pytest.raises(EndpointError, match="after 3 attempts.*exploded"):
        OpenAIHTTP("m", url, retries=2, backoff_s=0.01).generate("hi")
    assert len(handler.hits) == 3


def test_client_errors_are_not_retried_and_say_the_fix(scripted):
    url, handler = scripted([(401, {"error": {"message": "bad key"}}, {})])
    with pytest.raises(EndpointError, match="OPENAI_API_KEY"):
        OpenAIHTTP("m", url, backoff_s=0.01).generate("hi")
    assert len(handler.hits) == 1


def test_unreachable_endpoint_fails_fast_without_hanging():
    url = f"http://127.0.0.1:{free_port()}/v1"
    started = time.time()
    with pytest.raises(EndpointError, match="check that the server is running"):
        OpenAIHTTP("m", url, retries=2, backoff_s=0.05, timeout=2).generate("hi")
    assert time.time() - started < 20  # bounded, not a hang (generous: this is a liveness check, not a benchmark)


def test_missing_base_url_names_the_fix(monkeypatch):
    from llmopt.errors import ConfigError

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("LLMOPT_OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_BASE_URL"):
        get_model("openai:some-model", cache=False)


def test_a_key_in_the_endpoint_url_stays_out_of_ids_and_errors(scripted):
    """The model id goes into results, reports and the run log; errors into the run log."""
    from llmopt.models.embed import OpenAIEmbedder

    url, _ = scripted([(401, {"error": {"message": "Incorrect API key provided: sk-abcdefghijklmnopqrstu"}}, {})])
    llm = OpenAIHTTP("m", f"{url}?api_key=sekrit-K9", backoff_s=0.01)
    with pytest.raises(EndpointError) as info:
        llm.generate("hi")
    embedder = OpenAIEmbedder("e", f"http://user:sekrit-P9@127.0.0.1:{free_port()}/v1", timeout=1, dim=8)
    assert "api_key=***" in llm.model_id and "user:***@" in embedder.model_id
    for text in (llm.model_id, str(info.value), embedder.model_id):
        assert "sekrit" not in text and "sk-abcdefghijklmnopqrstu" not in text
