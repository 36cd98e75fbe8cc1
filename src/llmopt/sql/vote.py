"""Execution-based self-consistency: candidates that return the same result set vote together.

The result key ignores row order and column order (SELECT a, b and SELECT b, a vote together) and normalises
floats as the evaluator does; failed candidates do not vote. Ties go to the group holding the earliest
candidate; the pipeline puts the greedy query first, so with no agreement the answer is the greedy one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from .evaluate import normalize_rows


def result_key(rows: Sequence[Sequence[Any]]) -> str:
    """A fingerprint of a result set, independent of row order and column order."""
    # integral floats as integers: 1.0 and 1 compare equal, so they must print alike too
    normalized = [tuple(int(v) if isinstance(v, float) and v.is_integer() else v for v in row)
                  for row in normalize_rows(rows)]
    if not normalized:
        return "empty"
    columns = list(zip(*normalized))
    columns.sort(key=lambda col: repr(sorted(map(repr, col))))
    canonical = sorted(repr(row) for row in zip(*columns))
    return hashlib.sha1("\n".join(canonical).encode()).hexdigest()[:16]


def vote(keys: Sequence[str | None]) -> tuple[int | None, list[int]]:
    """(index of the winning candidate, votes each candidate's result got). None keys are failures; the
    winner is the earliest member of the largest group, ties broken by the earliest member."""
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
            first.setdefault(key, i)
    votes = [counts.get(k, 0) if k is not None else 0 for k in keys]
    if not counts:
        return None, votes
    best = min(counts, key=lambda k: (-counts[k], first[k]))
    return first[best], votes


def vote_checked(keys: Sequence[str | None], passed: Sequence[bool],
                 likelihood: Sequence[float | None]) -> tuple[int | None, list[int]]:
    """vote() among the candidates that passed the check (among all when none did); groups with as many votes
    are told apart by their best member's likelihood (mean token logprob; None ranks last), then by the earliest
    member, so that without likelihoods this is vote order."""
    eligible = [k if ok else None for k, ok in zip(keys, passed)]
    if all(k is None for k in eligible):
        eligible = list(keys)
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    best_likelihood: dict[str, float] = {}
    for i, key in enumerate(eligible):
        if key is None:
            continue
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, i)
        value = likelihood[i] if likelihood[i] is not None else float("-inf")
        best_likelihood[key] = max(best_likelihood.get(key, float("-inf")), value)
    votes = [counts.get(k, 0) if k is not None else 0 for k in eligible]
    if not counts:
        return None, votes
    best = min(counts, key=lambda k: (-counts[k], -best_likelihood[k], first[k]))
    winner = max((i for i, k in enumerate(eligible) if k == best),
                 key=lambda i: (likelihood[i] if likelihood[i] is not None else float("-inf"), -i))
    return winner, votes
