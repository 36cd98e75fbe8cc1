"""Fixtures for the distillation tests: a tiny 4-layer teacher, prompts with gold answers (no downloads)."""

from __future__ import annotations

import json
import random

import pytest

from llmopt.testing import make_tiny_llama


@pytest.fixture(scope="session")
def teacher(tmp_path_factory):
    return make_tiny_llama(tmp_path_factory.mktemp("models") / "teacher", seed=1, layers=4)


@pytest.fixture
def prompts_file(tmp_path):
    rng = random.Random(0)
    rows = []
    for i in range(40):
        a, b = rng.randint(0, 4), rng.randint(0, 2)
        rows.append({"prompt": f"Case {i}: add {a} and {b}.", "completion": f"The answer is {a + b}.",
                     "answer": str(a + b)})
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
