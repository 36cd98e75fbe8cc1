"""`drag`: demonstration-based RAG (Yue et al., 2024). The prompt holds m demonstrations — each a pool question
with its own k retrieved documents and its gold answer — then the question's k documents in reverse rank order
(the best nearest the question), then the question. With a fixed selection every question shares the
instructions and demonstrations, which the prefix cache reuses."""

from __future__ import annotations

from .strategy import OneCall, strategy


@strategy("drag")
class Drag(OneCall):
    uses_retrieval = True
    uses_demonstrations = True
