"""The computation allocation model as the search's proposer: after a bracket, the model (llmopt.eval.allocation,
logit P = a·log θ + c per model and prompt) is fit to what every configuration scored at its furthest rung, and
the untried configurations it predicts best go first into the next bracket, ahead of the sampler's. Until there
are enough distinct (k, m, n) points to fit, it proposes nothing and the sampler alone decides."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import LlmoptError
from ..eval.allocation import Observation, allocatable, fit_allocation, iterations
from .space import Space
from .study import TrialRecord

PROPOSALS = 3


def allocation_proposer(space: Space, *, top: int = PROPOSALS):
    """A `propose` callback for run_search."""

    def propose(records: Sequence[TrialRecord]):
        seen: dict[str, TrialRecord] = {}
        for r in records:
            if r.score is not None and r.state in ("complete", "pruned"):
                if r.key not in seen or r.questions > seen[r.key].questions:
                    seen[r.key] = r
        groups: dict[tuple[str, str], list[Observation]] = {}
        for key, r in seen.items():
            config = space.get(key)
            if config is None or config.samples != 1 or not allocatable(config.strategy):
                continue
            groups.setdefault((config.model, config.prompt), []).append(Observation(
                "project", config.model, config.prompt, config.strategy, config.k, config.m,
                iterations(config.strategy, config.n), r.score, r.questions, key=key))
        predicted = []
        for (model, prompt), observations in groups.items():
            try:
                fitted = fit_allocation(observations)
            except LlmoptError:  # too few distinct points yet
                continue
            for config in space.points:
                if (config.key not in seen and config.model == model and config.prompt == prompt
                        and config.samples == 1 and allocatable(config.strategy)):
                    value = fitted.predict(config.k, config.m, iterations(config.strategy, config.n))
                    predicted.append((value, config))
        predicted.sort(key=lambda pair: (-pair[0], pair[1].key))
        return [config for _, config in predicted[:top]]

    return propose
