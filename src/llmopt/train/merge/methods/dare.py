"""DARE (arXiv:2311.03099): drop each task-vector entry at random (keeping a `density` fraction) and rescale
what remains; dare_linear then adds the task vectors, dare_ties also elects signs as TIES does."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from . import MergeMethod, register
from .sparsify import bernoulli
from .task_vectors import apply_with, combine, task_vector_params


def dare(base: torch.Tensor, others: Sequence[torch.Tensor], weights: Sequence[float],
         densities: Sequence[float], *, consensus: bool, normalize: bool = False, rescale: bool = True,
         lambda_: float = 1.0, rng: np.random.Generator | None = None) -> torch.Tensor:
    """Random drop-and-rescale of each task vector, then a (sign-consensus when `consensus`) weighted sum."""
    return combine(base, others, weights, normalize=normalize, consensus=consensus, lambda_=lambda_,
                   sparsify=lambda delta, i: bernoulli(delta, densities[i], rescale, rng, inplace=True))


def _drop(delta: torch.Tensor, p: dict) -> torch.Tensor:
    return bernoulli(delta, p["density"], p["rescale"], p["rng"], inplace=True)


for _name, _consensus in (("dare_linear", False), ("dare_ties", True)):
    register(MergeMethod(
        name=_name, apply=apply_with(_drop, consensus=_consensus),
        description="random drop-and-rescale of task vectors" + (", then sign election" if _consensus else ""),
        params=task_vector_params(normalize=False, rescale=True),
        base="required", randomized=True, work_factor=1.0, reference="https://arxiv.org/abs/2311.03099",
    ))
