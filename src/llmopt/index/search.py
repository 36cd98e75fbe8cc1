"""One-call search: `llmopt.search("question", index="docs", k=5)`. For many queries, keep an Index open
(`open_index`) instead: opening costs a connection (and, for Milvus Lite, the folder lock)."""

from __future__ import annotations

from typing import Any

from ..types import Hit
from .index import open_index


def search(query: str, index: str, k: int = 5, filters: dict[str, Any] | None = None, *,
           mode: str = "hybrid") -> list[Hit]:
    with open_index(index, recover=False) as idx:
        return idx.search(query, k=k, filters=filters, mode=mode)
