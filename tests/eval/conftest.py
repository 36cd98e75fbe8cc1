"""A synthetic multi-hop-style dataset, a word-overlap retriever over its paragraphs, and a fake model that can
only answer from what its prompt shows: control-flow tests of the sweep without weights or an index."""

from __future__ import annotations

import json
import re

import pytest

from llmopt.testing import FakeLLM
from llmopt.types import Chunk, Hit

_WORD = re.compile(r"[a-z0-9]+")
N_ITEMS = 14


def rows(n: int = N_ITEMS) -> list[dict]:
    """Question i asks the code of gadget i; its supporting paragraph states it, two distractors do not."""
    out = []
    for i in range(n):
        out.append({
            "id": f"q{i:02d}", "question": f"What is the code of gadget {i}?", "answers": [f"code{i * 7 % 97}"],
            "contexts": [{"title": f"Gadget {i}", "text": f"The code of gadget {i} is code{i * 7 % 97}.",
                          "is_supporting": True},
                         {"title": f"Widget {i}", "text": f"Widget {i} is blue and weighs {i} grams."},
                         {"title": f"Factory {i}", "text": f"Factory {i} makes widgets in town {i}."}],
        })
    return out


@pytest.fixture
def dataset_file(tmp_path):
    path = tmp_path / "gadgets.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    return path


class MemoryRetriever:
    """Best first by shared words with the query (ties by corpus order); counts searches."""

    def __init__(self, chunks: list[Chunk]):
        self.chunks = chunks
        self.searches = 0

    def search(self, query, k=5, filters=None):
        self.searches += 1
        words = set(_WORD.findall(query.lower()))
        scored = sorted(((len(words & set(_WORD.findall(c.text.lower()))), -i, c) for i, c in enumerate(self.chunks)),
                        key=lambda t: (t[0], t[1]), reverse=True)
        return [Hit(c, float(s), rank) for rank, (s, _, c) in enumerate(scored[:k], start=1)]


@pytest.fixture
def retriever(dataset_file):
    from llmopt.eval.datasets import load_dataset

    return MemoryRetriever(load_dataset(dataset_file).corpus_chunks())


_ASKED = re.compile(r"Question: What is the code of gadget (\d+)\?\s*$", re.MULTILINE)


def answer_from_prompt(prompt: str, params) -> str:
    """The code of the last gadget asked about, if a document in the prompt states it; otherwise a guess."""
    asked = _ASKED.findall(prompt)
    if not asked:
        return "unknown"
    found = re.search(rf"The code of gadget {asked[-1]} is (code\d+)\.", prompt)
    return found.group(1) if found else "code0"


@pytest.fixture
def fake():
    return FakeLLM(answer_from_prompt, name="reader", seconds_per_token=1e-4)


@pytest.fixture(scope="session")
def _demo_root(tmp_path_factory):
    """The demo QA set and corpus, written once per session (the corpus PDF takes seconds to draw)."""
    from llmopt.eval.datasets import load_demo

    root = tmp_path_factory.mktemp("demo-data")
    load_demo(root)
    return root


@pytest.fixture
def demo_data(llmopt_home, _demo_root):
    """LLMOPT_HOME/demo-data pointing at the session's copy, where load_dataset("demo") looks."""
    (llmopt_home / "demo-data").symlink_to(_demo_root, target_is_directory=True)
    return _demo_root
