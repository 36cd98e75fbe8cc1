"""A tiny corpus of chunks and a scripted generator that writes (and answers) questions by what its prompt shows,
so every filter has a case that passes and one that fails, with no weights and no index."""

from __future__ import annotations

import pytest

from llmopt.testing import FakeLLM
from llmopt.types import Chunk

CHUNKS = [
    Chunk("labs-1", "Harbor Labs was founded in 2011 by Mira Okafor in Lisbon, Portugal, as a robotics company.",
          "docs/labs.md", 1),
    Chunk("people-2", "Mira Okafor studied physics at the University of Porto before she moved to Lisbon.",
          "docs/people.md", 2),
    Chunk("finch-1", "Blue Finch Robotics builds warehouse robots in Oslo for grocery chains and pharmacies.",
          "docs/finch.md", 1),
    Chunk("finch-2", "Blue Finch Robotics was started by Jonas Lie after he left a shipping company in Bergen.",
          "docs/finch.md", 2),
    Chunk("harbor-3", "Mira Okafor of Harbor Labs also gives lectures on robot safety twice a year.",
          "docs/labs.md", 3),
    Chunk("table-4", "| Year | Revenue |\n| 2023 | 48 million euros |\n| 2024 | 61 million euros |",
          "docs/report.pdf", 4, type="table"),
    Chunk("picture-5", "Figure 3: units shipped by region. North 1,200. South 950.", "docs/report.pdf", 5,
          type="picture"),
]

# what the generator writes, by a word of the passage it is shown
WRITES = {
    "founded in 2011": "Question: Who founded Harbor Labs?\nAnswer: Mira Okafor",            # accepted
    "studied physics": "Question: Where did Mira Okafor study physics?\nAnswer: University of Porto",  # round trip
    "warehouse robots": "Question: Where does Blue Finch Robotics build robots, in Oslo?\nAnswer: Oslo",  # in q
    "shipping company": "Sorry, I cannot write a question about this.",                      # malformed
    "lectures on robot": "**Question:** Who founded Harbor Labs?\n**Answer:** Mira Okafor",  # duplicate of 1st
    "| Year | Revenue |": "Question: What was the revenue in 2024?\nAnswer: 61 million euros",  # accepted
    "Figure 3": "1. Question: How many units were shipped to the North region?\n2. Answer: 1,200",  # accepted
}
# what it answers in the round trip, by a word of the question
ANSWERS = {"founded Harbor": "Mira Okafor.", "study physics": "Answer: Lisbon", "revenue in 2024": "61 million euros",
           "North region": "1,200 units"}


def _last_user(prompt: str) -> str:
    return prompt.rsplit("<|user|>", 1)[-1]


def scripted(prompt: str, params) -> str:
    last = _last_user(prompt)
    if "quiz questions" in prompt:
        return next((reply for marker, reply in WRITES.items() if marker in last), "no idea")
    question = last.rsplit("Question:", 1)[-1]
    return next((reply for marker, reply in ANSWERS.items() if marker in question), "unknown")


@pytest.fixture
def chunks():
    return [Chunk(**{**c.__dict__, "metadata": {}}) for c in CHUNKS]


@pytest.fixture
def generator():
    return FakeLLM(scripted, name="qgen")
