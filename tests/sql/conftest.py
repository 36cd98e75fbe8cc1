"""Shared fixtures: the demo databases (written once per session) and a fake model that knows the gold SQL."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from llmopt.testing import FakeLLM


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    from llmopt.demo.sql import write

    root = tmp_path_factory.mktemp("demo")
    write(root)
    return root / "sql"


@pytest.fixture
def demo(demo_root, tmp_path) -> Path:
    """A private copy of the demo folder: tests may hash and compare its files."""
    target = tmp_path / "sql"
    shutil.copytree(demo_root, target)
    return target


@pytest.fixture
def bookshop(demo) -> Path:
    return demo / "database" / "bookshop" / "bookshop.sqlite"


def _file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def file_hash():
    return _file_hash


def asked_question(prompt: str) -> str:
    return re.findall(r"/\* Question: (.*?) \*/", prompt)[-1]


@pytest.fixture
def gold(demo_root) -> dict[str, str]:
    return {q["question"]: q["query"] for q in json.loads((demo_root / "dev.json").read_text())}


@pytest.fixture
def gold_llm(gold):
    """A fake model that answers every demo question with its gold SQL (after the "SELECT" pre-fill)."""
    return FakeLLM(lambda prompt, params: gold[asked_question(prompt)][len("SELECT"):], name="gold")
