"""The pipeline with the embedded model (SmolLM2-135M): it scores ~0 on real questions, so these tests check
that real generations flow through prompting, extraction, safe execution and usage accounting."""

import pytest

from llmopt.sql.pipeline import ask


@pytest.mark.integration
def test_embedded_model_answers_through_the_safe_pipeline(bookshop, demo, file_hash):
    before = file_hash(bookshop)
    answer = ask("How many authors are there?", bookshop, examples=demo / "examples.jsonl", strategy="fewshot",
                 shots=2, preliminary=False, max_tokens=24, repairs=0, embedder="lexical")
    assert answer.sql.upper().startswith("SELECT")
    assert answer.usage.calls == 1 and answer.usage.completion_tokens > 0 and answer.usage.cost_usd > 0
    assert answer.model and len(answer.examples) == 2
    assert answer.ok or answer.error  # whatever it wrote either ran or says why not
    assert file_hash(bookshop) == before
