"""The search space: the distinct configurations (eval.grid GridPoints) a search may try, and how each is written
as Optuna parameters. A space built from axes (strategies × k × m × n × samples × prompts × models) is given to
the sampler one axis at a time, conditional on the strategy (k only where it retrieves, m where it reads
demonstrations, n where it iterates), so TPE learns which values of each axis pay; a space given as an explicit
list of configurations (e.g. the points of an earlier grid) is one categorical parameter."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..eval.grid import GridPoint, point
from ..rag.strategy import strategy_class

AXIS_PARAMS = ("model", "prompt", "strategy", "k", "m", "n", "samples")


@dataclass
class Space:
    points: list[GridPoint]
    axes: dict[str, list[Any]] | None = None  # None: an explicit list, one categorical parameter
    _by_key: dict[str, GridPoint] = field(init=False, repr=False)

    def __post_init__(self):
        if not self.points:
            raise ConfigError("the search space is empty: every retrieval strategy needs some k >= 1")
        self._by_key = {p.key: p for p in self.points}

    @classmethod
    def from_axes(cls, *, models: Sequence[str], prompts: Sequence[str], strategies: Sequence[str],
                  k: Sequence[int], m: Sequence[int], n: Sequence[int], samples: Sequence[int] = (1,),
                  max_context: int | None = None) -> Space:
        seen: dict[str, GridPoint] = {}
        for values in itertools.product(models, prompts, strategies, k, m, n, samples):
            config = point(*values, max_context=max_context)
            if strategy_class(config.strategy).uses_retrieval and config.k == 0:
                continue
            seen.setdefault(config.key, config)
        axes = {"model": list(dict.fromkeys(models)), "prompt": list(dict.fromkeys(prompts)),
                "strategy": list(dict.fromkeys(strategies)), "k": sorted({v for v in k if v > 0}),
                "m": sorted(set(m)), "n": sorted(set(n)), "samples": sorted(set(samples))}
        return cls(list(seen.values()), axes | {"max_context": max_context})

    @classmethod
    def from_points(cls, points: Sequence[GridPoint]) -> Space:
        return cls(list({p.key: p for p in points}.values()))

    def __len__(self) -> int:
        return len(self.points)

    def get(self, key: str) -> GridPoint | None:
        return self._by_key.get(key)

    def suggest(self, trial: Any) -> GridPoint:
        """The configuration an Optuna trial proposes (canonical: DRAG with m = 0 is RAG)."""
        if self.axes is None:
            return self._by_key[trial.suggest_categorical("config", [p.key for p in self.points])]
        a = self.axes
        chosen = {name: trial.suggest_categorical(name, a[name]) for name in ("model", "prompt", "strategy",
                                                                               "samples")}
        declared = strategy_class(chosen["strategy"])
        k = trial.suggest_categorical("k", a["k"]) if declared.uses_retrieval and a["k"] else 0
        m = trial.suggest_categorical("m", a["m"]) if declared.uses_demonstrations else 0
        n = trial.suggest_categorical("n", a["n"]) if declared.iterative else 1
        config = point(chosen["model"], chosen["prompt"], chosen["strategy"], k, m, n, chosen["samples"],
                       max_context=a.get("max_context"))
        return self._by_key.get(config.key, config)

    def params(self, config: GridPoint) -> dict[str, Any]:
        """The trial parameters that propose `config` (for Optuna's enqueue_trial)."""
        if self.axes is None:
            return {"config": config.key}
        declared = strategy_class(config.strategy)
        out: dict[str, Any] = {"model": config.model, "prompt": config.prompt, "strategy": config.strategy,
                               "samples": config.samples}
        if declared.uses_retrieval:
            out["k"] = config.k
        if declared.uses_demonstrations:
            out["m"] = config.m
        if declared.iterative:
            out["n"] = config.n
        return out
