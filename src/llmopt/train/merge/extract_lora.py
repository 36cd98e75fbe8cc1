"""Extract a LoRA adapter from a fine-tuned model: the low-rank difference to its base, as a PEFT adapter.

    from llmopt.train.merge.extract_lora import extract_lora
    result = extract_lora("finetuned", "base", "adapter", rank=16)      # PeftModel.from_pretrained(base, "adapter")
    result.max_rel_error, [(m.name, m.rank, m.rel_error) for m in result.modules]

Planned from the safetensors headers (names, shapes: no tensor data), then streamed a module at a time: both
weights are mapped, their difference factorized (lowrank.py) and the pages dropped, so the working memory is
one module's difference plus the adapter being built. The adapter is written into a hidden folder that becomes
`out` only once complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ...errors import ConfigError, InputError
from .io import DTYPE_CODES, ShardWriter, TensorInfo, TensorReader, TensorSlot, index_folder, read_json
from .lowrank import SVD_METHODS, factorize
from .models import EMBEDDING_HINTS
from .plan import ShapeMismatchError

EMBEDDING_MODES = ("save", "lora", "skip")  # a changed embedding / lm_head: full copy, LoRA, or left out
OUTPUT_EMBEDDING_HINTS = ("lm_head", "embed_out")
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
PEFT_PREFIX = "base_model.model."
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
Progress = Callable[[int, int, str], None]  # (modules done, modules in all, current module)


@dataclass(frozen=True)
class ModuleReport:
    """One changed module: how it is carried (lora, embedding lora, saved in full) and how well."""

    name: str  # the module, e.g. model.layers.0.self_attn.q_proj
    kind: str  # "lora", "embedding" (PEFT's embedding LoRA) or "saved" (modules_to_save: exact copy)
    shape: tuple[int, ...]
    rank: int  # 0 for a saved module
    rel_error: float  # ||dW - BA||_F / ||dW||_F (0 for a saved module)
    max_abs_error: float  # max |dW - BA|
    parameters: int  # adapter parameters for this module

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "shape": list(self.shape), "rank": self.rank,
                "rel_error": self.rel_error, "max_abs_error": self.max_abs_error, "parameters": self.parameters}


@dataclass
class ExtractResult:
    """The adapter written to out_dir and its reconstruction error, module by module."""

    out_dir: Path
    rank: int  # the largest rank of any module (the adapter's r; smaller ones are in rank_pattern)
    requested_rank: int
    modules: list[ModuleReport]
    unchanged: int  # candidate modules whose difference is exactly zero (left out)
    parameters: int
    bytes: int
    seconds: float
    warnings: list[str] = field(default_factory=list)

    @property
    def max_rel_error(self) -> float:
        return max((m.rel_error for m in self.modules), default=0.0)

    @property
    def max_abs_error(self) -> float:
        return max((m.max_abs_error for m in self.modules), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "rank": self.rank, "requested_rank": self.requested_rank,
                "max_rel_error": self.max_rel_error, "max_abs_error": self.max_abs_error,
                "unchanged": self.unchanged, "parameters": self.parameters, "bytes": self.bytes,
                "seconds": round(self.seconds, 3), "warnings": self.warnings,
                "modules": [m.to_dict() for m in self.modules]}


@dataclass(frozen=True)
class Candidate:
    """A module whose weight may have changed, and how to carry it if it has."""

    name: str
    kind: str  # lora, embedding, saved; "check": not carried, only compared (a change is a warning)
    tuned: TensorInfo
    base: TensorInfo
    extra: tuple[tuple[str, TensorInfo], ...] = ()  # other tensors of a saved module (its bias), copied along


def extract_lora(model: str | Path, base: str | Path, out: str | Path, *, rank: int = 16,
                 max_error: float | None = None, include: Iterable[str] = (), exclude: Iterable[str] = (),
                 embeddings: str = "save", save_modules: Iterable[str] = (), dtype: str | None = None,
                 svd: str = "exact", device: str = "cpu", overwrite: bool = False,
                 progress: Progress | None = None) -> ExtractResult:
    """Write the difference model - base as a PEFT LoRA adapter in `out` and report its error per module.

    rank: the rank of every changed linear layer (lower where the difference has lower numerical rank); with
    max_error, the most any module gets, each taking the smallest rank whose relative Frobenius error is at most
    max_error. include/exclude: regexes on module names (re.search) choosing the linear layers. embeddings:
    what to do with a changed embedding or lm_head ("save" in full as modules_to_save, "lora", "skip").
    save_modules: regexes of further modules kept at full rank (changed norms, for instance). dtype: of the
    factors (float32, float16, bfloat16; default the fine-tuned weight's). svd: "exact" or "lowrank"
    (randomized, for ranks far below the matrix size). device: where the SVDs run (cpu, cuda)."""
    started = time.perf_counter()
    _check_options(rank, max_error, embeddings, dtype, svd, device)
    model, base, out = Path(model).expanduser(), Path(base).expanduser(), Path(out).expanduser()
    tuned_tensors, base_tensors = _load_pair(model, base)
    candidates = plan_modules(tuned_tensors, base_tensors, include=list(include), exclude=list(exclude),
                              embeddings=embeddings, save_modules=list(save_modules))
    out = _check_out(out, (model, base), overwrite)
    with TensorReader() as reader:
        factors, reports, unchanged, uncarried = _factorize_all(reader, candidates, rank, max_error, svd,
                                                                device, DTYPES.get(dtype or ""), progress)
        if not reports:
            raise InputError(f"{model} and {base} have the same weights in every module extract-lora looks at; "
                             "there is nothing to extract (check --model and --base)")
        saved = [c for c in candidates if c.kind == "saved" and any(r.name == c.name for r in reports)]
        size = _write_adapter(out, reader, factors, saved, reports, base)
    warnings = _uncarried(uncarried) + _unmatched(reports, rank, max_error)
    return ExtractResult(out, max(r.rank for r in reports), rank, reports, unchanged,
                         sum(r.parameters for r in reports), size, time.perf_counter() - started, warnings)


def _check_options(rank: int, max_error: float | None, embeddings: str, dtype: str | None, svd: str,
                   device: str) -> None:
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ConfigError(f"--rank {rank!r}: pass a whole number of 1 or more")
    if max_error is not None and not 0 <= max_error < 1:
        raise ConfigError(f"--max-error {max_error!r}: pass a relative error between 0 and 1, e.g. 0.05")
    if embeddings not in EMBEDDING_MODES:
        raise ConfigError(f"--embeddings {embeddings!r}: use one of {', '.join(EMBEDDING_MODES)}")
    if dtype is not None and dtype not in DTYPES:
        raise ConfigError(f"--dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if svd not in SVD_METHODS:
        raise ConfigError(f"--svd {svd!r}: use one of {', '.join(SVD_METHODS)}")
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        raise ConfigError(f"--device {device!r}: pass cpu, cuda or cuda:N") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: torch sees no CUDA GPU here; use --device cpu")


def _load_pair(model: Path, base: Path) -> tuple[dict[str, TensorInfo], dict[str, TensorInfo]]:
    """Both models' tensors (headers only), after checking they are one architecture."""
    configs = []
    for role, folder in (("--model", model), ("--base", base)):
        if not folder.is_dir():
            raise InputError(f"{role} {folder} is not a folder; pass an HF model folder (config.json + "
                             "*.safetensors)")
        config = folder / "config.json"
        configs.append(read_json(config, "a model's settings (an HF config.json)") if config.is_file() else {})
    arch = [tuple(c.get("architectures") or [c.get("model_type", "?")]) for c in configs]
    if configs[0] and configs[1] and arch[0] != arch[1]:
        raise InputError(f"{model} is a {'/'.join(arch[0])} but {base} is a {'/'.join(arch[1])}; extract a LoRA "
                         "between a fine-tuned model and its own base")
    return index_folder(model), index_folder(base)


def plan_modules(tuned: dict[str, TensorInfo], base: dict[str, TensorInfo], *, include: Iterable[str] = (),
                 exclude: Iterable[str] = (), embeddings: str = "save",
                 save_modules: Iterable[str] = ()) -> list[Candidate]:
    """The modules to compare, from the two checkpoints' headers: every 2-D `*.weight` is a linear layer (LoRA)
    or an embedding / lm_head (per `embeddings`); modules matching save_modules are copied in full; other
    tensors (norms, biases, skipped embeddings) are only compared, so that a change LoRA cannot carry is said."""
    _check_same_tensors(tuned, base)
    for pattern in (*include, *exclude, *save_modules):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"module pattern {pattern!r} is not a regular expression ({exc})") from None
    candidates, copied = [], set()
    for name, info in tuned.items():
        module, _, leaf = name.rpartition(".")
        if leaf == "weight" and any(re.search(p, module) for p in save_modules):
            extra = tuple((n, tuned[n]) for n in tuned if n != name and n.rpartition(".")[0] == module)
            copied.update(n for n, _ in extra)
            candidates.append(Candidate(module, "saved", info, base[name], extra))
        elif leaf != "weight" or len(info.shape) != 2 or not info.torch_dtype.is_floating_point:
            candidates.append(Candidate(name, "check", info, base[name]))
        elif _is_embedding(module):
            kind = {"save": "saved", "skip": "check"}.get(embeddings, "lora" if _is_output(module) else "embedding")
            candidates.append(Candidate(module, kind, info, base[name]))
        elif (not include or any(re.search(p, module) for p in include)) and not any(
                re.search(p, module) for p in exclude):
            candidates.append(Candidate(module, "lora", info, base[name]))
    return [c for c in candidates if not (c.kind == "check" and c.name in copied)]


def _is_output(module: str) -> bool:
    return any(hint in module for hint in OUTPUT_EMBEDDING_HINTS)


def _is_embedding(module: str) -> bool:
    return _is_output(module) or any(hint in module for hint in EMBEDDING_HINTS)


def _check_same_tensors(tuned: dict[str, TensorInfo], base: dict[str, TensorInfo]) -> None:
    only = sorted(set(tuned) ^ set(base))
    if only:
        where = "the fine-tuned model" if only[0] in tuned else "the base"
        raise InputError(f"tensor {only[0]} is only in {where} ({len(only)} tensor(s) differ in name); extract a "
                         "LoRA between a fine-tuned model and its own base")
    for name, info in tuned.items():
        if info.shape != base[name].shape:
            raise ShapeMismatchError(f"tensor {name} has shape {list(info.shape)} in the fine-tuned model but "
                                     f"{list(base[name].shape)} in the base; extract a LoRA between a fine-tuned "
                                     "model and its own base (a resized vocabulary needs the base resized too)")


def _check_out(out: Path, inputs: tuple[Path, Path], overwrite: bool) -> Path:
    out = out.resolve()
    for folder in inputs:
        if folder.resolve() == out or folder.resolve().is_relative_to(out):
            raise ConfigError(f"--out {out} would replace the input model {folder}; choose another --out")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ConfigError(f"output folder {out} already exists; pass --overwrite or choose another --out")
    return out


def _factorize_all(reader: TensorReader, candidates: list[Candidate], rank: int, max_error: float | None,
                   svd: str, device: str, dtype: torch.dtype | None, progress: Progress | None):
    """A module at a time: its difference, left out when zero, else factorized (or marked saved)."""
    factors: dict[str, torch.Tensor] = {}
    reports: list[ModuleReport] = []
    unchanged, uncarried = 0, []
    for done, candidate in enumerate(candidates, 1):
        tuned, base = reader.read(candidate.tuned), reader.read(candidate.base)
        if torch.equal(tuned, base):
            unchanged += candidate.kind != "check"
        elif candidate.kind == "check":
            uncarried.append(candidate.name)
        elif candidate.kind == "saved":
            reports.append(ModuleReport(candidate.name, "saved", candidate.tuned.shape, 0, 0.0, 0.0, tuned.numel()))
        else:
            delta = tuned.to(device, torch.float32) - base.to(device, torch.float32)
            factors.update(_factor_tensors(candidate, delta, rank, max_error, svd, dtype or tuned.dtype, reports))
            del delta
        del tuned, base
        reader.release(candidate.tuned)
        reader.release(candidate.base)
        if progress:
            progress(done, len(candidates), candidate.name)
    return factors, reports, unchanged, uncarried


def _factor_tensors(candidate: Candidate, delta: torch.Tensor, rank: int, max_error: float | None, svd: str,
                    dtype: torch.dtype, reports: list[ModuleReport]) -> dict[str, torch.Tensor]:
    """PEFT's tensors for one module. An embedding's LoRA is stored transposed: A (r, vocab), B (dim, r)."""
    embedding = candidate.kind == "embedding"
    found = factorize(delta.T if embedding else delta, rank, max_error=max_error, svd=svd, dtype=dtype)
    reports.append(ModuleReport(candidate.name, candidate.kind, candidate.tuned.shape, found.rank,
                                found.rel_error, found.max_abs_error, found.a.numel() + found.b.numel()))
    stem = PEFT_PREFIX + candidate.name
    if embedding:
        return {f"{stem}.lora_embedding_A": found.a, f"{stem}.lora_embedding_B": found.b}
    return {f"{stem}.lora_A.weight": found.a, f"{stem}.lora_B.weight": found.b}


def _write_adapter(out: Path, reader: TensorReader, factors: dict[str, torch.Tensor], saved: list[Candidate],
                   reports: list[ModuleReport], base: Path) -> int:
    """adapter_model.safetensors (factors from memory, then saved modules streamed from the fine-tuned model)
    and adapter_config.json, in a hidden folder renamed to out once both are whole; returns the weights' bytes."""
    infos = {PEFT_PREFIX + c.name + ".weight": c.tuned for c in saved}
    infos.update((PEFT_PREFIX + name, info) for c in saved for name, info in c.extra)
    slots = [TensorSlot(name, DTYPE_CODES[t.dtype], tuple(t.shape)) for name, t in factors.items()]
    slots += [TensorSlot(name, info.dtype, info.shape) for name, info in infos.items()]
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.llmopt-extract-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        writer = ShardWriter(work / ADAPTER_WEIGHTS, slots)
        for name, tensor in factors.items():
            writer.write(name, tensor)
        for name, info in infos.items():
            writer.write(name, reader.read(info))
            reader.release(info)
        writer.close()
        config = adapter_config(reports, base, saved)
        (work / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        _publish(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return sum(slot.nbytes for slot in slots)


def adapter_config(reports: list[ModuleReport], base: Path, saved: list[Candidate]) -> dict[str, Any]:
    """PEFT's LoraConfig as JSON: r is the largest rank, modules of another rank are in rank_pattern, and alpha
    equals each rank (scaling 1: the factors carry the whole difference)."""
    lora = [r for r in reports if r.kind != "saved"]
    top = max((r.rank for r in lora), default=1)
    pattern = {re.escape(r.name): r.rank for r in lora if r.rank != top}
    return {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": str(base),
        "r": top, "lora_alpha": top, "rank_pattern": pattern, "alpha_pattern": dict(pattern),
        "target_modules": [r.name for r in lora], "modules_to_save": [c.name for c in saved] or None,
        "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": False, "use_rslora": False,
        "init_lora_weights": True, "inference_mode": True,
    }


def _publish(work: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.llmopt-old-{os.getpid()}"
        os.replace(out, old)
    os.replace(work, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()


def _uncarried(names: list[str]) -> list[str]:
    """A warning naming changed tensors the adapter leaves out (LoRA carries matrices only)."""
    if not names:
        return []
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return [f"{len(names)} changed tensor(s) are not in the adapter (LoRA carries matrices): {shown}; pass "
            "--save-module REGEX to copy their modules in full"]


def _unmatched(reports: list[ModuleReport], rank: int, max_error: float | None) -> list[str]:
    """Warnings: modules that did not reach --max-error at the largest rank allowed."""
    if max_error is None:
        return []
    short = [r.name for r in reports if r.kind != "saved" and r.rel_error > max_error]
    if not short:
        return []
    return [f"{len(short)} module(s) stay above --max-error {max_error} at rank {rank} (e.g. {short[0]}); "
            "raise --rank to reach it"]
