"""The retrieval contract strategies depend on: anything with `search(query, k, filters) -> list[Hit]`.

The Milvus-backed index (llmopt.index) implements it; tests may use a small in-memory retriever.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from .types import Hit


@runtime_checkable
class Retriever(Protocol):
    def search(self, query: str, k: int = 5, filters: dict[str, Any] | None = None) -> list[Hit]:
        """The k best chunks for a query, best first. filters: {"source": ..., "type": ..., "page": (lo, hi)}."""
        ...
