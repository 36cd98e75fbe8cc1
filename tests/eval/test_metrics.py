import numpy as np
import pytest

from llmopt.eval.metrics import (
    accuracy,
    exact_match,
    f1,
    mean,
    normalize_answer,
    percentiles,
    recall_at_k,
    score_answer,
)
from llmopt.stats import bootstrap_ci, paired_bootstrap_ci


@pytest.mark.parametrize("text, expected", [
    ("The Eiffel Tower.", "eiffel tower"),
    ("  An   apple, a day!  ", "apple day"),
    ("Theater of the absurd", "theater of absurd"),  # "the" as a word only, not inside "Theater"
    ("U.S.A.", "usa"),
    ("rock'n'roll -- 1960s", "rocknroll 1960s"),
    ("", ""),
])
def test_squad_normalization(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_uses_the_best_gold():
    assert exact_match("the Eiffel Tower", ["Louvre", "Eiffel Tower."]) == 1.0
    assert exact_match("Eiffel Tower in Paris", ["Eiffel Tower"]) == 0.0
    assert exact_match("A", ["an"]) == 1.0  # both normalize to the empty string
    assert exact_match("Paris", "paris!") == 1.0  # a single gold string works too


def test_f1_hand_computed():
    # prediction tokens: paris france (in, comma dropped: "in paris france"); gold "paris": P=1/3, R=1 -> 0.5
    assert f1("in Paris, France", ["Paris"]) == pytest.approx(0.5)
    # "new york city" vs "york city new jersey": common {new, york, city}=3, P=3/3, R=3/4 -> 6/7
    assert f1("New York City", ["York City, New Jersey"]) == pytest.approx(6 / 7)
    # repeated tokens count with multiplicity: pred "a b b" -> "b b" after article removal; gold "b": P=1/2 R=1
    assert f1("a b b", ["b"]) == pytest.approx(2 / 3)
    assert f1("nothing shared", ["Paris"]) == 0.0
    assert f1("the", ["a"]) == 1.0 and f1("the", ["Paris"]) == 0.0  # empty vs empty; empty vs something


def test_f1_max_over_golds():
    assert f1("Paris", ["London", "in Paris"]) == pytest.approx(2 / 3)


def test_accuracy_is_containment_of_whole_words():
    assert accuracy("It was built in Paris, in 1889.", ["Paris"]) == 1.0
    assert accuracy("Parisian food", ["Paris"]) == 0.0  # whole words only
    assert accuracy("I do not know", ["Paris", "Lyon"]) == 0.0
    assert accuracy("Lyon", ["Paris", "Lyon"]) == 1.0
    assert accuracy("anything", ["the"]) == 0.0  # a gold answer that normalizes to nothing never matches


def test_score_answer_has_all_three():
    assert score_answer("The answer is 48 million euros", ["48 million euros"]) == {"em": 0.0, "f1": pytest.approx(
        2 * (3 / 5) * 1 / (3 / 5 + 1)), "acc": 1.0}


def test_recall_at_k():
    assert recall_at_k(["p3", "p7", "p1"], {"p1", "p9"}, k=3) == 0.5
    assert recall_at_k(["p3", "p7", "p1"], {"p1", "p9"}, k=2) == 0.0
    assert recall_at_k(["p1", "p9"], ["p1", "p9"]) == 1.0
    assert recall_at_k(["p1"], []) is None  # nothing to find: not counted


def test_percentiles_and_mean():
    assert percentiles([0.2, 0.4, 1.0], (50, 95)) == {50: pytest.approx(0.4), 95: pytest.approx(0.94)}
    assert percentiles([], (50,)) == {50: None}
    assert mean([1.0, None, 3.0]) == 2.0 and mean([None]) is None


def test_bootstrap_ci_covers_the_known_mean():
    """Bernoulli(0.3) samples of 150: the 95% interval should contain 0.3 about 95% of the time."""
    rng = np.random.default_rng(7)
    covered = 0
    for trial in range(120):
        sample = (rng.random(150) < 0.3).astype(float)
        _, low, high = bootstrap_ci(sample, resamples=1000, seed=trial)
        covered += low <= 0.3 <= high
    assert 0.88 <= covered / 120 <= 0.99


def test_paired_ci_covers_the_known_difference():
    """B is right wherever A is, plus on a further 20% of questions: the paired interval covers +0.2."""
    rng = np.random.default_rng(3)
    covered = 0
    for trial in range(80):
        a = (rng.random(300) < 0.4).astype(float)
        b = np.where(rng.random(300) < 0.2 / 0.6, 1.0, a)  # lifts a wrong answer with prob 1/3: +0.6 * 1/3 = +0.2
        _, low, high = paired_bootstrap_ci(b, a, resamples=1000, seed=trial)
        covered += low <= 0.2 <= high
    assert covered >= 70
