"""Prefix caching for the transformers backend: the key/value cache (`past_key_values`) of a token prefix,
handed to `model.generate`, which then computes only the rest of the prompt.

transformers keeps no cache between calls, so this adapter also runs the call itself (through the backend's own
context check, pricing and run log) and keeps the cache the call produced, like an engine's built-in reuse of its
previous prompt.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import Any

from ..models.base import GenParams, common_prefix_length
from ..types import Generation


class HFState:
    def __init__(self, llm: Any):
        self.llm = llm
        self.tokens: list[int] = []
        self.cache: Any = None

    def held_tokens(self) -> Sequence[int]:
        return self.tokens

    def _prefix_cache(self, tokens: Sequence[int]) -> tuple[Any, int]:
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

        cache, held = self._prefix_cache(tokens)
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

    def generate(self, prompt: str, tokens: Sequence[int], **params: Any) -> Generation:
        p = GenParams.make(**params)
        prompt, p = self.llm._fit(prompt, p)
        return self.llm._run(lambda: self._complete(list(tokens), p), prompt)

    def _complete(self, tokens: list[int], p: GenParams) -> Generation:
        import torch

        llm = self.llm
        cache, held = self._prefix_cache(tokens)
        kwargs = llm._gen_kwargs(p)
        if cache is not None:
            kwargs["past_key_values"] = cache
        ids = torch.tensor([tokens], device=llm.device)
        started = time.perf_counter()
        with torch.inference_mode():
            out = llm.model.generate(ids, attention_mask=torch.ones_like(ids), output_scores=p.logprobs,
                                     return_dict_in_generate=True, **kwargs)
        seconds = time.perf_counter() - started
        new_ids = out.sequences[0, len(tokens):].tolist()
        eos = llm.tokenizer.eos_token_id
        if eos in new_ids:
            new_ids = new_ids[: new_ids.index(eos) + 1]
        self._keep(out, tokens + new_ids)
        text, finish = llm._finish(new_ids, p)
        logprobs = None
        if p.logprobs:
            logprobs = llm.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[
                0, : len(new_ids)].tolist()
        return Generation(text=text, model=llm.model_id, engine=llm.engine, prompt_tokens=len(tokens),
                          cached_prompt_tokens=held, completion_tokens=len(new_ids), latency_s=seconds,
                          compute_s=seconds, finish_reason=finish, token_logprobs=logprobs,
                          tokens=[llm.tokenizer.decode([t]) for t in new_ids] if logprobs is not None else None)

    def _keep(self, out: Any, sequence: list[int]) -> None:
        """Hold the cache the call produced (prompt and answer), so the next call that extends it reuses it."""
        cache = getattr(out, "past_key_values", None)
        if cache is None or not hasattr(cache, "get_seq_length"):
            self.reset()
            return
        self.tokens, self.cache = sequence[: cache.get_seq_length()], cache
