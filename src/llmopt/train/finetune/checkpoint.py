"""Checkpoints: everything needed to continue a run exactly where it stopped.

OUT/checkpoints/step-000120/ holds the trainable weights (all of them, or only the adapter), the optimizer and
scheduler states, the RNG states and a state.json. A checkpoint is written to a temporary folder and renamed into
place, so a crash mid-write leaves the previous one intact; `latest()` only sees complete checkpoints.

The training state is saved as plain data (tensors, numbers, strings, containers) and read back with torch's
restricted unpickler (`weights_only=True`): an output folder someone else wrote cannot run code on resume.
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
    found = [p for p in root.iterdir() if p.name.startswith(PREFIX) and p.name[len(PREFIX):].isdigit()
             and (p / "state.json").is_file()]  # a stray step-old/ or step-1.bak/ is not a checkpoint
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def latest(out: Path) -> Path | None:
    found = complete(out)
    return found[-1] if found else None


def load(path: Path, model, optimizer, scheduler, fingerprint: str) -> dict[str, Any]:
    """Restore a checkpoint into model/optimizer/scheduler; refuse one made from other data or settings."""
    state = _read_state(path)
    if state.get("fingerprint") != fingerprint:
        raise ConfigError(f"checkpoint {path} was made with other data or settings; resume with the same ones, "
                          "or use a new --out (or drop --resume) to start over")
    weights = _read_weights(path)
    params = dict(model.named_parameters())
    missing = [k for k in weights if k not in params]
    if missing:
        raise ConfigError(f"checkpoint {path} does not fit this model ({missing[0]}); use a new --out")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)
    blob = _read_training_state(path)
    try:
        optimizer.load_state_dict(blob["optimizer"])
        scheduler.load_state_dict(blob["scheduler"])
        set_rng_state(blob["rng"])
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        raise _damaged(path / "training_state.pt", f"{type(exc).__name__}: {exc}") from None
    return state


def _damaged(file: Path, why: str) -> ConfigError:
    why = " ".join(str(why).split())[:200]
    return ConfigError(f"checkpoint file {file} is damaged or not llmopt's ({why}); delete that checkpoint "
                       "folder to resume from an earlier one, or use a new --out (or drop --resume) to start over")


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _damaged(path / "state.json", exc) from None
    if not isinstance(state, dict):
        raise _damaged(path / "state.json", "not a JSON object")
    return state


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path / "trainable.safetensors"))
    except (OSError, SafetensorError, ValueError) as exc:
        raise _damaged(path / "trainable.safetensors", exc) from None


# Checkpoints written before the RNG state was saved as plain data hold numpy's state as an array: these are the
# only classes beyond plain data that the restricted unpickler may build for them (no code runs through them).
_NUMPY_ARRAY_GLOBALS = [np.ndarray, np.dtype, np.dtypes.UInt32DType]


def _read_training_state(path: Path) -> dict[str, Any]:
    import pickle

    file = path / "training_state.pt"
    try:
        with torch.serialization.safe_globals(_NUMPY_ARRAY_GLOBALS + _numpy_reconstruct()):
            blob = torch.load(file, weights_only=True, map_location="cpu")
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise _damaged(file, str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    if not isinstance(blob, dict):
        raise _damaged(file, "not a mapping of optimizer, scheduler and rng states")
    return blob


def _numpy_reconstruct() -> list:
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return [_reconstruct]


def rng_state() -> dict[str, Any]:
    """Every RNG the training draws from, as plain data: numpy's key array travels as a tensor."""
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    numpy_state = {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                   "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)}
    return {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    python = state["python"]  # a tuple, or a list where an older format made one
    random.setstate((python[0], tuple(python[1]), python[2]))
    numpy_state = state["numpy"]
    if isinstance(numpy_state, dict):
        keys = numpy_state["keys"]
        keys = keys.numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys)
        numpy_state = (numpy_state["kind"], keys.astype(np.uint32), numpy_state["pos"], numpy_state["has_gauss"],
                       numpy_state["cached_gaussian"])
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])
