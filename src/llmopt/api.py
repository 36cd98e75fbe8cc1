"""The core Python API under the CLI: generate text with any model spec."""

from __future__ import annotations

from typing import Any

from .models.base import Stream
from .models.registry import get_model, list_models
from .types import Generation

__all__ = ["generate", "stream", "get_model", "list_models"]


def _messages(prompt: str, system: str | None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": prompt}]


def generate(prompt: str, *, model: str = "default", raw: bool = False, system: str | None = None,
             **params: Any) -> Generation:
    """Generate a completion. By default the prompt is a user message sent through the model's chat template;
    raw=True sends it as-is. params: max_tokens, temperature, top_p, seed, stop, logprobs, truncate."""
    llm = get_model(model)
    if raw:
        return llm.generate(prompt, **params)
    if params.get("truncate"):
        return llm.generate(llm.apply_chat_template(_messages(prompt, system)), **params)
    return llm.chat(_messages(prompt, system), **params)


def stream(prompt: str, *, model: str = "default", raw: bool = False, system: str | None = None,
           **params: Any) -> Stream:
    """Like generate, but iterate for text deltas; `.result` holds the Generation afterwards."""
    llm = get_model(model)
    if raw:
        return llm.stream(prompt, **params)
    return llm.stream_chat(_messages(prompt, system), **params)
