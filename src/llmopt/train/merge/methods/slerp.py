"""SLERP: spherical interpolation between the base model and one other model, tensor by tensor."""

from __future__ import annotations

import torch

from . import MergeMethod, Param, register
from .sparsify import CHUNK

DOT_THRESHOLD = 0.9995  # above this |cos| the two tensors are colinear enough for plain interpolation
EPS = 1e-8


def slerp(t: float, v0: torch.Tensor, v1: torch.Tensor, dot_threshold: float = DOT_THRESHOLD,
          eps: float = EPS, inplace: bool = False) -> torch.Tensor:
    """Interpolate from v0 (t=0) to v1 (t=1) along the great circle between their directions, keeping their
    magnitudes' linear mix; nearly colinear or antipodal pairs fall back to linear interpolation. Computed in
    float32 (float64 stays float64); the result has v0's dtype. With inplace, v0 may be overwritten."""
    if not v0.is_floating_point():
        raise TypeError("SLERP needs floating-point tensors")
    work = torch.float64 if v0.dtype == torch.float64 else torch.float32
    a = v0.reshape(1, -1).to(work)
    b = v1.reshape(1, -1).to(work)
    if a.numel() == 0:
        return v0.clone()
    coef_a, coef_b = _coefficients(torch.tensor([[t]], dtype=work), _cosine(a, b, eps), dot_threshold)
    merged = a.mul_(coef_a) if inplace or a.data_ptr() != v0.data_ptr() else a * coef_a  # a copy is ours
    merged.add_(b * coef_b)
    return merged.reshape(v0.shape).to(v0.dtype)


def _cosine(a: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
    """cos(a, b) with mergekit's arithmetic, so that results match it: norms of 1M-entry chunk norms, then the
    dot product of the normalised chunks. (float64 accumulation would move the interpolation coefficients by
    about 1e-6 relative, and the outputs by up to ~2e-5 on large weights.)"""
    spans = range(0, a.shape[1], CHUNK)
    norm_a = torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(a[:, s:s + CHUNK], dim=1, keepdim=True) for s in spans]), dim=0)
    norm_b = torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(b[:, s:s + CHUNK], dim=1, keepdim=True) for s in spans]), dim=0)
    norm_a = torch.where(norm_a > eps, norm_a, 1)  # a zero tensor has no direction
    norm_b = torch.where(norm_b > eps, norm_b, 1)
    parts = [((a[:, s:s + CHUNK] / norm_a) * (b[:, s:s + CHUNK] / norm_b)).sum(dim=1, keepdim=True) for s in spans]
    return torch.stack(parts).sum(dim=0).clamp(-1, 1)


def _coefficients(t: torch.Tensor, dot: torch.Tensor, dot_threshold: float) -> tuple[float, float]:
    linear = dot.abs() > dot_threshold
    theta = torch.acos(torch.where(linear, 0, dot))
    sin_theta = torch.sin(theta)
    coef_a = torch.where(linear, 1 - t, torch.sin((1 - t) * theta) / sin_theta)
    coef_b = torch.where(linear, t, torch.sin(t * theta) / sin_theta)
    return coef_a.item(), coef_b.item()


def _apply(tensors, base_index, shared, per_input, rng=None):
    v0, v1 = tensors[base_index], tensors[1 - base_index]
    tensors.clear()  # the executor owns the inputs: let the merge overwrite them
    return slerp(shared["t"], v0, v1, inplace=True)


register(MergeMethod(
    name="slerp", apply=_apply, description="spherical interpolation between the base and one other model",
    params=(Param("t", "shared", help="0 keeps the base, 1 the other model"),),
    base="required", min_inputs=2, max_inputs=2, work_factor=1.0, writes="base",
    reference="https://en.wikipedia.org/wiki/Slerp",
))
