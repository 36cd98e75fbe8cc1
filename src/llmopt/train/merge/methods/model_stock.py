"""Model stock (arXiv:2403.19522): move from the base towards the average of the fine-tuned models by a ratio
set by the angle between their task vectors."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import MergeMethod, Param, register


def model_stock(base: torch.Tensor, others: Sequence[torch.Tensor], filter_wise: bool = False) -> torch.Tensor:
    """t * mean(others) + (1 - t) * base with t = k cos / (1 + (k - 1) cos), cos the mean pairwise cosine of
    the k task vectors (per row when filter_wise). Where 1 + (k - 1) cos vanishes there is no finite estimate
    and the base is kept."""
    shape = base.shape
    if filter_wise:
        w0 = base.unsqueeze(0) if base.dim() == 1 else base
        ws = [w.unsqueeze(0) if w.dim() == 1 else w for w in others]
    else:
        w0 = base.reshape(-1)
        ws = [w.reshape(-1) for w in others]
    offsets = [w - w0 for w in ws]
    cosines = []
    for i, a in enumerate(offsets):
        for b in offsets[i + 1:]:
            norms = torch.norm(a, dim=-1) * torch.norm(b, dim=-1)
            cosines.append(((a * b).sum(dim=-1) / norms.clamp(min=1e-6)).clamp(-1, 1))
    del offsets
    cos = torch.stack(cosines).mean(dim=0).unsqueeze(-1)
    k = len(ws)
    denominator = 1 + (k - 1) * cos
    singular = denominator.abs() < 1e-6
    t = torch.where(singular, torch.zeros_like(cos), k * cos / torch.where(singular, 1, denominator))
    average = sum(ws) / k
    return (t * average + (1 - t) * w0).reshape(shape)


def _apply(tensors, base_index, shared, per_input, generator=None):
    others = [t for i, t in enumerate(tensors) if i != base_index]
    base = tensors[base_index]
    tensors.clear()
    return model_stock(base, others, filter_wise=shared["filter_wise"])


register(MergeMethod(
    name="model_stock", apply=_apply, description="interpolate base -> mean of models by the task-vector angle",
    params=(Param("filter_wise", "shared", False, bool, "one ratio per row instead of per tensor"),),
    base="required", min_inputs=3, work_factor=4.0, reference="https://arxiv.org/abs/2403.19522",
))
