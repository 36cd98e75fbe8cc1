"""Linear merge (model soups, arXiv:2203.05482): a weighted average of the models' tensors."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import MergeMethod, Param, register, values


def linear(tensors: list[torch.Tensor], weights: Sequence[float], normalize: bool = True,
           inplace: bool = False) -> torch.Tensor:
    """sum_i w_i x_i, divided by sum_i w_i when normalize; accumulated in float32 (float64 stays float64).
    With inplace, the tensors are consumed: the first becomes the result, the list entries are dropped."""
    first = tensors[0]
    if not first.is_floating_point():
        raise TypeError("linear merging needs floating-point tensors")
    work = torch.float64 if first.dtype == torch.float64 else torch.float32
    coefficients = torch.tensor(list(weights), dtype=work)
    if inplace and first.dtype == work:
        merged, start = first.mul_(coefficients[0]), 1
    else:
        merged, start = torch.zeros(first.shape, dtype=work), 0
    for i in range(start, len(coefficients)):
        merged.addcmul_(tensors[i].to(work), coefficients[i])
        if inplace:
            tensors[i] = None
    if normalize:
        merged.div_(coefficients.sum())
    return merged.to(first.dtype)


def _apply(tensors, base_index, shared, per_input, rng=None):
    return linear(tensors, values(per_input, "weight"), normalize=shared["normalize"], inplace=True)


register(MergeMethod(
    name="linear", apply=_apply, description="weighted average of the models (model soups)",
    params=(Param("weight", "input", help="this model's weight"),
            Param("normalize", "shared", True, bool, "divide by the sum of the weights")),
    work_factor=0.5, writes="first", reference="https://arxiv.org/abs/2203.05482",
))
