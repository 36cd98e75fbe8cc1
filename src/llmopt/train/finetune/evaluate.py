"""Evaluation before and after training: loss and perplexity on the answers, and the task metric (exact match,
token F1) of greedy answers against the gold."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ...metrics import Score, answer_scores
from .data import Example
from .loss import token_loss_sum
from .packing import collate
from .template import Renderer, Tokenized


@dataclass
class EvalResult:
    loss: float
    perplexity: float
    tokens: int  # answer tokens the loss is averaged over
    examples: int
    scores: dict[str, Score] = field(default_factory=dict)  # "em", "f1" when answers were generated
    predictions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"loss": self.loss, "perplexity": self.perplexity, "tokens": self.tokens, "examples": self.examples,
                "scores": {k: v.to_dict() for k, v in self.scores.items()}}


@torch.no_grad()
def eval_loss(model, rows: list[Tokenized], *, batch_size: int, packing: bool, pad_id: int, chunk: int,
              varlen: bool) -> tuple[float, int]:
    """Mean next-token loss over the trained (answer) tokens of `rows`."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(rows), batch_size):
        batch = collate(rows[start:start + batch_size], packing and varlen, pad_id)
        loss, n = token_loss_sum(model, batch, chunk, varlen)
        total += float(loss)
        count += n
    model.train(was_training)
    return (total / count if count else float("nan")), count


@torch.no_grad()
def generate_answers(model, tokenizer, prompts: list[list[int]], *, max_new_tokens: int, batch_size: int = 8) -> list[str]:
    """Greedy answers, batched with left padding (prompts sorted by length to waste little)."""
    was_training = model.training
    model.eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    answers: dict[int, str] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        width = max(len(prompts[i]) for i in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, i in enumerate(chunk):
            ids[row, width - len(prompts[i]):] = torch.tensor(prompts[i])
            mask[row, width - len(prompts[i]):] = 1
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=pad, eos_token_id=tokenizer.eos_token_id, use_cache=True)
        for row, i in enumerate(chunk):
            answers[i] = tokenizer.decode(out[row, width:], skip_special_tokens=True).strip()
    model.train(was_training)
    return [answers[i] for i in range(len(prompts))]


def evaluate(model, tokenizer, renderer: Renderer, examples: list[Example], rows: list[Tokenized], *,
             batch_size: int, packing: bool, chunk: int, varlen: bool, generate: int,
             max_new_tokens: int) -> EvalResult:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    loss, tokens = eval_loss(model, rows, batch_size=batch_size, packing=packing, pad_id=pad, chunk=chunk, varlen=varlen)
    result = EvalResult(loss, math.exp(min(loss, 50.0)) if tokens else float("nan"), tokens, len(rows))
    scored = [e for e in examples if e.golds][:generate]
    if scored:
        prompts = [renderer.prompt_ids(e) for e in scored]
        result.predictions = generate_answers(model, tokenizer, prompts, max_new_tokens=max_new_tokens,
                                              batch_size=batch_size)
        result.scores = answer_scores(result.predictions, [e.golds for e in scored], ("em", "f1"))
    return result
