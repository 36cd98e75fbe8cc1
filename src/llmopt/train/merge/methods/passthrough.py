"""Passthrough: copy tensors unchanged (optionally scaled), used with slices to stack or drop layers
(depth up-scaling, block expansion)."""

from __future__ import annotations

import torch

from . import MergeMethod, Param, register


def passthrough(tensor: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    return tensor if scale is None else tensor * scale


def _apply(tensors, base_index, shared, per_input, rng=None):
    return passthrough(tensors[0], per_input[0]["scale"])


register(MergeMethod(
    name="passthrough", apply=_apply, description="copy layers unchanged (stack slices of models)",
    params=(Param("scale", "input", None, float | None, "multiply the tensor by this factor"),),
    max_inputs=1, work_factor=0.0, writes="none",
))
