"""Prefix caching that survives interleaving.

A local engine reuses the key/value cache of its *previous* prompt only. With two demonstration sets alternating,
or judge calls between questions, the shared prefix is recomputed every time. This cache keeps snapshots of the
engine's state at the end of each shared prefix (instructions + demonstrations, see layout.py), keyed by its
tokens; before a call it restores the snapshot sharing the longest prefix with the prompt, so the engine only
computes the rest.

Engines plug in through a small adapter (held tokens, prefill, save, load, reset): llama.cpp (sequence-state
save/load through the `Llama` object the llamacpp backend exposes as `.llama`), transformers (a
`past_key_values` cache of the prefix) and the fake test backend. Other backends run uncached; vLLM caches
prefixes server-side.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ..models.base import LLM, common_prefix_length
from ..types import Generation
from .layout import Prompt


class EngineState(Protocol):
    """What the cache needs from an engine."""

    def held_tokens(self) -> Sequence[int]: ...  # the tokens whose key/value the engine holds now, in order
    def prefill(self, tokens: Sequence[int]) -> None: ...  # hold exactly `tokens`, computing only what is missing
    def save(self) -> tuple[Any, int]: ...  # a snapshot of what is held, and its size in bytes
    def load(self, snapshot: Any) -> None: ...
    def reset(self) -> None: ...  # hold nothing (the benchmark's no-reuse baseline)
    def reused(self, held: int, prompt_tokens: int) -> int: ...  # prompt tokens a call will not recompute


@dataclass
class Entry:
    tokens: tuple[int, ...]
    snapshot: Any
    nbytes: int


class PrefixCache:
    """Snapshots of shared prompt prefixes, least recently used evicted first.

    min_tokens: shorter shared prefixes are not worth a snapshot. capacity_bytes and max_entries bound memory
    (a llama.cpp snapshot of SmolLM2-135M costs about 23 KB per token)."""

    def __init__(self, capacity_bytes: int = 1 << 30, max_entries: int = 16, min_tokens: int = 32):
        self.capacity_bytes = capacity_bytes
        self.max_entries = max_entries
        self.min_tokens = min_tokens
        self.entries: OrderedDict[tuple[int, ...], Entry] = OrderedDict()
        self.hits = 0
        self.saves = 0

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self.entries.values())

    def clear(self) -> None:
        self.entries.clear()

    def generate(self, llm: LLM, prompt: Prompt, **params: Any) -> Generation:
        """llm.generate(prompt.text), restoring or saving the shared prefix's state around it."""
        state = engine_state(llm)
        if state is None:
            return llm.generate(prompt.text, **params)
        with llm._lock:  # the engine's state must not change between restoring and generating
            started = time.perf_counter()
            tokens = llm.tokenize(prompt.text)
            self._restore(state, tokens)
            held = common_prefix_length(state.held_tokens(), tokens)  # reused: computed before this call
            shared = shared_token_count(llm, prompt, tokens)
            if self.min_tokens <= shared < len(tokens) and tuple(tokens[:shared]) not in self.entries:
                if held < shared:
                    state.prefill(tokens[:shared])  # computes only tokens[held:shared]
                self._store(tuple(tokens[:shared]), state)  # what the engine holds, found by its shared prefix
            prepared_s = time.perf_counter() - started
            run_here = getattr(state, "generate", None)  # engines that keep no state run the call themselves
            gen = run_here(prompt.text, tokens, **params) if run_here else llm.generate(prompt.text, **params)
        return _account(gen, state.reused(held, len(tokens)), prepared_s)

    def _restore(self, state: EngineState, tokens: Sequence[int]) -> None:
        """Load the snapshot whose key (a shared prefix) is the longest prefix of `tokens`, when it beats what
        the engine holds already. A snapshot may hold more than its key; the engine keeps what matches."""
        best, best_len = None, common_prefix_length(state.held_tokens(), tokens)
        for key, entry in self.entries.items():
            if len(key) > best_len and tuple(tokens[: len(key)]) == key:
                best, best_len = entry, len(key)
        if best is not None:
            state.load(best.snapshot)
            self.entries.move_to_end(best.tokens)
            self.hits += 1

    def _store(self, key: tuple[int, ...], state: EngineState) -> None:
        snapshot, nbytes = state.save()
        if nbytes > self.capacity_bytes:
            return
        self.entries[key] = Entry(key, snapshot, nbytes)
        self.saves += 1
        while len(self.entries) > self.max_entries or self.nbytes > self.capacity_bytes:
            self.entries.popitem(last=False)


def shared_token_count(llm: LLM, prompt: Prompt, tokens: Sequence[int]) -> int:
    """How many of the prompt's tokens belong to its shared part (a token merging across the boundary does not)."""
    if prompt.shared_chars <= 0:
        return 0
    return common_prefix_length(llm.tokenize(prompt.text[: prompt.shared_chars]), tokens)


def _account(gen: Generation, reused: int, prepared_s: float) -> Generation:
    """The call's own figures, corrected: what the cache served is cached; computing the prefix is this call's
    time (and so its cost)."""
    from ..pricing import cost_of

    gen = replace(gen, cached_prompt_tokens=reused, latency_s=gen.latency_s + prepared_s,
                  compute_s=gen.compute_s + prepared_s, cost_usd=0.0)
    if getattr(gen, "prefill_s", None) is not None:
        gen.prefill_s += prepared_s
    gen.cost_usd = cost_of(gen)
    return gen


# -- engine adapters -----------------------------------------------------------------------------------------
def engine_state(llm: LLM) -> EngineState | None:
    """The adapter for a loaded model's engine, or None when its engine keeps no local state."""
    cached = getattr(llm, "_llmopt_engine_state", None)
    if cached is not None:
        return cached
    state: EngineState | None = None
    if llm.engine == "fake":
        state = FakeState(llm)
    elif llm.engine == "llamacpp" and getattr(llm, "llama", None) is not None:
        state = LlamaCppState(llm.llama)
    elif llm.engine == "hf":
        from .hf_cache import HFState

        state = HFState(llm)
    if state is not None:
        llm._llmopt_engine_state = state
    return state


class FakeState:
    """The fake backend 'holds' its previous prompt's tokens, like an engine's built-in reuse."""

    def __init__(self, llm: Any):
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


class LlamaCppState:
    """llama.cpp: the key/value cells of sequence 0 (not the logits, which are recomputed from the last token),
    with the token ids they hold."""

    def __init__(self, llama: Any):
        self.llama = llama

    def held_tokens(self) -> Sequence[int]:
        return self.llama.input_ids[: self.llama.n_tokens].tolist()

    def prefill(self, tokens: Sequence[int]) -> None:
        held = common_prefix_length(self.held_tokens(), tokens)
        self.llama.n_tokens = held
        self.llama._ctx.kv_cache_seq_rm(0, held, -1)
        if held < len(tokens):
            self.llama.eval(list(tokens[held:]))
        self.llama._requires_eval = True  # the logits are not those of `tokens`' last position

    def save(self) -> tuple[Any, int]:
        import ctypes

        import llama_cpp

        ctx = self.llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()  # kept as is: slicing a ctypes array would build a list of ints
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        ids = self.llama.input_ids[: self.llama.n_tokens].copy()
        return (buffer, written, ids), written + ids.nbytes

    def load(self, snapshot: Any) -> None:
        import llama_cpp

        buffer, written, ids = snapshot
        if llama_cpp.llama_state_seq_set_data(self.llama._ctx.ctx, buffer, written, 0) != written:
            self.reset()  # a failed restore leaves nothing half-loaded: the call recomputes everything
            return
        self.llama.input_ids[: len(ids)] = ids
        self.llama.n_tokens = len(ids)
        self.llama._requires_eval = True

    def reset(self) -> None:
        self.llama.reset()
        self.llama._ctx.kv_cache_seq_rm(0, 0, -1)

    def reused(self, held: int, prompt_tokens: int) -> int:
        return min(held, prompt_tokens - 1)  # llama.cpp re-evaluates the last token to get fresh logits
