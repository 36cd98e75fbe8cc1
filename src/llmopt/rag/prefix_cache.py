"""Prefix caching that survives interleaving.

A local engine reuses the key/value cache of its *previous* prompt only. With two demonstration sets alternating,
or judge calls between questions, the shared prefix is recomputed every time. This cache keeps snapshots of the
engine's state at the end of each shared prefix (instructions + demonstrations, see layout.py), keyed by its
tokens; before a call it restores the snapshot sharing the longest prefix with the prompt, so the engine only
computes the rest.

Engines plug in through the adapter their backend declares (`LLM.engine_state()`, models/base.py EngineState:
held tokens, prefill, save, load, reset): llama.cpp's sequence state, transformers' `past_key_values`, the fake
test backend's previous prompt. Backends without one run uncached; vLLM caches prefixes server-side.

The restore (and any prefill of the shared prefix) runs inside the model call (`llm.generate(prepare=...)`), under
the engine's lock, so the call's Generation and its one run-log row carry the final usage: the tokens the cache
served count as cached, the time spent preparing as the call's latency, compute and cost.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..models.base import LLM, EngineState, common_prefix_length
from ..types import Generation
from .layout import Prompt


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
        state = llm.engine_state()
        if state is None:
            return llm.generate(prompt.text, **params)

        def prepare(tokens: list[int]) -> int:  # runs under the engine's lock, inside the call
            self._restore(state, tokens)
            held = common_prefix_length(state.held_tokens(), tokens)  # reused: computed before this call
            shared = shared_token_count(llm, prompt, tokens)
            if self.min_tokens <= shared < len(tokens) and tuple(tokens[:shared]) not in self.entries:
                if held < shared:
                    state.prefill(tokens[:shared])  # computes only tokens[held:shared]
                self._store(tuple(tokens[:shared]), state)  # what the engine holds, found by its shared prefix
            return state.reused(held, len(tokens))

        return llm.generate(prompt.text, prepare=prepare, **params)

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
