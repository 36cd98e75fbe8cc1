"""Multi-SLERP: barycentric interpolation of any number of models on the hypersphere (mergekit's
`multislerp`). Each tensor (each task vector, with a base model) is scaled to unit length; the weighted mean of
those directions is normalised; the weighted mean of their projections onto its tangent plane is mapped back to
the sphere (exponential map); the result gets the weighted mean of the lengths and the base back.

Memory: one tensor-sized buffer beyond the inputs (the mean direction, then the result); task vectors are formed
in place and every other step works a block of CHUNK entries at a time. Per-entry arithmetic and the norms are
mergekit's (torch's norms of the whole tensors, whose float32 rounding the result depends on), in the tensors'
dtype; only the sums of products are carried blockwise in float64.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ....errors import InputError
from . import MergeMethod, Param, register
from .sparsify import CHUNK

EPS = 1e-8


def multislerp(tensors: Sequence[torch.Tensor], weights: Sequence[float], base: torch.Tensor | None = None, *,
               normalize_weights: bool = True, eps: float = EPS, inplace: bool = False) -> torch.Tensor:
    """Spherical barycentre of `tensors` (of `tensors - base`, base added back) with the given weights, divided
    by their sum when normalize_weights. One tensor is returned as it is (the base is then ignored, as in
    mergekit). With inplace, the tensors are consumed (overwritten); base is never written."""
    tensors = list(tensors)
    if len(tensors) != len(weights) or not tensors:
        raise ValueError(f"multislerp needs one weight per tensor, got {len(tensors)} tensors, {len(weights)} weights")
    if len(tensors) == 1:
        return tensors[0]
    first = tensors[0]
    if not first.is_floating_point():
        raise TypeError("multislerp needs floating-point tensors")
    dtype, shape = first.dtype, first.shape
    flats = []
    for i, x in enumerate(tensors):
        own = inplace and x.is_contiguous()
        x = (x.sub_(base) if own else x - base) if base is not None else (x if own else x.contiguous().clone())
        flats.append(x.view(-1))
        tensors[i] = None
    k, n = len(flats), flats[0].numel()
    w = torch.tensor(list(weights), dtype=dtype)
    if normalize_weights:
        w = w / w.sum()
    norms = torch.stack([torch.norm(x, dim=-1) for x in flats])  # the rows of mergekit's stacked tensor
    scale = (norms + eps).reshape(k, 1)
    spans = [slice(s, s + CHUNK) for s in range(0, n, CHUNK)]

    def units(span: slice) -> list[torch.Tensor]:
        return [flats[i][span] / scale[i] for i in range(k)]

    mean = torch.empty(n, dtype=dtype)
    for span in spans:
        mean[span] = _weighted_sum(units(span), w)
    mean_norm = torch.norm(mean)
    if mean_norm < eps:
        if k == 2:  # antipodal pair: linear interpolation (mergekit's fallback)
            out = flats[0].mul_(w[0]).add_(flats[1] * w[1])
            return (out if base is None else out.add_(base.reshape(-1))).view(shape)
        raise InputError("multislerp: the weighted mean of the models' directions is zero (antipodal models whose "
                         "weights cancel out); change the weights")
    mean /= mean_norm
    for i, x in enumerate(flats):  # from here on only the unit vectors are needed: divide once, in place
        x /= scale[i]
    dots = torch.zeros(k, dtype=torch.float64)
    for span in spans:
        for i, unit in enumerate(flats):
            dots[i] += (unit[span] * mean[span]).sum(dtype=torch.float64)  # near 1: sums in float64
    dots = dots.to(dtype).reshape(k, 1)
    tangent = flats[0]  # the first model's entries are last read in the block that overwrites them
    for span in spans:
        tangent[span] = _weighted_sum([x[span] - dots[i] * mean[span] for i, x in enumerate(flats)], w)
    tangent_norm = torch.norm(tangent) + eps
    cos_norm, sin_ratio = torch.cos(tangent_norm), torch.sin(tangent_norm) / tangent_norm
    average_norm = (norms * w).sum()
    base_flat = base.reshape(-1) if base is not None else None
    for span in spans:
        result = mean[span] * cos_norm
        result += tangent[span] * sin_ratio
        result *= average_norm
        if base_flat is not None:
            result += base_flat[span]
        mean[span] = result
    return mean.view(shape)


def _weighted_sum(parts: list[torch.Tensor], w: torch.Tensor) -> torch.Tensor:
    """sum_i parts_i * w_i, accumulated in input order (as torch sums a stacked tensor over its first axis)."""
    total = parts[0] * w[0]
    for i in range(1, len(parts)):
        total += parts[i] * w[i]
    return total


def _apply(tensors, base_index, shared, per_input, rng=None):
    others = [i for i in range(len(tensors)) if i != base_index]
    weights = [per_input[i]["weight"] for i in others]
    models = [tensors[i] for i in others]
    base = tensors[base_index] if base_index is not None else None
    tensors.clear()
    return multislerp(models, weights, base, normalize_weights=shared["normalize_weights"], eps=shared["eps"],
                      inplace=True)


register(MergeMethod(
    name="multislerp", apply=_apply,
    description="spherical barycentre of any number of models (or task vectors, with a base model)",
    params=(Param("weight", "non_base", help="this model's weight"),
            Param("normalize_weights", "shared", True, bool, "divide the weights by their sum"),
            Param("eps", "shared", 1e-8, float, "numerical-stability constant")),
    base="optional", min_inputs=1, min_non_base=1, work_factor=1.0, writes="all",
    reference="https://goddard.blog/posts/multislerp-wow-what-a-cool-idea",
))

__all__ = ["multislerp"]
