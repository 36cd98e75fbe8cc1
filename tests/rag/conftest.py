"""A tiny in-memory retriever (word overlap, deterministic) and a small corpus for control-flow tests."""

from __future__ import annotations

import re

import pytest

from llmopt.types import Chunk, Hit

_WORD = re.compile(r"[a-z0-9]+")

CORPUS = [
    ("c1", "Harbor Labs was founded in 2011 by Mira Okafor in Lisbon.", "labs.md", 1),
    ("c2", "Mira Okafor studied physics at the University of Porto.", "people.md", 2),
    ("c3", "The Lisbon office of Harbor Labs employs 120 engineers.", "labs.md", 3),
    ("c4", "Revenue of Harbor Labs reached 48 million euros in 2023.", "report.pdf", 4),
    ("c5", "The University of Porto was founded in 1911.", "porto.html", None),
    ("c6", "Blue Finch Robotics builds warehouse robots in Oslo.", "finch.md", 1),
    ("c7", "Blue Finch Robotics was founded by Jonas Lie in 2015.", "finch.md", 2),
    ("c8", "Jonas Lie previously worked at Harbor Labs as a robotics lead.", "people.md", 5),
]


class MemoryRetriever:
    """Best first by shared words with the query; records every search."""

    def __init__(self, corpus=CORPUS):
        self.chunks = [Chunk(cid, text, source, page) for cid, text, source, page in corpus]
        self.queries: list[tuple[str, int]] = []

    def search(self, query, k=5, filters=None):
        self.queries.append((query, k))
        words = set(_WORD.findall(query.lower()))
        scored = [(len(words & set(_WORD.findall(c.text.lower()))), -i, c) for i, c in enumerate(self.chunks)]
        scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
        return [Hit(c, float(s), rank) for rank, (s, _, c) in enumerate(scored[:k], start=1)]


POOL_ROWS = [
    {"id": "d1", "question": "Where was Harbor Labs founded?", "answer": "Lisbon"},
    {"id": "d2", "question": "Who founded Blue Finch Robotics?", "answer": "Jonas Lie"},
    {"id": "d3", "question": "When was the university where Mira Okafor studied founded?", "answer": "1911",
     "chain": [{"question": "Where did Mira Okafor study?", "answer": "University of Porto"},
               {"question": "When was the University of Porto founded?", "answer": "1911"}]},
    {"id": "d4", "question": "How many engineers work in the Lisbon office?", "answer": "120"},
    {"id": "d5", "question": "What does Blue Finch Robotics build?", "answer": "warehouse robots"},
]


@pytest.fixture
def retriever():
    return MemoryRetriever()


@pytest.fixture
def pool_file(tmp_path):
    import json

    path = tmp_path / "pool.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in POOL_ROWS) + "\n")
    return path
