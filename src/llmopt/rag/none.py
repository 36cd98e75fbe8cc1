"""`none`: the model alone, no retrieval (the baseline every other rung is measured against)."""

from __future__ import annotations

from .strategy import OneCall, strategy


@strategy("none")
class NoRetrieval(OneCall):
    uses_retrieval = False
