"""What a candidate merge scores: each task's metric on its dev split, combined into one number to maximise.

`aggregate` is pure; `task_evaluator` scores a merged model folder through the evaluator the lab's finetune and
merge stages use (llmopt.train.finetune.tasks.evaluate_model: greedy answers on the hf engine; token F1 / exact
match, or SQL execution accuracy through llmopt.sql).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

from ....errors import ConfigError
from .config import SearchTask

# A merged model folder -> {task label: score}; the search maximises aggregate() of it.
Evaluate = Callable[[Path], dict[str, float]]


def aggregate(scores: Mapping[str, float], weights: Mapping[str, float] | None = None, how: str = "mean") -> float:
    """One objective from task scores: the weighted mean, or the minimum (the weakest task decides). A NaN
    score (a task with no rows) is an error rather than a silently better or worse candidate."""
    if not scores:
        raise ConfigError("no task scores to aggregate; give the search at least one task")
    bad = [name for name, value in scores.items() if not math.isfinite(value)]
    if bad:
        raise ConfigError(f"task(s) {', '.join(bad)} scored NaN/Inf; check that their data has rows")
    if how == "min":
        return min(scores.values())
    if how != "mean":
        raise ConfigError(f"unknown aggregate {how!r}; use mean or min")
    weights = weights or {}
    total = sum(weights.get(name, 1.0) for name in scores)
    return sum(weights.get(name, 1.0) * value for name, value in scores.items()) / total


def as_task(spec: SearchTask):
    """The lab's Task for a search task: its data is the split the candidate answers (the task's `eval`)."""
    from ...finetune.tasks import Task

    if not spec.data.is_file():
        raise ConfigError(f"task data not found: {spec.data}; pass a JSONL of prompt/answer rows")
    max_tokens = spec.max_tokens or (64 if spec.metric == "execution_accuracy" else 32)
    return Task(spec.label, spec.data, spec.data, spec.metric, max_tokens=max_tokens)


def task_evaluator(tasks: list[SearchTask]) -> Evaluate:
    """An Evaluate over `tasks` (each merged folder loaded on the hf engine, answered greedily)."""
    from ...finetune.tasks import evaluate_model

    if not tasks:
        raise ConfigError("give the search at least one task (tasks: [{data: dev.jsonl, metric: f1}])")
    loaded = [as_task(spec) for spec in tasks]

    def evaluate(folder: Path) -> dict[str, float]:
        return {task.name: evaluate_model(f"hf:{folder}", task).score.value for task in loaded}

    return evaluate
