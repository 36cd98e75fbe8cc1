"""Sparsification of task vectors (pure math): keep the largest magnitudes (TIES), drop the largest outliers and
the smallest (breadcrumbs), keep a random subset (DARE) or a magnitude-ranked random subset (DELLA).

Selecting the k largest of n values does not need a full sort: a k-th order statistic (found on a small
bracket of candidates) gives the threshold, and ties at the threshold are broken so exactly the requested count is
kept: by position, or as torch's sort breaks them (the entries mergekit keeps), found by following that sort's
partitions to the cut alone (sort_order.py). Magnitudes are computed a chunk at a time, so sparsifying a tensor
costs a boolean mask, and where such a tie straddles the cut, one float32 copy of its magnitudes.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

import numpy as np
import torch

from .sort_order import equal_before, matches_torch

CHUNK = 1 << 20  # entries per chunk of scratch work
_EXACT_BELOW = 1 << 15  # below this a direct selection is as fast as bracketing

Transform = Callable[[torch.Tensor], torch.Tensor]

# How equal magnitudes straddling a top-k cut are ordered. "mergekit" (default): exactly as mergekit's
# torch.argsort/torch.sort (unstable, CPU) orders them, so the same entries survive: which ones depends on the whole
# tensor, and sort_order.py follows the sort's own partitions to the cut (O(n), one float32 copy of the magnitudes
# for a tensor with such a tie), not a full sort. "position": by index (earlier wins), no copy at all.
TIE_ORDERS = ("mergekit", "position")
tie_order: contextvars.ContextVar[str] = contextvars.ContextVar("tie_order", default="mergekit")


@contextlib.contextmanager
def use_tie_order(order: str) -> Iterator[None]:
    if order not in TIE_ORDERS:
        raise ValueError(f"unknown tie order '{order}'; use one of: {', '.join(TIE_ORDERS)}")
    token = tie_order.set(order)
    try:
        yield
    finally:
        tie_order.reset(token)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def magnitudes_of(x: torch.Tensor) -> torch.Tensor:
    """|x| in float32 or wider (ranking half-precision magnitudes in half precision would create ties)."""
    return x.abs().float() if x.dtype in (torch.float16, torch.bfloat16) else x.abs()


def mergekit_magnitudes(x: torch.Tensor) -> torch.Tensor:
    """|x| as mergekit ranks it on CPU: float32 for every dtype (float64 magnitudes round, and may tie)."""
    return x.abs().float()


def _spans(n: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, CHUNK):
        yield start, min(start + CHUNK, n)


def kth_smallest(values: torch.Tensor, k: int, transform: Transform = _identity) -> float:
    """The k-th smallest (1-based) of transform(values) for a 1-D tensor, like torch.kthvalue: a sample brackets
    the answer, only the values inside the bracket are searched, and transform runs a chunk at a time."""
    n = values.numel()
    if not 1 <= k <= n:
        raise ValueError(f"k={k} out of range for {n} values")
    if n <= _EXACT_BELOW:
        return torch.kthvalue(transform(values), k).values.item()
    size = max(1024, min(1 << 14, n // 64))  # sample size; its quantiles scatter by ~sqrt(size)/2 positions
    margin = 4 * int(size ** 0.5) + 16  # ~8 standard deviations either side of the target
    generator = torch.Generator().manual_seed(0)  # the result is exact; the sample only sets the bracket
    sample = transform(values[torch.randint(0, n, (size,), generator=generator)])
    position = int((k - 1) / n * size)
    low = torch.kthvalue(sample, position - margin + 1).values.item() if position - margin >= 0 else -float("inf")
    high = torch.kthvalue(sample, position + margin + 1).values.item() if position + margin < size else float("inf")
    below, inside = 0, []
    for start, stop in _spans(n):
        chunk = transform(values[start:stop])
        below += int(torch.count_nonzero(chunk < low))
        bracket = chunk >= low
        bracket &= chunk <= high
        inside.append(chunk[bracket])
    candidates = torch.cat(inside)
    rank = k - below
    if 1 <= rank <= candidates.numel():
        return torch.kthvalue(candidates, rank).values.item()
    return torch.kthvalue(transform(values), k).values.item()  # the bracket missed (adversarial data)


def rank_window_mask(values: torch.Tensor, start: int, stop: int, transform: Transform = _identity,
                     descending: bool = False,
                     reference: Callable[[torch.Tensor], torch.Tensor] | None = None,
                     torch_order: bool = False) -> torch.Tensor:
    """A boolean mask of exactly the entries whose ascending rank in transform(values) lies in [start, stop).

    Entries tied with a boundary value are ordered by position, as a stable sort in the selection's direction
    would order them (descending=True for a top-k window: earlier entries win). Where such a tie straddles the
    boundary:
    - with torch_order (transform giving float32), the entries kept are those torch.sort(transform(values),
      descending=descending) places inside the window (mergekit's selection: an unstable sort, whose order among
      equal values depends on the whole tensor), found by following the sort's partitions (sort_order.py);
    - else, or where that cannot run (not on CPU, NaN, a sort path that would reach heapsort, a torch whose sort
      differs), the mask comes from `reference(flat)` when given: the kept indices of a full sorting
      implementation's ordering (one full sort).
    Ties at 0 are left alone: the caller keeps values, so which zeros are "kept" changes nothing."""
    flat = values.reshape(-1)
    n = flat.numel()
    if stop <= start or n == 0:
        return torch.zeros(values.shape, dtype=torch.bool)
    low = kth_smallest(flat, start + 1, transform) if start > 0 else None
    high = kth_smallest(flat, stop, transform) if stop < n else None
    keep = torch.empty(n, dtype=torch.bool)
    for a, b in _spans(n):
        chunk = transform(flat[a:b])
        inside = chunk > low if low is not None else torch.ones(b - a, dtype=torch.bool)
        if high is not None:
            inside &= chunk < high
        keep[a:b] = inside
    for boundary in {low, high} - {None}:
        if boundary == 0:
            continue
        before, equal = 0, []
        for a, b in _spans(n):
            chunk = transform(flat[a:b])
            before += int(torch.count_nonzero(chunk < boundary))
            equal.append((chunk == boundary).nonzero().flatten() + a)
        equal = torch.cat(equal)
        straddles = 0 < min(stop, before + equal.numel()) - max(start, before) < equal.numel()
        if straddles and torch_order:
            chosen = _torch_order_choice(flat, transform, boundary, equal, before, start, stop, descending)
            if chosen is not None:
                keep[chosen] = True
                continue
        if descending:
            equal = equal.flip(0)
        first, last = max(start - before, 0), max(min(stop - before, equal.numel()), 0)
        if reference is not None and straddles:
            keep = torch.zeros(n, dtype=torch.bool)
            keep[reference(flat)] = True
            return keep.reshape(values.shape)
        keep[equal[first:last]] = True
    return keep.reshape(values.shape)


def _sort_keys(flat: torch.Tensor, transform: Transform, descending: bool) -> np.ndarray | None:
    """transform(flat) as a fresh float32 array (negated for a descending sort, whose order among equal values is
    an ascending sort's of the negated keys); None unless float32 and free of NaN."""
    keys = np.empty(flat.numel(), dtype=np.float32)
    for a, b in _spans(flat.numel()):
        chunk = transform(flat[a:b])
        if chunk.dtype != torch.float32 or bool(torch.isnan(chunk).any()):
            return None
        if descending:
            np.negative(chunk.numpy(), out=keys[a:b])
        else:
            keys[a:b] = chunk.numpy()
    return keys


def _torch_order_choice(flat: torch.Tensor, transform: Transform, boundary: float, equal: torch.Tensor, before: int,
                        start: int, stop: int, descending: bool) -> torch.Tensor | None:
    """Of the entries `equal` (ascending positions) to `boundary`, which ascending ranks from `before` on, those
    that torch.sort(transform(flat), descending) puts in the window [start, stop) of ascending ranks; None where
    the sort cannot be followed."""
    if flat.device.type != "cpu" or not matches_torch():
        return None
    n, count = flat.numel(), equal.numel()
    if descending:  # in the descending sort the equal entries sit at [lead, lead + count), the window is mirrored
        lead, low, high, value = n - before - count, n - stop, n - start, -boundary
    else:
        lead, low, high, value = before, start, stop, boundary
    inside = np.ones(count, dtype=bool)
    for cut, wanted in ((high, True), (low, False)):  # inside the window: before its end, not before its start
        if lead < cut < lead + count:
            keys = _sort_keys(flat, transform, descending)
            found = equal_before(keys, cut, np.float32(value)) if keys is not None else None
            if found is None:
                return None
            del keys
            hit = np.isin(equal.numpy(), found)
            inside &= hit if wanted else ~hit
    return equal[torch.from_numpy(inside)]


def _l1(x: torch.Tensor) -> float:
    flat = x.reshape(-1)
    return sum(float(torch.linalg.vector_norm(flat[a:b], ord=1)) for a, b in _spans(flat.numel()))


def rescaled(tensor: torch.Tensor, keep: torch.Tensor, rescale: bool, inplace: bool = False,
             eps: float = 1e-7) -> torch.Tensor:
    """tensor with the entries outside `keep` zeroed; with rescale, scaled so its L1 norm matches the unmasked
    tensor's (mergekit 0.1.5). inplace overwrites tensor (and keep). Masking uses masked_fill: multiplying by a
    boolean mask would first convert the whole mask to floats."""
    before = _l1(tensor) if rescale else 0.0
    drop = keep.logical_not_() if inplace else keep.logical_not()
    masked = tensor.masked_fill_(drop, 0) if inplace else tensor.masked_fill(drop, 0)
    if not rescale:
        return masked
    after = _l1(masked)
    if before < eps or after < eps:
        return masked
    return masked.mul_(before / after)


def magnitude(tensor: torch.Tensor, density: float, rescale: bool = False, inplace: bool = False) -> torch.Tensor:
    """Keep the `density` fraction of entries with the largest magnitude (at least one), zero the rest."""
    if density >= 1:
        return tensor
    n = tensor.numel()
    if density <= 0 or n == 0:
        return torch.zeros_like(tensor)
    k = max(1, int(density * n))
    if tie_order.get() == "mergekit":  # mergekit: torch.argsort(|x| as float32, descending=True)[:k]
        keep = rank_window_mask(tensor, n - k, n, mergekit_magnitudes, descending=True, torch_order=True,
                                reference=lambda flat: torch.argsort(mergekit_magnitudes(flat), descending=True)[:k])
    else:
        keep = rank_window_mask(tensor, n - k, n, magnitudes_of, descending=True)  # the top k
    return rescaled(tensor, keep, rescale, inplace)


def magnitude_outliers(tensor: torch.Tensor, density: float, gamma: float = 0.01, rescale: bool = False,
                       inplace: bool = False) -> torch.Tensor:
    """Drop the `gamma` fraction of largest magnitudes, then the smallest, keeping a `density` fraction."""
    if density >= 1:
        return tensor
    n = tensor.numel()
    kept = int(density * n)
    top = int(gamma * n)
    bottom = max(0, n - kept - top)  # fewer outliers dropped when density + gamma > 1
    if tie_order.get() == "mergekit":  # mergekit: torch.sort(|x| as float32).indices[bottom:bottom + kept]
        window = slice(bottom, bottom + kept)
        keep = rank_window_mask(tensor, bottom, bottom + kept, mergekit_magnitudes, torch_order=True,
                                reference=lambda flat: torch.sort(mergekit_magnitudes(flat)).indices[window])
    else:
        keep = rank_window_mask(tensor, bottom, bottom + kept, magnitudes_of)
    return rescaled(tensor, keep, rescale, inplace)


def _work_dtype(tensor: torch.Tensor) -> torch.dtype:
    # bernoulli sampling has no float16 CPU kernel; bfloat16 and GPU tensors stay as they are
    return tensor.dtype if tensor.device.type != "cpu" or tensor.dtype == torch.bfloat16 else torch.float32


def random_mask(shape: torch.Size, density: float, rng: np.random.Generator | None = None) -> torch.Tensor:
    """Each entry True with probability `density` (to 2**-32), drawn a chunk at a time from 32-bit integers:
    several times cheaper than float noise, and no full-size buffer."""
    rng = rng if rng is not None else np.random.default_rng()
    threshold = min(int(round(density * 2 ** 32)), 2 ** 32 - 1)
    keep = torch.empty(shape, dtype=torch.bool)
    flat = keep.view(-1).numpy()
    for a, b in _spans(flat.size):
        np.less(rng.integers(0, 2 ** 32, b - a, dtype=np.uint32), threshold, out=flat[a:b])
    return keep


def bernoulli(tensor: torch.Tensor, density: float, rescale: bool = True, rng: np.random.Generator | None = None,
              inplace: bool = False) -> torch.Tensor:
    """Keep each entry independently with probability `density` (DARE)."""
    if density >= 1:
        return tensor
    work = tensor.to(_work_dtype(tensor))
    keep = random_mask(tensor.shape, density, rng)
    return rescaled(work, keep, rescale, inplace=inplace or work.data_ptr() != tensor.data_ptr()).to(tensor.dtype)


def della_magprune(tensor: torch.Tensor, density: float, epsilon: float, rescale: bool = True,
                   rng: np.random.Generator | None = None, inplace: bool = False) -> torch.Tensor:
    """Keep entries with a probability that grows with their magnitude rank within each row, from
    density - epsilon (smallest) to density + epsilon (largest) (DELLA). Rows are ranked a block at a time, with
    one sort per row (ranks scattered from it: the inverse permutation mergekit gets from a second argsort), so
    scratch stays block-sized; with inplace, tensor is overwritten."""
    if density >= 1:
        return tensor
    if density <= 0:
        return torch.zeros_like(tensor)
    if density + epsilon >= 1 or density - epsilon <= 0:
        raise ValueError("della needs epsilon with density - epsilon > 0 and density + epsilon < 1")
    work = _work_dtype(tensor)
    rows = tensor.unsqueeze(0) if tensor.dim() < 2 else tensor
    rng = rng if rng is not None else np.random.default_rng()
    width = rows.shape[1]
    keep = torch.empty(rows.shape, dtype=torch.bool)
    shape = [1] * rows.dim()
    shape[1] = width
    # the keep probability of each 0-based rank r (mergekit's rank - 1), mergekit's arithmetic on r + 1 - min rank
    by_rank = torch.arange(width, dtype=work).div_(width - 1).clamp_(0, 1)
    by_rank.mul_(2).mul_(epsilon).add_(density - epsilon)
    step = max(1, CHUNK // max(rows[0].numel(), 1))
    for a in range(0, rows.shape[0], step):
        order = rows[a:a + step].abs().argsort(dim=1)
        probability = torch.empty(order.shape, dtype=work).scatter_(1, order, by_rank.view(shape).expand(order.shape))
        draws = rng.random(probability.shape, dtype=np.float32)
        keep[a:a + step] = torch.from_numpy(draws < probability.float().numpy())
    work_rows = rows.to(work)
    owned = inplace or work_rows.data_ptr() != rows.data_ptr()
    return rescaled(work_rows, keep, rescale, inplace=owned).to(tensor.dtype).reshape(tensor.shape)
