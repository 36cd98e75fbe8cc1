"""`drag`: demonstration-based RAG (Yue et al., 2024). The prompt holds m demonstrations — each a pool question
with its own k retrieved documents and its gold answer — then the question's k documents in reverse rank order
(the best nearest the question), then the question. With a fixed selection every question shares the
instructions and demonstrations, which the prefix cache reuses. Without demonstrations the prompt is RAG's."""

from __future__ import annotations

from ..strategy import OneCall, strategy


@strategy("drag", order=30, description="m solved demonstrations with their documents, then the k best chunks")
class Drag(OneCall):
    uses_retrieval = True
    uses_demonstrations = True
    without_demonstrations = "rag"
    allocatable = True
    presets = {"drag-k5-m4": {"k": 5, "m": 4,
                              "description": "demonstration-based RAG: 4 solved examples with their documents"}}
