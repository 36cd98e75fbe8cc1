"""Render a model's Jinja chat template the way transformers does (sandboxed, trim_blocks, lstrip_blocks)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any


@functools.lru_cache(maxsize=8)
def _compile(source: str):
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source)


def render(source: str, messages: Sequence[dict[str, Any]], **variables: Any) -> str:
    return _compile(source).render(messages=list(messages), add_generation_prompt=True, **variables)
