"""`allocate_from`: fit the computation allocation model over one or more sweep folders and pick (k, m, n) for a
budget (the API under `llmopt allocate`). Several folders on different datasets let the model fit the
informativeness terms b ⊙ i, as in the paper."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from .allocation import Observation, allocate, eligible, fit_allocation, measured_best
from .results import EvalSummary


def load_observations(folders: Sequence[str | Path], metric: str | None = None) -> tuple[list[Observation], str]:
    """Observations from each folder's summary.json: the configurations eligible for the allocation model (run
    with one sample, mostly within budget; allocation.eligible)."""
    observations: list[Observation] = []
    chosen = metric
    for folder in folders:
        path = Path(folder).expanduser() / "summary.json"
        if not path.is_file():
            raise InputError(f"no summary.json in {folder}; run `llmopt eval qa ... --out {folder}` first")
        summary = EvalSummary.from_json(json.loads(path.read_text(encoding="utf-8")))
        chosen = chosen or summary.metric
        observations += [Observation.from_config(summary.dataset, entry, chosen) for entry in summary.configs
                         if eligible(entry, chosen)]
    return observations, chosen or "acc"


def allocate_from(folders: str | Path | Sequence[str | Path], budget: int, *, metric: str | None = None,
                  model: str | None = None, prompt: str | None = None, dataset: str | None = None,
                  informativeness: dict[str, list[float]] | None = None, top: int = 5) -> dict[str, Any]:
    """The predicted best (k, m, n) within `budget` tokens of effective context, the best configuration actually
    measured within it, and the fitted model. model/prompt pick a group when the sweeps hold several."""
    if budget <= 0:
        raise ConfigError(f"--budget must be a positive number of tokens, got {budget}")
    folders = [folders] if isinstance(folders, (str, Path)) else list(folders)
    observations, metric = load_observations(folders, metric)
    group = _group(observations, model, prompt)
    fitted = fit_allocation(group, metric=metric, informativeness=informativeness)
    dataset = dataset or fitted.datasets[0]
    choice = allocate(fitted, budget, dataset=dataset, top=top)
    seen = measured_best([o for o in group if o.dataset == dataset], budget)
    choice["measured_best"] = None if seen is None else {
        "strategy": seen.strategy, "k": seen.k, "m": seen.m, "n": seen.iterations, "key": seen.key,
        "measured": seen.value, "effective_context": seen.effective_context, "count": seen.count}
    choice["fit"] = fitted.to_dict()
    return choice


def _group(observations: list[Observation], model: str | None, prompt: str | None) -> list[Observation]:
    groups: dict[tuple[str, str], list[Observation]] = {}
    for o in observations:
        if (model is None or o.model == model) and (prompt is None or o.prompt == prompt):
            groups.setdefault((o.model, o.prompt), []).append(o)
    if not groups:
        raise ConfigError("no measured configurations match" + (f" model {model}" if model else "")
                          + (f" prompt {prompt}" if prompt else "") + "; check --model/--prompt against the sweep")
    if len(groups) > 1:
        names = ", ".join(f"{m} / {p}" for m, p in groups)
        raise ConfigError(f"the sweeps hold several model/prompt groups ({names}); pick one with --model and --prompt")
    return next(iter(groups.values()))
