"""A scripted fake backend for control-flow tests: deterministic, instant, and it records every prompt.

    FakeLLM(["first answer", "second answer"])     replies in turn (the last one repeats)
    FakeLLM(lambda prompt, params: "...")          replies computed from the prompt
    get_model("fake:echo")                          echoes the last line of the prompt

Tokens are whitespace-separated words; cached_prompt_tokens is the prefix shared with the previous prompt, like
an engine's built-in reuse of its last key/value cache.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from ..types import Generation
from .base import LLM, GenParams, common_prefix_length
from .spec import ModelSpec

Script = Sequence[str] | Callable[[str, GenParams], str]

_WORD = re.compile(r"\S+|\s+")


class FakeState:
    """The fake backend 'holds' its previous prompt's tokens, like an engine's built-in reuse."""

    def __init__(self, llm: "FakeLLM"):
        self.llm = llm

    def held_tokens(self) -> Sequence[int]:
        return self.llm._previous

    def prefill(self, tokens: Sequence[int]) -> None:
        self.llm._previous = list(tokens)

    def save(self) -> tuple[Any, int]:
        return list(self.llm._previous), 8 * len(self.llm._previous)

    def load(self, snapshot: Any) -> None:
        self.llm._previous = list(snapshot)

    def reset(self) -> None:
        self.llm._previous = []

    def reused(self, held: int, prompt_tokens: int) -> int:
        return held


class FakeLLM(LLM):
    engine = "fake"
    supports_logprobs = True
    state_adapter = FakeState

    def __init__(self, script: Script = ("ok",), name: str = "scripted", context_length: int = 8192,
                 seconds_per_token: float = 0.0):
        super().__init__(name, context_length)
        self.script = script
        self.seconds_per_token = seconds_per_token  # simulated compute, so cost and latency are not all zero
        self.calls: list[tuple[str, GenParams]] = []
        self._vocab: dict[str, int] = {}
        self._words: list[str] = []
        self._previous: list[int] = []

    def tokenize(self, text: str) -> list[int]:
        ids = []
        for piece in _WORD.findall(text):
            if piece not in self._vocab:
                self._vocab[piece] = len(self._words)
                self._words.append(piece)
            ids.append(self._vocab[piece])
        return ids

    def detokenize(self, tokens: list[int]) -> str:
        return "".join(self._words[t] for t in tokens)

    def _reply(self, prompt: str, params: GenParams) -> str:
        if callable(self.script):
            return self.script(prompt, params)
        turn = min(len(self.calls) - 1, len(self.script) - 1)
        return self.script[turn]

    def _complete(self, prompt: str, params: GenParams) -> Generation:
        self.calls.append((prompt, params))
        text = self._reply(prompt, params)
        for stop in params.stop:
            if stop in text:
                text = text[: text.index(stop)]
        ids = self.tokenize(prompt)
        cached = common_prefix_length(self._previous, ids)
        self._previous = ids
        out = [p for p in _WORD.findall(text) if not p.isspace()]
        finish = "stop"
        if len(out) > params.max_tokens:
            out, finish = out[: params.max_tokens], "length"
            text = " ".join(out)
        seconds = self.seconds_per_token * (len(ids) - cached + len(out))
        return Generation(
            text=text, model=self.model_id, engine=self.engine, prompt_tokens=len(ids),
            cached_prompt_tokens=cached, completion_tokens=len(out), latency_s=seconds, compute_s=seconds,
            finish_reason=finish,
            token_logprobs=[-0.1 * (i + 1) / len(out) for i in range(len(out))] if params.logprobs else None,
            tokens=out if params.logprobs else None,
        )

    @classmethod
    def load(cls, spec: ModelSpec) -> "FakeLLM":
        return load(spec)


SCRIPTS: dict[str, Script] = {
    "echo": lambda prompt, params: prompt.strip().splitlines()[-1] if prompt.strip() else "",
    "ok": ("ok",),
}


def load(spec: ModelSpec) -> FakeLLM:
    script = SCRIPTS.get(spec.name, (spec.name,))
    return FakeLLM(script, name=spec.name, context_length=spec.number("n_ctx", 8192, 1, 2**24))


class BatchingFakeLLM(FakeLLM):
    """A fake that answers `width` calls at once, as a batching engine does (thread_safe, batch_width). With
    `together`, each call waits until that many calls overlap (a barrier that breaks after 30 s), so a test fails
    unless its caller really runs the calls side by side."""

    thread_safe = True

    def __init__(self, script: Script = ("ok",), *, width: int, together: int | None = None, **kwargs: Any):
        import threading

        super().__init__(script, **kwargs)
        self._width = width
        self._together = threading.Barrier(together, timeout=30) if together else None

    @property
    def batch_width(self) -> int:
        return self._width

    def _complete(self, prompt: str, params: GenParams) -> Generation:
        if self._together is not None:
            self._together.wait()
        return super()._complete(prompt, params)
