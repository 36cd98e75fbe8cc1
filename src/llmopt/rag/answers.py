"""Reading answers out of model text, leniently (a 135M model often breaks the format).

Comparing answers is llmopt.metrics's job (SQuAD normalization, EM, F1, Acc); `normalize` here is its
normalize_answer, the key under which rag's voting and demonstration matching compare answers and questions.
"""

from __future__ import annotations

import re

from ..metrics import normalize_answer as normalize

__all__ = ["FINAL_MARKERS", "after_marker", "clean", "first_answer", "lines", "normalize", "parse_answer"]

FINAL_MARKERS = ("so the final answer is:", "so the final answer is", "the final answer is:", "final answer:",
                 "the final answer is", "the answer is:", "the answer is")
# "The answer to this question is: X", "Answer to the question: X"
_ANSWER_IS = re.compile(r"\banswer(?: to (?:this|the|your) question)?(?: is)?\s*:\s*(?=\S)", re.IGNORECASE)
_PREFIXES = re.compile(r"^\s*(?:\*\*)?(?:final answer|answer|a)\s*[:\-]\s*(?:\*\*)?", re.IGNORECASE)


def clean(text: str) -> str:
    """One answer line without decoration: markdown bold, surrounding quotes, a trailing full stop."""
    text = _PREFIXES.sub("", text.strip()).strip().strip("*").strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return text[:-1].strip() if text.endswith(".") else text


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def after_marker(text: str, markers: tuple[str, ...] = FINAL_MARKERS) -> str | None:
    """The first line after the last final-answer marker, or None when there is no marker."""
    lower = text.lower()
    best = -1, ""
    for marker in markers:
        at = lower.rfind(marker)
        if at > best[0] or (at == best[0] and at >= 0 and len(marker) > len(best[1])):
            best = at, marker
    if best[0] < 0:
        return None
    rest = lines(text[best[0] + len(best[1]):])
    return clean(rest[0]) if rest else ""


def parse_answer(text: str, marker: str = "") -> tuple[str, bool]:
    """(answer, parsed_ok). With a marker (e.g. "So the final answer is:"), the answer follows its last
    occurrence; when it is missing the last line is taken and the parse counts as a failure. Without a marker,
    the first line is the answer."""
    if marker:
        found = after_marker(text, (marker.lower(),) + FINAL_MARKERS)
        if found:
            return found, True
        rest = lines(text)
        return (clean(rest[-1]) if rest else ""), False
    found = first_answer(text)
    return found, bool(found)


_ECHO = re.compile(r"^\s*(?:question|follow[\s-]*up|document \[\d+\]|example \d+)\s*:?", re.IGNORECASE)


def first_answer(text: str) -> str:
    """The answer in a free-form reply: after "Answer:" / "The answer is:" on the first line that has one, else
    the first line that does not echo the prompt ("Question: ...", "Follow up: ...", "Document [1] ...")."""
    found = [line for line in lines(text) if not _ECHO.match(line)]
    for line in found:
        said = _ANSWER_IS.search(line)
        if said:
            return clean(line[said.end():])
    return clean(found[0]) if found else ""
