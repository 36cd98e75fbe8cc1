"""Task metrics for fine-tuning and distillation reports: SQuAD-style normalised exact match and token F1, with a
bootstrap confidence interval.

Kept inside train/ because the evaluation package (llmopt.eval) was not there when training was written; the
definitions are the standard ones (lower-case, strip punctuation and articles, collapse whitespace).
"""

from __future__ import annotations

import random
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    pred = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        ref = normalize_answer(gold).split()
        common = sum((Counter(pred) & Counter(ref)).values())
        if not pred or not ref:
            best = max(best, float(pred == ref))
        elif common:
            precision, recall = common / len(pred), common / len(ref)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


@dataclass
class Score:
    """A mean over examples with its 95% bootstrap confidence interval."""

    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def __str__(self) -> str:
        return f"{self.metric} {self.value:.3f} [{self.ci_low:.3f}, {self.ci_high:.3f}] (n={self.n})"


def bootstrap_ci(values: Sequence[float], samples: int = 1000, seed: int = 0) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(samples))
    return means[int(0.025 * samples)], means[min(samples - 1, int(0.975 * samples))]


def score(metric: str, values: Sequence[float]) -> Score:
    low, high = bootstrap_ci(values)
    return Score(metric, sum(values) / len(values) if values else 0.0, low, high, len(values))


def task_scores(predictions: Sequence[str], golds: Sequence[Sequence[str]]) -> dict[str, Score]:
    """{"em": Score, "f1": Score} over paired predictions and gold answer lists."""
    em = [exact_match(p, g) for p, g in zip(predictions, golds)]
    f1 = [token_f1(p, g) for p, g in zip(predictions, golds)]
    return {"em": score("em", em), "f1": score("f1", f1)}
