"""The transformers backend's engine state for prefix caching: the key/value cache (`past_key_values`) of a token
prefix, which `HFLLM._complete_tokens` hands to `model.generate` so it computes only the rest of the prompt.

transformers keeps no cache between calls, so this adapter also keeps the cache each prefix-cached call produced,
like an engine's built-in reuse of its previous prompt.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .base import common_prefix_length

if TYPE_CHECKING:
    from .hf import HFLLM


class HFState:
    def __init__(self, llm: "HFLLM"):
        self.llm = llm
        self.tokens: list[int] = []
        self.cache: Any = None

    def held_tokens(self) -> Sequence[int]:
        return self.tokens

    def prefix_cache(self, tokens: Sequence[int]) -> tuple[Any, int]:
        """A private copy of the held cache cut to the part `tokens` shares (None, 0 when nothing is shared)."""
        held = common_prefix_length(self.tokens, tokens) if self.cache is not None else 0
        held = min(held, len(tokens) - 1)  # generate needs at least one new token to read
        if held <= 0:
            return None, 0
        cache = copy.deepcopy(self.cache)
        extra = cache.get_seq_length() - held
        if extra > 0:
            cache.crop(-extra)  # a negative count removes that many tokens, in old and new transformers alike
        return cache, held

    def prefill(self, tokens: Sequence[int]) -> None:
        import torch
        from transformers import DynamicCache

        cache, held = self.prefix_cache(tokens)
        cache = cache if cache is not None else DynamicCache()
        ids = torch.tensor([list(tokens[held:])], device=self.llm.device)
        with torch.inference_mode():
            self.llm.model(input_ids=ids, past_key_values=cache, use_cache=True)
        self.tokens, self.cache = list(tokens), cache

    def save(self) -> tuple[Any, int]:
        layers = getattr(self.cache, "layers", [])
        nbytes = sum(t.numel() * t.element_size() for layer in layers for t in (layer.keys, layer.values)
                     if t is not None)
        return (list(self.tokens), self.cache), nbytes  # never mutated: calls work on copies

    def load(self, snapshot: Any) -> None:
        self.tokens, self.cache = list(snapshot[0]), snapshot[1]

    def reset(self) -> None:
        self.tokens, self.cache = [], None

    def reused(self, held: int, prompt_tokens: int) -> int:
        return min(held, prompt_tokens - 1)

    def keep(self, out: Any, sequence: list[int]) -> None:
        """Hold the cache a call produced (prompt and answer), so the next call that extends it reuses it."""
        cache = getattr(out, "past_key_values", None)
        if cache is None or not hasattr(cache, "get_seq_length"):
            self.reset()
            return
        self.tokens, self.cache = sequence[: cache.get_seq_length()], cache
