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


@pytest.mark.integration
@pytest.mark.slow  # minutes on a busy 2-core machine: the model, the embedder, several calls per question
def test_embedded_model_runs_every_issue_23_option_end_to_end(demo, file_hash, tmp_path):
    """Schema linking with the model pass, value grounding, masked examples and vote+check, on the embedded model
    and the default embedder: the calls flow, the records carry link recall and grounding, the database is
    untouched."""
    from llmopt.sql.runner import evaluate_spider

    db = demo / "database" / "bookshop" / "bookshop.sqlite"
    before = file_hash(db)
    summary = evaluate_spider(demo, out=tmp_path / "run", db_ids=["bookshop"], limit=1, strategy="fewshot-sc",
                              samples=2, shots=2, preliminary=False, max_tokens=24, repairs=1,
                              schema_linking="embed+model", link_tables=2, value_grounding=True,
                              example_masking=True, selection="vote+check", concurrency=1)
    assert summary["count"] == 1 and summary["link_recall"]["count"] == 1
    assert summary["grounding_hit_rate"] is not None
    assert summary["per_question"]["calls"] >= 3  # the model pass and two candidates, at least
    assert "Schema linking and value grounding" in (tmp_path / "run" / "report.md").read_text()
    assert file_hash(db) == before
