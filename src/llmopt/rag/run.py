"""The state of answering one question: the model, the evidence, the budget, and every call made for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..models.base import LLM
from ..types import Generation, Hit
from .budget import Budget
from .demos import DemoPool, ShownDemo
from .layout import Prompt
from .prefix_cache import PrefixCache
from .prompts import PromptTemplate
from .types import Step


@dataclass(frozen=True)
class Sampling:
    """How one sample decodes."""

    index: int = 0
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    logprobs: bool = False  # the answer call returns token logprobs (logprob selection)


@dataclass
class Run:
    """What a strategy works with for one question. Strategies call `search`, `demonstrations` and `complete`;
    `complete` charges the budget before the call, so nothing is spent that was not planned."""

    question: str
    llm: LLM
    template: PromptTemplate
    k: int
    m: int
    n: int
    max_tokens: int
    step_tokens: int
    retriever: Any | None = None
    pool: DemoPool | None = None
    demo_selection: str = "fixed"
    question_id: str | None = None
    filters: dict[str, Any] | None = None
    cache: PrefixCache | None = None
    calls: list[Generation] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    _searches: dict[tuple[str, int], list[Hit]] = field(default_factory=dict)
    _token_counts: dict[str, int] = field(default_factory=dict)
    _chosen: dict[int, list] = field(default_factory=dict)

    def search(self, query: str, k: int) -> list[Hit]:
        """The k best chunks for a query, best first (cached: samples and the planner ask again)."""
        if k <= 0 or self.retriever is None:
            return []
        for (cached_query, cached_k), hits in self._searches.items():
            if cached_query == query and cached_k >= k:
                return hits[:k]
        hits = list(self.retriever.search(query, k=k, filters=self.filters))
        self._searches[(query, k)] = hits
        return hits

    def demonstrations(self, m: int, k: int) -> list[ShownDemo]:
        if self.pool is None or m <= 0:
            return []
        if m not in self._chosen:  # the planner asks many times; similarity selection embeds the question once
            self._chosen[m] = self.pool.select(self.question, m, self.demo_selection, self.question_id)
        return self.pool.shown(self._chosen[m], k, self.retriever)

    def count(self, text: str) -> int:
        if text not in self._token_counts:
            if len(self._token_counts) > 256:
                self._token_counts.clear()
            self._token_counts[text] = self.llm.count_tokens(text)
        return self._token_counts[text]

    def complete(self, prompt: Prompt, budget: Budget, *, kind: str, sampling: Sampling, max_tokens: int,
                 stop: Sequence[str] = (), query: str = "", hits: Sequence[Hit] = ()) -> Generation:
        """One model call, charged to the budget first."""
        budget.charge(self.count(prompt.text))
        params = {"max_tokens": max_tokens, "temperature": sampling.temperature, "top_p": sampling.top_p,
                  "seed": sampling.seed, "stop": list(stop), "logprobs": sampling.logprobs}
        if self.cache is not None:
            gen = self.cache.generate(self.llm, prompt, **params)
        else:
            gen = self.llm.generate(prompt.text, **params)
        self.calls.append(gen)
        self.steps.append(Step(kind, sampling.index, gen.text, gen.prompt_tokens, gen.cached_prompt_tokens,
                               gen.completion_tokens, query, [h.chunk.chunk_id for h in hits]))
        return gen
