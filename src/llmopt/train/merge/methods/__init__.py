"""The merge-method registry: one module per method, each a pure function from tensors to a tensor.

A method module defines its math as a plain function (tested on hand-computed tensors) and registers a
`MergeMethod` that says which parameters it reads, whether it needs a base model and how many inputs it takes.
The executor calls `method.apply(tensors, base_index, shared, per_input, rng)` with parameters already
resolved for the tensor at hand.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ....errors import ConfigError

REQUIRED: Any = object()  # marks a parameter with no default

Scope = Literal["shared", "input", "non_base"]


@dataclass(frozen=True)
class Param:
    """A parameter a method reads. shared: one value per tensor; input: one per input model; non_base: one per
    input model other than the base."""

    name: str
    scope: Scope
    default: Any = REQUIRED
    kind: type = float
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class MergeMethod:
    name: str
    apply: Callable[..., Any]  # (tensors, base_index, shared, per_input, rng) -> Tensor; rng: numpy Generator
    params: tuple[Param, ...]
    description: str
    base: Literal["required", "optional", "ignored"] = "ignored"
    min_inputs: int = 1
    max_inputs: int | None = None
    min_non_base: int = 0  # inputs other than the base (mergekit's min/max_non_base)
    max_non_base: int | None = None
    randomized: bool = False
    work_factor: float = 2.0  # peak working memory, in multiples of one input tensor, beyond the inputs
    writes: Literal["none", "first", "base", "all"] = "all"  # inputs `apply` overwrites (merging in place)
    reference: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def written(self, index: int, base_index: int | None) -> bool:
        """Whether `apply` overwrites input `index` (the reader then pre-faults private copies of its pages)."""
        return (self.writes == "all" or (self.writes == "first" and index == 0)
                or (self.writes == "base" and index == base_index))

    def check_inputs(self, n_inputs: int, has_base: bool, where: str) -> None:
        """Refuse a slice whose inputs this method cannot merge, naming the fix."""
        if self.base == "required" and not has_base:
            raise ConfigError(f"{self.name} needs a base model{where}; set base_model")
        if n_inputs < self.min_inputs:
            raise ConfigError(f"{self.name} needs at least {self.min_inputs} input models{where} "
                              f"(base included), got {n_inputs}")
        if self.max_inputs is not None and n_inputs > self.max_inputs:
            what = f"exactly {self.max_inputs}" if self.max_inputs == self.min_inputs else f"at most {self.max_inputs}"
            raise ConfigError(f"{self.name} takes {what} input model(s){where} (base included), got {n_inputs}")
        others = n_inputs - int(has_base and self.base != "ignored")
        if others < self.min_non_base or (self.max_non_base is not None and others > self.max_non_base):
            low, high = self.min_non_base, self.max_non_base
            what = (f"exactly {low}" if low == high else f"at least {low}" if high is None
                    else f"{low} to {high}")
            raise ConfigError(f"{self.name} takes {what} model(s) besides the base model{where}, got {others}")


_METHODS: dict[str, MergeMethod] = {}


def register(method: MergeMethod) -> MergeMethod:
    if method.name in _METHODS:
        raise ValueError(f"merge method {method.name!r} is registered twice")
    _METHODS[method.name] = method
    return method


_loaded = False


def _load() -> None:
    global _loaded
    if not _loaded:  # importing one method module directly must not hide the others
        for info in pkgutil.iter_modules(__path__):  # a new method is one file in this folder
            importlib.import_module(f"{__name__}.{info.name}")
        _loaded = True


def method_names() -> list[str]:
    _load()
    return sorted(_METHODS)


def get_method(name: str) -> MergeMethod:
    """The registered method called `name`; unknown names list the supported ones."""
    _load()
    try:
        return _METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown merge_method {name!r}; supported: {', '.join(method_names())}") from None


def values(per_input: Sequence[dict[str, Any]], name: str) -> list[Any]:
    """One parameter's values across inputs, in input order."""
    return [p[name] for p in per_input]
