"""Router weights: one gate vector per (layer, expert), from the experts' prompts or from a seeded generator.

Pure math on tensors: callers hand in what a prompt looks like to the base model (`Summaries`: one hidden
vector per layer for each prompt), never a model. A prompt-made gate of expert e at layer l points from the
mean of its negative prompts towards the mean of its positive ones, unit length, so a token whose hidden state
resembles e's positive prompts scores highest for e.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

# prompts -> (layers, hidden): the base model's view of a set of prompts at the input of each layer
Summaries = Callable[[Sequence[str]], torch.Tensor]


@dataclass(frozen=True)
class GateMode:
    name: str
    description: str
    uses_prompts: bool  # gates come from the experts' prompts
    summary: str | None = None  # what a prompt is summarized by: "last" / "mean" hidden state, "embedding"


GATE_MODES: dict[str, GateMode] = {mode.name: mode for mode in (
    GateMode("hidden", "hidden state of each prompt's last token at every layer (a forward pass of the base)",
             True, "last"),
    GateMode("hidden_avg", "hidden states averaged over each prompt's tokens at every layer", True, "mean"),
    GateMode("cheap_embed", "token embeddings averaged over the prompts, the same gate at every layer (no "
             "forward pass)", True, "embedding"),
    GateMode("random", "standard normal gates (seeded), for a model to be trained after merging", False),
    GateMode("uniform_random", "uniform gates scaled as torch's Linear initialization (seeded)", False),
)}


def unit(vectors: torch.Tensor) -> torch.Tensor:
    """Each row (last dimension) scaled to length 1; an all-zero row stays zero."""
    return vectors / vectors.norm(dim=-1, keepdim=True).clamp(min=1e-8)


def prompt_gate(summarize: Summaries, positive: Sequence[str], negative: Sequence[str] | None) -> torch.Tensor:
    """(layers, hidden): the unit direction from the mean negative prompt to the mean positive prompt."""
    direction = summarize(positive).float()
    if negative:
        direction = direction - summarize(negative).float()
    return unit(direction)


def prompt_gates(summarize: Summaries, prompts: Sequence[tuple[Sequence[str], Sequence[str] | None]]) -> torch.Tensor:
    """(layers, experts, hidden): one prompt_gate per expert's (positive, negative) prompts."""
    return torch.stack([prompt_gate(summarize, pos, neg) for pos, neg in prompts], dim=1)


def random_gates(mode: str, layers: int, experts: int, hidden: int, seed: int) -> torch.Tensor:
    """(layers, experts, hidden) from a generator seeded with `seed`: the same seed gives the same gates."""
    generator = torch.Generator().manual_seed(seed)
    if mode == "random":
        return torch.randn((layers, experts, hidden), generator=generator)
    if mode == "uniform_random":
        bound = math.sqrt(1.0 / hidden)
        return torch.rand((layers, experts, hidden), generator=generator) * 2 * bound - bound
    raise ValueError(f"{mode} is not a random gate mode")


def embedding_summary(embedding: torch.Tensor, prompts_ids: Sequence[Sequence[int]], layers: int) -> torch.Tensor:
    """(layers, hidden): the token embeddings of all the prompts summed, unit length, the same for every layer."""
    ids = torch.as_tensor([i for ids in prompts_ids for i in ids], dtype=torch.long)
    return unit(embedding[ids].float().sum(dim=0)).expand(layers, -1)


def hidden_summary(per_prompt: Sequence[Sequence[torch.Tensor]], how: str) -> torch.Tensor:
    """(layers, hidden) for a set of prompts from each prompt's forward pass (the input of every layer, each
    (tokens, hidden)): the last token's hidden state ("last") or the mean over the tokens ("mean"), averaged
    over the prompts."""
    summaries = []
    for hidden_states in per_prompt:
        stacked = torch.stack([h.float() for h in hidden_states])  # (layers, tokens, hidden)
        summaries.append(stacked[:, -1, :] if how == "last" else stacked.mean(dim=1))
    return torch.stack(summaries).mean(dim=0)


def degenerate_layers(gates: torch.Tensor, threshold: float = 5.0) -> list[int]:
    """Layers whose gate vectors are close to linearly dependent (condition number above `threshold`): prompts
    too alike to tell the experts apart there."""
    if gates.shape[1] < 2:
        return []
    return [layer for layer in range(gates.shape[0])
            if float(torch.linalg.cond(gates[layer].double())) > threshold]
