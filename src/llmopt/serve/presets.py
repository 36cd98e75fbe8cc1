"""The preset registry and the model-name grammar clients use to pick a pipeline.

    rag-k5                              a preset, as listed by GET /v1/models
    iterdrag:k=5,n=3                    a strategy (or a preset) with parameters
    drag:k=5@openai:granite@http://...  ... answered by another model: everything after the first "@" is a model
                                        spec (llmopt.models.spec), allowed only if the server allows it

Built-in presets need what the server was started with: rag presets an index (--index), demonstrations a pool
(--demos), sql presets a database (--db). Presets whose needs are missing are left out of the list, and asking
for one says what it needs. The rag presets are the ones each strategy declares (llmopt.rag.strategies), so a new
strategy is served, by name and by its presets, with no change here.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, ModelSpecError
from ..rag.strategy import strategy_class, strategy_classes
from .config import PresetSpec, ServeConfig
from .errors import ApiError, bad_request, unknown_model

SQL_PRESETS: dict[str, PresetSpec] = {
    "sql-zero": PresetSpec(kind="sql", strategy="zero", description="text-to-SQL, zero-shot, run read-only"),
    "sql-fewshot-sc": PresetSpec(kind="sql", strategy="fewshot-sc", samples=5,
                                 description="text-to-SQL, DAIL-selected examples, 5 candidates voted by result"),
}


def builtin_presets() -> dict[str, PresetSpec]:
    """Every strategy's declared presets (baseline first), then the text-to-SQL ones."""
    rag = {name: PresetSpec(strategy=cls.name, **settings) for cls in strategy_classes()
           for name, settings in cls.presets.items()}
    return {**rag, **SQL_PRESETS}


def _rag_strategy(name: str):
    """The strategy class a rag preset or model name names, or None when it names no strategy."""
    try:
        return strategy_class(name)
    except ConfigError:
        return None

# what a client may set in a model name; everything else (index, demos, files, engines) is the operator's
CLIENT_PARAMS = {
    "rag": {"k", "m", "n", "samples", "select", "max_context", "prompt", "step_tokens", "temperature", "top_p",
            "seed", "demo_selection"},
    "sql": {"shots", "samples", "repairs", "temperature", "seed", "reasoning"},
}
CLIENT_PROMPTS = ("basic", "cot", "decompose")  # shipped templates; a client never names a file


@dataclass(frozen=True)
class Resolved:
    """A pipeline ready to run: which kind, strategy, model and settings."""

    name: str  # as the client wrote it
    preset: str
    kind: str
    strategy: str
    model: str
    settings: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def key(self) -> str:
        return json.dumps([self.kind, self.strategy, self.model, self.settings], sort_keys=True, default=str)


class Presets:
    """The presets this server offers, and the resolution of model names against them."""

    def __init__(self, config: ServeConfig, *, has_index: bool, has_demos: bool, has_db: bool):
        self.config = config
        self.limits = config.limits
        self._has = {"index": has_index, "demos": has_demos, "db": has_db}
        specs = {**(builtin_presets() if config.builtin_presets else {}), **config.presets}
        self.available: dict[str, PresetSpec] = {}
        self.unavailable: dict[str, str] = {}
        for name, spec in specs.items():
            need = self._missing(spec, spec.settings)
            if need:
                self.unavailable[name] = need
            else:
                self.available[name] = spec
        self.default = self._default_preset(config.default_preset)
        for name in self.available:  # an operator's preset that breaks a limit fails at startup, not per request
            self.resolve(name)
        self._models = {config.model} | {s.model for s in self.available.values() if s.model}

    def _default_preset(self, name: str | None) -> str | None:
        """The preset that answers for 'default' and the server's model spec; one that cannot run stops startup."""
        if name is None:
            return None
        if name in self.unavailable:
            raise ConfigError(f"the default preset '{name}' needs {self.unavailable[name]}")
        if name not in self.available:
            raise ConfigError(f"no preset '{name}' to serve as the default; presets: {', '.join(self.available)}")
        return name

    def names(self) -> list[str]:
        """The presets, the default one first (clients that take the first model get it)."""
        return sorted(self.available, key=lambda name: name != self.default)

    def _alias(self, name: str, *names: str) -> str:
        """`name` itself, or the default preset (when there is one) for any of `names` that is no preset."""
        if self.default and name not in self.available and name in names:
            return self.default
        return name

    def _missing(self, spec: PresetSpec, settings: dict[str, Any]) -> str | None:
        if spec.kind == "sql":
            return None if self._has["db"] else "a database: start the server with --db FILE.sqlite"
        declared = _rag_strategy(spec.strategy)
        if declared is None:
            return None  # the pipeline's own validation names the known strategies
        if declared.uses_retrieval and not self._has["index"]:
            return "an index: start the server with --index INDEX"
        m = settings.get("m")
        wants_demos = int(m or 0) > 0 or (m is None and declared.needs_demonstrations())
        if declared.uses_demonstrations and wants_demos and not self._has["demos"]:
            return "a demonstration pool: start the server with --demos FILE.jsonl (or ask with m=0)"
        return None

    # -- the grammar ------------------------------------------------------------------------------------------
    def resolve(self, name: str) -> Resolved:
        """STRATEGY[:key=value,...][@MODEL_SPEC] -> Resolved; ApiError 404 for an unknown name, 403 for a model
        the server does not allow, 400 for bad parameters."""
        # 'default' and the server's model spec (whole: a spec may hold ':' and '@') name the default preset
        text = self._alias((name or "").strip(), "default", self.config.model)
        base_part, _, model = text.partition("@")
        base, _, params = base_part.partition(":")
        base = self._alias(base, "default")  # default:k=8, default@SPEC
        spec = self._base(base, name)
        settings = {**spec.settings, **self._params(params, spec.kind, name)}
        need = self._missing(spec, settings)
        if need:
            raise ApiError(400, f"model '{name}' needs {need}", code="preset_unavailable", param="model")
        self._check_limits(settings, name)
        model = model.strip() or spec.model or self.config.model
        if model != (spec.model or self.config.model):
            self._check_model(model)
        return Resolved(name, base, spec.kind, spec.strategy, model, settings)

    def _base(self, base: str, name: str) -> PresetSpec:
        if base in self.available:
            return self.available[base]
        if _rag_strategy(base) is not None:
            return PresetSpec(strategy=base)
        if base in self.unavailable:
            raise ApiError(400, f"model '{name}' needs {self.unavailable[base]}", code="preset_unavailable",
                           param="model")
        raise unknown_model(name, self.names(), self.unavailable)

    def _params(self, text: str, kind: str, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        allowed = CLIENT_PARAMS[kind]
        for item in filter(None, (p.strip() for p in text.split(","))):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not value.strip():
                raise bad_request(f"bad parameter '{item}' in model '{name}': write key=value, e.g. rag:k=5,samples=3",
                                  param="model")
            if key not in allowed:
                raise bad_request(f"parameter '{key}' cannot be set in a model name; settable for {kind} "
                                  f"pipelines: {', '.join(sorted(allowed))}", param="model")
            out[key] = _value(value.strip())
        if "prompt" in out and out["prompt"] not in CLIENT_PROMPTS:
            raise bad_request(f"unknown prompt '{out['prompt']}'; use one of {', '.join(CLIENT_PROMPTS)}",
                              param="model")
        return out

    def _check_limits(self, settings: dict[str, Any], name: str) -> None:
        lim = self.limits
        for key, most in (("k", lim.max_k), ("m", lim.max_m), ("n", lim.max_n), ("samples", lim.max_samples),
                          ("max_context", lim.max_context), ("step_tokens", lim.max_tokens),
                          ("max_tokens", lim.max_tokens)):
            value = settings.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > most:
                code = "context_length_exceeded" if key == "max_context" else "limit_exceeded"
                raise bad_request(f"{key}={value} in model '{name}' is over this server's limit of {most}; ask for "
                                  f"{key}<={most}", code=code, param="model")

    def _check_model(self, model: str) -> None:
        from ..models.spec import parse_spec

        try:
            parse_spec(model)
        except ModelSpecError as exc:
            raise bad_request(str(exc), param="model") from None
        if model in self._models or any(fnmatch.fnmatchcase(model, p) for p in self.config.allow_models):
            return
        # the rule, not the list: the operator's model specs and patterns may name private endpoints
        raise ApiError(403, f"model spec '{model}' is not allowed on this server: a request may name only the "
                       "presets' own models and the specs the operator allows with --allow-model PATTERN", type="permission_error", code="model_not_allowed", param="model")

    # -- listing ----------------------------------------------------------------------------------------------
    def describe(self, name: str) -> dict[str, Any]:
        spec = self.available[name]
        return {"kind": spec.kind, "strategy": spec.strategy, "params": spec.settings,
                "model": spec.model or self.config.model, "description": spec.description}


def _value(text: str) -> Any:
    """'5' -> 5, '0.7' -> 0.7, 'true' -> True, anything else stays a string (the pipeline config validates)."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text
