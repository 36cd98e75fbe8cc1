"""Measure a local model's prefill and decode speed (used by the `models` lab stage and bench/engines.py)."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

from ..pricing import cost_per_1k_tokens
from .base import LLM

FILLER = ("Retrieved document {i}: The quarterly report lists revenue, operating margin and headcount for each "
          "region, with notes on currency effects and one-off items. ")
COUNTING = "Continue the list: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"


def rag_prompt(llm: LLM, tokens: int) -> str:
    """A RAG-shaped prompt (many documents, then a question) of about `tokens` tokens."""
    parts, i = [], 0
    while llm.count_tokens("".join(parts)) < tokens - 20:
        parts.append(FILLER.format(i=i))
        i += 1
    return "".join(parts) + "\nQuestion: which region grew fastest?\nAnswer:"


def reset(llm: LLM) -> None:
    """Forget any cached prompt so a call pays its full prefill."""
    if hasattr(llm, "reset_cache"):
        llm.reset_cache()


@dataclass
class Speed:
    model: str
    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    rag_latency_s: float  # one RAG-shaped call: long prompt, short answer
    prompt_tokens: int
    usd_per_1k_prompt_tokens: float
    usd_per_1k_completion_tokens: float

    def to_dict(self) -> dict:
        return asdict(self)


def _prefill_seconds(llm: LLM, prompt: str) -> float:
    reset(llm)
    gen = llm.generate(prompt, max_tokens=1)
    return gen.prefill_s if gen.prefill_s is not None else gen.latency_s


def measure_speed(llm: LLM, prompt_tokens: int = 1024, decode_tokens: int = 64, repeats: int = 3) -> Speed:
    """Median prefill tok/s on a RAG-shaped prompt, decode tok/s on a counting continuation."""
    prompt = rag_prompt(llm, prompt_tokens)
    n = llm.count_tokens(prompt)
    llm.generate("warm up", max_tokens=2)
    prefill = statistics.median(n / _prefill_seconds(llm, prompt) for _ in range(repeats))
    rates = []
    for _ in range(repeats):
        reset(llm)
        short = _prefill_seconds(llm, COUNTING)
        reset(llm)
        started = time.perf_counter()
        gen = llm.generate(COUNTING, max_tokens=decode_tokens)
        elapsed = time.perf_counter() - started
        rates.append(max(1, gen.completion_tokens - 1) / max(1e-6, elapsed - short))
    decode = statistics.median(rates)
    reset(llm)
    rag = llm.generate(prompt, max_tokens=16).latency_s
    return Speed(llm.model_id, prefill, decode, rag, n, cost_per_1k_tokens(prefill), cost_per_1k_tokens(decode))
