"""Demo questions with gold answers for `llmopt ask` and the lab's ask stage, plus a separate demonstration pool
(with decomposition chains for the multi-hop ones), written by `llmopt demo-data DIR` under DIR/qa/:

    questions.jsonl   id, question, answer, hops, (chain): the questions the lab asks
    demos.jsonl       id, question, answer, chain: the demonstration pool (never the same questions)
    corpus/           the documents both are about, ready for `llmopt ingest DIR/qa/corpus --index NAME`

The facts live in one table (FACTS) so that every question, answer and chain is written from the same source
as the documents: a fact changed in one place changes everywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..paths import atomic_write_text
from . import writer

# (document, sentence) in reading order; every answer below is a span of one sentence here
FACTS: dict[str, list[str]] = {
    "harbor_labs.md": [
        "# Harbor Labs",
        "Harbor Labs is a robotics company founded in 2011 by Mira Okafor in Lisbon.",
        "Its flagship product is the Tern-3 delivery drone.",
        "In 2023 Harbor Labs reported revenue of 48 million euros, up from 39 million euros in 2022.",
        "The Lisbon headquarters employs 120 engineers.",
    ],
    "people.md": [
        "# People in the robotics industry",
        "Mira Okafor studied physics at the University of Porto before founding her first company.",
        "Jonas Lie worked at Harbor Labs as a robotics lead until 2014.",
        "In 2015 Jonas Lie founded Blue Finch Robotics in Oslo.",
        "Ana Duarte became the chief financial officer of Harbor Labs in 2020.",
    ],
    "blue_finch.html": [
        "<h1>Blue Finch Robotics</h1>",
        "<p>Blue Finch Robotics builds warehouse robots.</p>",
        "<p>Its best-selling robot, the Finch W2, lifts pallets of up to 900 kilograms.</p>",
        "<p>The company has 310 employees and its headquarters are in Oslo.</p>",
    ],
    "universities.md": [
        "# Universities",
        "The University of Porto was founded in 1911.",
        "The University of Oslo was founded in 1811 and is the oldest university in Norway.",
        "The University of Lisbon traces its origins to 1290.",
    ],
    "products.md": [
        "# Product sheets",
        "The Tern-3 delivery drone carries parcels of up to 4 kilograms over 30 kilometres.",
        "The Finch W2 warehouse robot runs for 11 hours on one charge.",
        "The Tern-3 was first sold in 2019.",
    ],
}

# questions the lab asks: (id, question, answer, chain of (sub-question, answer))
QUESTIONS: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("q1", "Who founded Harbor Labs?", "Mira Okafor", []),
    ("q2", "In which city was Harbor Labs founded?", "Lisbon", []),
    ("q3", "What revenue did Harbor Labs report for 2023?", "48 million euros", []),
    ("q4", "How many employees does Blue Finch Robotics have?", "310", []),
    ("q5", "What does the company founded by Jonas Lie build?", "warehouse robots",
     [("Which company did Jonas Lie found?", "Blue Finch Robotics"),
      ("What does Blue Finch Robotics build?", "warehouse robots")]),
    ("q6", "How many kilograms can the flagship product of Harbor Labs carry?", "4 kilograms",
     [("What is the flagship product of Harbor Labs?", "the Tern-3 delivery drone"),
      ("How many kilograms can the Tern-3 carry?", "4 kilograms")]),
    ("q7", "In which year was the university where the founder of Harbor Labs studied founded?", "1911",
     [("Who founded Harbor Labs?", "Mira Okafor"), ("Where did Mira Okafor study?", "the University of Porto"),
      ("When was the University of Porto founded?", "1911")]),
    ("q8", "How long does the best-selling robot of Blue Finch Robotics run on one charge?", "11 hours",
     [("What is the best-selling robot of Blue Finch Robotics?", "the Finch W2"),
      ("How long does the Finch W2 run on one charge?", "11 hours")]),
]

# the demonstration pool: other questions about the same documents
DEMOS: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("d1", "When was the Tern-3 first sold?", "2019", []),
    ("d2", "Where are the headquarters of Blue Finch Robotics?", "Oslo", []),
    ("d3", "Who became the chief financial officer of Harbor Labs in 2020?", "Ana Duarte", []),
    ("d4", "In which year was the university in the city where Jonas Lie founded his company founded?", "1811",
     [("Where did Jonas Lie found his company?", "Oslo"), ("When was the University of Oslo founded?", "1811")]),
    ("d5", "How many engineers work at the headquarters of the company Mira Okafor founded?", "120",
     [("Which company did Mira Okafor found?", "Harbor Labs"),
      ("How many engineers work at the Harbor Labs headquarters?", "120")]),
    ("d6", "What revenue did Harbor Labs report for 2022?", "39 million euros", []),
]


def _rows(items) -> list[dict]:
    return [{"id": i, "question": q, "answer": a, "hops": max(1, len(chain)),
             "chain": [{"question": sq, "answer": sa} for sq, sa in chain]} for i, q, a, chain in items]


def _document(name: str, sentences: list[str]) -> str:
    if name.endswith(".html"):
        return "<html><body>\n" + "\n".join(sentences) + "\n</body></html>\n"
    return sentences[0] + "\n\n" + "\n\n".join(sentences[1:]) + "\n"


@writer("qa")
def write(out_dir: Path) -> list[Path]:
    root = Path(out_dir) / "qa"
    written = []
    for name, sentences in FACTS.items():
        path = root / "corpus" / name
        atomic_write_text(path, _document(name, sentences))
        written.append(path)
    for name, items in (("questions.jsonl", QUESTIONS), ("demos.jsonl", DEMOS)):
        path = root / name
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _rows(items)))
        written.append(path)
    return written
