"""Token-level distillation losses as pure functions of logits (no models, no I/O).

Every function returns one loss per position (shape (n,)); the trainer sums them and divides by the number of
trained tokens. Teacher and student are compared at temperature T, and the loss is multiplied by T^2 so its
gradient keeps the same scale whatever T is (Hinton et al., 2015).

- forward KL, KL(teacher || student): the student covers every answer the teacher considers (mode-covering).
- reverse KL, KL(student || teacher): the student concentrates on the teacher's main modes (MiniLLM). Here it is
  the token-level form on fixed sequences; MiniLLM's on-policy policy-gradient training is not included.
- generalized JSD with beta (GKD, Agarwal et al., 2024): with M = beta*teacher + (1-beta)*student,
  JSD = beta*KL(teacher || M) + (1-beta)*KL(student || M); beta=0 is defined as forward KL, beta=1 as reverse KL.

Sparse teachers: with top-k, the teacher is known on k tokens per position. Both distributions are then compared
on k+1 outcomes (the k tokens and "any other token", which holds the rest of each distribution's mass). This is
exact for that coarser view, a lower bound of the full divergence, and the same for all three losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOSSES = ("fkl", "rkl", "jsd")


@dataclass
class SparseTeacher:
    """Top-k teacher log-probabilities at temperature T (normalised over the full vocabulary)."""

    ids: torch.Tensor  # (n, k) token ids
    logprobs: torch.Tensor  # (n, k)


def _with_rest(top_logprobs: torch.Tensor) -> torch.Tensor:
    """Append log(1 - sum p_topk): the mass of every token outside the top-k."""
    rest = torch.log1p(-top_logprobs.exp().sum(-1).clamp(max=1 - 1e-6))
    return torch.cat([top_logprobs, rest[:, None]], dim=-1)


def log_distributions(student_logits: torch.Tensor, teacher: torch.Tensor | SparseTeacher,
                      temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(teacher, student) log-probabilities over the same outcomes: the vocabulary, or top-k + rest."""
    student = F.log_softmax(student_logits.float() / temperature, dim=-1)
    if isinstance(teacher, SparseTeacher):
        student_top = student.gather(-1, teacher.ids.long())
        return _with_rest(teacher.logprobs.float()), _with_rest(student_top)
    return F.log_softmax(teacher.float() / temperature, dim=-1), student


def kl(p_log: torch.Tensor, q_log: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per row, from log-probabilities (0 log 0 = 0)."""
    p = p_log.exp()
    return (p * (p_log - q_log)).masked_fill(p == 0, 0.0).sum(-1)


def forward_kl(student_logits, teacher, temperature: float = 1.0) -> torch.Tensor:
    t, s = log_distributions(student_logits, teacher, temperature)
    return kl(t, s) * temperature**2


def reverse_kl(student_logits, teacher, temperature: float = 1.0) -> torch.Tensor:
    t, s = log_distributions(student_logits, teacher, temperature)
    return kl(s, t) * temperature**2


def generalized_jsd(student_logits, teacher, beta: float = 0.5, temperature: float = 1.0) -> torch.Tensor:
    t, s = log_distributions(student_logits, teacher, temperature)
    if beta == 0:
        return kl(t, s) * temperature**2
    if beta == 1:
        return kl(s, t) * temperature**2
    mixture = torch.logsumexp(torch.stack([t + torch.log(torch.tensor(beta)),
                                           s + torch.log(torch.tensor(1 - beta))]), dim=0)
    return (beta * kl(t, mixture) + (1 - beta) * kl(s, mixture)) * temperature**2


def kd_loss(name: str, student_logits, teacher, *, temperature: float = 1.0, beta: float = 0.5) -> torch.Tensor:
    """The named loss per position: "fkl", "rkl" or "jsd"."""
    if name == "fkl":
        return forward_kl(student_logits, teacher, temperature)
    if name == "rkl":
        return reverse_kl(student_logits, teacher, temperature)
    if name == "jsd":
        return generalized_jsd(student_logits, teacher, beta, temperature)
    raise ValueError(f"unknown distillation loss '{name}'; known: {', '.join(LOSSES)}")


def sparsify(teacher_logits: torch.Tensor, k: int, temperature: float = 1.0) -> SparseTeacher:
    """The teacher's top-k log-probabilities at temperature T (what the on-disk cache stores)."""
    logprobs = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    top = logprobs.topk(min(k, logprobs.shape[-1]), dim=-1)
    return SparseTeacher(top.indices.to(torch.int32), top.values)
