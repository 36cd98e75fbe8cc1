"""Checkpoints: everything needed to continue a run exactly where it stopped.

OUT/checkpoints/step-000120/ holds the trainable weights (all of them, or only the adapter), the optimizer and
scheduler states, the RNG states and a state.json. A checkpoint is written to a temporary folder and renamed into
place, so a crash mid-write leaves the previous one intact; `latest()` only sees complete checkpoints.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import ConfigError

PREFIX = "step-"


def checkpoints_dir(out: Path) -> Path:
    return Path(out) / "checkpoints"


def trainable_state(model) -> dict[str, torch.Tensor]:
    """Only the parameters that train (the adapter for LoRA, everything for full fine-tuning)."""
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters() if p.requires_grad}


def save(out: Path, step: int, model, optimizer, scheduler, state: dict[str, Any], keep: int) -> Path:
    from safetensors.torch import save_file

    root = checkpoints_dir(out)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{step:06d}"
    tmp = root / f".{final.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    weights = trainable_state(model)
    save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp / "trainable.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state()},
               tmp / "training_state.pt")
    (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in complete(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def complete(out: Path) -> list[Path]:
    root = checkpoints_dir(out)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.name.startswith(PREFIX) and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def latest(out: Path) -> Path | None:
    found = complete(out)
    return found[-1] if found else None


def load(path: Path, model, optimizer, scheduler, fingerprint: str) -> dict[str, Any]:
    """Restore a checkpoint into model/optimizer/scheduler; refuse one made from other data or settings."""
    from safetensors.torch import load_file

    state = json.loads((path / "state.json").read_text())
    if state.get("fingerprint") != fingerprint:
        raise ConfigError(f"checkpoint {path} was made with other data or settings; resume with the same ones, "
                          "or use a new --out (or drop --resume) to start over")
    weights = load_file(str(path / "trainable.safetensors"))
    params = dict(model.named_parameters())
    missing = [k for k in weights if k not in params]
    if missing:
        raise ConfigError(f"checkpoint {path} does not fit this model ({missing[0]}); use a new --out")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)
    blob = torch.load(path / "training_state.pt", weights_only=False)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    set_rng_state(blob["rng"])
    return state


def rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
