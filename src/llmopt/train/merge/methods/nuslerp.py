"""NuSLERP: spherical interpolation between two models, weighted (t = w2 / (w1 + w2)), of whole tensors (the
default), of rows, or of columns (`nuslerp_row_wise`); with a base model it interpolates the two task vectors
and adds the result to the base (mergekit's `nuslerp`).

Nothing tensor-sized is allocated: task vectors are formed in place, the angles come from torch's norms and a
pass of blockwise sums, the interpolation from a second pass that writes over the first model's tensor. The
per-entry arithmetic is mergekit's, operation by operation in the tensors' dtype, so results agree with it to
the last bit or two.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from . import MergeMethod, Param, register
from .sparsify import CHUNK

EPS = 1e-8  # below this sine of the angle (squared) the two vectors count as colinear
NORM_FLOOR = 1e-7  # a vector shorter than this has no direction (its norm is clamped here)


def nuslerp_t(weights: list[float]) -> float:
    """The interpolation position of the second model: w2 / (w1 + w2), 0.5 when the weights cancel."""
    total = sum(weights)
    return 0.5 if abs(total) < 1e-6 else weights[1] / total


def nuslerp(t: float, v0: torch.Tensor, v1: torch.Tensor, base: torch.Tensor | None = None, *,
            row_wise: bool = False, flatten: bool = True, inplace: bool = False) -> torch.Tensor:
    """Interpolate from v0 (t=0) to v1 (t=1) along great circles, with the magnitudes' mix of SLERP:
    (sin((1-t) theta) v0 + sin(t theta) v1) / sin(theta), theta the angle between the two vectors, and plain
    linear interpolation where they are colinear. The vectors are the whole tensors (flatten), their columns
    (row_wise: vectors along the first axis) or their rows (last axis). With base, v0 - base and v1 - base are
    interpolated and base is added back. With inplace, v0 and v1 are consumed: the result is written over v0
    (v1 holds its task vector); base is never written."""
    if not v0.is_floating_point():
        raise TypeError("NuSLERP needs floating-point tensors")
    if v0.shape != v1.shape or (base is not None and base.shape != v0.shape):
        shapes = [tuple(x.shape) for x in (v0, v1, base) if x is not None]
        raise ValueError(f"NuSLERP needs tensors of one shape, got {shapes}")
    if v0.numel() == 0:
        return v0 if inplace else v0.clone()
    layout = _Layout(v0.shape, "all" if flatten or v0.dim() == 0 else "first" if row_wise else "last")
    own = inplace and v0.is_contiguous() and v1.is_contiguous()
    if base is not None:  # task vectors, in place when the inputs are ours (mergekit's own subtraction)
        v0 = v0.sub_(base) if own else v0 - base
        v1 = v1.sub_(base) if own else v1 - base
    elif not own:
        v0 = v0.clone(memory_format=torch.contiguous_format)  # the output buffer
    a, b = layout.view(v0), layout.view(v1)
    c = layout.view(base) if base is not None else None
    s0, s1, sin_theta, colinear = _coefficients(t, *layout.cosine(a, b))
    for block in layout.blocks():
        i = layout.index(block)
        merged = s0[i] * a[block]
        merged += s1[i] * b[block]
        merged /= sin_theta[i]
        if bool(colinear[i].any()):
            linear = (1 - t) * a[block]
            linear += t * b[block]
            merged = torch.where(colinear[i], linear, merged)
        if c is not None:
            merged = c[block] + merged
        a[block] = merged  # every block is read before it is written
    return v0


class _Layout:
    """Where the vectors lie in a tensor and how to walk it in blocks of about CHUNK entries:
    all: the whole tensor is one vector (1-D view, entry ranges);
    last: each row (last axis) is a vector (2-D view, row ranges);
    first: each column (first axis) is a vector (2-D view, row ranges, column sums carried across blocks)."""

    def __init__(self, shape: torch.Size, axis: str):
        self.axis = axis
        numel = 1
        for size in shape:
            numel *= size
        if axis == "all":
            self.shape = (numel,)
        elif axis == "last":
            self.shape = (numel // shape[-1], shape[-1])
        else:
            self.shape = (shape[0], numel // shape[0])

    def view(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(self.shape)

    def blocks(self) -> Iterator[slice]:
        if self.axis == "all":
            step = CHUNK
        else:
            step = max(1, CHUNK // max(self.shape[1], 1))
        for start in range(0, self.shape[0], step):
            yield slice(start, start + step)

    def index(self, block: slice):
        """The coefficients of a block's vectors."""
        return block if self.axis == "last" else slice(None)

    def cosine(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos(a, b) per vector, with mergekit's arithmetic: torch's norms of the whole vectors (floored at
        NORM_FLOOR; float32 norms of long vectors are off by ~1e-5 relative, and the angle must see the same
        ones), then the sum of the products of the normalised entries, a block at a time (float64 across
        blocks). Returns the cosines and the dtype they are in."""
        dim = 0 if self.axis == "first" else -1
        n0 = torch.norm(a, dim=dim, keepdim=True).clamp(min=NORM_FLOOR)
        n1 = torch.norm(b, dim=dim, keepdim=True).clamp(min=NORM_FLOOR)
        if self.axis == "last":  # rows are whole in every block: the same per-row sums as mergekit's
            cos = torch.cat([((a[block] / n0[block]) * (b[block] / n1[block])).sum(dim=-1, keepdim=True)
                             for block in self.blocks()])
            return cos, a.dtype
        total = torch.zeros(n0.shape, dtype=torch.float64)
        for block in self.blocks():
            total += ((a[block] / n0) * (b[block] / n1)).sum(dim=dim, keepdim=True, dtype=torch.float64)
        return total, a.dtype


def _coefficients(t: float, cos: torch.Tensor, dtype: torch.dtype):
    """Per vector: sin((1-t) theta), sin(t theta), sin(theta) and whether the pair is colinear, computed as
    mergekit does, in the tensors' dtype."""
    cos = cos.to(dtype).clamp(-1, 1)
    colinear = (1 - cos.square()) <= EPS ** 2
    theta = torch.acos(torch.where(colinear, 0, cos))
    return torch.sin((1 - t) * theta), torch.sin(t * theta), torch.sin(theta), colinear


def _apply(tensors, base_index, shared, per_input, rng=None):
    others = [i for i in range(len(tensors)) if i != base_index]
    t = nuslerp_t([per_input[i]["weight"] for i in others])
    v0, v1 = tensors[others[0]], tensors[others[1]]
    base = tensors[base_index] if base_index is not None else None
    tensors.clear()
    return nuslerp(t, v0, v1, base, row_wise=shared["nuslerp_row_wise"], flatten=shared["nuslerp_flatten"],
                   inplace=True)


register(MergeMethod(
    name="nuslerp", apply=_apply,
    description="spherical interpolation of two models (or of their task vectors, with a base model)",
    params=(Param("weight", "non_base", help="this model's weight; t = w2 / (w1 + w2)"),
            Param("nuslerp_row_wise", "shared", False, bool, "interpolate columns (vectors along the first axis) "
                  "instead of whole tensors"),
            Param("nuslerp_flatten", "shared", True, bool, "interpolate whole tensors (false: rows, or columns "
                  "with nuslerp_row_wise)")),
    base="optional", min_inputs=2, max_inputs=3, min_non_base=2, max_non_base=2, work_factor=0.5, writes="all",
    reference="https://github.com/arcee-ai/mergekit",
))

__all__ = ["nuslerp", "nuslerp_t"]
