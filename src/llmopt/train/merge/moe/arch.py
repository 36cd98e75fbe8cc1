"""Output architectures of a mixture of experts: where each expert's MLP goes and what config.json says.

One entry per architecture in ARCHITECTURES; a new output architecture is one entry. Tensors are written in
the per-expert layout HF checkpoints use on disk (transformers 5 fuses the experts when it loads them and
writes this layout back when it saves), which llama.cpp and other loaders read too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MLP_PARTS = ("gate_proj", "up_proj", "down_proj")
# keys of a dense config that mean nothing (or something else) in the MoE config
_DROPPED = ("architectures", "model_type", "transformers_version", "_name_or_path", "_model_name_or_path",
            "pretraining_tp", "mlp_bias", "attention_bias", "auto_map")


@dataclass(frozen=True)
class OutputArchitecture:
    name: str  # the `architecture:` value
    class_name: str  # transformers' model class
    model_type: str
    accepts: tuple[str, ...]  # model types of the experts it can be assembled from
    shared_experts: int  # how many shared experts it takes (exactly)
    block: str  # the MoE block's module name in a layer
    expert_parts: dict[str, str]  # dense MLP projection -> the expert's projection name
    settings: Callable[[dict, int, int], dict]  # (base config, experts, experts per token) -> MoE keys

    def expert_tensor(self, layer_prefix: str, expert: int, part: str) -> str:
        return f"{layer_prefix}{self.block}.experts.{expert}.{self.expert_parts[part]}.weight"

    def router_tensor(self, layer_prefix: str) -> str:
        return f"{layer_prefix}{self.block}.gate.weight"

    def shared_tensor(self, layer_prefix: str, part: str) -> str:
        return f"{layer_prefix}{self.block}.shared_expert.{part}.weight"

    def shared_gate_tensor(self, layer_prefix: str) -> str:
        return f"{layer_prefix}{self.block}.shared_expert_gate.weight"

    def out_config(self, base: dict, experts: int, experts_per_token: int, dtype: str | None) -> dict:
        config = {k: v for k, v in base.items() if k not in _DROPPED}
        config.update(architectures=[self.class_name], model_type=self.model_type,
                      **self.settings(base, experts, experts_per_token))
        if dtype:
            config["dtype"] = dtype
            config.pop("torch_dtype", None)
        return config


def _mixtral(base: dict, experts: int, per_token: int) -> dict:
    return {"num_local_experts": experts, "num_experts_per_tok": per_token, "sliding_window": None}


def _qwen2_moe(base: dict, experts: int, per_token: int) -> dict:
    size = base["intermediate_size"]
    return {"num_experts": experts, "num_experts_per_tok": per_token, "decoder_sparse_step": 1,
            "mlp_only_layers": [], "norm_topk_prob": True, "moe_intermediate_size": size,
            "shared_expert_intermediate_size": size, "use_sliding_window": False, "sliding_window": None,
            "qkv_bias": base.get("model_type") == "qwen2" or bool(base.get("attention_bias"))}


ARCHITECTURES: dict[str, OutputArchitecture] = {arch.name: arch for arch in (
    OutputArchitecture("mixtral", "MixtralForCausalLM", "mixtral", ("llama", "mistral"), 0, "block_sparse_moe",
                       {"gate_proj": "w1", "down_proj": "w2", "up_proj": "w3"}, _mixtral),
    OutputArchitecture("qwen2_moe", "Qwen2MoeForCausalLM", "qwen2_moe", ("qwen2", "llama", "mistral"), 1, "mlp",
                       {part: part for part in MLP_PARTS}, _qwen2_moe),
)}
ALIASES = {"qwen": "qwen2_moe", "qwen_moe": "qwen2_moe", "qwen2moe": "qwen2_moe"}


def find_architecture(name: str) -> OutputArchitecture | None:
    """The entry named `name` (case and mergekit's 'Qwen MoE' spelling accepted), or None."""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return ARCHITECTURES.get(ALIASES.get(key, key))


def choose_architecture(requested: str | None, model_type: str, shared_experts: int) -> OutputArchitecture:
    """The output architecture for experts of `model_type` with `shared_experts` shared experts: the requested
    one, else the first entry that takes them. Raises ValueError naming the fix."""
    if requested is not None:
        arch = ARCHITECTURES[requested]
        if model_type not in arch.accepts:
            raise ValueError(f"architecture {arch.name} is assembled from {'/'.join(arch.accepts)} models, not "
                             f"{model_type}; remove 'architecture' or pick experts of a supported type")
        _check_shared(arch, shared_experts)
        return arch
    fitting = [a for a in ARCHITECTURES.values() if model_type in a.accepts]
    if not fitting:
        known = sorted({t for a in ARCHITECTURES.values() for t in a.accepts})
        raise ValueError(f"experts of type {model_type} cannot be assembled into a mixture of experts; supported "
                         f"model types: {', '.join(known)}")
    for arch in fitting:
        if arch.shared_experts == shared_experts:
            return arch
    _check_shared(fitting[0], shared_experts)
    raise AssertionError("unreachable")


def _check_shared(arch: OutputArchitecture, shared_experts: int) -> None:
    if shared_experts == arch.shared_experts:
        return
    if arch.shared_experts == 0:
        raise ValueError(f"{arch.name} output has no shared experts; remove shared_experts (or set "
                         "architecture: qwen2_moe)")
    raise ValueError(f"{arch.name} output needs exactly {arch.shared_experts} shared expert(s), got "
                     f"{shared_experts}; add shared_experts: [{{source_model: ...}}] (the base model is a common "
                     "choice)")
