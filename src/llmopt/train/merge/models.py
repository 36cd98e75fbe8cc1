"""The input models of a merge: where they are, their config, their tensors and how those group into layers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import InputError
from .config import ModelRef
from .io import TensorInfo, index_folder, read_json

# "<prefix>.<layers|h|blocks|layer>.<index>.<rest>": the repeated blocks of a transformer checkpoint
LAYER_PATTERN = re.compile(r"^(?P<prefix>(?:.*\.)?(?:layers|h|blocks|block|layer)\.)(?P<index>\d+)\.(?P<suffix>.+)$")
LAYER_COUNT_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
EMBEDDING_HINTS = ("embed", "wte", "wpe", "word_embeddings")
TIED_EMBEDDINGS = ("model.embed_tokens.weight", "transformer.wte.weight", "gpt_neox.embed_in.weight",
                   "model.decoder.embed_tokens.weight", "embed_tokens.weight")


@dataclass
class ModelInfo:
    """One input model, its tensors indexed (headers only) and its layers grouped."""

    key: str
    folder: Path
    config: dict
    tensors: dict[str, TensorInfo]
    num_layers: int
    layers: dict[int, dict[str, str]] = field(default_factory=dict)  # layer -> {suffix: tensor name}
    others: list[str] = field(default_factory=list)  # tensors outside the layers, in checkpoint order
    layer_prefix: str = ""

    @property
    def vocab_size(self) -> int | None:
        value = self.config.get("vocab_size") or (self.config.get("text_config") or {}).get("vocab_size")
        return int(value) if value else None

    @property
    def architecture(self) -> tuple[str, ...]:
        return tuple(self.config.get("architectures") or [self.config.get("model_type", "?")])

    def lookup(self, name: str) -> str | None:
        """The tensor that holds `name` in this model: itself, or the input embedding when the output
        embedding is tied to it and not stored."""
        if name in self.tensors:
            return name
        if name.endswith("lm_head.weight") and self.config.get("tie_word_embeddings", True):
            return next((tied for tied in TIED_EMBEDDINGS if tied in self.tensors), None)
        return None


def resolve_folder(ref: ModelRef, base_dir: Path | None = None) -> Path:
    """A model reference as a local folder: a path (relative to the working directory, then to the config
    file's folder), else a hub id fetched for users with internet."""
    path = Path(ref.path).expanduser()
    for candidate in (path, (base_dir / path) if base_dir and not path.is_absolute() else None):
        if candidate is not None and candidate.is_dir():
            return candidate.resolve()
    if path.is_absolute() or ref.path.startswith(".") or ref.path.count("/") != 1:
        raise InputError(f"model folder {ref.path} not found; pass the folder of an HF model (config.json + "
                         "*.safetensors) or a hub id like org/name")
    return _download(ref)


def _download(ref: ModelRef) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(ref.path, revision=ref.revision, allow_patterns=[
            "*.json", "*.safetensors", "tokenizer.model", "*.jinja", "*.txt"]))
    except Exception as exc:  # offline, unknown repo, gated model: all mean "give me a local folder"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"model {ref} is not a local folder and could not be fetched from the hub ({reason}); "
                         "download it first and pass the folder") from None


def load_model(ref: ModelRef, base_dir: Path | None = None) -> ModelInfo:
    folder = resolve_folder(ref, base_dir)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise InputError(f"{folder} has no config.json; pass an HF model folder")
    config = read_json(config_path, "a model's settings (an HF config.json)")
    _check_config(config_path, config)
    tensors = index_folder(folder)
    info = ModelInfo(key=str(ref), folder=folder, config=config, tensors=tensors, num_layers=0)
    _group_layers(info)
    return info


def _check_config(path: Path, config: dict) -> None:
    """The config.json fields a merge reads have the types HF writes."""
    def bad(key: str, value: object, want: str) -> InputError:
        return InputError(f"{path}: {key} is {value!r}, not {want}; fix the file or re-download the model")

    for key in (*LAYER_COUNT_KEYS, "vocab_size"):
        if config.get(key) is not None and not (type(config[key]) is int and config[key] >= 0):
            raise bad(key, config[key], "a whole number")
    text_config = config.get("text_config")
    if text_config is not None and not isinstance(text_config, dict):
        raise bad("text_config", text_config, "a JSON object")
    if text_config and text_config.get("vocab_size") is not None and type(text_config["vocab_size"]) is not int:
        raise bad("text_config.vocab_size", text_config["vocab_size"], "a whole number")
    architectures = config.get("architectures")
    if architectures is not None and not (isinstance(architectures, list)
                                          and all(isinstance(a, str) for a in architectures)):
        raise bad("architectures", architectures, "a list of class names")
    if not isinstance(config.get("model_type", ""), str):
        raise bad("model_type", config["model_type"], "a name")


def _group_layers(info: ModelInfo) -> None:
    for name in info.tensors:
        match = LAYER_PATTERN.match(name)
        if match:
            info.layers.setdefault(int(match["index"]), {})[match["suffix"]] = name
            info.layer_prefix = info.layer_prefix or match["prefix"]
        else:
            info.others.append(name)
    declared = next((int(info.config[k]) for k in LAYER_COUNT_KEYS if isinstance(info.config.get(k), int)), None)
    found = max(info.layers) + 1 if info.layers else 0
    if declared is not None and found > declared:
        raise InputError(f"{info.folder}: tensors reach layer {found - 1} but config.json says "
                         f"{declared} layers; the checkpoint and its config disagree")
    info.num_layers = declared if declared is not None else found
    missing = [i for i in range(found) if i not in info.layers]
    if missing:
        raise InputError(f"{info.folder}: layers {missing[:5]} have no tensors; the checkpoint is incomplete")


def is_embedding(name: str) -> bool:
    """Tensors that come before the layers (embeddings); everything else outside the layers comes after."""
    return any(hint in name for hint in EMBEDDING_HINTS)
