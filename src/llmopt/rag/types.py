"""What `ask` returns: an Answer with its citations, the usage of every model call it made, and how the
context budget was spent. The JSON form (`to_dict`) is what `llmopt ask --json` prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..types import Generation, Hit, Usage


@dataclass
class AnswerUsage(Usage):
    """Usage summed over every call made for one question (samples, sub-questions and judge calls included).

    effective_context_tokens: every input token of every model call, cached ones included (Yue et al.'s
    definition, extended to selection); cached_prompt_tokens says how many of them a prefix cache served.
    latency_s is the wall time of the whole question (retrieval included), not the sum of call latencies."""

    effective_context_tokens: int = 0

    @classmethod
    def of(cls, calls: list[Generation], latency_s: float) -> "AnswerUsage":
        usage = cls(latency_s=latency_s)
        for gen in calls:
            usage.prompt_tokens += gen.prompt_tokens
            usage.cached_prompt_tokens += gen.cached_prompt_tokens
            usage.completion_tokens += gen.completion_tokens
            usage.compute_s += gen.compute_s
            usage.cost_usd += gen.cost_usd
            usage.calls += 1
        usage.effective_context_tokens = usage.prompt_tokens
        return usage


@dataclass
class Citation:
    """A chunk the answer was given as evidence, with where it comes from."""

    chunk_id: str
    source: str
    page: int | None
    type: str
    section: str
    score: float
    rank: int
    supports: bool  # the (normalised) answer occurs in the chunk's text
    text: str = ""

    @classmethod
    def of(cls, hit: Hit, supports: bool) -> "Citation":
        c = hit.chunk
        return cls(c.chunk_id, c.source, c.page, c.type, c.section, float(hit.score), hit.rank, supports, c.text)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Step:
    """One model call made for a question: what it was for, what it read and wrote."""

    kind: str  # answer | follow_up | intermediate | final | fallback | judge
    sample: int
    text: str
    prompt_tokens: int
    cached_prompt_tokens: int
    completion_tokens: int
    query: str = ""  # the sub-question a retrieval ran for
    chunk_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Candidate:
    """One sampled answer before selection."""

    answer: str
    sample: int
    hits: list[Hit]  # the evidence this sample was given, best first
    final: Generation | None = None  # the call that produced the answer (its logprobs score it)
    score: float | None = None  # the selector's score (votes, judge score or mean logprob)
    parse_failures: int = 0
    iterations: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "sample": self.sample, "score": self.score,
                "parse_failures": self.parse_failures, "iterations": self.iterations}


@dataclass
class BudgetReport:
    """How the context budget was spent: the limit, what was used, and what the planner gave up to stay in it."""

    limit: int | None
    used: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    """An answer to one question, with its evidence and everything it cost."""

    answer: str
    citations: list[Citation]
    strategy: str
    params: dict[str, Any]
    usage: AnswerUsage
    model: str = ""
    question: str = ""
    select: str = "vote"
    candidates: list[Candidate] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    parse_failures: int = 0
    budget: BudgetReport | None = None

    @property
    def calls(self) -> int:
        return self.usage.calls

    def to_dict(self) -> dict[str, Any]:
        usage = self.usage.to_dict()
        return {
            "answer": self.answer,
            "citations": [{k: v for k, v in c.to_dict().items() if k != "text"} for c in self.citations],
            "strategy": self.strategy,
            "params": self.params,
            "usage": {k: usage[k] for k in ("prompt_tokens", "cached_prompt_tokens", "completion_tokens",
                                            "effective_context_tokens", "calls", "latency_s", "compute_s",
                                            "cost_usd")},
            "model": self.model,
            "question": self.question,
            "select": self.select,
            "candidates": [c.to_dict() for c in self.candidates],
            "parse_failures": self.parse_failures,
            "budget": self.budget.to_dict() if self.budget else None,
            "steps": [s.to_dict() for s in self.steps],
        }
