"""Planning a mixture of experts from headers only: which output tensor comes from which input tensor.

Every output tensor is a copy of one input tensor (attention, embeddings and norms from the base model, each
expert's MLP from its model), converted to the output dtype, or a router gate computed from prompts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ....errors import ConfigError, InputError
from ..io import TensorSlot, shard_names
from ..models import ModelInfo, is_embedding, load_model
from .arch import MLP_PARTS, OutputArchitecture, choose_architecture
from .config import Expert, MoEConfiguration

DTYPE_NAMES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64"}
SHAPE_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
              "num_key_value_heads", "vocab_size")


@dataclass(frozen=True)
class OutTensor:
    """One output tensor: copied from `source` (model key, tensor name), or a router gate when source is None."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # safetensors code
    source: tuple[str, str] | None = None
    expert: Expert | None = None  # its noise_scale / residual_scale apply
    residual: bool = False  # a down_proj: residual_scale applies
    gate: tuple[int, int] | None = None  # (layer, row block): 0 the router, 1 the shared expert's gate

    @property
    def slot(self) -> TensorSlot:
        return TensorSlot(self.name, self.dtype, self.shape)


@dataclass
class MoEPlan:
    config: MoEConfiguration
    arch: OutputArchitecture
    models: dict[str, ModelInfo]
    base: ModelInfo
    tensors: list[OutTensor]
    shards: list[list[OutTensor]] = field(default_factory=list)
    out_config: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return shard_names(len(self.shards))

    @property
    def parameters(self) -> int:
        return sum(math.prod(t.shape) for t in self.tensors)

    @property
    def bytes(self) -> int:
        return sum(t.slot.nbytes for t in self.tensors)


def plan_moe(config: MoEConfiguration, *, max_shard_size: int, base_dir: Path | None = None) -> MoEPlan:
    models = {str(ref): load_model(ref, base_dir) for ref in config.referenced_models()}
    base = models[str(config.base_model)]
    model_type = base.config.get("model_type", "?")
    shared = config.shared_experts or []
    try:
        arch = choose_architecture(config.architecture, model_type, len(shared))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for role, expert in _roles(config):
        _check_expert(role, models[str(expert.source_model)], base, arch)
    _check_biases(base, arch)
    dtype = _output_dtype(config, base)
    tensors = _tensors(config, arch, models, base, dtype)
    plan = MoEPlan(config, arch, models, base, tensors)
    plan.shards = _assign_shards(tensors, max_shard_size)
    plan.out_config = arch.out_config(base.config, len(config.experts), config.experts_per_token, config.dtype)
    if len({(str(e.source_model), e.noise_scale, e.residual_scale) for e in config.experts}) == 1 < len(config.experts):
        plan.warnings.append("every expert is the same model: the MoE computes what that model does, at more "
                             "cost, until it is trained further")
    return plan


def _roles(config: MoEConfiguration) -> list[tuple[str, Expert]]:
    return ([(f"expert {i} ({e.source_model})", e) for i, e in enumerate(config.experts)]
            + [(f"shared expert {i} ({e.source_model})", e) for i, e in enumerate(config.shared_experts or [])])


def _check_expert(role: str, model: ModelInfo, base: ModelInfo, arch: OutputArchitecture) -> None:
    """An expert must be the base model's architecture and size: its MLP slots into the base's layers."""
    model_type, base_type = model.config.get("model_type", "?"), base.config.get("model_type", "?")
    if model_type != base_type:
        raise InputError(f"{role} is a {model_type} model but the base model {base.key} is {base_type}; every "
                         "expert must share the base model's architecture")
    for key in SHAPE_KEYS:
        if model.config.get(key) != base.config.get(key):
            raise InputError(f"{role} has {key} {model.config.get(key)} but the base model {base.key} has "
                             f"{base.config.get(key)}; every expert must have the base model's shapes (pick a "
                             "fine-tune of the same model size)")
    for layer in range(base.num_layers):
        for part in MLP_PARTS:
            name = f"{base.layer_prefix}{layer}.mlp.{part}.weight"
            if name not in model.tensors:
                raise InputError(f"{role} has no tensor {name}; experts need a gate/up/down MLP in every layer")
            if model.tensors[name].shape != base.tensors[name].shape:
                raise InputError(f"{role}: {name} has shape {list(model.tensors[name].shape)} but the base model's "
                                 f"is {list(base.tensors[name].shape)}; every expert must have the base model's "
                                 "shapes")


def _check_biases(base: ModelInfo, arch: OutputArchitecture) -> None:
    if base.config.get("mlp_bias"):
        raise InputError(f"{base.key} has MLP biases (mlp_bias), which {arch.name} experts do not have; pick "
                         "models without them")
    if base.config.get("attention_bias") and base.config.get("model_type") in ("llama", "mistral"):
        raise InputError(f"{base.key} has attention biases (attention_bias), which {arch.name} does not have in "
                         "the same places; pick models without them")


def _output_dtype(config: MoEConfiguration, base: ModelInfo) -> str | None:
    """The output dtype's safetensors code: the config's, else the base config's, else None (each tensor keeps
    its own)."""
    name = config.dtype or base.config.get("dtype") or base.config.get("torch_dtype")
    return DTYPE_NAMES.get(str(name).removeprefix("torch.")) if name else None


def _tensors(config: MoEConfiguration, arch: OutputArchitecture, models: dict[str, ModelInfo], base: ModelInfo,
             dtype: str | None) -> list[OutTensor]:
    def copy(name: str, model: ModelInfo, source: str, expert: Expert | None = None, part: str = "") -> OutTensor:
        info = model.tensors[source]
        return OutTensor(name, info.shape, dtype or info.dtype, (model.key, source), expert, part == "down_proj")

    hidden = int(base.config["hidden_size"])
    gate_dtype = dtype or base.tensors[base.layers[0][f"mlp.{MLP_PARTS[0]}.weight"]].dtype
    before = [copy(n, base, n) for n in base.others if is_embedding(n)]
    after = [copy(n, base, n) for n in base.others if not is_embedding(n)]
    layers: list[OutTensor] = []
    for layer in range(base.num_layers):
        prefix = f"{base.layer_prefix}{layer}."
        for suffix, name in base.layers[layer].items():
            if not suffix.startswith("mlp."):
                layers.append(copy(name, base, name))
        for part in MLP_PARTS:
            source = f"{prefix}mlp.{part}.weight"
            for index, expert in enumerate(config.experts):
                layers.append(copy(arch.expert_tensor(prefix, index, part), models[str(expert.source_model)],
                                   source, expert, part))
            for expert in config.shared_experts or []:
                layers.append(copy(arch.shared_tensor(prefix, part), models[str(expert.source_model)], source,
                                   expert, part))
        layers.append(OutTensor(arch.router_tensor(prefix), (len(config.experts), hidden), gate_dtype,
                                gate=(layer, 0)))
        if config.shared_experts:
            layers.append(OutTensor(arch.shared_gate_tensor(prefix), (len(config.shared_experts), hidden),
                                    gate_dtype, gate=(layer, 1)))
    return before + layers + after


def _assign_shards(tensors: list[OutTensor], max_shard_size: int) -> list[list[OutTensor]]:
    shards: list[list[OutTensor]] = [[]]
    size = 0
    for tensor in tensors:
        if shards[-1] and size + tensor.slot.nbytes > max_shard_size:
            shards.append([])
            size = 0
        shards[-1].append(tensor)
        size += tensor.slot.nbytes
    return shards
