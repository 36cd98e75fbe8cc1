"""NearSwap: take the other model's value where it is near the base's, keep the base where they are far apart
(mergekit 0.1.5's `nearswap`; https://huggingface.co/alchemonaut/QuartetAnemoi-70B-t0.0001).

    w      = clamp(t / max(|base - other|, 1e-6), 0, 1)
    merged = w * other + (1 - w) * base

Entries closer than t are swapped outright (w = 1); farther ones move towards the other model by t / distance.
"""

from __future__ import annotations

import torch

from . import MergeMethod, Param, register
from .sparsify import CHUNK

DISTANCE_FLOOR = 1e-6


def nearswap(t: float, base: torch.Tensor, other: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """NearSwap `other` into `base` in base's dtype, a chunk at a time (with inplace the result overwrites
    base). The arithmetic is mergekit's, step for step: `t / x` on a tensor is t * reciprocal(x) in torch."""
    merged = base if inplace else base.clone()
    flat, theirs = merged.view(-1), other.to(base.dtype).reshape(-1)
    for start in range(0, flat.numel(), CHUNK):
        mine, near = flat[start:start + CHUNK], theirs[start:start + CHUNK]
        weight = torch.sub(mine, near).abs_().clamp_(min=DISTANCE_FLOOR).reciprocal_().mul_(t).clamp_(0, 1)
        swapped = near * weight
        mine.mul_(weight.neg_().add_(1)).add_(swapped)  # (1 - w) * base + w * other
    return merged


def _apply(tensors, base_index, shared, per_input, rng=None):
    base, other = tensors[base_index], tensors[1 - base_index]
    tensors.clear()  # the executor owns the inputs: the merge overwrites the base
    return nearswap(shared["t"], base, other, inplace=True)


register(MergeMethod(
    name="nearswap", apply=_apply, description="swap in the other model's entries that lie near the base's",
    params=(Param("t", "shared", help="distance under which an entry is swapped outright"),),
    base="required", min_inputs=2, max_inputs=2, work_factor=0.0, writes="base",
    reference="https://huggingface.co/alchemonaut/QuartetAnemoi-70B-t0.0001",
))
