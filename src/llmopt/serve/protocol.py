"""The OpenAI chat-completions wire format: the request body, its validation against the server's limits, and
the response and stream-chunk bodies.

Extensions (fields OpenAI clients ignore and expose as extras): `choices[0].message.citations` (in a stream, on
the last chunk's delta), `usage` gains calls, effective_context_tokens, latency_s, compute_s and cost_usd, and a
top-level `llmopt` object says which strategy, parameters and engine answered (and the SQL with its rows)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .config import Limits
from .errors import bad_request
from .pipelines import Overrides, Reply


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The fields this server reads; others (user, metadata, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(..., min_length=1, max_length=1000)
    messages: list[Message]
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2, allow_inf_nan=False)
    top_p: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)
    seed: int | None = Field(None, ge=0, le=2**63 - 1)  # what every engine's generator accepts
    n: int | None = Field(None, ge=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    logprobs: bool | None = None
    tools: list[Any] | None = None

    def overrides(self) -> Overrides:
        return Overrides(self.max_completion_tokens or self.max_tokens, self.temperature, self.top_p, self.seed)


def question_of(request: ChatRequest, limits: Limits) -> str:
    """The question: the last message, which must be the user's (strategies answer one question; earlier turns
    are not part of retrieval). Raises 400 with the fix for anything this server cannot honour."""
    _check_unicode(request.model, "model")
    if not request.messages:
        raise bad_request("messages is empty: send at least one user message with the question", param="messages")
    if len(request.messages) > limits.max_messages:
        raise bad_request(f"{len(request.messages)} messages is over this server's limit of {limits.max_messages}; "
                          "send the question as the last user message", param="messages")
    if request.n not in (None, 1):
        raise bad_request("n > 1 is not supported; to sample several answers and select one, name a "
                          "self-consistency model, e.g. rag:samples=5", param="n")
    if request.tools:
        raise bad_request("tools are not supported by llmopt pipelines", param="tools")
    if request.logprobs:
        raise bad_request("logprobs are not returned by llmopt pipelines; drop logprobs", param="logprobs")
    wanted = request.max_completion_tokens or request.max_tokens
    if wanted is not None and wanted > limits.max_tokens:
        raise bad_request(f"max_tokens={wanted} is over this server's limit of {limits.max_tokens}",
                          code="limit_exceeded", param="max_tokens")
    last = request.messages[-1]
    if last.role != "user":
        raise bad_request(f"the last message is from '{last.role}'; end with the user's question", param="messages")
    text = _text(last.content)
    _check_unicode(text, "messages")
    if not text.strip():
        raise bad_request("the last user message is empty; put the question in it", param="messages")
    return text.strip()


def _check_unicode(text: str, param: str) -> None:
    """JSON's \\ud800-style escapes can carry lone surrogates, which no tokenizer (nor UTF-8) can encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise bad_request(f"{param} holds a lone surrogate escape (\\u{ord(text[exc.start]):04x}) at character "
                          f"{exc.start}, which is not text; send valid UTF-8 (pair each surrogate escape)",
                          param=param) from None


def _text(content: str | list[ContentPart] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    other = [p.type for p in content if p.type != "text"]
    if other:
        raise bad_request(f"content parts of type {', '.join(sorted(set(other)))} are not supported; send the "
                          "question as text", param="messages")
    return "\n".join(p.text or "" for p in content)


# -- responses ------------------------------------------------------------------------------------------------
def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def usage_body(usage: dict[str, Any]) -> dict[str, Any]:
    prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": int(usage.get("cached_prompt_tokens", 0))},
            **{k: usage[k] for k in ("calls", "effective_context_tokens", "latency_s", "compute_s", "cost_usd")
               if k in usage}}


def completion_body(cid: str, model: str, reply: Reply) -> dict[str, Any]:
    message = {"role": "assistant", "content": reply.text, "citations": reply.citations}
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}],
            "usage": usage_body(reply.usage), "llmopt": reply.extra}


def chunk_body(cid: str, model: str, delta: dict[str, Any], finish_reason: str | None = None,
               **extra: Any) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}], **extra}


_PIECE = re.compile(r"\S+\s*|\s+")


def pieces(text: str) -> list[str]:
    """The answer cut into word-sized deltas (the pipeline chose the answer before anything is sent)."""
    return _PIECE.findall(text) or [""]
