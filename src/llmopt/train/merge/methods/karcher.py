"""Karcher mean: the Riemannian barycentre of the models' directions on the unit hypersphere, found by fixed-point
iteration, scaled by the models' mean norm (mergekit's `karcher`, arXiv:2603.04972). Every input counts equally,
the base model included when it is among the inputs (the method has no notion of a base).

Memory: two tensor-sized buffers beyond the inputs (the mean and its tangent step); the inputs become their unit
vectors in place and the updates run a block of CHUNK entries at a time. Norms and dot products are torch's over
whole tensors and the per-entry arithmetic is mergekit's, in the same order and dtype, so that the iteration
takes the same steps and stops at the same one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import MergeMethod, Param, register
from .sparsify import CHUNK


def karcher(tensors: Sequence[torch.Tensor], alphas: Sequence[float] | None = None, *, max_iter: int = 10,
            tol: float = 1e-5, inplace: bool = False) -> torch.Tensor:
    """The weighted Karcher mean of the tensors' directions (weights `alphas`, equal by default), times the
    weighted sum of their norms. Tensors with norm <= tol have no direction and only count in the norm; when
    none has one the result is zeros. Iteration stops after max_iter steps or once the tangent step is shorter
    than tol. With inplace, the tensors are consumed (overwritten with their unit vectors)."""
    tensors = list(tensors)
    alphas = [1.0 / len(tensors)] * len(tensors) if alphas is None else list(alphas)
    if len(tensors) != len(alphas) or not tensors:
        raise ValueError(f"karcher needs one weight per tensor, got {len(tensors)} tensors, {len(alphas)} weights")
    if len(tensors) == 1:
        return tensors[0]
    first = tensors[0]
    if not first.is_floating_point():
        raise TypeError("the Karcher mean needs floating-point tensors")
    work = torch.float64 if first.dtype == torch.float64 else torch.float32
    norms = [torch.linalg.vector_norm(x.to(work)) for x in tensors]
    valid = [i for i, norm in enumerate(norms) if norm.item() > tol]
    if not valid:
        return torch.zeros_like(first)
    alpha_sum = sum(alphas[i] for i in valid)
    weights = [alphas[i] / alpha_sum for i in valid]
    units = []
    for i in valid:
        x = tensors[i] if inplace and tensors[i].is_contiguous() else tensors[i].contiguous().clone()
        units.append(x.div_(norms[i]).view(-1))
    tensors.clear()
    spans = [slice(s, s + CHUNK) for s in range(0, units[0].numel(), CHUNK)]
    mean = torch.empty_like(units[0])
    for span in spans:
        total = weights[0] * units[0][span]
        for weight, unit in zip(weights[1:], units[1:]):
            total += weight * unit[span]
        mean[span] = total
    mean_norm = torch.linalg.vector_norm(mean.to(work))
    if mean_norm.item() < tol:
        mean.copy_(units[0])
    else:
        mean /= mean_norm
    tangent = torch.empty_like(mean)
    for _ in range(max_iter):
        steps = []  # (coefficient, cosine, unit) of each direction the mean is not already at
        for weight, unit in zip(weights, units):
            dot = torch.clamp(torch.dot(mean, unit), -1.0, 1.0)
            theta = torch.arccos(dot)
            if theta.item() >= tol:
                steps.append((weight * (theta / torch.sin(theta)), dot, unit))
        for span in spans:
            step = torch.zeros_like(mean[span])
            for coefficient, dot, unit in steps:
                step += coefficient * (unit[span] - dot * mean[span])
            tangent[span] = step
        tangent_norm = torch.linalg.vector_norm(tangent.to(work))
        if tangent_norm.item() < tol:
            break
        cos_norm, sin_norm = torch.cos(tangent_norm), torch.sin(tangent_norm)
        for span in spans:
            moved = cos_norm * mean[span]
            moved += sin_norm * (tangent[span] / tangent_norm)
            mean[span] = moved
        unit_norm = torch.linalg.vector_norm(mean.to(work))
        if unit_norm.item() > tol:
            mean /= unit_norm
    scale = alphas[0] * norms[0]
    for alpha, norm in zip(alphas[1:], norms[1:]):
        scale = scale + alpha * norm
    return mean.mul_(scale).view(first.shape)


def _apply(tensors, base_index, shared, per_input, rng=None):
    inputs = list(tensors)
    tensors.clear()
    return karcher(inputs, max_iter=shared["max_iter"], tol=shared["tol"], inplace=True)


register(MergeMethod(
    name="karcher", apply=_apply, description="Riemannian (Karcher) mean of the models' directions on the sphere",
    params=(Param("max_iter", "shared", 10, int, "most fixed-point iterations"),
            Param("tol", "shared", 1e-5, float, "stop once the tangent step is shorter than this")),
    work_factor=2.0, writes="all", reference="https://arxiv.org/abs/2603.04972",
))

__all__ = ["karcher"]
