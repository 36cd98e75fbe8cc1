"""Sparsification of task vectors (pure math): keep the largest magnitudes (TIES), drop the largest outliers and
the smallest (breadcrumbs), keep a random subset (DARE) or a magnitude-ranked random subset (DELLA).

Selecting the k largest of n values does not need a full sort: a k-th order statistic (found on a small
bracket of candidates) gives the threshold, and ties at the threshold are broken by position so exactly the
requested count is kept. This is what makes TIES on a large embedding matrix take a fraction of a second.
"""

from __future__ import annotations

import torch

_EXACT_BELOW = 1 << 15  # below this a direct selection is as fast as bracketing


def kth_smallest(values: torch.Tensor, k: int) -> float:
    """The k-th smallest (1-based) of a 1-D tensor, like torch.kthvalue, without scanning it with a selection
    algorithm: a sample brackets the answer, and only the values inside the bracket are searched."""
    n = values.numel()
    if not 1 <= k <= n:
        raise ValueError(f"k={k} out of range for {n} values")
    if n <= _EXACT_BELOW:
        return torch.kthvalue(values, k).values.item()
    size = max(1024, min(1 << 14, n // 64))  # sample size; its quantiles scatter by ~sqrt(size)/2 positions
    margin = 4 * int(size ** 0.5) + 16  # ~8 standard deviations either side of the target
    generator = torch.Generator().manual_seed(0)  # the result is exact; the sample only sets the bracket
    sample = values[torch.randint(0, n, (size,), generator=generator)]
    position = int((k - 1) / n * size)
    low = torch.kthvalue(sample, position - margin + 1).values.item() if position - margin >= 0 else -float("inf")
    high = torch.kthvalue(sample, position + margin + 1).values.item() if position + margin < size else float("inf")
    below = int(torch.count_nonzero(values < low))
    inside = values[(values >= low) & (values <= high)]
    rank = k - below
    if 1 <= rank <= inside.numel():
        return torch.kthvalue(inside, rank).values.item()
    return torch.kthvalue(values, k).values.item()  # the bracket missed (adversarial data): search everything


def rank_window_mask(values: torch.Tensor, start: int, stop: int, zeros_matter: bool = False) -> torch.Tensor:
    """A boolean mask of exactly the values whose ascending rank lies in [start, stop) (ties broken by position).

    With zeros_matter=False, ties at a boundary value of 0 are left out: the caller multiplies the mask by
    the values, so which zeros are "kept" changes nothing and the tie search over (often millions of) zeros is
    skipped."""
    flat = values.reshape(-1)
    n = flat.numel()
    if stop <= start or n == 0:
        return torch.zeros_like(values, dtype=torch.bool)
    low = kth_smallest(flat, start + 1) if start > 0 else None
    high = kth_smallest(flat, stop) if stop < n else None
    if low is not None:
        keep = flat > low
        if high is not None:
            keep &= flat < high
    else:
        keep = flat < high if high is not None else torch.ones_like(flat, dtype=torch.bool)
    for boundary in {low, high} - {None}:
        if boundary == 0 and not zeros_matter:
            continue
        equal = (flat == boundary).nonzero().flatten()
        before = int(torch.count_nonzero(flat < boundary))
        keep[equal[max(start - before, 0):max(min(stop - before, equal.numel()), 0)]] = True
    return keep.reshape(values.shape)


def rescaled(tensor: torch.Tensor, keep: torch.Tensor, rescale: bool, magnitudes: torch.Tensor | None = None,
             inplace: bool = False, eps: float = 1e-7) -> torch.Tensor:
    """tensor * keep; with rescale, scaled so its L1 norm matches the unmasked tensor's (mergekit 0.1.5).
    `magnitudes` (|tensor|, flattened, ours to overwrite) saves recomputing it; inplace overwrites tensor."""
    if rescale:
        if magnitudes is None or magnitudes.dtype != tensor.dtype:  # norms in the tensor's dtype, as mergekit
            magnitudes = tensor.abs().reshape(-1)
        before = magnitudes.sum()
        after = magnitudes.mul_(keep.reshape(-1)).sum()
    masked = tensor.mul_(keep) if inplace else tensor * keep
    if not rescale or before < eps or after < eps:
        return masked
    return masked.mul_(before / after)


def _magnitudes(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.abs().reshape(-1).float()


def magnitude(tensor: torch.Tensor, density: float, rescale: bool = False, inplace: bool = False) -> torch.Tensor:
    """Keep the `density` fraction of entries with the largest magnitude (at least one), zero the rest."""
    if density >= 1:
        return tensor
    n = tensor.numel()
    if density <= 0 or n == 0:
        return torch.zeros_like(tensor)
    k = max(1, int(density * n))
    magnitudes = _magnitudes(tensor)
    keep = rank_window_mask(magnitudes, n - k, n)
    return rescaled(tensor, keep.reshape(tensor.shape), rescale, magnitudes, inplace)


def magnitude_outliers(tensor: torch.Tensor, density: float, gamma: float = 0.01, rescale: bool = False,
                       inplace: bool = False) -> torch.Tensor:
    """Drop the `gamma` fraction of largest magnitudes, then the smallest, keeping a `density` fraction."""
    if density >= 1:
        return tensor
    n = tensor.numel()
    kept = int(density * n)
    top = int(gamma * n)
    bottom = max(0, n - kept - top)  # fewer outliers dropped when density + gamma > 1
    magnitudes = _magnitudes(tensor)
    keep = rank_window_mask(magnitudes, bottom, bottom + kept)
    return rescaled(tensor, keep.reshape(tensor.shape), rescale, magnitudes, inplace)


def _work_dtype(tensor: torch.Tensor) -> torch.dtype:
    # bernoulli sampling has no float16 CPU kernel; bfloat16 and GPU tensors stay as they are
    return tensor.dtype if tensor.device.type != "cpu" or tensor.dtype == torch.bfloat16 else torch.float32


def bernoulli(tensor: torch.Tensor, density: float, rescale: bool = True,
              generator: torch.Generator | None = None, inplace: bool = False) -> torch.Tensor:
    """Keep each entry independently with probability `density` (DARE)."""
    if density >= 1:
        return tensor
    work = tensor.to(_work_dtype(tensor))
    keep = torch.rand(tensor.shape, generator=generator, device=tensor.device) < density
    return rescaled(work, keep, rescale, inplace=inplace or work.data_ptr() != tensor.data_ptr()).to(tensor.dtype)


def della_magprune(tensor: torch.Tensor, density: float, epsilon: float, rescale: bool = True,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Keep entries with a probability that grows with their magnitude rank within each row, from
    density - epsilon (smallest) to density + epsilon (largest) (DELLA)."""
    if density >= 1:
        return tensor
    if density <= 0:
        return torch.zeros_like(tensor)
    if density + epsilon >= 1 or density - epsilon <= 0:
        raise ValueError("della needs epsilon with density - epsilon > 0 and density + epsilon < 1")
    work = _work_dtype(tensor)
    rows = tensor.unsqueeze(0) if tensor.dim() < 2 else tensor
    ranks = rows.abs().argsort(dim=1).argsort(dim=1).to(work) + 1
    low = ranks.min(dim=1, keepdim=True).values
    high = ranks.max(dim=1, keepdim=True).values
    spread = ((ranks - low) / (high - low)).clamp(0, 1)
    probability = (density - epsilon) + spread * 2 * epsilon
    keep = torch.bernoulli(probability, generator=generator).bool()
    return rescaled(rows.to(work), keep, rescale).to(tensor.dtype).reshape(tensor.shape)
