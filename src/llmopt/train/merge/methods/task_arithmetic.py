"""Task arithmetic (arXiv:2212.04089): add the weighted task vectors (model - base) to the base."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import MergeMethod, register
from .task_vectors import apply_with, combine, task_vector_params


def task_arithmetic(base: torch.Tensor, others: Sequence[torch.Tensor], weights: Sequence[float],
                    normalize: bool = False, lambda_: float = 1.0) -> torch.Tensor:
    """base + lambda * sum_i w_i (x_i - base) (divided by sum_i w_i when normalize)."""
    return combine(base, others, weights, normalize=normalize, consensus=False, lambda_=lambda_)


register(MergeMethod(
    name="task_arithmetic", apply=apply_with(None, consensus=False),
    description="base + weighted sum of task vectors", params=task_vector_params(normalize=False, rescale=False),
    base="required", work_factor=0.5, reference="https://arxiv.org/abs/2212.04089",
))
