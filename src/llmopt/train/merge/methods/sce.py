"""SCE (arXiv:2408.07990): Select the entries where the task vectors vary most across models, Calculate each
model's weight from its task vector's energy, Erase the entries that disagree with the elected sign, and
average what remains (mergekit 0.1.5's `sce`).

    var      = population variance of the task vectors across models, per entry
    keep     = the int(count_nonzero(var) * select_topk) largest var entries     (only when select_topk < 1)
    delta_i  = (model_i - base) * keep
    w_i      = mean(delta_i ** 2) / sum_j mean(delta_j ** 2)                    (1/n when that sum < 1e-6)
    agree_i  = sign(delta_i) == sign(sum_j delta_j)                              (ties going to +)
    merged   = base + sum_i w_i agree_i delta_i / max(sum_i w_i agree_i, 1e-6)

Everything runs in the base tensor's dtype, as in mergekit; the task vectors are made in place and the
selection, weights and election work a chunk at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import MergeMethod, Param, register
from .sparsify import CHUNK, rank_window_mask, tie_order

DIVISOR_FLOOR = 1e-6  # mergekit clamps the summed weights of the agreeing deltas to this
UNIFORM_BELOW = 1e-6  # when the weights' sum is smaller, every model gets 1/n


def variance(deltas: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-entry population variance across the deltas, bit for bit what torch.var(stack, dim=0, unbiased=False)
    returns (mergekit's call): the same Welford updates in float64, cast back at the end. Written as whole-chunk
    tensor operations it runs in a fraction of torch.var's time, whose reduction across a short leading dimension
    goes entry by entry."""
    flats = [delta.reshape(-1) for delta in deltas]
    out = torch.empty(flats[0].shape, dtype=flats[0].dtype)
    for start in range(0, out.numel(), CHUNK):
        mean = flats[0][start:start + CHUNK].to(torch.float64, copy=True)  # float64 inputs are not ours to change
        m2 = torch.zeros_like(mean)
        for count, flat in enumerate(flats[1:], start=2):
            value = flat[start:start + CHUNK].double()
            delta = value - mean
            mean.add_(delta / count)
            m2.add_(delta.mul_(value - mean))
        out[start:start + CHUNK] = m2.div_(len(flats))
    return out.reshape(deltas[0].shape)


def select_count(nonzero: int, select_topk: float) -> int:
    """How many entries SCE keeps: int(count * fraction) computed as mergekit does (an int64 tensor times a float
    is float32 arithmetic, which rounds some products differently from Python's float64)."""
    return int(torch.tensor(nonzero, dtype=torch.int64) * select_topk)


def select_mask(deltas: Sequence[torch.Tensor], select_topk: float) -> torch.Tensor:
    """A boolean mask of the entries with the largest variance across the deltas: int(nonzero * select_topk) of
    them, nonzero being how many entries vary at all. Ties at the cut go by position (or, with the "mergekit" tie
    order, by torch.topk as mergekit's)."""
    var = variance(deltas)
    n = var.numel()
    if select_topk <= 0:
        return torch.zeros(var.shape, dtype=torch.bool)
    nonzero = sum(int(torch.count_nonzero(var.view(-1)[s:s + CHUNK])) for s in range(0, n, CHUNK))
    k = select_count(nonzero, select_topk)
    if k == 0:
        return torch.zeros(var.shape, dtype=torch.bool)
    reference = (lambda flat: torch.topk(flat.abs(), k=k, largest=True).indices) \
        if tie_order.get() == "mergekit" else None
    return rank_window_mask(var, n - k, n, descending=True, reference=reference)  # var >= 0: |var| is var


def energy_weights(deltas: Sequence[torch.Tensor]) -> torch.Tensor:
    """mean(delta_i ** 2) per delta, normalised to sum to 1 (1/n each when the sum is under 1e-6), in the deltas'
    dtype. The means are accumulated in float64 a chunk at a time (mergekit's float32 sum differs by an ulp)."""
    dtype = deltas[0].dtype
    means = []
    for delta in deltas:
        flat = delta.reshape(-1)
        total = sum(float(torch.linalg.vector_norm(flat[s:s + CHUNK], dtype=torch.float64)) ** 2
                    for s in range(0, flat.numel(), CHUNK))
        means.append(total / max(flat.numel(), 1))
    weights = torch.tensor(means, dtype=dtype)
    weight_sum = weights.sum().item()
    if abs(weight_sum) < UNIFORM_BELOW:
        return torch.ones_like(weights) / weights.shape[0]
    return weights / weight_sum


def erase_and_average_(deltas: list[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """Into deltas[0], a chunk at a time: per entry, the weighted mean of the deltas whose sign matches the sign of
    their (unweighted) sum, the weights' sum floored at 1e-6 (so an entry nobody agrees on stays 0)."""
    flats = [delta.view(-1) for delta in deltas]
    scalars = [weights[i:i + 1] for i in range(len(deltas))]  # 0-d tensors keep the arithmetic in the dtype
    for start in range(0, flats[0].numel(), CHUNK):
        parts = [flat[start:start + CHUNK] for flat in flats]
        elected = parts[0].clone()
        for part in parts[1:]:
            elected += part
        elected = elected.ge_(0).to(parts[0].dtype).mul_(2).sub_(1)  # +1 / -1
        divisor = None
        for part, weight in zip(parts, scalars):
            agreeing = (part * elected).gt_(0).to(part.dtype).mul_(weight)  # w_i where sign(delta_i) is elected
            part.mul_(agreeing)
            divisor = agreeing if divisor is None else divisor.add_(agreeing)
        for part in parts[1:]:
            parts[0] += part
        parts[0].div_(divisor.clamp_(min=DIVISOR_FLOOR))
    return deltas[0]


def sce(base: torch.Tensor, others: list[torch.Tensor], select_topk: float = 1.0,
        inplace: bool = False) -> torch.Tensor:
    """SCE-merge `others` into `base` (see the module docstring). With inplace, base and others are overwritten
    (and others' list entries dropped as they turn into task vectors)."""
    if not others:
        return base
    deltas = []
    for i in range(len(others)):
        other = others[i]
        if inplace:
            others[i] = None
        deltas.append(other.sub_(base) if inplace and other.dtype == base.dtype else other.to(base.dtype) - base)
        del other
    if select_topk < 1:
        keep = select_mask(deltas, select_topk)
        drop = keep.logical_not_()
        for delta in deltas:
            delta.masked_fill_(drop, 0)
        del keep, drop
    weights = energy_weights(deltas)
    mixed = erase_and_average_(deltas, weights)
    del deltas
    return base.add_(mixed) if inplace else base + mixed


def _apply(tensors, base_index, shared, per_input, rng=None):
    others = [t for i, t in enumerate(tensors) if i != base_index]
    base = tensors[base_index]
    tensors.clear()  # the executor owns the inputs: the merge overwrites them
    return sce(base, others, shared["select_topk"], inplace=True)


register(MergeMethod(
    name="sce", apply=_apply,
    description="keep the entries that vary most across models, weight models by task-vector energy, "
                "elect signs, average the agreeing entries",
    params=(Param("select_topk", "shared", 1.0, help="fraction of the varying entries kept (1 keeps all)"),
            Param("int8_mask", "shared", False, bool, "store masks compactly (no effect on results)")),
    base="required", work_factor=1.5, reference="https://arxiv.org/abs/2408.07990",
))
