"""Task-vector arithmetic shared by task_arithmetic, TIES, DARE, breadcrumbs and DELLA (pure math).

    delta_i  = sparsify(model_i - base) * weight_i
    mask_i   = sign(delta_i) == sign(sum_j delta_j)        (sign consensus, TIES-style methods only)
    merged   = base + lambda * sum_i mask_i delta_i / (sum_i mask_i weight_i  if normalize)

Everything runs in the base tensor's dtype, as in mergekit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from . import Param
from .sparsify import CHUNK

Sparsifier = Callable[[torch.Tensor, dict], torch.Tensor]  # (delta, this input's parameters) -> sparse delta


def task_vector_params(*, normalize: bool, rescale: bool) -> tuple[Param, ...]:
    """The parameters every task-vector method reads (method modules add their sparsification's own)."""
    return (
        Param("weight", "non_base", help="scale of this model's task vector"),
        Param("density", "non_base", 1.0, help="fraction of the task vector kept"),
        Param("normalize", "shared", normalize, bool, "divide by the sum of the (agreeing) weights"),
        Param("rescale", "shared", rescale, bool, "rescale a sparsified task vector to its original L1 norm"),
        Param("lambda", "shared", 1.0, help="scale of the merged task vector"),
        Param("int8_mask", "shared", False, bool, "store the consensus mask compactly (no effect on results)"),
    )


def elect_and_sum_(deltas: list[torch.Tensor], weights: Sequence[float], normalize: bool) -> torch.Tensor:
    """TIES' disjoint merge, into deltas[0], a chunk at a time (scratch stays chunk-sized): each entry keeps
    only the (weighted) deltas whose sign matches the elected sign (the sign of their sum, ties going to +),
    sums them and, with normalize, divides by the weights of those deltas (1 where none survives). Zero
    entries agree with nothing, so they count nowhere."""
    flats = [delta.view(-1) for delta in deltas]
    for start in range(0, flats[0].numel(), CHUNK):
        parts = [flat[start:start + CHUNK] for flat in flats]
        elected = parts[0].clone()
        for part in parts[1:]:
            elected += part
        elected.ge_(0).mul_(2).sub_(1)  # +1 / -1
        for part in parts:
            part.mul_(elected).clamp_(min=0).mul_(elected)  # x*s > 0 exactly where sign(x) == s; s*s == 1
        if normalize:
            divisor = torch.zeros_like(parts[0])
            for part, weight in zip(parts, weights):
                divisor.add_(part != 0, alpha=weight)
            divisor.masked_fill_(divisor == 0, 1)
        for part in parts[1:]:
            parts[0] += part
        if normalize:
            parts[0] /= divisor
    return deltas[0]


def combine(base: torch.Tensor, others: list[torch.Tensor], weights: Sequence[float], *,
            normalize: bool, consensus: bool, lambda_: float = 1.0,
            sparsify: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
            inplace: bool = False) -> torch.Tensor:
    """Merge task vectors (others - base) into base; sparsify(delta, i) thins input i's task vector.

    With inplace, base and others are consumed (overwritten, and others' list entries dropped as they turn into
    task vectors), so the merge holds little more than its inputs: sparsification costs a boolean mask and the
    rest works a chunk at a time."""
    if not others:
        return base
    deltas = []
    for i, weight in enumerate(weights):
        other = others[i]
        if inplace:
            others[i] = None
        delta = other.sub_(base) if inplace and other.dtype == base.dtype else other.to(base.dtype) - base
        del other
        if sparsify is not None:
            delta = sparsify(delta, i)
        deltas.append(delta.mul_(weight))  # delta is always a tensor of our own here
    if consensus:
        mixed = elect_and_sum_(deltas, weights, normalize)
    else:
        mixed = deltas[0]
        for delta in deltas[1:]:
            mixed += delta
        if normalize:
            divisor = torch.tensor(list(weights), dtype=base.dtype).sum()
            mixed /= divisor if divisor.abs() >= 1e-8 else torch.ones_like(divisor)
    del deltas
    if lambda_ != 1:
        mixed *= lambda_
    merged = base.add_(mixed) if inplace else base + mixed
    return merged.to(base.dtype)


def apply_with(sparsifier: Sparsifier | None, consensus: bool) -> Callable[..., torch.Tensor]:
    """The registry adapter of a task-vector method: split base from the others and read the parameters."""

    def apply(tensors, base_index, shared, per_input, rng=None):
        # the executor owns `tensors` (freshly read): the merge may overwrite them to save memory
        others = [t for i, t in enumerate(tensors) if i != base_index]
        base = tensors[base_index]
        tensors.clear()  # combine drops each model's tensor as soon as it has become a task vector
        params = [p for i, p in enumerate(per_input) if i != base_index]

        def thin(delta: torch.Tensor, i: int) -> torch.Tensor:
            return sparsifier(delta, {**shared, **params[i], "rng": rng})

        return combine(base, others, [p["weight"] for p in params],
                       normalize=shared["normalize"], consensus=consensus, lambda_=shared["lambda"],
                       sparsify=thin if sparsifier is not None else None, inplace=True)

    return apply
