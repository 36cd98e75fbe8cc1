"""The mixture-of-experts configuration: mergekit-moe's YAML schema as a validated pydantic model.

    base_model: ./base                 # attention, embeddings and norms come from here; so do hidden-state gates
    gate_mode: hidden                  # hidden | hidden_avg | cheap_embed | random | uniform_random
    dtype: bfloat16
    experts_per_token: 2
    experts:
      - source_model: ./math-tuned     # its MLP becomes expert 0 of every layer
        positive_prompts: ["Solve for x", "Compute the integral"]
        negative_prompts: ["Write a poem"]
      - source_model: ./code-tuned
        positive_prompts: ["def main():", "Fix this Python bug"]
    shared_experts:                    # Qwen2-MoE output only: one expert every token goes through
      - source_model: ./base
    architecture: qwen2_moe            # only when more than one output architecture fits

Unknown keys are errors: a typo in a prompt list's name would otherwise route by prompts the user never gave.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

from pydantic import Field, field_validator, model_validator

from ....config import load_config as load_settings, validate
from ....errors import ConfigError
from ..config import DTYPES, ModelRef, _Strict


class Expert(_Strict):
    """One model whose MLP becomes an expert in every layer, and the prompts that should be routed to it."""

    source_model: ModelRef = Field(description="local folder of an HF model (safetensors) or a hub id")
    positive_prompts: list[str] | None = Field(None, description="prompts this expert should take (prompt gates)")
    negative_prompts: list[str] | None = Field(None, description="prompts it should not take (subtracted)")
    noise_scale: float | None = Field(None, description="std of Gaussian noise added to its MLP weights (seeded)")
    residual_scale: float | None = Field(None, description="factor on its down_proj (its residual contribution)")

    @field_validator("positive_prompts", "negative_prompts")
    @classmethod
    def _prompts(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not prompt.strip() for prompt in value):
            raise ValueError("prompts must not be empty strings; remove the empty entry")
        return value


class MoEConfiguration(_Strict):
    """A mergekit-moe-compatible configuration."""

    base_model: ModelRef = Field(description="the model the non-MLP tensors (and hidden-state gates) come from")
    experts: list[Expert] = Field(min_length=1, description="one expert per model, in router order")
    gate_mode: str = Field("hidden", description="how router weights are made: hidden (hidden states of the "
                                                 "prompts), hidden_avg, cheap_embed, random, uniform_random")
    dtype: str | None = Field(None, description="dtype of the saved tensors (default: the base model's)")
    experts_per_token: int = Field(2, ge=1, description="experts each token is routed to (top-k)")
    shared_experts: list[Expert] | None = Field(None, description="experts every token uses (Qwen2-MoE: one)")
    architecture: str | None = Field(None, description="output architecture when several fit: mixtral, qwen2_moe")

    @field_validator("gate_mode")
    @classmethod
    def _known_gate_mode(cls, value: str) -> str:
        from .gates import GATE_MODES

        if value not in GATE_MODES:
            raise ValueError(f"unknown gate_mode {value!r}; use one of: {', '.join(GATE_MODES)}")
        return value

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, value: str | None) -> str | None:
        from .arch import ARCHITECTURES, find_architecture

        if value is None:
            return None
        found = find_architecture(value)
        if found is None:
            raise ValueError(f"unknown architecture {value!r}; use one of: {', '.join(ARCHITECTURES)}")
        return found.name

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = value.removeprefix("torch.")
        if name not in DTYPES:
            raise ValueError(f"unknown dtype {value!r}; use one of float32, float16, bfloat16")
        return DTYPES[name]

    @model_validator(mode="after")
    def _routable(self) -> "MoEConfiguration":
        from .gates import GATE_MODES

        if self.experts_per_token > len(self.experts):
            raise ValueError(f"experts_per_token is {self.experts_per_token} but there are only "
                             f"{len(self.experts)} experts; lower experts_per_token or add experts")
        if not GATE_MODES[self.gate_mode].uses_prompts:
            return self
        for index, expert in enumerate(self.experts):
            if not expert.positive_prompts:
                raise ValueError(f"expert {index} ({expert.source_model}) has no positive_prompts; gate_mode "
                                 f"{self.gate_mode} routes by prompts, so give every expert positive_prompts "
                                 "(or use gate_mode: random)")
        shared = self.shared_experts or []
        if any(e.negative_prompts and not e.positive_prompts for e in shared):
            raise ValueError("a shared expert has negative_prompts but no positive_prompts; add positive_prompts")
        signatures = {(tuple(e.positive_prompts or ()), tuple(e.negative_prompts or ())) for e in self.experts}
        if len(self.experts) > 1 and len(signatures) == 1:
            raise ValueError("every expert has the same prompts, so the router could not tell them apart; give "
                             "each expert prompts of its own")
        return self

    def referenced_models(self) -> list[ModelRef]:
        """Every model the config names, base first, each once."""
        refs = [self.base_model] + [e.source_model for e in self.experts + (self.shared_experts or [])]
        return list(dict.fromkeys(refs))

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)


def load_moe_config(source: Union[str, Path, dict, MoEConfiguration]) -> MoEConfiguration:
    """A MoEConfiguration from a YAML file, a dict or an existing configuration; errors are one line."""
    if isinstance(source, MoEConfiguration):
        return source
    if isinstance(source, (str, Path)):
        return load_settings(MoEConfiguration, source, what="merge-moe")
    if not isinstance(source, dict):
        raise ConfigError("config: expected a mapping with base_model and experts")
    return validate(MoEConfiguration, source, what="merge-moe")
