"""Tiny random Llama models shared by the merge tests (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """m0 (the base), m1 (a sharded checkpoint) and m2: one architecture, 4 layers, different random weights."""
    from llmopt.testing import make_tiny_llama

    root = tmp_path_factory.mktemp("merge-models")
    return {
        "m0": str(make_tiny_llama(root / "m0", seed=0, layers=4)),
        "m1": str(make_tiny_llama(root / "m1", seed=1, layers=4, shard_size="200KB")),
        "m2": str(make_tiny_llama(root / "m2", seed=2, layers=4)),
    }


@pytest.fixture
def write_config(tmp_path):
    """Write a merge config (a dict) as YAML and return its path."""

    def write(config: dict, name: str = "merge.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    return write
