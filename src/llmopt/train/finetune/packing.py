"""Batches: the order of examples (seeded, resumable), and how a micro-batch becomes tensors.

With packing, the examples of a micro-batch are concatenated into one row with no padding at all. Three things keep
them apart: position ids restart at 0 for every example, targets are shifted inside each example (the last token
of one never predicts the first of the next), and attention runs per example (`attention.py`), as flash-attention's
variable-length kernels do on GPUs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .template import IGNORE, Tokenized


@dataclass
class Batch:
    input_ids: torch.Tensor  # (rows, tokens)
    position_ids: torch.Tensor
    attention_mask: torch.Tensor  # 2-D padding mask (all ones when packed)
    targets: torch.Tensor  # next-token targets, already shifted; IGNORE where no loss
    cu_seqlens: torch.Tensor | None  # packed only: example boundaries [0, n1, n1+n2, ...]
    keys: list[str]  # example keys, in row order (the teacher cache looks them up)
    tokens: int  # real (non-padding) tokens

    @property
    def trained_tokens(self) -> int:
        return int((self.targets != IGNORE).sum())

    def model_inputs(self) -> dict:
        inputs = {"input_ids": self.input_ids, "position_ids": self.position_ids, "attention_mask": self.attention_mask}
        if self.cu_seqlens is not None:
            inputs.update(cu_seq_lens_q=self.cu_seqlens, cu_seq_lens_k=self.cu_seqlens)
        return inputs


def shifted(labels: Sequence[int]) -> list[int]:
    """Targets for each position: the next token's label; the last position predicts nothing."""
    return list(labels[1:]) + [IGNORE]


def collate(rows: Sequence[Tokenized], packing: bool, pad_id: int) -> Batch:
    if packing:
        return _packed(rows)
    return _padded(rows, pad_id)


def _packed(rows: Sequence[Tokenized]) -> Batch:
    ids, positions, targets, bounds = [], [], [], [0]
    for row in rows:
        ids += row.input_ids
        positions += range(len(row))
        targets += shifted(row.labels)
        bounds.append(bounds[-1] + len(row))
    as_row = lambda values: torch.tensor([values], dtype=torch.long)  # noqa: E731
    return Batch(as_row(ids), as_row(positions), torch.ones(1, len(ids), dtype=torch.long), as_row(targets),
                 torch.tensor(bounds, dtype=torch.int32), [r.key for r in rows], len(ids))


def _padded(rows: Sequence[Tokenized], pad_id: int) -> Batch:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    targets = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):  # right padding: positions and causal order stay as in the unpadded example
        n = len(row)
        ids[i, :n] = torch.tensor(row.input_ids)
        targets[i, :n] = torch.tensor(shifted(row.labels))
        mask[i, :n] = 1
    positions = torch.arange(width).expand(len(rows), width).clone()
    return Batch(ids, positions, mask, targets, None, [r.key for r in rows], int(mask.sum()))


@dataclass(frozen=True)
class StepPlan:
    """Micro-batches (lists of example indices) for each optimizer step, for every process."""

    steps: list[list[list[list[int]]]]  # step -> process -> micro-batch -> example indices
    steps_per_epoch: int

    def __len__(self) -> int:
        return len(self.steps)


def plan_steps(n_examples: int, *, batch_size: int, grad_accum: int, processes: int, epochs: float,
               max_steps: int | None, seed: int) -> StepPlan:
    """A deterministic schedule: the same settings always give the same order, so --resume continues exactly.

    Each epoch is a fresh seeded shuffle cut into steps; an epoch's last step takes what is left (no example is
    seen twice in an epoch). Every process gets at least one micro-batch per step (distributed steps must match).
    """
    per_step = batch_size * grad_accum * processes
    steps_per_epoch = max(1, -(-n_examples // per_step))
    total = max_steps or max(1, round(steps_per_epoch * epochs))
    steps: list[list[list[list[int]]]] = []
    epoch = 0
    while len(steps) < total:
        order = list(range(n_examples))
        random.Random(seed + epoch).shuffle(order)
        for start in range(0, n_examples, per_step):
            if len(steps) == total:
                break
            chunk = order[start:start + per_step]
            chunk += order[: max(0, processes - len(chunk))]  # a tiny tail still feeds every process
            shares = [chunk[p::processes] for p in range(processes)]
            steps.append([[share[i:i + batch_size] for i in range(0, len(share), batch_size)] for share in shares])
        epoch += 1
    return StepPlan(steps, steps_per_epoch)
