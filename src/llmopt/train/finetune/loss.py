"""The training loss without full-vocabulary logits for every position.

A causal LM's output layer is the costliest single matmul of a small model (SmolLM2: 49k x 576), and
`model(labels=...)` builds logits for every position (prompt and padding included) and keeps them for the backward
pass. Here only the positions that carry a loss go through the output layer, a chunk of tokens at a time, and the
gradient of each chunk is computed right away (as Liger's fused linear cross-entropy does), so at most one chunk of
logits exists at any moment and nothing is recomputed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .template import IGNORE


class LinearCrossEntropy(torch.autograd.Function):
    """sum_i CE(hidden_i @ weight.T + bias, target_i), with its gradients computed chunk by chunk in forward."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk: int):
        need_h, need_w = hidden.requires_grad, weight.requires_grad
        need_b = bias is not None and bias.requires_grad
        grad_h = torch.zeros_like(hidden) if need_h else None
        grad_w = torch.zeros_like(weight, dtype=torch.float32) if need_w else None
        grad_b = torch.zeros_like(bias, dtype=torch.float32) if need_b else None
        total = hidden.new_zeros((), dtype=torch.float32)
        for start in range(0, hidden.shape[0], chunk):
            h = hidden[start:start + chunk]
            t = targets[start:start + chunk]
            logits = F.linear(h, weight, bias).float()
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
            if need_h or need_w or need_b:
                probs = (logits - lse[:, None]).exp_()  # d loss / d logits = softmax - onehot
                probs[torch.arange(len(t)), t] -= 1.0
                if need_h:
                    grad_h[start:start + chunk] = (probs.to(weight.dtype) @ weight).to(hidden.dtype)
                if need_w:
                    grad_w += probs.t() @ h.float()
                if need_b:
                    grad_b += probs.sum(0)
        ctx.save_for_backward(*(g if g is not None else torch.empty(0) for g in (grad_h, grad_w, grad_b)))
        ctx.needs = (need_h, need_w, need_b)
        ctx.dtypes = (weight.dtype, bias.dtype if bias is not None else None)
        return total

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w, grad_b = ctx.saved_tensors
        need_h, need_w, need_b = ctx.needs
        w_dtype, b_dtype = ctx.dtypes
        return (grad_h * grad_out if need_h else None, (grad_w * grad_out).to(w_dtype) if need_w else None,
                (grad_b * grad_out).to(b_dtype) if need_b else None, None, None)


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                         targets: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """Summed cross-entropy of the selected positions (hidden: (n, d), targets: (n,))."""
    if hidden.shape[0] == 0:
        return hidden.sum() * 0.0
    return LinearCrossEntropy.apply(hidden, weight, bias, targets, chunk)


def causal_lm_parts(model):
    """(decoder returning hidden states, output layer, logits post-processing or None) of a causal LM.

    Works through PEFT and DDP wrappers. Architectures that scale or soft-cap their logits get the post-processing
    applied to each chunk (slower path, still never all positions at once)."""
    inner = model
    while hasattr(inner, "module"):  # DDP / accelerate wrappers
        inner = inner.module
    if hasattr(inner, "get_base_model"):  # PEFT
        inner = inner.get_base_model()
    decoder = inner.get_decoder() if hasattr(inner, "get_decoder") else inner.model
    head = inner.get_output_embeddings()
    config = inner.config
    post = None
    cap = getattr(config, "final_logit_softcapping", None)
    scale = getattr(config, "logit_scale", None) or (1 / config.logits_scaling if getattr(config, "logits_scaling", None) else None)
    if cap or scale:
        def post(logits: torch.Tensor) -> torch.Tensor:
            if scale:
                logits = logits * scale
            return torch.tanh(logits / cap) * cap if cap else logits
    return decoder, head, post


def selected_hidden(model, batch, varlen: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Final hidden states at the positions that carry a loss, and their targets: ((n, d), (n,))."""
    decoder, _, _ = causal_lm_parts(model)
    inputs = batch.model_inputs()
    if batch.cu_seqlens is not None and not varlen:
        inputs.pop("attention_mask")  # transformers then infers example boundaries from the position ids
        inputs.pop("cu_seq_lens_q"), inputs.pop("cu_seq_lens_k")
    hidden = decoder(**inputs, use_cache=False).last_hidden_state
    keep = batch.targets != IGNORE
    return hidden[keep], batch.targets[keep]


def chunked_logits(hidden: torch.Tensor, head, post, chunk: int):
    """Yield (start, logits) per chunk of positions; the caller reduces each chunk before the next."""
    for start in range(0, hidden.shape[0], chunk):
        logits = head(hidden[start:start + chunk]).float()
        yield start, (post(logits) if post else logits)


def token_loss_sum(model, batch, chunk: int = 1024, varlen: bool = True) -> tuple[torch.Tensor, int]:
    """(summed next-token cross-entropy over trained positions, number of trained positions)."""
    hidden, targets = selected_hidden(model, batch, varlen)
    _, head, post = causal_lm_parts(model)
    if post is None and isinstance(head, torch.nn.Linear):
        return linear_cross_entropy(hidden, head.weight, head.bias, targets, chunk), int(targets.numel())
    from torch.utils.checkpoint import checkpoint

    def chunk_loss(h, t):
        logits = head(h).float()
        logits = post(logits) if post else logits
        return F.cross_entropy(logits, t, reduction="sum")

    total = hidden.sum() * 0.0
    for start in range(0, hidden.shape[0], chunk):
        total = total + checkpoint(chunk_loss, hidden[start:start + chunk], targets[start:start + chunk],
                                   use_reentrant=False)
    return total, int(targets.numel())
