"""Arcee Fusion: take the other model's value only where it changes the base the most (mergekit 0.1.5's
`arcee_fusion`).

    importance = |other - base| * KL(softmax(other) || softmax(base))     (softmax and KL along each row)
    threshold  = median + 1.5 * (q3 - q1)                                  (quartiles of the importance)
    merged     = base + (other - base) * (importance >= threshold)

Quartiles are order statistics at floor(q * (n - 1)) of the sorted importances, as mergekit picks them. Above
1,000,000 entries mergekit estimates them on 1,000,000 entries drawn with replacement from torch's global
generator; here they are drawn from the merge's own per-tensor generator (the seed makes it reproducible, the
draws differ from mergekit's, so on such tensors the threshold - and the entries right at it - can differ).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import MergeMethod, register
from .sparsify import CHUNK, kth_smallest

SAMPLE_SIZE = 1_000_000  # above this many entries the quartiles are estimated on a sample of this size
EPS = 1e-8  # added to both softmaxes before the KL divergence
QUARTILES = (1, 2, 3)  # in quarters


def row_kl(rows: torch.Tensor, base_rows: torch.Tensor) -> torch.Tensor:
    """KL(softmax(rows) + eps || softmax(base_rows) + eps) per row, shape [rows, 1], a block of rows at a time
    (mergekit's arithmetic: per row the same operations in the same order)."""
    count, width = rows.shape
    step = max(2, CHUNK // max(width, 1))  # never a one-row block: torch may split a single row's sum by thread
    out = torch.empty((count, 1), dtype=rows.dtype)
    starts = list(range(0, count, step))
    if count > 1 and count - starts[-1] == 1:
        starts.pop()  # the last row joins the previous block
    for a, b in zip(starts, starts[1:] + [count]):
        p = F.softmax(rows[a:b], dim=-1) + EPS
        q = F.softmax(base_rows[a:b], dim=-1) + EPS
        out[a:b] = torch.sum(p * torch.log(p / q), dim=-1, keepdim=True)
    return out


def importance(base: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """|other - base| times the row's KL divergence, in base's dtype and shape."""
    width = base.shape[-1] if base.dim() else 1
    rows, base_rows = other.reshape(-1, width), base.reshape(-1, width)
    kl = row_kl(rows, base_rows)
    out = torch.empty(rows.shape, dtype=base.dtype)
    step = max(1, CHUNK // max(width, 1))
    for a in range(0, rows.shape[0], step):
        torch.sub(rows[a:a + step], base_rows[a:a + step], out=out[a:a + step]).abs_().mul_(kl[a:a + step])
    return out.reshape(base.shape)


def quartile_positions(n: int) -> list[int]:
    """0-based positions of the quartiles in n sorted values: floor(q * (n - 1)), exactly (q * (n - 1) is exact
    in float32 for n up to 2**22, so these match mergekit's float32 products truncated to integers)."""
    return [quarter * (n - 1) // 4 for quarter in QUARTILES]


def fusion_threshold(scores: torch.Tensor, rng: np.random.Generator | None = None) -> torch.Tensor:
    """median + 1.5 * (q3 - q1) of the scores, as a 0-d tensor in their dtype (mergekit's float arithmetic)."""
    flat = scores.reshape(-1)
    if flat.numel() > SAMPLE_SIZE:
        rng = rng if rng is not None else np.random.default_rng()
        flat = flat[torch.from_numpy(rng.integers(0, flat.numel(), SAMPLE_SIZE))]
    q1, median, q3 = (torch.tensor(kth_smallest(flat, position + 1), dtype=scores.dtype)
                      for position in quartile_positions(flat.numel()))
    return median + 1.5 * (q3 - q1)


def arcee_fusion(base: torch.Tensor, other: torch.Tensor, rng: np.random.Generator | None = None,
                 inplace: bool = False) -> torch.Tensor:
    """Fuse `other` into `base` where its importance reaches the threshold (see the module docstring). With
    inplace the result overwrites base; other is only read."""
    other = other.to(base.dtype)
    if base.numel() == 0:
        return base if inplace else base.clone()
    scores = importance(base, other)
    threshold = fusion_threshold(scores, rng)
    merged = base if inplace else base.clone()
    flat, theirs, score = merged.view(-1), other.reshape(-1), scores.view(-1)
    for start in range(0, flat.numel(), CHUNK):
        mine = flat[start:start + CHUNK]
        delta = theirs[start:start + CHUNK] - mine
        mine.add_(delta.masked_fill_(score[start:start + CHUNK].ge(threshold).logical_not_(), 0))
    return merged


def _apply(tensors, base_index, shared, per_input, rng=None):
    base, other = tensors[base_index], tensors[1 - base_index]
    tensors.clear()  # the executor owns the inputs: the merge overwrites the base
    return arcee_fusion(base, other, rng, inplace=True)


register(MergeMethod(
    name="arcee_fusion", apply=_apply,
    description="take the other model's entries whose change (times the row's KL divergence) is an outlier",
    params=(), base="required", min_inputs=2, max_inputs=2, randomized=True, work_factor=1.25, writes="base",
    reference="https://arcee.ai",
))
