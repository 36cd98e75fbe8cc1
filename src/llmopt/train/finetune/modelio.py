"""Loading a model spec as trainable transformers weights, LoRA through PEFT, and saving what was trained.

Every trained model is saved as an HF folder that `--model hf:OUT` serves everywhere in llmopt: a full model, a
merged LoRA model, or (without --merge-lora) a PEFT adapter folder that transformers loads on top of its base.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ...errors import ConfigError
from ...models.packs import PACKS
from ...models.registry import resolve
from .attention import use_varlen


def model_folder(spec: str) -> str:
    """The HF folder (or hub id) behind a model spec; GGUF-only and remote specs cannot be trained."""
    resolved = resolve(spec)
    if resolved.name in PACKS:
        from ...models.hf import converted_folder

        return str(converted_folder(resolved.name))
    if resolved.engine == "hf":
        path = Path(resolved.name).expanduser()
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise ConfigError(f"{path} has no config.json; point --model at a transformers model folder")
            return str(path.resolve())
        return resolved.name  # a hub id (needs internet)
    raise ConfigError(f"'{spec}' runs on {resolved.engine}, which has no trainable weights; fine-tune an HF model "
                      "(default, a pack name, or hf:FOLDER) and export it to GGUF afterwards")


def load_tokenizer(folder: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(folder: str, *, dtype: str = "float32", varlen: bool = True):
    """A causal LM ready to train; returns (model, varlen attention enabled)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))
    model.config.use_cache = False
    return model, (use_varlen(model) if varlen else False)


def add_lora(model, *, r: int, alpha: int, dropout: float, target_modules, seed: int):
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)  # adapter initialisation
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules,
                        task_type="CAUSAL_LM", bias="none")
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        raise ConfigError(f"LoRA target modules {target_modules!r} do not fit this model ({exc}); "
                          "use lora_target_modules: all-linear") from None


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def save_trained(model, tokenizer, out: Path, *, method: str, merge: bool, base_folder: str) -> Path:
    """Write the final model under `out` atomically (a temporary folder renamed into place)."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.model.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if method == "lora":
        model.save_pretrained(tmp / "adapter")
        tokenizer.save_pretrained(tmp / "adapter")
        _point_adapter_at(tmp / "adapter", base_folder)
        if merge:
            merged = model.merge_and_unload()
            _save_plain(merged, tokenizer, tmp)
        else:
            for item in (tmp / "adapter").iterdir():
                shutil.copy2(item, tmp / item.name)
    else:
        _save_plain(model, tokenizer, tmp)
    for item in tmp.iterdir():  # move into out/ next to checkpoints and reports, replacing an older model
        target = out / item.name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(item, target)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def _save_plain(model, tokenizer, folder: Path) -> None:
    model.config.use_cache = True
    model.config._attn_implementation = "sdpa"  # serving uses standard attention
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config.pop("attn_implementation", None)
    config_path.write_text(json.dumps(config, indent=2))


def _point_adapter_at(folder: Path, base_folder: str) -> None:
    """Record the base model's absolute path so the adapter loads from anywhere."""
    path = folder / "adapter_config.json"
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = str(Path(base_folder).resolve()) if Path(base_folder).exists() else base_folder
    path.write_text(json.dumps(config, indent=2))


def folder_size(folder: Path) -> int:
    """Bytes of model weights in a folder (safetensors / bin / gguf files)."""
    return sum(p.stat().st_size for p in Path(folder).glob("*") if p.suffix in (".safetensors", ".bin", ".gguf"))
