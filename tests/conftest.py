"""Every test gets its own LLMOPT_HOME, so nothing touches ~/.llmopt; converted and requantized models are
shared across the session (they are slow to make and never change)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_MODELS = Path(os.environ.get("LLMOPT_TEST_MODELS", Path(__file__).resolve().parent.parent / ".llmopt" / "test-models"))


@pytest.fixture(autouse=True)
def llmopt_home(tmp_path, monkeypatch):
    home = tmp_path / "llmopt-home"
    home.mkdir()
    SHARED_MODELS.mkdir(parents=True, exist_ok=True)
    (home / "models").symlink_to(SHARED_MODELS, target_is_directory=True)
    monkeypatch.setenv("LLMOPT_HOME", str(home))
    monkeypatch.delenv("LLMOPT_RUNLOG", raising=False)
    monkeypatch.delenv("LLMOPT_PRICES", raising=False)
    from llmopt import pricing

    pricing.price_table.cache_clear()
    yield home


@pytest.fixture
def fake_llm():
    from llmopt.testing import FakeLLM

    return FakeLLM
