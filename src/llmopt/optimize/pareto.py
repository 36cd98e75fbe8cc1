"""The choice among measured configurations: the Pareto front (higher quality, lower cost or latency), the
constraints every answer must keep, and the objective ("highest quality within the constraints" or "cheapest whose
CI lower bound reaches a value"). Pure functions over Candidate values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Candidate:
    """A configuration measured on the final question set."""

    key: str
    label: str
    quality: float
    ci_low: float
    ci_high: float
    usd_per_query: float = 0.0
    p95_latency_s: float = 0.0
    context_tokens: float = 0.0  # mean effective context: every prompt token of every call of a question
    count: int = 0
    errors: int = 0


@dataclass(frozen=True)
class Limits:
    max_context: int | None = None
    p95_latency_s: float | None = None
    usd_per_1k_queries: float | None = None

    def violations(self, c: Candidate) -> list[str]:
        """What the candidate breaks, in words (empty: it keeps every limit)."""
        out = []
        if c.count and c.errors * 2 > c.count:  # e.g. every prompt over max_context: not a working configuration
            out.append(f"{c.errors} of {c.count} answers failed")
        if self.max_context is not None and c.context_tokens > self.max_context:
            out.append(f"context {c.context_tokens:.0f} > {self.max_context} tokens")
        if self.p95_latency_s is not None and c.p95_latency_s > self.p95_latency_s:
            out.append(f"p95 latency {c.p95_latency_s:.2g} s > {self.p95_latency_s:g} s")
        if self.usd_per_1k_queries is not None and c.usd_per_query * 1000 > self.usd_per_1k_queries:
            out.append(f"${c.usd_per_query * 1000:.2g} > ${self.usd_per_1k_queries:g} per 1k queries")
        return out

    def excess(self, c: Candidate) -> float:
        """How far outside the limits, as the sum of relative overshoots (0 inside): ranks the nearest misses."""
        total = c.errors / c.count if c.count else 0.0
        for limit, value in ((self.max_context, c.context_tokens), (self.p95_latency_s, c.p95_latency_s),
                             (self.usd_per_1k_queries, c.usd_per_query * 1000)):
            if limit is not None and value > limit:
                total += (value - limit) / limit
        return total


def front(candidates: Sequence[Candidate], cost: str = "usd_per_query") -> list[Candidate]:
    """The Pareto front of quality (higher is better) against `cost` (lower is better), cheapest first: no other
    candidate is at least as good on both and better on one."""
    ranked = sorted(candidates, key=lambda c: (getattr(c, cost), -c.quality, c.key))
    out: list[Candidate] = []
    for c in ranked:
        if not out or c.quality > out[-1].quality:
            out.append(c)
    return out


@dataclass
class Choice:
    chosen: Candidate | None
    reason: str
    feasible: list[Candidate] = field(default_factory=list)
    nearest: list[tuple[Candidate, list[str]]] = field(default_factory=list)  # when nothing keeps the limits


def choose(candidates: Sequence[Candidate], limits: Limits, *, threshold: float | None = None) -> Choice:
    """threshold None: the best quality within the limits (ties: the higher CI lower bound, then the cheaper).
    threshold set: the cheapest whose CI lower bound reaches it. Nothing feasible: no choice, and the nearest
    configurations with what each breaks."""
    feasible = [c for c in candidates if not limits.violations(c)]
    if not feasible:
        near = sorted(candidates, key=lambda c: (limits.excess(c), -c.quality))[:3]
        return Choice(None, "no configuration keeps the constraints", [], [(c, limits.violations(c)) for c in near])
    if threshold is None:
        best = max(feasible, key=lambda c: (c.quality, c.ci_low, -c.usd_per_query, -c.p95_latency_s))
        return Choice(best, "the highest quality within the constraints", feasible)
    reaching = [c for c in feasible if c.ci_low >= threshold]
    if not reaching:
        near = sorted(feasible, key=lambda c: -c.ci_low)[:3]
        return Choice(None, f"no configuration's CI lower bound reaches {threshold:g}", feasible,
                      [(c, [f"CI lower bound {c.ci_low:.2f} < {threshold:g}"]) for c in near])
    best = min(reaching, key=lambda c: (c.usd_per_query, c.p95_latency_s, -c.quality))
    return Choice(best, f"the cheapest whose CI lower bound reaches {threshold:g}", feasible)
