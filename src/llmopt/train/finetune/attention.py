"""Variable-length attention for packed rows, on any device (flash-attention's varlen idea, without its kernels).

A packed row holds several examples back to back; `cu_seq_lens_q` (passed through the model's forward kwargs)
says where each starts. Attention runs causally inside each example only, so no example attends to another and no
block-diagonal N x N mask is ever built. Without `cu_seq_lens_q` (generation, padded batches) it is plain SDPA
with the usual mask, so a model switched to it still generates normally.
"""

from __future__ import annotations

import torch

NAME = "llmopt_varlen"
_registered = False


def varlen_attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None,
                     is_causal=None, **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    bounds = kwargs.get("cu_seq_lens_q")
    if bounds is None or query.shape[0] != 1 or key.shape[2] != query.shape[2]:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    groups = query.shape[1] // key.shape[1]
    if groups > 1:  # grouped-query attention: share each key/value head across its query heads
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    edges = bounds.tolist()
    outputs = []
    for start, end in zip(edges[:-1], edges[1:]):
        outputs.append(torch.nn.functional.scaled_dot_product_attention(
            query[:, :, start:end], key[:, :, start:end], value[:, :, start:end], is_causal=True,
            dropout_p=dropout if module.training else 0.0, scale=scaling))
    out = torch.cat(outputs, dim=2)  # (1, heads, tokens, dim)
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Make NAME a valid `attn_implementation` (its mask function is SDPA's, for the unpacked fallback)."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

        AttentionInterface.register(NAME, varlen_attention)
        AttentionMaskInterface.register(NAME, sdpa_mask)
        _registered = True
    return NAME


def use_varlen(model) -> bool:
    """Switch a transformers model to varlen attention; False when the architecture cannot take it."""
    register()
    try:
        model.set_attn_implementation(NAME)
    except (ValueError, KeyError, AttributeError, NotImplementedError):
        return False
    return True
