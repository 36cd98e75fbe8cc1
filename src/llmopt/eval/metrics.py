"""QA metrics as pure functions over strings and lists.

    exact_match("The Eiffel Tower.", ["Eiffel Tower"])   -> 1.0   (SQuAD normalization)
    f1("in Paris, France", ["Paris"])                    -> 0.5
    accuracy("It was Paris, in 1889.", ["Paris"])         -> 1.0   (a gold answer appears in the prediction)
    recall_at_k(["p3", "p7", "p1"], {"p1", "p9"}, k=3)    -> 0.5
    percentiles([0.2, 0.4, 1.0], (50, 95))                -> {50: 0.4, 95: 0.94}

Every answer metric takes a list of gold answers and scores the best of them (SQuAD's rule for multiple golds).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Collection, Iterable, Sequence

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalization: lower case, drop punctuation, drop articles (a, an, the), collapse spaces."""
    text = "".join(ch for ch in str(text).lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _golds(golds: str | Sequence[str]) -> list[str]:
    return [golds] if isinstance(golds, str) else [str(g) for g in golds]


def exact_match(prediction: str, golds: str | Sequence[str]) -> float:
    """1.0 when the normalized prediction equals a normalized gold answer."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in _golds(golds)))


def _f1_one(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)  # both empty: a match; one empty: nothing in common
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def f1(prediction: str, golds: str | Sequence[str]) -> float:
    """Token-level F1 between normalized prediction and the best gold answer."""
    return max((_f1_one(prediction, g) for g in _golds(golds)), default=0.0)


def accuracy(prediction: str, golds: str | Sequence[str]) -> float:
    """1.0 when a normalized gold answer appears, as whole words, in the normalized prediction (Yue et al.'s Acc:
    it forgives a verbose but correct answer, which EM does not)."""
    pred = f" {normalize_answer(prediction)} "
    return float(any(g and f" {g} " in pred for g in map(normalize_answer, _golds(golds))))


def score_answer(prediction: str, golds: str | Sequence[str]) -> dict[str, float]:
    return {"em": exact_match(prediction, golds), "f1": f1(prediction, golds), "acc": accuracy(prediction, golds)}


QUALITY_METRICS = ("em", "f1", "acc")


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
