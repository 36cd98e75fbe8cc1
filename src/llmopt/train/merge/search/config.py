"""The merge-search configuration: a mergekit recipe, the numeric parameters to search and their bounds, the tasks
that score a candidate, and the budget.

    recipe: merge.yaml                 # a mergekit YAML file, or the recipe itself as a mapping
    search:                            # one entry per searched value (mergekit-evolve's genome, made explicit)
      - {path: models.0.parameters.weight, low: 0, high: 1}
      - {path: models.*.parameters.density, low: 0.1, high: 1}    # '*': one value per model
      - {path: parameters.lambda, low: 0.5, high: 1.5, points: 3} # a 3-point gradient over the layers
    # or compactly: search: {models.*.parameters.weight: [0, 1]}
    tasks:
      - {data: dev/reading.jsonl, metric: f1}
      - {data: dev/sql.jsonl, metric: execution_accuracy}
    aggregate: mean                    # or min: the weakest task decides
    trials: 30                         # budget: trials in all (resumed runs count the finished ones)
    seconds: 900                       # and/or wall-clock seconds of this run

Paths (the recipe file, the tasks' data, the recipe's models) are read as given, relative to the working folder,
as mergekit reads them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ....config import read_yaml, validate
from ....errors import ConfigError

METRICS = ("f1", "em", "execution_accuracy")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchParameter(_Strict):
    """One searched value of the recipe (or one per match of a '*' path, or `points` of a gradient)."""

    path: str = Field(description="dotted path in the recipe, e.g. models.0.parameters.weight; '*' matches every "
                                  "list entry (models.*.parameters.weight)")
    low: float = Field(description="lower bound")
    high: float = Field(description="upper bound")
    log: bool = Field(False, description="search on a log scale (low > 0)")
    points: int = Field(1, ge=1, le=16, description="1: a scalar; k > 1: a k-point gradient interpolated over the "
                                                    "layers (mergekit's list values), each point searched")

    @model_validator(mode="before")
    @classmethod
    def _pair(cls, value: Any) -> Any:
        if isinstance(value, dict) and "bounds" in value:  # {path: .., bounds: [low, high]}
            low_high = value["bounds"]
            if not isinstance(low_high, (list, tuple)) or len(low_high) != 2:
                raise ValueError(f"bounds must be [low, high], got {low_high!r}")
            value = {**{k: v for k, v in value.items() if k != "bounds"}, "low": low_high[0], "high": low_high[1]}
        return value

    @model_validator(mode="after")
    def _bounds(self) -> "SearchParameter":
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"{self.path}: bounds must be finite numbers, got [{self.low}, {self.high}]")
        if self.low >= self.high:
            raise ValueError(f"{self.path}: low must be below high, got [{self.low}, {self.high}]; swap them or "
                             "widen the range")
        if self.log and self.low <= 0:
            raise ValueError(f"{self.path}: a log-scale range needs low > 0, got {self.low}")
        if not self.path.strip() or any(not part for part in self.path.split(".")):
            raise ValueError(f"path {self.path!r} is not a dotted path like models.0.parameters.weight")
        return self


class SearchTask(_Strict):
    """A task a candidate is scored on: a JSONL of prompt/answer rows (SQL rows also name their `db`)."""

    data: Path = Field(description="JSONL rows: prompt, answer (and db for execution_accuracy)")
    metric: Literal["f1", "em", "execution_accuracy"] = Field("f1", description="f1/em on the answer, or SQL "
                                                                                 "execution accuracy")
    name: str | None = Field(None, description="label in tables (default: the data file's stem)")
    weight: float = Field(1.0, gt=0, description="weight in the mean over tasks")
    max_tokens: int | None = Field(None, ge=1, description="answer length (default: 32, 64 for SQL)")

    @property
    def label(self) -> str:
        return self.name or self.data.stem


class MergeSearchConfig(_Strict):
    """Everything `llmopt merge-search` needs."""

    recipe: Union[dict[str, Any], Path] = Field(description="a mergekit recipe (mapping) or a YAML file of one")
    search: list[SearchParameter] = Field(min_length=1, description="the searched values and their bounds")
    tasks: list[SearchTask] = Field(default_factory=list, description="tasks scoring each candidate (dev split)")
    aggregate: Literal["mean", "min"] = Field("mean", description="how task scores become one objective")
    trials: int | None = Field(20, ge=1, description="trials in all (finished ones of a resumed search count)")
    seconds: float | None = Field(None, gt=0, description="wall-clock budget of this run (no new trial after it)")
    popsize: int | None = Field(None, ge=2, description="CMA-ES population (default 4 + 3 ln(dimensions))")
    seed: int = Field(0, description="sampler seed (and the seed of random merge methods)")

    @field_validator("search", mode="before")
    @classmethod
    def _compact(cls, value: Any) -> Any:
        if isinstance(value, dict):  # {path: [low, high]} or {path: {low, high, ...}}
            return [{"path": path, **(spec if isinstance(spec, dict) else {"bounds": spec})}
                    for path, spec in value.items()]
        return value

    @model_validator(mode="after")
    def _budget(self) -> "MergeSearchConfig":
        if self.trials is None and self.seconds is None:
            raise ValueError("give a budget: trials, seconds, or both")
        labels = [t.label for t in self.tasks]
        if len(set(labels)) != len(labels):
            raise ValueError(f"tasks need distinct names, got {labels}; set name: on each")
        return self

    def recipe_dict(self) -> dict[str, Any]:
        """The recipe as a plain mapping (read from its file when a path was given)."""
        if isinstance(self.recipe, dict):
            return dict(self.recipe)
        return read_yaml(self.recipe, what="merge")


def load_search_config(source: Union[str, Path, dict, MergeSearchConfig], **overrides: Any) -> MergeSearchConfig:
    """A validated MergeSearchConfig from a YAML file, a mapping or a config; None overrides are ignored."""
    if isinstance(source, MergeSearchConfig):
        data = source.model_dump()
    elif isinstance(source, (str, Path)):
        data = read_yaml(source, what="merge-search")
    elif isinstance(source, dict):
        data = dict(source)
    else:
        raise ConfigError("merge-search config: expected a mapping with recipe, search and tasks")
    data.update({k: v for k, v in overrides.items() if v is not None})
    if isinstance(data.get("recipe"), str):
        data["recipe"] = Path(data["recipe"])
    return validate(MergeSearchConfig, data, what="merge-search",
                    file=source if isinstance(source, (str, Path)) else None)
