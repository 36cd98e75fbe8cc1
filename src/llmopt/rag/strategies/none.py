"""`none`: the model alone, no retrieval (the baseline every other rung is measured against)."""

from __future__ import annotations

from ..strategy import OneCall, strategy


@strategy("none", order=10, description="the model alone, no retrieval (the baseline)")
class NoRetrieval(OneCall):
    uses_retrieval = False
    allocatable = True  # θ = (0, 0, 1)
    presets = {"none": {"description": "the model alone, no retrieval (the baseline)"}}
