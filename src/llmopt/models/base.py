"""The one interface every LLM backend implements.

A backend is an LLM subclass that declares what callers may rely on (`engine`, `is_local`, `thread_safe`,
`runs_packs`, `state_adapter`), loads itself from a spec (`load`), and implements `_complete` (a prompt string in,
a Generation out) and, where the engine has a native chat API, `_chat`. The public methods here add what every
call needs: the context-length check, cost (computed once), one run-log row with the call's final usage, and a
Generation that always says which engine answered.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..errors import ContextLengthError
from ..types import Generation

if TYPE_CHECKING:
    from .spec import ModelSpec

Message = dict[str, Any]  # OpenAI-style {"role": ..., "content": ...}

# prepare(prompt_tokens) -> how many of them the engine holds from before this call (a prefix cache restoring a
# snapshot); it runs under the engine's lock, and its time is part of the call's latency, compute and cost
Prepare = Callable[[list[int]], int]


class EngineState(Protocol):
    """What a prefix cache needs from an engine that keeps key/value state between calls."""

    def held_tokens(self) -> Sequence[int]: ...  # the tokens whose key/value the engine holds now, in order
    def prefill(self, tokens: Sequence[int]) -> None: ...  # hold exactly `tokens`, computing only what is missing
    def save(self) -> tuple[Any, int]: ...  # a snapshot of what is held, and its size in bytes
    def load(self, snapshot: Any) -> None: ...
    def reset(self) -> None: ...  # hold nothing
    def reused(self, held: int, prompt_tokens: int) -> int: ...  # prompt tokens a call will not recompute


@dataclass(frozen=True)
class GenParams:
    """Sampling settings for one call. temperature 0 means greedy."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: bool = False  # ask for per-token logprobs of the completion
    truncate: bool = False  # cut an over-long prompt from the left instead of raising

    def __post_init__(self) -> None:
        """Values every engine can take (a negative seed or a NaN temperature fails deep inside an engine)."""
        import math

        from ..errors import InputError

        def bad(name: str, value: Any, want: str) -> InputError:
            return InputError(f"bad generation setting {name}={value!r}; use {want}")

        if self.seed is not None and not (isinstance(self.seed, int) and 0 <= self.seed < 2**64):
            raise bad("seed", self.seed, "a whole number from 0 to 2**64-1")
        def number(value: Any) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

        if not (number(self.temperature) and self.temperature >= 0):
            raise bad("temperature", self.temperature, "a number >= 0 (0 is greedy)")
        if not (number(self.top_p) and 0 <= self.top_p <= 1):
            raise bad("top_p", self.top_p, "a number from 0 to 1")
        if not (isinstance(self.max_tokens, int) and self.max_tokens >= 0):
            raise bad("max_tokens", self.max_tokens, "a whole number >= 0")

    @classmethod
    def make(cls, **kwargs: Any) -> "GenParams":
        if kwargs.get("stop") is not None:
            kwargs["stop"] = tuple(kwargs["stop"])
        else:
            kwargs.pop("stop", None)
        return cls(**kwargs)


class Stream:
    """Iterate for text deltas; after the loop, `.result` holds the final Generation (usage included)."""

    def __init__(self, chunks: Iterator[str | Generation]):
        self._chunks = chunks
        self.result: Generation | None = None

    def __iter__(self) -> Iterator[str]:
        try:
            for item in self._chunks:
                if isinstance(item, Generation):
                    self.result = item
                else:
                    yield item
        finally:  # a reader that stops early (a client gone) ends the generation: the engine frees its slot
            self.close()

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class LLM(ABC):
    """A loaded model on one engine."""

    engine: ClassVar[str] = "?"  # the spec's engine name (`ENGINE:NAME`); the registry checks they agree
    supports_logprobs: ClassVar[bool] = False
    is_local: ClassVar[bool] = True  # runs on this machine: cost = engine-busy seconds x the compute-hour rate
    thread_safe: ClassVar[bool] = False  # False: calls are serialized (one engine, one state)
    runs_packs: ClassVar[bool] = False  # runs local model packs, so `default@ENGINE` and `PACK@ENGINE` name it
    takes_url: ClassVar[bool] = False  # specs read `ENGINE:MODEL@URL` (a remote endpoint)
    state_adapter: ClassVar[Callable[[Any], EngineState] | None] = None  # built from the model; None: no state

    def __init__(self, name: str, context_length: int):
        self.name = name
        self.context_length = context_length
        self._lock = contextlib.nullcontext() if self.thread_safe else threading.RLock()
        self._state: EngineState | None = None

    @classmethod
    def load(cls, spec: "ModelSpec") -> "LLM":
        """Load a model from a resolved spec (what `get_model` calls)."""
        raise NotImplementedError(f"{cls.__name__} does not say how to load a spec; define load(spec)")

    def engine_state(self) -> EngineState | None:
        """The adapter through which a prefix cache saves and restores this engine's key/value state; None when
        the engine keeps none here (a remote endpoint caches prefixes server-side)."""
        if self._state is None and self.state_adapter is not None:
            self._state = type(self).state_adapter(self)
        return self._state

    # -- identity -----------------------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        """The id results record, engine included, e.g. "llamacpp:smollm2-135m@q8_0"."""
        return f"{self.engine}:{self.name}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model_id} ctx={self.context_length}>"

    # -- what a backend implements ------------------------------------------------------------------------
    @abstractmethod
    def tokenize(self, text: str) -> list[int]: ...

    @abstractmethod
    def _complete(self, prompt: str, params: GenParams) -> Generation: ...

    def _stream(self, prompt: str, params: GenParams) -> Iterator[str | Generation]:
        """Engines that can stream override this; the fallback yields the whole text at once."""
        gen = self._complete(prompt, params)
        yield gen.text
        yield gen

    def apply_chat_template(self, messages: Sequence[Message]) -> str:
        """Render messages to the prompt string the model was trained on (with the generation prompt)."""
        parts = [f"<|{m['role']}|>\n{m['content']}\n" for m in messages]
        return "".join(parts) + "<|assistant|>\n"

    def _chat(self, messages: Sequence[Message], params: GenParams) -> Generation:
        return self._complete(self.apply_chat_template(messages), params)

    def close(self) -> None:
        """Release engine resources (servers, file handles)."""

    # -- the public API ----------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def generate(self, prompt: str, *, prepare: Prepare | None = None, **params: Any) -> Generation:
        """Complete a raw prompt string. `prepare(tokens)`, when given, runs first under the engine's lock (a
        prefix cache restoring state) and returns how many prompt tokens the engine holds from before the call;
        the Generation counts those as cached and the preparation's time as the call's own."""
        p = GenParams.make(**params)
        prompt, p = self._fit(prompt, p)
        if prepare is None:
            return self._run(lambda: self._complete(prompt, p), prompt)
        return self._run(lambda: self._prepared(prompt, p, prepare), prompt)

    def _prepared(self, prompt: str, p: GenParams, prepare: Prepare) -> Generation:
        started = time.perf_counter()
        tokens = self.tokenize(prompt)
        reused = prepare(tokens)
        prepared_s = time.perf_counter() - started
        gen = self._complete_tokens(prompt, tokens, p)
        return replace(gen, cached_prompt_tokens=reused, latency_s=gen.latency_s + prepared_s,
                       compute_s=gen.compute_s + prepared_s,
                       prefill_s=None if gen.prefill_s is None else gen.prefill_s + prepared_s)

    def _complete_tokens(self, prompt: str, tokens: list[int], params: GenParams) -> Generation:
        """Complete a prompt whose tokens are known, from the state `prepare` left (engines that keep no state
        between calls, like transformers, read it from their engine-state adapter)."""
        return self._complete(prompt, params)

    def chat(self, messages: Sequence[Message], **params: Any) -> Generation:
        """Answer a conversation (OpenAI-style messages) using the model's chat template."""
        p = GenParams.make(**params)
        rendered = self.apply_chat_template(messages)
        _, p = self._fit(rendered, replace(p, truncate=False))
        return self._run(lambda: self._chat(messages, p), rendered)

    @property
    def batch_width(self) -> int:
        """Calls this model answers at once (a thread-safe backend overrides it: batching slots, HTTP workers)."""
        return 1

    def generate_batch(self, prompts: Sequence[str], **params: Any) -> list[Generation]:
        """Complete several prompts, `batch_width` at a time; each is its own call (usage, run-log row)."""
        from ..concurrency import in_threads

        return in_threads(lambda prompt: self.generate(prompt, **params), prompts, self.batch_width)

    def chat_batch(self, conversations: Sequence[Sequence[Message]], **params: Any) -> list[Generation]:
        from ..concurrency import in_threads

        return in_threads(lambda messages: self.chat(messages, **params), conversations, self.batch_width)

    def stream(self, prompt: str, **params: Any) -> Stream:
        p = GenParams.make(**params)
        prompt, p = self._fit(prompt, p)
        return Stream(self._logged_stream(prompt, p, lambda: self._stream(prompt, p)))

    def stream_chat(self, messages: Sequence[Message], **params: Any) -> Stream:
        """Stream an answer to a conversation; backends with a native chat stream override _stream_chat."""
        p = GenParams.make(**params)
        rendered = self.apply_chat_template(messages)
        _, p = self._fit(rendered, replace(p, truncate=False))
        return Stream(self._logged_stream(rendered, p, lambda: self._stream_chat(messages, p)))

    def _stream_chat(self, messages: Sequence[Message], params: GenParams) -> Iterator[str | Generation]:
        return self._stream(self.apply_chat_template(messages), params)

    # -- shared machinery ---------------------------------------------------------------------------------
    def _fit(self, prompt: str, p: GenParams) -> tuple[str, GenParams]:
        """Check the prompt against the context window; never truncate silently."""
        tokens = self.tokenize(prompt)
        room = self.context_length - len(tokens)
        if room < 1:
            if not p.truncate:
                raise ContextLengthError(len(tokens), self.context_length, p.max_tokens, self.model_id)
            keep = max(1, self.context_length - p.max_tokens)
            prompt = self.detokenize(tokens[-keep:])
            room = self.context_length - keep
        if p.max_tokens > room:
            p = replace(p, max_tokens=room)
        return prompt, p

    def detokenize(self, tokens: list[int]) -> str:
        raise NotImplementedError(f"{self.engine} cannot detokenize; drop --truncate")

    def _run(self, call, prompt: str) -> Generation:
        """Make the call under the engine's lock, price it once, and log it once with its final usage."""
        from ..runlog import log_generation  # imported on first call: keeps `import llmopt.models` light

        started = time.perf_counter()
        try:
            with self._lock:
                gen = call()
        except BaseException as exc:  # KeyboardInterrupt too: the log records the failed call
            log_generation(None, model=self.model_id, engine=self.engine, prompt=prompt,
                           latency_s=time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")
            raise
        gen = self._price(gen)
        log_generation(gen, model=self.model_id, engine=self.engine, prompt=prompt)
        return gen

    def _logged_stream(self, prompt: str, p: GenParams, make) -> Iterator[str | Generation]:
        from ..runlog import log_generation

        with self._lock:
            for item in make():
                if isinstance(item, Generation):
                    item = self._price(item)
                    log_generation(item, model=self.model_id, engine=self.engine, prompt=prompt)
                yield item

    def _price(self, gen: Generation) -> Generation:
        from ..pricing import cost_of

        if not gen.cost_usd:
            gen.cost_usd = cost_of(gen, local=self.is_local)
        return gen


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens two sequences share (how much of a prompt a prefix cache can reuse)."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i

