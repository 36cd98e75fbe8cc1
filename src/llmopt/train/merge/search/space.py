"""The search space over a merge recipe (pure): dotted paths into the recipe mapping, their bounds, and the
recipe a point of the space stands for.

    space = build_space(recipe, [SearchParameter(path="models.*.parameters.weight", low=0, high=1)])
    space.dimensions      # models.0.parameters.weight, models.1.parameters.weight
    space.recipe_for({"models.0.parameters.weight": 0.3, "models.1.parameters.weight": 0.7})
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from ....errors import ConfigError
from .config import SearchParameter

Segment = str | int
# Mappings a path may create keys in: a parameter the recipe leaves at its default can still be searched.
CREATABLE = ("parameters",)


class SearchSpaceError(ConfigError):
    """A search path that does not lead to a value of the recipe, or bounds that make no sense."""


@dataclass(frozen=True)
class Dimension:
    """One searched number: the value at `path` (or point `point` of the gradient there)."""

    name: str  # the Optuna parameter name: the path, with [i] for a gradient point
    path: tuple[Segment, ...]
    low: float
    high: float
    log: bool = False
    point: int | None = None  # index in a gradient of `points` values; None for a scalar
    points: int = 1

    def clip(self, value: float) -> float:
        return min(self.high, max(self.low, value))

    @property
    def middle(self) -> float:
        return math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2


def split_path(path: str) -> tuple[Segment, ...]:
    """'models.0.parameters.weight' -> ('models', 0, 'parameters', 'weight'); '*' stays a string."""
    return tuple(int(part) if part.lstrip("-").isdigit() else part for part in path.strip().split("."))


def dotted(path: tuple[Segment, ...]) -> str:
    return ".".join(str(part) for part in path)


def get_value(recipe: Any, path: tuple[Segment, ...] | str) -> Any:
    """The value at `path`; SearchSpaceError (naming the first segment that fails) when there is none."""
    path = split_path(path) if isinstance(path, str) else path
    node = recipe
    for depth, part in enumerate(path):
        node = _child(node, part, path, depth)
    return node


def _child(node: Any, part: Segment, path: tuple[Segment, ...], depth: int) -> Any:
    where = dotted(path[:depth + 1])
    if isinstance(node, list):
        if not isinstance(part, int):
            raise SearchSpaceError(f"search path {dotted(path)}: {dotted(path[:depth]) or 'the recipe'} is a list; "
                                   f"use an index 0..{len(node) - 1} or '*' instead of {part!r}")
        if not -len(node) <= part < len(node):
            raise SearchSpaceError(f"search path {dotted(path)}: no entry {part} at {where} (the list has "
                                   f"{len(node)}: 0..{len(node) - 1})")
        return node[part]
    if isinstance(node, dict):
        if str(part) not in node:
            keys = ", ".join(map(str, node)) or "none"
            raise SearchSpaceError(f"search path {dotted(path)}: no key {str(part)!r} at {where} (keys there: {keys})")
        return node[str(part)]
    raise SearchSpaceError(f"search path {dotted(path)}: {dotted(path[:depth])} is a value ({node!r}), not a mapping "
                           "or list; shorten the path")


def set_value(recipe: dict, path: tuple[Segment, ...] | str, value: Any) -> dict:
    """A copy of `recipe` with `value` at `path`. Keys missing under a `parameters` mapping are created (a
    parameter left at its default can be searched); any other missing key or index is a SearchSpaceError."""
    path = split_path(path) if isinstance(path, str) else path
    result = copy.deepcopy(recipe)
    node = result
    for depth, part in enumerate(path[:-1]):
        creatable = isinstance(node, dict) and (part in CREATABLE or _under_parameters(path, depth))
        if creatable and str(part) not in node:
            node[str(part)] = {}
        node = _child(node, part, path, depth)
    last = path[-1]
    if isinstance(node, dict):
        if str(last) not in node and not _under_parameters(path, len(path) - 1):
            _child(node, last, path, len(path) - 1)  # raises, naming the keys there
        node[str(last)] = value
    elif isinstance(node, list):
        _child(node, last, path, len(path) - 1)
        node[last] = value
    else:
        _child(node, last, path, len(path) - 1)
    return result


def _under_parameters(path: tuple[Segment, ...], depth: int) -> bool:
    return any(part in CREATABLE for part in path[:depth])


def expand(recipe: dict, path: tuple[Segment, ...]) -> list[tuple[Segment, ...]]:
    """Every concrete path a '*' path stands for (one per list entry), in order; a path without '*' as is."""
    if "*" not in path:
        return [path]
    star = path.index("*")
    container = get_value(recipe, path[:star]) if star else recipe
    if not isinstance(container, list):
        raise SearchSpaceError(f"search path {dotted(path)}: '*' needs a list at {dotted(path[:star]) or 'the top'}")
    return [concrete for i in range(len(container)) for concrete in expand(recipe, (*path[:star], i, *path[star + 1:]))]


@dataclass(frozen=True)
class SearchSpace:
    """The recipe and the numbers searched in it."""

    recipe: dict
    dimensions: tuple[Dimension, ...]

    def recipe_for(self, values: dict[str, float]) -> dict:
        """The recipe with every searched value set (a gradient's points written as one list)."""
        missing = [d.name for d in self.dimensions if d.name not in values]
        if missing:
            raise SearchSpaceError(f"no value for {', '.join(missing)}")
        result = self.recipe
        for path, group in self._groups().items():
            numbers = [float(values[d.name]) for d in group]
            result = set_value(result, path, numbers if group[0].point is not None else numbers[0])
        return result

    def start(self) -> dict[str, float]:
        """The recipe's own values (clipped to the bounds; a gradient's interpolated at its points), or the
        middle of the range where the recipe has no number there: the search's first trial."""
        start = {}
        for path, group in self._groups().items():
            try:
                current = get_value(self.recipe, path)
            except SearchSpaceError:
                current = None
            for dim in group:
                number = _number_at(current, dim)
                start[dim.name] = dim.middle if number is None else dim.clip(number)
        return start

    def _groups(self) -> dict[tuple[Segment, ...], list[Dimension]]:
        groups: dict[tuple[Segment, ...], list[Dimension]] = {}
        for dim in self.dimensions:
            groups.setdefault(dim.path, []).append(dim)
        return groups


def _number_at(current: Any, dim: Dimension) -> float | None:
    if isinstance(current, bool):
        return None
    if isinstance(current, (int, float)):
        return float(current)
    if isinstance(current, list) and current and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                     for v in current):
        if dim.point is None:
            return None
        t = dim.point / max(1, dim.points - 1) * (len(current) - 1)
        low = int(t)
        high = min(len(current) - 1, low + 1)
        return float(current[low] + (t - low) * (current[high] - current[low]))
    return None


def build_space(recipe: dict, parameters: list[SearchParameter]) -> SearchSpace:
    """The dimensions of `parameters` over `recipe`: '*' expanded, every path checked (its parent must exist),
    no value searched twice."""
    dimensions: list[Dimension] = []
    seen: dict[tuple[Segment, ...], str] = {}
    for parameter in parameters:
        for path in expand(recipe, split_path(parameter.path)):
            set_value(recipe, path, 0.0)  # raises on a path that leads nowhere
            if path in seen:
                raise SearchSpaceError(f"search path {dotted(path)} is searched twice ({seen[path]} and "
                                       f"{parameter.path}); keep one")
            seen[path] = parameter.path
            points = [None] if parameter.points == 1 else list(range(parameter.points))
            for point in points:
                name = dotted(path) + ("" if point is None else f"[{point}]")
                dimensions.append(Dimension(name, path, parameter.low, parameter.high, parameter.log, point,
                                            parameter.points))
    return SearchSpace(recipe, tuple(dimensions))
