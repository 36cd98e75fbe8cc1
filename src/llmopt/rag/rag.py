"""`rag`: the k best chunks, then answer in one call (the best chunk nearest the question)."""

from __future__ import annotations

from .strategy import OneCall, strategy


@strategy("rag")
class Rag(OneCall):
    uses_retrieval = True
