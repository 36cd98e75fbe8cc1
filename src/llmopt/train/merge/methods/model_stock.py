"""Model stock (arXiv:2403.19522): move from the base towards the average of the fine-tuned models by a ratio
set by the angle between their task vectors."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import MergeMethod, Param, register
from .sparsify import CHUNK


def model_stock(base: torch.Tensor, others: Sequence[torch.Tensor], filter_wise: bool = False,
                inplace: bool = False) -> torch.Tensor:
    """t * mean(others) + (1 - t) * base with t = k cos / (1 + (k - 1) cos), cos the mean pairwise cosine of
    the k task vectors (one per row when filter_wise). Where 1 + (k - 1) cos vanishes there is no finite
    estimate and the base is kept. Task vectors are never materialised: dot products are summed a block at a
    time (block sums carried in float64), and with inplace the result is written over base."""
    rows = base.reshape(-1, base.shape[-1]) if filter_wise and base.dim() > 1 else base.reshape(1, -1)
    others_rows = [w.reshape(rows.shape) for w in others]
    t = _ratio(_mean_cosine(rows, others_rows).to(base.dtype), len(others)).unsqueeze(-1)
    merged = rows if inplace else rows.clone()
    for block in _blocks(rows):
        average = others_rows[0][block] + others_rows[1][block] if len(others_rows) > 1 else others_rows[0][block].clone()
        for w in others_rows[2:]:
            average += w[block]
        merged[block].lerp_(average.div_(len(others_rows)), t[block[0]])  # one pass: base + t (mean - base)
    return merged.reshape(base.shape)


def _blocks(rows: torch.Tensor):
    """Index blocks of about CHUNK entries: whole rows when there are many, column ranges of a single row."""
    count, width = rows.shape
    if count == 1:
        for start in range(0, width, CHUNK):
            yield slice(0, 1), slice(start, start + CHUNK)
    else:
        step = max(1, CHUNK // max(width, 1))
        for start in range(0, count, step):
            yield slice(start, start + step), slice(None)


def _mean_cosine(rows: torch.Tensor, others: list[torch.Tensor]) -> torch.Tensor:
    """Per row, the mean over pairs (i < j) of cos(task vector i, task vector j)."""
    k = len(others)
    dots = torch.zeros((k, k, rows.shape[0]), dtype=torch.float64)
    for block in _blocks(rows):
        offsets = [w[block] - rows[block] for w in others]
        for i in range(k):
            for j in range(i, k):
                dots[i, j, block[0]] += _row_dots(offsets[i], offsets[j])
    norms = dots.diagonal(dim1=0, dim2=1).T.sqrt()  # [k, rows]
    cosines = [(dots[i, j] / (norms[i] * norms[j]).clamp(min=1e-6)).clamp(-1, 1)
               for i in range(k) for j in range(i + 1, k)]
    return torch.stack(cosines).mean(dim=0)


def _row_dots(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-row dot products in float64; a single row goes through BLAS (one pass, no product buffer)."""
    if a.shape[0] == 1:
        return torch.dot(a.reshape(-1), b.reshape(-1)).double().reshape(1)
    return (a * b).sum(dim=-1).double()


def _ratio(cos: torch.Tensor, k: int) -> torch.Tensor:
    denominator = 1 + (k - 1) * cos
    singular = denominator.abs() < 1e-6
    return torch.where(singular, torch.zeros_like(cos), k * cos / torch.where(singular, 1, denominator))


def _apply(tensors, base_index, shared, per_input, rng=None):
    others = [t for i, t in enumerate(tensors) if i != base_index]
    base = tensors[base_index]
    tensors.clear()
    return model_stock(base, others, filter_wise=shared["filter_wise"], inplace=True)


register(MergeMethod(
    name="model_stock", apply=_apply, description="interpolate base -> mean of models by the task-vector angle",
    params=(Param("filter_wise", "shared", False, bool, "one ratio per row instead of per tensor"),),
    base="required", min_inputs=3, work_factor=0.5, writes="base", reference="https://arxiv.org/abs/2403.19522",
))
