"""llmopt.metrics: the one definition of answer metrics and of a mean with its interval (SQuAD normalization,
EM/F1/Acc are pinned in tests/eval/test_metrics.py, which imports them through llmopt.eval.metrics)."""

import math

import pytest

from llmopt.metrics import Score, answer_scores, score, score_answer
from llmopt.stats import bootstrap_ci


def test_answer_scores_are_means_of_the_per_question_metrics_with_the_stats_interval():
    predictions = ["It was Paris.", "Lyon", "the Eiffel Tower", "no idea"]
    golds = [["Paris"], "Marseille", ["Eiffel Tower", "Tour Eiffel"], ["Nice"]]
    scores = answer_scores(predictions, golds)
    assert set(scores) == {"em", "f1", "acc"}
    per_question = [score_answer(p, g) for p, g in zip(predictions, golds)]
    for name, s in scores.items():
        values = [q[name] for q in per_question]
        assert (s.value, s.ci_low, s.ci_high) == bootstrap_ci(values) and s.n == 4 and s.metric == name
    assert scores["acc"].value == 0.5 and scores["em"].value == 0.25


def test_a_chosen_subset_and_clear_errors():
    assert set(answer_scores(["a"], ["a"], ("f1",))) == {"f1"}
    with pytest.raises(ValueError, match="2 predictions for 1 gold"):
        answer_scores(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="known: em, f1, acc"):
        answer_scores(["a"], ["a"], ("bleu",))


def test_no_questions_give_nan_not_a_made_up_zero():
    empty = score("f1", [])
    assert empty.n == 0 and all(math.isnan(v) for v in (empty.value, empty.ci_low, empty.ci_high))


def test_score_round_trips_through_its_dict_and_prints_its_interval():
    s = score("em", [1.0, 0.0, 1.0, 1.0])
    assert Score(**s.to_dict()) == s
    assert str(s).startswith("em 0.750 [") and str(s).endswith("(n=4)")
