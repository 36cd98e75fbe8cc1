"""Variable-length attention for packed rows, on any device (flash-attention's varlen idea, without its kernels).

A packed row holds several examples back to back; `cu_seq_lens_q` (passed through the model's forward kwargs)
says where each starts. Attention runs causally inside each example only (one batched call over the examples), so
no example attends to another and no block-diagonal N x N mask is ever built. Without `cu_seq_lens_q` (generation, padded batches) it is plain SDPA
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
    index, keep = _layout(bounds, query.device)
    heads, tokens, dim = query.shape[1], query.shape[2], value.shape[3]
    out = torch.nn.functional.scaled_dot_product_attention(
        _pad(query, index), _pad(key, index), _pad(value, index), is_causal=True, scale=scaling,
        dropout_p=dropout if module.training else 0.0, enable_gqa=key.shape[1] != heads)
    out = out.transpose(0, 1).reshape(heads, -1, dim)[:, keep]  # (heads, tokens, dim): padding dropped
    return out.transpose(0, 1).unsqueeze(0).contiguous(), None  # (1, tokens, heads, dim), as transformers expects


def _layout(bounds: torch.Tensor, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Examples as rows of a padded (examples x longest) grid of token indices; `tokens` marks padding.

    Padding goes after each example's last token, so under causal attention no real token ever sees it; one
    batched SDPA call over the grid replaces a loop over examples (whose slice gradients cost O(examples x tokens)).
    """
    edges = bounds.tolist()
    lengths = [b - a for a, b in zip(edges[:-1], edges[1:])]
    tokens, longest = edges[-1], max(lengths)
    index = torch.full((len(lengths), longest), tokens, dtype=torch.long)
    for row, (start, length) in enumerate(zip(edges[:-1], lengths)):
        index[row, :length] = torch.arange(start, start + length)
    keep = (index.reshape(-1) < tokens).nonzero().squeeze(1)
    return index.to(device), keep.to(device)


def _pad(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(1, heads, tokens, dim) -> (examples, heads, longest, dim), padding rows zero."""
    x = torch.cat([x[0], x.new_zeros(x.shape[1], 1, x.shape[3])], dim=1)  # row `tokens` is the zero row
    return x[:, index].transpose(0, 1)


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
