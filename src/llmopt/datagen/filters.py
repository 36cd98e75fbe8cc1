"""The filters a generated question must pass, as pure functions (the orchestration in generate.py calls them in
this order, cheapest first, and counts each rejection by its reason):

    parse_qa(text)                         "Question: ...\\nAnswer: ..." -> QA, or Malformed (reason "malformed")
    answer_in_question(question, answer)   the answer is given away by the question ("answer_in_question")
    grounded(answer, evidence)             most of the answer's words are in the evidence ("not_in_evidence")
    near_duplicate(vector, kept, t)        cosine >= t with a question already kept ("duplicate")
    answers_agree(answer, round_trip, t)   the generator, shown the evidence alone, answers its own question
                                           the same way ("round_trip")
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..metrics import accuracy, f1, normalize_answer

REASONS = ("malformed", "too_long", "answer_in_question", "not_in_evidence", "duplicate", "round_trip")
GROUNDED_SHARE = 0.5  # of the answer's (normalized) words that must occur in the evidence
MAX_ANSWER_WORDS = 20  # longer "answers" are passages, not answers a metric can score
MIN_QUESTION_WORDS = 3

_LABEL = re.compile(r"^(question|answer|q|a)\s*\d*\s*[:：]\s*", re.IGNORECASE)
_DECORATION = re.compile(r"^(?:[\s>*#_`-]|\d+[.)]\s)*")  # markdown bullets, bold, numbering: "1. **Question:**"
_INLINE_ANSWER = re.compile(r"\s+answer\s*[:：]\s*", re.IGNORECASE)  # "Question: ... Answer: ..." on one line


class Malformed(ValueError):
    """A generation that does not hold one question and one short answer; the message says what is wrong."""


@dataclass(frozen=True)
class QA:
    question: str
    answer: str


def _labelled(line: str) -> tuple[str | None, str]:
    """("question" | "answer" | None, the rest of the line) for one line of a generation."""
    text = _DECORATION.sub("", line).replace("**", "").strip()
    match = _LABEL.match(text)
    if not match:
        return None, text
    label = match.group(1).lower()
    return ("question" if label.startswith("q") else "answer"), text[match.end():].strip()


def _clean(text: str) -> str:
    return text.strip().strip("\"'`“”*").strip()


def parse_qa(text: str) -> QA:
    """The first question and the answer that follows it. Raises Malformed (with the reason) otherwise."""
    question: list[str] = []
    answer: str | None = None
    for line in (text or "").splitlines():
        label, rest = _labelled(line)
        if label == "question" and not question:
            question = _INLINE_ANSWER.split(rest, maxsplit=1)
            if len(question) == 2:
                question, answer = question[:1], question[1]
                break
        elif label == "answer" and question:
            answer = rest
            break
        elif label is None and question and rest:
            question.append(rest)  # a question wrapped over two lines
    if not question:
        raise Malformed("no 'Question:' line")
    if answer is None or not _clean(answer).rstrip("."):
        raise Malformed("no answer after the question")
    q, a = _clean(" ".join(question)), _clean(answer).rstrip(".").strip()
    if len(q.split()) < MIN_QUESTION_WORDS:
        raise Malformed(f"question too short: {q!r}")
    if len(a.split()) > MAX_ANSWER_WORDS:
        raise Malformed(f"answer longer than {MAX_ANSWER_WORDS} words")
    if not normalize_answer(a):
        raise Malformed(f"answer with no words: {a!r}")
    return QA(q, a)


def round_trip_answer(text: str) -> str:
    """The round-trip reply's answer: its first non-empty line, without an 'Answer:' label."""
    for line in (text or "").splitlines():
        label, rest = _labelled(line)
        if rest and label != "question":
            return _clean(rest).rstrip(".").strip()
    return ""


def answer_in_question(question: str, answer: str) -> bool:
    """True when the normalized answer appears, as whole words, in the normalized question."""
    return bool(accuracy(question, [answer]))


def grounded(answer: str, evidence: str, share: float = GROUNDED_SHARE) -> bool:
    """True when every number of the answer and at least `share` of its words occur in the evidence (normalized):
    an answer the generator made up (and may repeat in the round trip) is not an answer the documents give."""
    words = normalize_answer(answer).split()
    present = set(normalize_answer(evidence).split())
    if not words or any(w not in present for w in words if any(ch.isdigit() for ch in w)):
        return False
    return sum(w in present for w in words) / len(words) >= share


def answers_agree(answer: str, round_trip: str, threshold: float = 0.5) -> bool:
    """True when one answer contains the other (normalized, whole words) or their token F1 reaches threshold."""
    if not normalize_answer(answer) or not normalize_answer(round_trip):
        return False
    return bool(accuracy(round_trip, [answer]) or accuracy(answer, [round_trip])
                or f1(round_trip, [answer]) >= threshold)


def near_duplicate(vector: np.ndarray, kept: np.ndarray, threshold: float) -> int | None:
    """The row of `kept` (L2-normalized vectors) most similar to `vector` when its cosine reaches threshold."""
    if kept is None or len(kept) == 0:
        return None
    similarities = kept @ vector
    best = int(np.argmax(similarities))
    return best if float(similarities[best]) >= threshold else None
