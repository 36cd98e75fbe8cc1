"""Assembling a mixture of experts: plan from headers, compute the router gates, then stream tensor by tensor
into shards in a hidden work folder that becomes the output folder only when complete.

Peak memory is one tensor at a time plus the gates, except in the hidden gate modes, which hold the base model
while they run its forward pass over the prompts, and free it before any tensor is written.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import torch

from ....errors import ConfigError
from ....paths import atomic_write_text
from ..io import SAFETENSORS_DTYPES, ShardWriter, TensorReader, index_json, parse_size
from ..run import TOKENIZER_FILES, _publish, _torch_threads
from .config import MoEConfiguration, load_moe_config
from .gates import GATE_MODES, degenerate_layers, prompt_gates, random_gates
from .plan import MoEPlan, OutTensor, plan_moe

Progress = Callable[[int, int, str], None]  # (tensors done, tensors in all, current tensor name)
SIDE_FILES = TOKENIZER_FILES + ("generation_config.json",)


@dataclass
class MoEResult:
    """What a mixture-of-experts assembly produced."""

    architecture: str
    out_dir: Path
    experts: int
    shared_experts: int
    experts_per_token: int
    gate_mode: str
    tensors: int
    parameters: int
    bytes: int
    shards: list[str]
    seconds: float
    gate_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"architecture": self.architecture, "out_dir": str(self.out_dir), "experts": self.experts,
                "shared_experts": self.shared_experts, "experts_per_token": self.experts_per_token,
                "gate_mode": self.gate_mode, "tensors": self.tensors, "parameters": self.parameters,
                "bytes": self.bytes, "shards": self.shards, "seconds": round(self.seconds, 3),
                "gate_seconds": round(self.gate_seconds, 3), "warnings": self.warnings}


def run_moe(config: Union[str, Path, dict, MoEConfiguration], out_dir: Union[str, Path], *, overwrite: bool = False,
            seed: int = 0, max_shard_size: Union[str, int] = "5GB", copy_tokenizer: bool = True,
            threads: int | None = 1, progress: Progress | None = None) -> MoEResult:
    """Assemble the experts a mergekit-moe-style config names into one MoE model folder at out_dir.

    seed drives the random gate modes and experts' noise_scale: the same seed gives the same model.
    threads: torch threads for the gates' forward pass (None: torch's setting). The prompts are short: more
    OpenMP threads mostly wait on each other (measured 5-20x slower with 2 threads on a busy 2-core machine)."""
    started = time.perf_counter()
    base_dir = Path(config).resolve().parent if isinstance(config, (str, Path)) else None
    moe_config = load_moe_config(config)
    plan = plan_moe(moe_config, max_shard_size=parse_size(max_shard_size), base_dir=base_dir)
    out_dir = _check_out(plan, Path(out_dir), overwrite)
    gate_started = time.perf_counter()
    with _torch_threads(threads):
        gates = compute_gates(plan, seed)
    gate_seconds = time.perf_counter() - gate_started
    if GATE_MODES[moe_config.gate_mode].uses_prompts:
        bad = degenerate_layers(gates[0])
        if bad:
            plan.warnings.append(f"layers {_span(bad)} have nearly parallel gates: the experts' prompts are too "
                                 "alike there, so some experts will be underused; make the prompts more distinct")
    _write(plan, gates, out_dir, seed, copy_tokenizer, progress)
    return MoEResult(plan.arch.name, out_dir, len(moe_config.experts), len(moe_config.shared_experts or []),
                     moe_config.experts_per_token, moe_config.gate_mode, len(plan.tensors), plan.parameters,
                     plan.bytes, plan.files, time.perf_counter() - started, gate_seconds, plan.warnings)


def _span(layers: list[int]) -> str:
    return ", ".join(map(str, layers[:8])) + (f" (+{len(layers) - 8} more)" if len(layers) > 8 else "")


def _check_out(plan: MoEPlan, out_dir: Path, overwrite: bool) -> Path:
    out_dir = out_dir.expanduser().resolve()
    for model in plan.models.values():  # publishing replaces out_dir: never an input, nor a folder holding one
        folder = Path(model.folder).resolve()
        if folder == out_dir or folder.is_relative_to(out_dir):
            raise ConfigError(f"--out {out_dir} would replace the input model {model.key}; choose another --out")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise ConfigError(f"output folder {out_dir} already exists; pass --overwrite or choose another --out")
    return out_dir


def compute_gates(plan: MoEPlan, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(router gates (layers, experts, hidden), shared expert gates (layers, shared, hidden) or None). A shared
    expert without prompts gets a zero gate: it adds half its output (sigmoid(0)) to every token."""
    config, base = plan.config, plan.base
    layers, hidden = base.num_layers, int(base.config["hidden_size"])
    shared = config.shared_experts or []
    mode = GATE_MODES[config.gate_mode]
    if not mode.uses_prompts:
        gates = random_gates(mode.name, layers, len(config.experts) + len(shared), hidden, seed)
        return gates[:, :len(config.experts)], (gates[:, len(config.experts):] if shared else None)
    from .prompts import summarizer

    summarize = summarizer(mode.name, base.folder, _embedding(plan) if mode.summary == "embedding" else None,
                           layers)
    experts = prompt_gates(summarize, [(e.positive_prompts, e.negative_prompts) for e in config.experts])
    shared_gates = None
    if shared:
        shared_gates = torch.zeros(layers, len(shared), hidden)
        prompted = [i for i, e in enumerate(shared) if e.positive_prompts]
        if prompted:
            shared_gates[:, prompted] = prompt_gates(
                summarize, [(shared[i].positive_prompts, shared[i].negative_prompts) for i in prompted])
    del summarize  # the base model of the hidden modes goes here, before the tensors stream
    return experts, shared_gates


def _embedding(plan: MoEPlan) -> torch.Tensor:
    name = next((n for n in plan.base.others if "embed_tokens" in n or "wte" in n), None)
    if name is None:
        raise ConfigError(f"{plan.base.key} has no token embedding tensor for gate_mode cheap_embed; use hidden")
    with TensorReader(mapped=False) as reader:
        return reader.read(plan.base.tensors[name]).clone()


def _write(plan: MoEPlan, gates: tuple[torch.Tensor, torch.Tensor | None], out_dir: Path, seed: int,
           copy_tokenizer: bool, progress: Progress | None) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = out_dir.parent / f".{out_dir.name}.llmopt-moe-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        done = 0
        with TensorReader() as reader:
            for file, shard in zip(plan.files, plan.shards):
                writer = ShardWriter(work / file, [t.slot for t in shard])
                try:
                    for tensor in shard:
                        writer.write(tensor.name, _produce(plan, reader, tensor, gates, seed))
                        if tensor.source is not None:  # written: its input's mapped pages can go
                            reader.release(plan.models[tensor.source[0]].tensors[tensor.source[1]])
                        done += 1
                        if progress:
                            progress(done, len(plan.tensors), tensor.name)
                    writer.close()
                except BaseException:
                    writer.abort()
                    raise
        _write_side_files(plan, work, copy_tokenizer)
        _publish(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _produce(plan: MoEPlan, reader: TensorReader, tensor: OutTensor,
             gates: tuple[torch.Tensor, torch.Tensor | None], seed: int) -> torch.Tensor:
    """One output tensor: a router gate, or an input tensor in the output dtype (with the expert's noise and
    residual scale)."""
    dtype = SAFETENSORS_DTYPES[tensor.dtype]
    if tensor.gate is not None:
        layer, block = tensor.gate
        return gates[block][layer].to(dtype).contiguous()
    model, name = tensor.source
    info = plan.models[model].tensors[name]
    value = reader.read(info)
    expert = tensor.expert
    if expert is not None and (expert.noise_scale or (tensor.residual and expert.residual_scale is not None)):
        value = value.float()
        if expert.noise_scale:
            generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(tensor.name.encode()))
            value = value + torch.randn(value.shape, generator=generator) * expert.noise_scale
        if tensor.residual and expert.residual_scale is not None:
            value = value * expert.residual_scale
    return value.to(dtype)


def _write_side_files(plan: MoEPlan, work: Path, copy_tokenizer: bool) -> None:
    if len(plan.shards) > 1:
        atomic_write_text(work / "model.safetensors.index.json",
                          index_json({f: [t.slot for t in s] for f, s in zip(plan.files, plan.shards)}))
    atomic_write_text(work / "config.json", json.dumps(plan.out_config, indent=2) + "\n")
    for name in SIDE_FILES if copy_tokenizer else ("generation_config.json",):
        if (plan.base.folder / name).is_file():
            shutil.copyfile(plan.base.folder / name, work / name)
    atomic_write_text(work / "mergekit_moe_config.yml", plan.config.to_yaml())
    experts = "\n".join(f"- expert {i}: {e.source_model}" for i, e in enumerate(plan.config.experts))
    shared = "".join(f"\n- shared expert: {e.source_model}" for e in plan.config.shared_experts or [])
    atomic_write_text(work / "README.md", (
        f"---\nlibrary_name: transformers\ntags:\n- moe\n- merge\n- llmopt\n---\n# Mixture of experts\n\n"
        f"Assembled with `llmopt merge-moe` as {plan.arch.class_name} from the base model {plan.base.key} "
        f"(gate mode {plan.config.gate_mode}, {plan.config.experts_per_token} experts per token).\n\n"
        f"## Experts\n{experts}{shared}\n\n## Configuration\n\n```yaml\n{plan.config.to_yaml()}```\n"))
