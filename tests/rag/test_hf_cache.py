"""Prefix caching on the transformers backend with a tiny random Llama: reuse across interleaved prompts, and the
same greedy output as without the cache."""

import pytest

from llmopt.rag.layout import Prompt
from llmopt.rag.prefix_cache import PrefixCache


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory):
    from llmopt.models.hf import HFLLM
    from llmopt.testing import make_tiny_llama

    return HFLLM(make_tiny_llama(tmp_path_factory.mktemp("tiny") / "m", max_position_embeddings=1024), "tiny")


def _prompt(shared: str, question: str) -> Prompt:
    return Prompt(shared + question, len(shared))


def test_interleaved_prompts_reuse_their_prefix_and_answer_the_same(tiny_hf):
    a = "system: answer from documents. " * 12 + "Example: revenue grew 12% in 2023. "
    b = "system: answer from tables only. " * 12 + "Example: SELECT name FROM singer; "
    cache = PrefixCache(min_tokens=8)
    first = cache.generate(tiny_hf, _prompt(a, "Question: what grew?"), max_tokens=6)
    cache.generate(tiny_hf, _prompt(b, "Question: which table?"), max_tokens=6)
    second = cache.generate(tiny_hf, _prompt(a, "Question: when did it grow?"), max_tokens=6)
    shared = len(tiny_hf.tokenize(a)) - 2
    assert first.cached_prompt_tokens == 0 and second.cached_prompt_tokens >= shared
    plain = tiny_hf.generate(a + "Question: when did it grow?", max_tokens=6)
    assert plain.cached_prompt_tokens == 0 and plain.text == second.text
    assert second.prompt_tokens == plain.prompt_tokens and second.engine == "hf"


def test_a_call_extending_the_previous_one_reuses_it(tiny_hf):
    cache = PrefixCache(min_tokens=10_000)  # no snapshots: only the state the last call left behind
    base = "Follow up: who founded the company? " * 8
    cache.generate(tiny_hf, Prompt(base), max_tokens=4)
    longer = cache.generate(tiny_hf, Prompt(base + "Intermediate answer:"), max_tokens=4, logprobs=True)
    assert longer.cached_prompt_tokens >= len(tiny_hf.tokenize(base)) - 2
    assert longer.token_logprobs and len(longer.token_logprobs) == longer.completion_tokens


def test_the_run_log_row_is_the_cached_calls_final_usage(tiny_hf):
    """The row is written once, after the restored prefix and its preparation time are counted."""
    import sqlite3

    from llmopt.paths import runlog_path

    a = "system: answer from documents. " * 12 + "Example: revenue grew 12% in 2023. "
    cache = PrefixCache(min_tokens=8)
    cache.generate(tiny_hf, _prompt(a, "Question: what grew?"), max_tokens=4)
    gen = cache.generate(tiny_hf, _prompt(a, "Question: when did it grow?"), max_tokens=4)
    row = sqlite3.connect(runlog_path()).execute(
        "SELECT prompt_tokens, cached_prompt_tokens, completion_tokens, latency_s, compute_s, cost_usd FROM calls"
        " ORDER BY id DESC LIMIT 1").fetchone()
    assert gen.cached_prompt_tokens > 0
    assert row == (gen.prompt_tokens, gen.cached_prompt_tokens, gen.completion_tokens, gen.latency_s,
                   gen.compute_s, gen.cost_usd)
