"""Answer metrics, defined once for every rung (lab, eval, fine-tuning, distillation, merging), as pure functions
over strings and lists:

    exact_match("The Eiffel Tower.", ["Eiffel Tower"])   -> 1.0   (SQuAD normalization)
    f1("in Paris, France", ["Paris"])                    -> 0.5
    accuracy("It was Paris, in 1889.", ["Paris"])         -> 1.0   (a gold answer appears in the prediction)
    answer_scores(predictions, golds)["acc"]             -> Score(acc 0.667 [0.333, 1.000] n=3)

Every answer metric takes a list of gold answers (or one string) and scores the best of them (SQuAD's rule for
multiple golds). The normalization is SQuAD v1.1's, which HotpotQA's and MuSiQue's official scripts also use, so
EM and F1 here are the published ones. A mean over questions comes with llmopt.stats.bootstrap_ci's interval,
the one confidence interval every report uses.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from .stats import bootstrap_ci

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)

QUALITY_METRICS = ("em", "f1", "acc")


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
    """Token-level F1 between normalized prediction and the best gold answer (partial credit: "12,400 euros"
    against "EUR 12,400" scores 0.5)."""
    return max((_f1_one(prediction, g) for g in _golds(golds)), default=0.0)


def accuracy(prediction: str, golds: str | Sequence[str]) -> float:
    """1.0 when a normalized gold answer appears, as whole words, in the normalized prediction (Yue et al.'s Acc:
    it forgives a verbose but correct answer, which EM does not)."""
    pred = f" {normalize_answer(prediction)} "
    return float(any(g and f" {g} " in pred for g in map(normalize_answer, _golds(golds))))


METRICS = {"em": exact_match, "f1": f1, "acc": accuracy}


def score_answer(prediction: str, golds: str | Sequence[str]) -> dict[str, float]:
    """{"em", "f1", "acc"} of one prediction."""
    return {name: metric(prediction, golds) for name, metric in METRICS.items()}


@dataclass
class Score:
    """A mean over questions with its 95% bootstrap confidence interval (NaN, all three, over no questions)."""

    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.metric} {self.value:.3f} [{self.ci_low:.3f}, {self.ci_high:.3f}] (n={self.n})"


def score(metric: str, values: Sequence[float]) -> Score:
    """The mean of per-question values and its interval, from llmopt.stats.bootstrap_ci (NaNs for no values)."""
    value, low, high = bootstrap_ci([float(v) for v in values])
    return Score(metric, value, low, high, len(values))


def answer_scores(predictions: Sequence[str], golds: Sequence[str | Sequence[str]],
                  metrics: Sequence[str] = QUALITY_METRICS) -> dict[str, Score]:
    """{metric: Score} over paired predictions and gold answers (a string or a list per question)."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} gold answers; pair them one to one")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown answer metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}")
    return {m: score(m, [METRICS[m](p, g) for p, g in zip(predictions, golds)]) for m in metrics}
