"""DELLA (arXiv:2406.11617): drop task-vector entries at random with a keep probability that grows with their
magnitude rank (density +/- epsilon), rescale; della also elects signs as TIES does."""

from __future__ import annotations

import torch

from . import MergeMethod, Param, register
from .sparsify import della_magprune
from .task_vectors import apply_with, task_vector_params


def _prune(delta: torch.Tensor, p: dict) -> torch.Tensor:
    return della_magprune(delta, p["density"], p["epsilon"], p["rescale"], p["rng"], inplace=True)  # delta is ours


_EPSILON = Param("epsilon", "non_base", 0.15, help="spread of keep probabilities around the density")

for _name, _consensus, _normalize in (("della", True, True), ("della_linear", False, False)):
    register(MergeMethod(
        name=_name, apply=apply_with(_prune, consensus=_consensus),
        description="magnitude-ranked random drop of task vectors" + (", then sign election" if _consensus else ""),
        params=task_vector_params(normalize=_normalize, rescale=True) + (_EPSILON,),
        base="required", randomized=True, work_factor=1.0, reference="https://arxiv.org/abs/2406.11617",
    ))
