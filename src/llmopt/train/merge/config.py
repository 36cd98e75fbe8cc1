"""The merge configuration: mergekit's YAML schema as a validated pydantic model.

    merge_method: ties
    base_model: ./base
    models:
      - model: ./math-tuned
        parameters: {weight: 0.5, density: 0.5}
      - model: ./code-tuned
        parameters: {weight: [0.2, 0.8], density: 0.5}   # a gradient over the layers
    parameters: {normalize: true}
    dtype: bfloat16

A parameter value is a scalar, a gradient (a list interpolated over the layers, first layer to last), or a list
of `{filter, value}` conditions matched against tensor names (the first match wins). Unknown keys are errors,
not silently ignored: a typo in `parameters` would otherwise merge with a default the user never chose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from ...config import load_config as load_settings, validate
from ...errors import ConfigError

Scalar = Union[bool, int, float, str]
ScalarOrGradient = Union[Scalar, list[Scalar]]

DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16", "half": "float16",
          "bfloat16": "bfloat16", "bf16": "bfloat16", "float64": "float64", "fp64": "float64"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelRef(_Strict):
    """A model: a local folder (or a hub id, downloaded for users with internet), optionally `@revision`."""

    path: str = Field(description="local folder of an HF model (safetensors) or a hub id")
    revision: str | None = Field(None, description="hub revision (branch, tag or commit)")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, dict) and "model" in value and "path" not in value:  # mergekit's {model: {path: ..}}
            if value.get("lora"):
                raise ValueError(_LORA_HINT)
            value = value["model"]
        if isinstance(value, Path):
            value = str(value)
        if isinstance(value, str):
            if "+" in value:
                raise ValueError(_LORA_HINT)
            path, _, revision = value.partition("@")
            return {"path": path, "revision": revision or None}
        return value

    def __str__(self) -> str:
        return f"{self.path}@{self.revision}" if self.revision else self.path


_LORA_HINT = ("LoRA references (model+adapter) are not supported; merge the adapter into its base first "
              "(peft's merge_and_unload) and reference the merged folder")


class ConditionalParameter(_Strict):
    """A value that applies to tensors whose name contains `filter` (no filter, or '*', matches all)."""

    value: ScalarOrGradient
    filter: str | None = None


ParameterSetting = Union[ConditionalParameter, list[ConditionalParameter], ScalarOrGradient]
Parameters = dict[str, ParameterSetting]


class InputModelDefinition(_Strict):
    model: ModelRef
    parameters: Parameters | None = Field(None, description="per-model parameters (weight, density, ...)")


class InputSliceDefinition(_Strict):
    model: ModelRef
    layer_range: tuple[int, int] = Field(description="[start, end) layers taken from this model")
    parameters: Parameters | None = None

    @field_validator("layer_range")
    @classmethod
    def _range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] < 0 or value[1] <= value[0]:
            raise ValueError(f"layer_range must be [start, end) with 0 <= start < end, got {list(value)}")
        return value


class OutputSliceDefinition(_Strict):
    sources: list[InputSliceDefinition] = Field(min_length=1)
    base_model: ModelRef | None = None
    parameters: Parameters | None = None
    residual_weight: float | None = Field(None, description="unused by mergekit; refused")

    @field_validator("residual_weight")
    @classmethod
    def _no_residual(cls, value: float | None) -> float | None:
        if value is not None:
            raise ValueError("residual_weight is not supported (mergekit ignores it too); remove it")
        return value


class TokenizerConfig(_Strict):
    """mergekit's `tokenizer:` block; llmopt supports `source` (default union, as mergekit) and
    `pad_to_multiple_of`."""

    source: Union[Literal["base", "union"], ModelRef] = "union"
    pad_to_multiple_of: int | None = Field(None, ge=1)
    tokens: dict[str, Any] | None = None

    @field_validator("tokens")
    @classmethod
    def _no_tokens(cls, value: Any) -> Any:
        if value:
            raise ValueError("per-token embedding overrides (tokenizer.tokens) are not supported; remove them")
        return value


class MergeConfiguration(_Strict):
    """A mergekit-compatible merge configuration."""

    merge_method: str = Field(description="linear, slerp, task_arithmetic, ties, dare_linear, dare_ties, "
                                          "breadcrumbs, breadcrumbs_ties, della, della_linear, sce, model_stock, nearswap, "
                                          "arcee_fusion, nuslerp, multislerp, karcher, passthrough")
    models: list[InputModelDefinition] | None = Field(None, description="whole models to merge")
    slices: list[OutputSliceDefinition] | None = Field(None, description="layer ranges, stacked in order")
    base_model: ModelRef | None = Field(None, description="the model task vectors are taken against")
    parameters: Parameters | None = Field(None, description="global parameters (lowest precedence)")
    dtype: str | None = Field(None, description="dtype tensors are converted to when read (and merged in)")
    out_dtype: str | None = Field(None, description="dtype of the saved tensors (default: the merge dtype)")
    tokenizer_source: Union[Literal["base", "union"], ModelRef, None] = Field(
        None, description="'base', 'union' or a model: align vocabularies by token to that tokenizer "
                     "(union: the base tokenizer plus every model's missing tokens)")
    tokenizer: TokenizerConfig | None = None
    chat_template: str | None = Field(None, description="'auto' (most common among inputs) or a Jinja template")
    modules: dict[str, Any] | None = Field(None, description="multi-module architectures; refused")
    name: str | None = Field(None, description="free-form name (ignored by the merge)")

    @field_validator("merge_method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        from .methods import method_names

        if value not in method_names():
            raise ValueError(f"unknown merge_method {value!r}; supported: {', '.join(method_names())}")
        return value

    @field_validator("dtype", "out_dtype")
    @classmethod
    def _dtype(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = value.removeprefix("torch.")
        if name not in DTYPES:
            raise ValueError(f"unknown dtype {value!r}; use one of float32, float16, bfloat16, float64")
        return DTYPES[name]

    @field_validator("modules")
    @classmethod
    def _no_modules(cls, value: Any) -> Any:
        if value:
            raise ValueError("'modules' (multi-module architectures) is not supported; use 'models' or 'slices'")
        return value

    @model_validator(mode="after")
    def _one_input_form(self) -> "MergeConfiguration":
        if bool(self.models) == bool(self.slices):
            raise ValueError("give exactly one of 'models' (whole models) or 'slices' (layer ranges)")
        if self.tokenizer_source is not None and self.tokenizer is not None:
            raise ValueError("give either 'tokenizer_source' or a 'tokenizer' block, not both")
        if self.chat_template is not None and self.chat_template != "auto" and "{" not in self.chat_template:
            raise ValueError("chat_template must be 'auto' or the Jinja template text itself")
        return self

    @property
    def vocabulary_source(self) -> Union[str, ModelRef, None]:
        return self.tokenizer.source if self.tokenizer is not None else self.tokenizer_source

    def referenced_models(self) -> list[ModelRef]:
        """Every model the config names, first mention first (base model first when given)."""
        seen: dict[ModelRef, None] = {}
        for ref in [self.base_model] + [m.model for m in self.models or []]:
            if ref is not None:
                seen.setdefault(ref)
        for out_slice in self.slices or []:
            for ref in [out_slice.base_model] + [s.model for s in out_slice.sources]:
                if ref is not None:
                    seen.setdefault(ref)
        return list(seen)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)


def load_config(source: Union[str, Path, dict, MergeConfiguration]) -> MergeConfiguration:
    """A MergeConfiguration from a YAML file, a dict or an existing configuration; errors are one line (an unknown
    key lists the keys supported at its level)."""
    if isinstance(source, MergeConfiguration):
        return source
    if isinstance(source, (str, Path)):
        return load_settings(MergeConfiguration, source, what="merge")
    if not isinstance(source, dict):
        raise ConfigError("config: expected a mapping with merge_method and models or slices")
    return validate(MergeConfiguration, source, what="merge")


# -- parameter values ---------------------------------------------------------------------------------------------

_ADAPTERS: dict[type, TypeAdapter] = {}


def coerce(value: Any, kind: type) -> Any:
    """Validate one scalar the way mergekit does (pydantic lax mode: 'true' -> True, 1 -> 1.0)."""
    adapter = _ADAPTERS.setdefault(kind, TypeAdapter(kind))
    return adapter.validate_python(value)


def evaluate_setting(setting: ParameterSetting, tensor_name: str, t: float, kind: type = float) -> Any:
    """The value of one setting for one tensor at relative depth t (0 first layer, 1 last); None if no filter
    matches. Numeric gradients interpolate linearly; non-numeric ones pick the nearest lower entry."""
    if isinstance(setting, ConditionalParameter):
        setting = [setting]
    if isinstance(setting, (bool, int, float, str)):
        return coerce(setting, kind)
    if not setting:
        return None
    if all(isinstance(item, ConditionalParameter) for item in setting):
        for condition in setting:
            if condition.filter in (None, "*") or condition.filter in tensor_name:
                return evaluate_setting(condition.value, tensor_name, t, kind)
        return None
    return _gradient([coerce(item, kind) for item in setting], t, kind)


def _gradient(values: list[Any], t: float, kind: type) -> Any:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return values[int(t * (len(values) - 1))]
    scaled = t * (len(values) - 1)
    low = int(scaled)
    high = min(len(values) - 1, low + 1)
    fraction = scaled - low
    return coerce((1 - fraction) * values[low] + fraction * values[high], kind)
