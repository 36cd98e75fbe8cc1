"""The filters as pure functions: each accepts its good case and rejects its bad one."""

import numpy as np
import pytest

from llmopt.datagen import filters as F


@pytest.mark.parametrize("text", [
    "Question: Who founded Harbor Labs?\nAnswer: Mira Okafor",
    "**Question:** Who founded Harbor Labs?\n**Answer:** Mira Okafor.",
    "1. Question: Who founded Harbor Labs?\n2. Answer: \"Mira Okafor\"",
    "Question: Who founded Harbor Labs? Answer: Mira Okafor",
    "Sure!\nQ: Who founded\nHarbor Labs?\nA: Mira Okafor\nQuestion: another one?\nAnswer: no",
])
def test_parse_reads_the_first_question_and_its_answer(text):
    assert F.parse_qa(text) == F.QA("Who founded Harbor Labs?", "Mira Okafor")


@pytest.mark.parametrize("text, reason", [
    ("Sorry, I cannot write a question.", "no 'Question:' line"),
    ("Question: Who founded Harbor Labs?", "no answer"),
    ("Question: Who founded Harbor Labs?\nAnswer:", "no answer"),
    ("Question: Who?\nAnswer: Mira", "question too short"),
    ("Question: Who founded Harbor Labs?\nAnswer: " + "word " * 30, "longer than"),
    ("Question: Who founded Harbor Labs?\nAnswer: ???", "no words"),
    ("", "no 'Question:' line"),
])
def test_parse_rejects_malformed_generations(text, reason):
    with pytest.raises(F.Malformed, match=reason):
        F.parse_qa(text)


def test_round_trip_answer_takes_the_first_line_without_its_label():
    assert F.round_trip_answer("\nAnswer: Lisbon.\nBecause the text says so") == "Lisbon"
    assert F.round_trip_answer("") == ""


def test_answer_in_question():
    assert F.answer_in_question("Where does Blue Finch build robots, in Oslo?", "Oslo")
    assert F.answer_in_question("When was it founded (2011)?", "2011.")
    assert not F.answer_in_question("Where does Blue Finch build robots?", "Oslo")
    assert not F.answer_in_question("Who founded Oslofjord Labs?", "Oslo")  # whole words only


@pytest.mark.parametrize("answer, reply, agree", [
    ("Mira Okafor", "Mira Okafor.", True),
    ("Mira Okafor", "It was founded by Mira Okafor in 2011", True),   # the reply contains the answer
    ("1,200 units", "1,200", True),                                    # the answer contains the reply
    ("48 million euros", "48 million", True),
    ("University of Porto", "Lisbon", False),
    ("Mira Okafor", "", False),
    ("2011", "2012", False),
])
def test_answers_agree(answer, reply, agree):
    assert F.answers_agree(answer, reply, 0.5) is agree


def test_answers_agree_by_f1_threshold():
    assert F.answers_agree("red steel bridge", "red iron bridge", 0.6)       # F1 0.67
    assert not F.answers_agree("red steel bridge", "red iron bridge", 0.7)


def test_near_duplicate_by_cosine():
    kept = np.array([[1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    assert F.near_duplicate(np.array([0.0, 1.0]), kept, 0.92) is None      # cosine 0.8
    assert F.near_duplicate(np.array([0.0, 1.0]), kept, 0.8) == 1
    assert F.near_duplicate(np.array([1.0, 0.0]), kept, 0.92) == 0
    assert F.near_duplicate(np.array([1.0, 0.0]), np.zeros((0, 2)), 0.92) is None


def test_grounded_answers_come_from_the_evidence():
    evidence = "The Kestrel drone weighs 3 kilograms. North: 1,200 units."
    assert F.grounded("3 kilograms", evidence) and F.grounded("1,200", evidence)
    assert F.grounded("about 3 kilograms", evidence)                    # 2 of 3 words
    assert not F.grounded("3.5 kilograms", evidence)                    # a number the evidence does not have
    assert not F.grounded("Lisbon, Portugal", evidence)
    assert not F.grounded("", evidence)
