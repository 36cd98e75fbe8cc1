"""Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): score(d) = Σ_r weight_r / (k + rank_r(d)).

Pure: rankings of ids in, fused (id, score, ranks per retriever) out. Ranks are 1-based; k=60 is the paper's.
"""

from __future__ import annotations

from collections.abc import Sequence


def rrf(rankings: dict[str, Sequence[str]], k: int = 60,
        weights: dict[str, float] | None = None) -> list[tuple[str, float, dict[str, int]]]:
    """Fuse named rankings (best first). Ties keep the order of first appearance, so results are deterministic."""
    if k < 0:
        raise ValueError(f"rrf k must be >= 0, got {k}")
    scores: dict[str, float] = {}
    ranks: dict[str, dict[str, int]] = {}
    for name, ids in rankings.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, doc_id in enumerate(dict.fromkeys(ids), start=1):  # a duplicate id counts at its best rank
            scores[doc_id] = scores.get(doc_id, 0.0) + weight / (k + rank)
            ranks.setdefault(doc_id, {})[name] = rank
    order = sorted(scores, key=lambda d: -scores[d])  # stable sort: ties in first-seen order
    return [(d, scores[d], ranks[d]) for d in order]
