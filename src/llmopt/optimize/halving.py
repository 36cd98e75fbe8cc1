"""Successive halving, the rule (Jamieson & Talwalkar, 2016): every configuration of a bracket answers the same
first r0 questions; the best 1/eta of them go on to answer eta times as many; and so on up to the whole split.

Pure functions over scores, so the rule is tested on its own. The sampler that proposes configurations, the
trial bookkeeping and the storage that makes the search resumable and shareable between workers are Optuna's
(llmopt.optimize.study). Optuna's own SuccessiveHalvingPruner is the asynchronous form (ASHA): a trial is compared
only with the trials that reached its rung before it, which suits many workers but, on one machine answering one
configuration after another, lets the first trials run to the full split unchallenged. Here a bracket's
configurations are compared together at each rung, which is what keeps the search's compute small.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def rungs(total: int, *, first: int, eta: int) -> list[int]:
    """Questions answered at each rung: first, first·eta, ... capped at (and ending with) the whole split."""
    if total < 1:
        raise ValueError("the evaluation split is empty")
    if first < 1 or eta < 2:
        raise ValueError(f"need first >= 1 and eta >= 2, got first={first}, eta={eta}")
    out, size = [], min(first, total)
    while size < total:
        out.append(size)
        size *= eta
    return out + [total]


def keep(count: int, eta: int) -> int:
    """How many of `count` configurations go on to the next rung: the best 1/eta, at least one."""
    return max(1, math.floor(count / eta))


def promote(scores: dict[str, float], eta: int, *, tie_break: dict[str, float] | None = None) -> list[str]:
    """The keys promoted from one rung: the best `keep(len, eta)` by score; ties go to the cheaper configuration
    (tie_break: lower is better, e.g. compute seconds so far), then to the key, so the choice is deterministic."""
    costs = tie_break or {}
    ranked = sorted(scores, key=lambda key: (-scores[key], costs.get(key, 0.0), key))
    return ranked[:keep(len(ranked), eta)]


def grid_cost(costs_per_question: Sequence[float], total: int) -> float:
    """What a full grid over `total` questions would cost, from each configuration's mean cost per question."""
    return float(sum(costs_per_question)) * total
