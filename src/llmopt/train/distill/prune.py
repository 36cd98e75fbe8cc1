"""Depth-pruned students: keep a subset of the teacher's transformer layers, initialised from its weights.

    layers=0,2,4-7      explicit indices and ranges (0-based)
    layers=every:2      0, 2, 4, ... (every other layer: half the depth)
    layers=first:12     the first 12 layers
    layers=drop:20-23   everything except these

Layer i of the student is a copy of the i-th kept teacher layer; embeddings, final norm and output layer are
copied unchanged, so the student shares the teacher's tokenizer (the prerequisite for token-level KD).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from ...errors import ConfigError

LAYER_KEY = re.compile(r"^(.*\.layers\.)(\d+)(\..*)$")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "generation_config.json", "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json")


def _indices(text: str, n_layers: int) -> list[int]:
    out: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, sep, hi = part.partition("-")
        if not (lo.isdigit() and (not sep or hi.isdigit())):
            raise ConfigError(f"layer list '{text}': write indices and ranges like 0,2,4-7")
        out += range(int(lo), int(hi) + 1) if sep else [int(lo)]
    return out


def parse_layers(spec: str, n_layers: int) -> list[int]:
    """The teacher layers a student keeps, sorted; fails with the grammar on bad input."""
    text = spec.strip().removeprefix("layers=").strip()
    kind, sep, arg = text.partition(":")
    if sep and kind == "every" and arg.isdigit() and int(arg) > 0:
        keep = list(range(0, n_layers, int(arg)))
    elif sep and kind == "first" and arg.isdigit():
        keep = list(range(int(arg)))
    elif sep and kind == "drop":
        dropped = set(_indices(arg, n_layers))
        keep = [i for i in range(n_layers) if i not in dropped]
    elif not sep:
        keep = _indices(text, n_layers)
    else:
        raise ConfigError(f"'{spec}': use layers=0,2,4-7, layers=every:2, layers=first:N or layers=drop:LIST")
    keep = sorted(set(keep))
    if not keep or keep[-1] >= n_layers or keep[0] < 0:
        raise ConfigError(f"'{spec}' selects layers {keep[:8]} but the teacher has layers 0-{n_layers - 1}")
    return keep


def _read_tensors(folder: Path):
    """(name, tensor) pairs from a single or sharded safetensors model, one file at a time."""
    from ..merge.io import read_torch_tensors

    return read_torch_tensors(folder)


def _subset_per_layer_lists(config: dict, keep: list[int], n_layers: int) -> None:
    """Per-layer settings (layer_types, ...) follow the kept layers."""
    for key, value in list(config.items()):
        if isinstance(value, list) and len(value) == n_layers and key != "architectures":
            config[key] = [value[i] for i in keep]
    if isinstance(config.get("max_window_layers"), int):  # Qwen2: layers below this index use full attention
        config["max_window_layers"] = sum(1 for i in keep if i < config["max_window_layers"])


def prune_depth(teacher_folder: str | Path, spec: str, out: str | Path) -> Path:
    """Write a depth-pruned copy of an HF model folder to `out` (atomically); return `out`."""
    from safetensors.torch import save_file

    teacher_folder, out = Path(teacher_folder), Path(out)
    config = json.loads((teacher_folder / "config.json").read_text())
    n_layers = int(config["num_hidden_layers"])
    keep = parse_layers(spec, n_layers)
    new_index = {old: new for new, old in enumerate(keep)}
    tensors = {}
    for key, tensor in _read_tensors(teacher_folder):
        match = LAYER_KEY.match(key)
        if match is None:
            tensors[key] = tensor
        elif int(match.group(2)) in new_index:
            tensors[f"{match.group(1)}{new_index[int(match.group(2))]}{match.group(3)}"] = tensor
    config["num_hidden_layers"] = len(keep)
    _subset_per_layer_lists(config, keep, n_layers)
    config["llmopt_pruned_from"] = {"teacher": str(teacher_folder), "layers": keep}
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    for name in TOKENIZER_FILES:
        if (teacher_folder / name).is_file():
            shutil.copy2(teacher_folder / name, tmp / name)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out
