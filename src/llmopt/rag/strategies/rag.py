"""`rag`: the k best chunks, then answer in one call (the best chunk nearest the question)."""

from __future__ import annotations

from ..strategy import OneCall, strategy


@strategy("rag", order=20, description="the k best chunks, then answer in one call")
class Rag(OneCall):
    uses_retrieval = True
    allocatable = True
    presets = {
        "rag-k5": {"k": 5, "description": "retrieve 5 chunks, answer in one call"},
        "rag-k5-sc5": {"k": 5, "samples": 5, "select": "vote",
                       "description": "self-consistency: 5 sampled answers over 5 chunks, majority vote"},
    }
