"""Prompt assembly. Every prompt is laid out shared parts first — instructions, then demonstrations (identical for
every question when the selection is fixed), then this question's documents in reverse rank order (the best one
nearest the question), then the question — so a prefix cache can reuse the shared part across questions.

A Prompt knows where its shared part ends (`shared_chars`): the template is rendered a second time without
documents and with a different question, and the shared part is what both renderings have in common. That works
for any user template, whatever its wording.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..types import Hit
from .prompts import PromptTemplate, tidy

if TYPE_CHECKING:
    from .demos import ShownDemo

_PROBE_QUESTION = "\u2400"  # a character no real question starts with


@dataclass(frozen=True)
class Prompt:
    """The exact text an engine reads, and how much of it other questions share."""

    text: str
    shared_chars: int = 0
    hits: tuple[Hit, ...] = field(default_factory=tuple)  # this question's documents, best first

    def extend(self, more: str, hits: Sequence[Hit] = ()) -> "Prompt":
        """The same prompt with text appended (IterDRAG grows its chain this way, so each call extends the last)."""
        return Prompt(self.text + more, self.shared_chars, self.hits + tuple(hits))


def where(hit: Hit) -> str:
    """Where a chunk comes from, as the model sees it: file name, page, element type."""
    chunk = hit.chunk
    parts = [os.path.basename(chunk.source.rstrip("/")) or chunk.source] if chunk.source else []
    if chunk.page is not None:
        parts.append(f"p. {chunk.page}")
    if chunk.type and chunk.type != "text":
        parts.append(chunk.type)
    return ", ".join(parts)


def document_views(hits: Sequence[Hit], first_number: int = 1) -> list[dict[str, Any]]:
    """Template variables for documents given best first: numbered from the best, listed best last."""
    views = [{"number": first_number + i, "text": hit.chunk.text.strip(), "where": where(hit),
              "chunk_id": hit.chunk.chunk_id} for i, hit in enumerate(hits)]
    return list(reversed(views))


def demonstration_views(demos: Sequence["ShownDemo"]) -> list[dict[str, Any]]:
    return [{"question": d.question, "answer": d.answer, "documents": document_views(d.hits),
             "chain": [{"question": q, "answer": a} for q, a in d.chain]} for d in demos]


def user_message(template: PromptTemplate, question: str, hits: Sequence[Hit], demos: Sequence["ShownDemo"],
                 iterative: bool = False) -> str:
    return tidy(template.render(question=question, documents=document_views(hits),
                                demonstrations=demonstration_views(demos), iterative=iterative))


def build_prompt(llm: Any, template: PromptTemplate, question: str, hits: Sequence[Hit] = (),
                 demos: Sequence["ShownDemo"] = (), *, iterative: bool = False, assistant: str = "") -> Prompt:
    """The full prompt through the model's chat template, plus `assistant` text the answer continues from."""
    text = _chat(llm, user_message(template, question, hits, demos, iterative)) + assistant
    probe = _chat(llm, user_message(template, _PROBE_QUESTION, (), demos, iterative))
    return Prompt(text, _common_prefix(text, probe), tuple(hits))


def _chat(llm: Any, user: str) -> str:
    return llm.apply_chat_template([{"role": "user", "content": user}])


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
