"""Typed results that carry their usage and cost. Every backend call returns a Generation; anything that
makes several calls (a strategy, an evaluation) sums them into a Usage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Usage:
    """Tokens, time and money spent by one or more model calls."""

    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0  # prompt tokens whose key/value cache was reused from a prefix cache
    completion_tokens: int = 0
    latency_s: float = 0.0  # wall seconds
    compute_s: float = 0.0  # engine-busy seconds (local engines); the basis of local cost
    cost_usd: float = 0.0
    calls: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            latency_s=self.latency_s + other.latency_s,
            compute_s=self.compute_s + other.compute_s,
            cost_usd=self.cost_usd + other.cost_usd,
            calls=self.calls + other.calls,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Generation:
    """What one model call returned, with what it cost."""

    text: str
    model: str  # model id including the engine, e.g. "llamacpp:smollm2-135m@q8_0"
    engine: str
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    compute_s: float = 0.0
    cost_usd: float = 0.0
    finish_reason: str = "stop"  # "stop" | "length" | "error"
    token_logprobs: list[float] | None = None  # one per completion token, when asked for and available
    tokens: list[str] | None = None  # the completion's tokens as text, alongside token_logprobs
    prefill_s: float | None = None  # seconds spent reading the (uncached part of the) prompt, when the engine says

    @property
    def usage(self) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens,
            completion_tokens=self.completion_tokens,
            latency_s=self.latency_s,
            compute_s=self.compute_s,
            cost_usd=self.cost_usd,
            calls=1,
        )

    @property
    def mean_logprob(self) -> float | None:
        if not self.token_logprobs:
            return None
        return sum(self.token_logprobs) / len(self.token_logprobs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sum_usage(items) -> Usage:
    """Sum the usage of Generations or Usages."""
    total = Usage()
    for item in items:
        total = total + (item.usage if isinstance(item, Generation) else item)
    return total


@dataclass
class Chunk:
    """A piece of a document, with its provenance. Produced by ingestion, stored in an index, cited by answers."""

    chunk_id: str
    text: str
    source: str  # path (or URL) of the document
    page: int | None = None  # 1-based page number when the format has pages
    type: str = "text"  # "text" | "table" | "picture"
    bbox: tuple[float, float, float, float] | None = None  # (x0, y0, x1, y1) in PDF points, when known
    section: str = ""  # heading path, e.g. "Results > Table 2"
    content_hash: str = ""
    method: str | None = None  # for pictures: how the text was produced, e.g. "ocr+caption" or "vlm:MODEL"
    image: str | None = None  # for pictures: path of the extracted image file
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Hit:
    """One retrieval result: a chunk, its fused score and its 1-based rank."""

    chunk: Chunk
    score: float
    rank: int

    def to_dict(self) -> dict[str, Any]:
        return {"chunk_id": self.chunk.chunk_id, "score": self.score, "rank": self.rank, "text": self.chunk.text,
                "source": self.chunk.source, "page": self.chunk.page, "type": self.chunk.type,
                "bbox": self.chunk.bbox, "section": self.chunk.section, "method": self.chunk.method,
                "image": self.chunk.image, "content_hash": self.chunk.content_hash}
