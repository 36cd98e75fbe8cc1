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


def sign_consensus(deltas: torch.Tensor) -> torch.Tensor:
    """Where each (weighted) delta agrees in sign with the elected sign: the sign of the summed deltas, ties
    going to +. Zero entries agree with nothing, so they do not count towards the normalising weight."""
    elected = torch.where(deltas.sum(dim=0) >= 0, 1, -1).to(deltas.dtype)
    return deltas.sign() == elected


def combine(base: torch.Tensor, others: Sequence[torch.Tensor], weights: Sequence[float], *,
            normalize: bool, consensus: bool, lambda_: float = 1.0,
            sparsify: Callable[[torch.Tensor, int], torch.Tensor] | None = None) -> torch.Tensor:
    """Merge task vectors (others - base) into base; sparsify(delta, i) thins input i's task vector."""
    if not others:
        return base
    deltas = base.new_empty((len(others), *base.shape))
    for i, other in enumerate(others):
        delta = other.to(base.dtype) - base
        deltas[i] = sparsify(delta, i) if sparsify is not None else delta
        del delta
    w = torch.tensor(list(weights), dtype=deltas.dtype).reshape(-1, *([1] * base.dim()))
    deltas.mul_(w)
    if consensus:
        agree = sign_consensus(deltas)
        mixed = (deltas * agree).sum(dim=0)
        divisor = (w * agree).sum(dim=0)
        divisor[divisor == 0] = 1
    else:
        mixed = deltas.sum(dim=0)
        divisor = w.sum(dim=0)
        divisor[divisor.abs() < 1e-8] = 1
    del deltas
    if normalize:
        mixed /= divisor
    if lambda_ != 1:
        mixed *= lambda_
    return (base + mixed).to(base.dtype)


def apply_with(sparsifier: Sparsifier | None, consensus: bool) -> Callable[..., torch.Tensor]:
    """The registry adapter of a task-vector method: split base from the others and read the parameters."""

    def apply(tensors, base_index, shared, per_input, generator=None):
        others = [t for i, t in enumerate(tensors) if i != base_index]
        params = [p for i, p in enumerate(per_input) if i != base_index]

        def thin(delta: torch.Tensor, i: int) -> torch.Tensor:
            return sparsifier(delta, {**shared, **params[i], "generator": generator})

        return combine(tensors[base_index], others, [p["weight"] for p in params],
                       normalize=shared["normalize"], consensus=consensus, lambda_=shared["lambda"],
                       sparsify=thin if sparsifier is not None else None)

    return apply
