"""The token-level KD objective plugged into the shared training loop.

Student logits exist for one chunk of trained positions at a time (each chunk is recomputed in the backward
pass), so distilling a 150k-vocabulary teacher never holds (positions x vocabulary) student logits.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ..finetune.loss import causal_lm_parts, selected_hidden
from .losses import SparseTeacher, kd_loss
from .teacher import TopKCache, teacher_logits


def make_kd_objective(session, config, *, vocab: int, cache: TopKCache | None = None, teacher=None,
                      teacher_varlen: bool = True):
    """objective(model, batch) -> (summed loss, trained positions); sparse (cache) or online dense (teacher)."""
    weight, chunk = config.ce_weight, config.loss_chunk_tokens

    def piece(h, targets, head, post, teacher_part):
        logits = head(h).float()
        logits = post(logits) if post else logits
        kd = kd_loss(config.loss, logits[:, :vocab], teacher_part, temperature=config.temperature,
                     beta=config.beta).sum()
        if not weight:
            return kd
        return (1 - weight) * kd + weight * F.cross_entropy(logits, targets, reduction="sum")

    def objective(model, batch):
        hidden, targets = selected_hidden(model, batch, session.varlen)
        _, head, post = causal_lm_parts(model)
        if cache is not None:
            sparse = cache.targets(batch.keys)
            parts = [SparseTeacher(sparse.ids[s:s + chunk], sparse.logprobs[s:s + chunk])
                     for s in range(0, hidden.shape[0], chunk)]
        else:
            parts = list(teacher_logits(teacher, batch, vocab, chunk, teacher_varlen))
        total = hidden.sum() * 0.0
        for i, start in enumerate(range(0, hidden.shape[0], chunk)):
            total = total + checkpoint(piece, hidden[start:start + chunk], targets[start:start + chunk], head, post,
                                       parts[i], use_reentrant=False)
        return total, int(targets.numel())

    return objective


def common_vocab(teacher_config, student_config) -> int:
    """Output widths can be padded differently; compare the columns both models have."""
    return min(int(teacher_config.vocab_size), int(student_config.vocab_size))

