"""Fixtures for the fine-tuning tests: a tiny random Llama (no downloads) and a small arithmetic task."""

from __future__ import annotations

import json
import random

import pytest

from llmopt.testing import make_tiny_llama


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return make_tiny_llama(tmp_path_factory.mktemp("models") / "tiny", seed=0)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def arithmetic_rows(n: int, seed: int = 0, offset: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        rows.append({"prompt": f"Item {i + offset}: what is {a} plus {b}?", "completion": f"The answer is {a + b}.",
                     "answer": str(a + b)})
    return rows


@pytest.fixture
def task_files(tmp_path):
    """Disjoint train (48 rows) and eval (8 rows) files."""
    train = write_jsonl(tmp_path / "train.jsonl", arithmetic_rows(48, seed=0))
    evaluation = write_jsonl(tmp_path / "eval.jsonl", arithmetic_rows(8, seed=1, offset=1000))
    return train, evaluation
