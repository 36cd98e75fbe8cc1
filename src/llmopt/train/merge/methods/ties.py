"""TIES (arXiv:2306.01708): trim each task vector to its largest entries, elect a sign per entry, and average
only the entries that agree with it."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import MergeMethod, register
from .sparsify import magnitude
from .task_vectors import apply_with, combine, task_vector_params


def ties(base: torch.Tensor, others: Sequence[torch.Tensor], weights: Sequence[float],
         densities: Sequence[float], normalize: bool = True, rescale: bool = False,
         lambda_: float = 1.0) -> torch.Tensor:
    """TIES-merge task vectors into base: trim (magnitude, `density`), elect sign, disjoint mean."""
    return combine(base, others, weights, normalize=normalize, consensus=True, lambda_=lambda_,
                   sparsify=lambda delta, i: magnitude(delta, densities[i], rescale, inplace=True))


def _trim(delta: torch.Tensor, p: dict) -> torch.Tensor:
    return magnitude(delta, p["density"], p["rescale"], inplace=True)  # the delta is ours


register(MergeMethod(
    name="ties", apply=apply_with(_trim, consensus=True),
    description="trim task vectors by magnitude, elect signs, average the agreeing entries",
    params=task_vector_params(normalize=True, rescale=False),
    base="required", work_factor=1.0, reference="https://arxiv.org/abs/2306.01708",
))
