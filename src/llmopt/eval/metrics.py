"""Retrieval and latency metrics for sweeps, as pure functions over lists:

    recall_at_k(["p3", "p7", "p1"], {"p1", "p9"}, k=3)    -> 0.5
    percentiles([0.2, 0.4, 1.0], (50, 95))                -> {50: 0.4, 95: 0.94}

The answer metrics (SQuAD-normalized EM and F1, Acc) are llmopt.metrics's, the one definition every rung uses;
they are imported here so that eval's modules and scripts find every metric in one place.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import numpy as np

from ..metrics import QUALITY_METRICS, accuracy, exact_match, f1, normalize_answer, score_answer

__all__ = ["QUALITY_METRICS", "accuracy", "exact_match", "f1", "mean", "normalize_answer", "percentiles",
           "recall_at_k", "score_answer"]


def recall_at_k(retrieved: Sequence[str], gold: Collection[str], k: int | None = None) -> float | None:
    """The share of gold evidence keys among the first k retrieved keys (all of them when k is None); None when
    there is no gold evidence to find (the item does not count towards a mean)."""
    gold = set(gold)
    if not gold:
        return None
    top = set(retrieved if k is None else retrieved[:k])
    return len(gold & top) / len(gold)


def percentiles(values: Iterable[float], points: Sequence[float] = (50, 95)) -> dict[float, float | None]:
    """Linear-interpolated percentiles (numpy's default); None for an empty list."""
    data = np.asarray([float(v) for v in values], dtype=np.float64)
    if data.size == 0:
        return {p: None for p in points}
    return {p: float(v) for p, v in zip(points, np.percentile(data, list(points)))}


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None
