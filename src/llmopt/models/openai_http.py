"""Any OpenAI-compatible HTTP endpoint (vLLM, SGLang, llama.cpp server, Ollama, OpenAI): the scale-out path.

Spec: openai:MODEL@BASE_URL (the URL falls back to OPENAI_BASE_URL). Key: LLMOPT_OPENAI_API_KEY or OPENAI_API_KEY.
Options: ?timeout=60&retries=3&concurrency=8&n_ctx=32768.

Bounded concurrency for batches, a timeout per request, retries with exponential backoff on connection errors,
429 and 5xx (honouring Retry-After), and one clear error otherwise.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from ..errors import ConfigError, EndpointError
from ..redact import redact
from ..types import Generation
from .base import LLM, GenParams, Message
from .spec import ModelSpec

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIHTTP(LLM):
    engine = "openai"
    supports_logprobs = True
    is_local = False  # priced per token (prices.yaml "api")
    thread_safe = True  # requests may overlap; the server does the batching
    takes_url = True

    def __init__(self, model: str, base_url: str, api_key: str | None = None, *, timeout: float = 60.0,
                 retries: int = 3, concurrency: int = 8, context_length: int = 32768, backoff_s: float = 0.5):
        super().__init__(model, context_length)
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.concurrency = concurrency
        self.backoff_s = backoff_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers,
                                    timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))
        self.shown_url = redact(self.base_url)  # what ids and messages show: a key in the URL is masked

    @classmethod
    def load(cls, spec: ModelSpec) -> "OpenAIHTTP":
        return load(spec)

    @property
    def model_id(self) -> str:
        return f"openai:{self.name}@{self.shown_url}"

    # tokens: the server counts them exactly (usage); locally we only need a conservative estimate
    def tokenize(self, text: str) -> list[int]:
        return [0] * math.ceil(len(text) / 3)

    def _fit(self, prompt: str, p: GenParams) -> tuple[str, GenParams]:
        return prompt, p  # the server knows its context window and answers 400 when it is exceeded

    # -- HTTP ---------------------------------------------------------------------------------------------
    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._request(path, body, stream=False)
        try:
            return response.json()
        except json.JSONDecodeError as exc:
            raise EndpointError(f"{self.shown_url}{path} answered with non-JSON ({response.text[:120]!r})") from exc

    def _request(self, path: str, body: dict[str, Any], stream: bool) -> httpx.Response:
        last, last_response = "", None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self._delay(attempt, last_response))
            last_response = None
            try:
                request = self._client.build_request("POST", path, json=body)
                response = self._client.send(request, stream=stream)
            except (httpx.TransportError,) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code < 400:
                return response
            if stream:
                response.read()
            if response.status_code in RETRY_STATUS:
                last, last_response = f"HTTP {response.status_code}: {_error_message(response)}", response
                continue
            raise self._client_error(path, response)
        raise EndpointError(
            f"{self.shown_url}{path} failed after {self.retries + 1} attempts ({last}); "
            "check that the server is running and the URL (openai:MODEL@URL or OPENAI_BASE_URL) is right"
        )

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None and response.headers.get("retry-after"):
            try:
                return min(30.0, float(response.headers["retry-after"]))
            except ValueError:
                pass
        return min(8.0, self.backoff_s * 2 ** (attempt - 1))

    def _client_error(self, path: str, response: httpx.Response) -> EndpointError:
        message = _error_message(response)
        if response.status_code in (401, 403):
            return EndpointError(f"{self.shown_url} refused the API key (HTTP {response.status_code}: {message}); "
                                 "set LLMOPT_OPENAI_API_KEY or OPENAI_API_KEY")
        if response.status_code == 404:
            return EndpointError(f"{self.shown_url}{path}: not found (HTTP 404: {message}); check the model name "
                                 f"'{self.name}' and that the URL ends in /v1")
        if "context" in message.lower() and "length" in message.lower():
            return EndpointError(f"prompt too long for {self.model_id}: {message}")
        return EndpointError(f"{self.shown_url}{path} answered HTTP {response.status_code}: {message}")

    # -- completion and chat ------------------------------------------------------------------------------
    def _body(self, params: GenParams) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.name, "max_tokens": params.max_tokens,
                                "temperature": params.temperature, "top_p": params.top_p}
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        return body

    def _complete(self, prompt: str, params: GenParams) -> Generation:
        body = {**self._body(params), "prompt": prompt}
        if params.logprobs:
            body["logprobs"] = 1
        started = time.perf_counter()
        data = self._post("/completions", body)
        choice = data["choices"][0]
        logprobs = choice.get("logprobs") or {}
        return self._generation(data, choice.get("text", ""), choice, started,
                                logprobs.get("token_logprobs"), logprobs.get("tokens"))

    def _chat(self, messages: Sequence[Message], params: GenParams) -> Generation:
        body = {**self._body(params), "messages": list(messages)}
        if params.logprobs:
            body["logprobs"] = True
        started = time.perf_counter()
        data = self._post("/chat/completions", body)
        choice = data["choices"][0]
        content = (choice.get("logprobs") or {}).get("content") or []
        return self._generation(data, choice["message"].get("content") or "", choice, started,
                                [c["logprob"] for c in content] or None, [c["token"] for c in content] or None)

    def _generation(self, data, text, choice, started, token_logprobs, tokens) -> Generation:
        latency = time.perf_counter() - started
        usage = data.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        return Generation(
            text=text, model=self.model_id, engine=self.engine,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            cached_prompt_tokens=int(details.get("cached_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            latency_s=latency, compute_s=latency, finish_reason=choice.get("finish_reason") or "stop",
            token_logprobs=token_logprobs, tokens=tokens,
        )

    # -- streaming ----------------------------------------------------------------------------------------
    def _stream(self, prompt: str, params: GenParams) -> Iterator[str | Generation]:
        return self._sse("/completions", {**self._body(params), "prompt": prompt},
                         lambda choice: choice.get("text") or "")

    def _stream_chat(self, messages: Sequence[Message], params: GenParams) -> Iterator[str | Generation]:
        return self._sse("/chat/completions", {**self._body(params), "messages": list(messages)},
                         lambda choice: (choice.get("delta") or {}).get("content") or "")

    def _sse(self, path, body, delta_of) -> Iterator[str | Generation]:
        body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        started = time.perf_counter()
        response = self._request(path, body, stream=True)
        parts, finish, usage = [], "stop", {}
        try:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                event = json.loads(payload)
                usage = event.get("usage") or usage
                for choice in event.get("choices") or []:
                    delta = delta_of(choice)
                    if delta:
                        parts.append(delta)
                        yield delta
                    finish = choice.get("finish_reason") or finish
        finally:
            response.close()
        yield self._generation({"usage": usage}, "".join(parts), {"finish_reason": finish}, started, None, None)

    @property
    def batch_width(self) -> int:
        return max(1, self.concurrency)  # requests may overlap; the server batches them

    def close(self) -> None:
        self._client.close()


def _error_message(response: httpx.Response) -> str:
    """The server's own message, with any key it echoes masked."""
    return redact(_server_message(response))


def _server_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except (json.JSONDecodeError, ValueError):
        return response.text[:200].strip() or response.reason_phrase
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    if error:
        return str(error)[:300]
    return str(data.get("detail") or data)[:300] if isinstance(data, dict) else str(data)[:300]


def load(spec: ModelSpec) -> OpenAIHTTP:
    base_url = spec.base_url or os.environ.get("LLMOPT_OPENAI_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        raise ConfigError(f"'{spec}': no endpoint; write openai:{spec.name}@http://HOST:PORT/v1 or set OPENAI_BASE_URL")
    key = os.environ.get("LLMOPT_OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY")
    return OpenAIHTTP(spec.name, base_url, key, timeout=spec.number("timeout", 60.0, 0.001, 86400, whole=False),
                      retries=spec.number("retries", 3, 0, 100), concurrency=spec.number("concurrency", 8, 1, 1024),
                      context_length=spec.number("n_ctx", 32768, 1, 2**24))
