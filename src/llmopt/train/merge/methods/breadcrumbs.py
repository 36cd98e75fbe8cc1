"""Model breadcrumbs (arXiv:2312.06795): drop each task vector's largest outliers (`gamma`) and its smallest
entries, keeping a `density` fraction; breadcrumbs_ties also elects signs as TIES does."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import MergeMethod, Param, register
from .sparsify import magnitude_outliers
from .task_vectors import apply_with, combine, task_vector_params


def breadcrumbs(base: torch.Tensor, others: Sequence[torch.Tensor], weights: Sequence[float],
                densities: Sequence[float], gammas: Sequence[float], *, consensus: bool = False,
                normalize: bool = False, rescale: bool = False, lambda_: float = 1.0) -> torch.Tensor:
    return combine(base, others, weights, normalize=normalize, consensus=consensus, lambda_=lambda_,
                   sparsify=lambda delta, i: magnitude_outliers(delta, densities[i], gammas[i], rescale, inplace=True))


def _crumbs(delta: torch.Tensor, p: dict) -> torch.Tensor:
    return magnitude_outliers(delta, p["density"], p["gamma"], p["rescale"], inplace=True)


_GAMMA = Param("gamma", "non_base", 0.01, help="fraction of largest-magnitude entries dropped as outliers")

for _name, _consensus in (("breadcrumbs", False), ("breadcrumbs_ties", True)):
    register(MergeMethod(
        name=_name, apply=apply_with(_crumbs, consensus=_consensus),
        description="drop outliers and small entries of task vectors" + (", then sign election" if _consensus else ""),
        params=task_vector_params(normalize=False, rescale=False) + (_GAMMA,),
        base="required", work_factor=1.0, reference="https://arxiv.org/abs/2312.06795",
    ))
