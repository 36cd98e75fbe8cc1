"""Resolving a method's parameters for one tensor: the most specific setting wins (the input model's own
parameters, then its slice's, then the global ones), then the method's default."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from ...errors import ConfigError
from .config import MergeConfiguration, Parameters, evaluate_setting
from .methods import MergeMethod, Param

Scopes = Sequence[Parameters | None]


def resolve_value(param: Param, scopes: Scopes, tensor: str, t: float, owner: str) -> Any:
    for scope in scopes:
        if scope and param.name in scope:
            try:
                value = evaluate_setting(scope[param.name], tensor, t, param.kind)
            except ValidationError:
                raise ConfigError(f"parameter {param.name!r} for {owner}: cannot read {scope[param.name]!r} as "
                                  f"{getattr(param.kind, '__name__', param.kind)}") from None
            if value is not None:
                return value
    if param.required:
        raise ConfigError(f"missing parameter {param.name!r} for {owner} (tensor {tensor}); set it in that "
                          "model's parameters or in the global parameters")
    return param.default


def resolve_tensor(method: MergeMethod, shared_scopes: Scopes, input_scopes: Sequence[Scopes], out_name: str,
                   in_names: Sequence[str], models: Sequence[str], t: float,
                   base_index: int | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Shared values (filters match the output tensor's name) and per-input values (filters match each input's
    own tensor name, which differs from the output's when slices move layers)."""
    shared = {p.name: resolve_value(p, shared_scopes, out_name, t, method.name)
              for p in method.params if p.scope == "shared"}
    per_input = []
    for i, scopes in enumerate(input_scopes):
        wanted = [p for p in method.params if p.scope == "input" or (p.scope == "non_base" and i != base_index)]
        per_input.append({p.name: resolve_value(p, scopes, in_names[i], t, models[i]) for p in wanted})
    return shared, per_input


def unused_parameter_warnings(config: MergeConfiguration, method: MergeMethod) -> list[str]:
    """One warning per parameter name the config sets but the method never reads."""
    names: dict[str, None] = {}
    scopes: list[Parameters | None] = [config.parameters]
    scopes += [m.parameters for m in config.models or []]
    for out_slice in config.slices or []:
        scopes += [out_slice.parameters] + [s.parameters for s in out_slice.sources]
    for scope in scopes:
        for name in scope or {}:
            names.setdefault(name)
    known = [p.name for p in method.params]
    return [f"parameter {name!r} does not apply to {method.name} and is ignored (its parameters: "
            f"{', '.join(known) or 'none'})" for name in names if name not in known]
