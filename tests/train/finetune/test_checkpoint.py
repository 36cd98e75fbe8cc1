"""Checkpoints resume exactly (weights, optimizer, scheduler, every RNG, step) and load without unpickling code:
a planted training_state.pt cannot run anything, and a damaged checkpoint is one error naming the fix."""

from __future__ import annotations

import json
import os
import pickle
import random

import numpy as np
import pytest
import torch

from llmopt.errors import ConfigError
from llmopt.train.finetune import checkpoint


def tiny():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    from transformers import get_scheduler

    scheduler = get_scheduler("cosine", optimizer, num_warmup_steps=2, num_training_steps=10)
    return model, optimizer, scheduler


def step(model, optimizer, scheduler):
    loss = model(torch.randn(3, 4)).pow(2).sum()
    loss.backward()
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()


def draws() -> tuple:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_a_checkpoint_restores_training_exactly_and_loads_as_plain_data(tmp_path):
    model, optimizer, scheduler = tiny()
    for _ in range(3):
        step(model, optimizer, scheduler)
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    random.random(), np.random.rand(5), torch.randn(2)  # a mid-stream RNG position, not a fresh seed
    saved = checkpoint.save(tmp_path, 3, model, optimizer, scheduler, {"fingerprint": "f", "tokens": 9}, keep=2)
    expected_draws = draws()
    step(model, optimizer, scheduler)
    expected = [p.detach().clone() for p in model.parameters()]
    # only tensors, numbers, strings and containers: the restricted unpickler reads it
    torch.load(saved / "training_state.pt", weights_only=True)

    model2, optimizer2, scheduler2 = tiny()
    state = checkpoint.load(saved, model2, optimizer2, scheduler2, "f")
    assert state["step"] == 3 and state["tokens"] == 9
    assert draws() == expected_draws
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = checkpoint.load(saved, model2, optimizer2, scheduler2, "f")  # the RNGs come back, not this seed
    assert draws() == expected_draws
    step(model2, optimizer2, scheduler2)
    assert all(torch.equal(a, b) for a, b in zip(expected, model2.parameters()))
    assert scheduler2.state_dict() == scheduler.state_dict()


class Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_planted_training_state_runs_no_code(tmp_path):
    model, optimizer, scheduler = tiny()
    saved = checkpoint.save(tmp_path, 1, model, optimizer, scheduler, {"fingerprint": "f"}, keep=1)
    marker = tmp_path / "pwned"
    with open(saved / "training_state.pt", "wb") as handle:
        pickle.dump({"optimizer": Payload(str(marker))}, handle)
    with pytest.raises(ConfigError) as info:
        checkpoint.load(saved, *tiny(), "f")
    assert not marker.exists()
    message = str(info.value)
    assert "training_state.pt" in message and "--out" in message and "\n" not in message


def test_a_checkpoint_from_the_previous_format_still_resumes(tmp_path):
    """Checkpoints written before the state was saved as plain data hold numpy's RNG state as an array: they
    load through the restricted unpickler with numpy's array type allowed, and nothing else."""
    model, optimizer, scheduler = tiny()
    step(model, optimizer, scheduler)
    saved = checkpoint.save(tmp_path, 1, model, optimizer, scheduler, {"fingerprint": "f"}, keep=1)
    np.random.seed(5)
    old_rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": old_rng},
               saved / "training_state.pt")
    expected = float(np.random.rand())
    np.random.seed(0)
    checkpoint.load(saved, *tiny(), "f")
    assert float(np.random.rand()) == expected


@pytest.mark.parametrize("damage", ["state.json garbage", "state.json a list", "no training state",
                                    "training state garbage", "training state a list", "no weights",
                                    "weights garbage"])
def test_a_damaged_checkpoint_is_one_error_naming_the_fix(tmp_path, damage):
    model, optimizer, scheduler = tiny()
    saved = checkpoint.save(tmp_path, 1, model, optimizer, scheduler, {"fingerprint": "f"}, keep=1)
    if damage == "state.json garbage":
        (saved / "state.json").write_text("{not json")
    elif damage == "state.json a list":
        (saved / "state.json").write_text("[1]")
    elif damage == "no training state":
        (saved / "training_state.pt").unlink()
    elif damage == "training state garbage":
        (saved / "training_state.pt").write_bytes(b"garbage" * 10)
    elif damage == "training state a list":
        torch.save([1, 2], saved / "training_state.pt")
    elif damage == "no weights":
        (saved / "trainable.safetensors").unlink()
    elif damage == "weights garbage":
        (saved / "trainable.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(ConfigError) as info:
        checkpoint.load(saved, *tiny(), "f")
    message = str(info.value)
    assert "--out" in message and "\n" not in message, message
    assert json.dumps(message)  # plain text


def test_folders_that_only_look_like_checkpoints_are_ignored(tmp_path):
    model, optimizer, scheduler = tiny()
    saved = checkpoint.save(tmp_path, 2, model, optimizer, scheduler, {"fingerprint": "f"}, keep=3)
    for stray in ("step-old", "step-", "step-2.bak"):
        (checkpoint.checkpoints_dir(tmp_path) / stray).mkdir()
        (checkpoint.checkpoints_dir(tmp_path) / stray / "state.json").write_text("{}")
    assert checkpoint.latest(tmp_path) == saved
