"""Retrieval-augmented fine-tuning: each training prompt carries the documents retrieved for its question, laid
out as `llmopt ask` lays them out (documents first, best one nearest the question, then the question), so the
tuned model learns to answer inside the RAG pipeline it will serve.

The layout comes from `llmopt.rag` (the shipped prompt templates) when it is installed; otherwise a plain
numbered-documents layout with the same order is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ...errors import ConfigError
from ...retrieval import Retriever
from ...types import Hit
from .data import Example

DEFAULT_TEMPLATE = "basic"


def open_retriever(index: str) -> Retriever:
    """An index by name or folder (llmopt.index.open_index)."""
    try:
        from ...index import open_index
    except ImportError as exc:
        raise ConfigError(f"--rag needs llmopt.index (`llmopt ingest` builds the index): {exc}") from None
    return open_index(index)


def user_message(question: str, hits: Sequence[Hit], template: str = DEFAULT_TEMPLATE) -> str:
    try:
        from ...rag.layout import user_message as rag_user_message
        from ...rag.prompts import load_template
    except ImportError:
        return fallback_message(question, hits)
    return rag_user_message(load_template(template), question, list(hits), ())


def fallback_message(question: str, hits: Sequence[Hit]) -> str:
    docs = [f"[{i}] {hit.chunk.text.strip()}" for i, hit in reversed(list(enumerate(hits, 1)))]
    return ("Answer the question using the documents.\n\nDocuments:\n" + "\n".join(docs)
            + f"\n\nQuestion: {question}\nAnswer:")


def augment(examples: list[Example], retriever: Retriever, k: int, template: str = DEFAULT_TEMPLATE) -> list[Example]:
    """The same examples, each question replaced by documents + question."""
    out = []
    for example in examples:
        question = example.question
        hits = retriever.search(question, k) if question else []
        augmented = example.with_question(user_message(question, hits, template))
        out.append(replace(augmented, extra={**example.extra, "rag_chunks": [h.chunk.chunk_id for h in hits]}))
    return out
