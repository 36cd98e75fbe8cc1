"""none, rag and drag through the public API with the scripted fake backend."""

import pytest

from llmopt.errors import ConfigError
from llmopt.rag.api import Asker, ask
from llmopt.rag.budget import ContextBudgetError
from llmopt.rag.config import AskConfig
from llmopt.testing import BatchingFakeLLM, FakeLLM


def test_none_answers_without_retrieval(retriever):
    llm = FakeLLM(["Answer: Lisbon"])
    answer = ask("Where was Harbor Labs founded?", llm=llm, retriever=retriever, strategy="none")
    assert answer.answer == "Lisbon" and answer.citations == [] and retriever.queries == []
    assert "Document [" not in llm.calls[0][0]
    assert answer.usage.calls == 1 and answer.usage.effective_context_tokens == answer.usage.prompt_tokens > 0


def test_rag_reads_k_documents_and_cites_them(retriever):
    llm = FakeLLM(["Mira Okafor"])
    answer = ask("Who founded Harbor Labs?", llm=llm, retriever=retriever, strategy="rag", k=3)
    assert retriever.queries == [("Who founded Harbor Labs?", 3)]
    assert [c.rank for c in answer.citations] == [1, 2, 3]
    assert answer.citations[0].chunk_id == "c1" and answer.citations[0].supports
    assert answer.to_dict()["citations"][0]["source"] == "labs.md"
    assert llm.calls[0][0].count("Document [") == 3


def test_drag_never_shows_a_question_as_its_own_demonstration(retriever, pool_file):
    llm = FakeLLM(["Lisbon"])
    asker = Asker(AskConfig(strategy="drag", k=2, m=2, demos=str(pool_file)), llm=llm, retriever=retriever)
    asker.ask("Where was Harbor Labs founded?")  # the text of pool row d1
    shown = llm.calls[-1][0]
    assert shown.count("Question: Where was Harbor Labs founded?") == 1  # the question, not a demonstration
    assert "Answer: Jonas Lie" in shown and "Answer: 1911" in shown
    asker.ask("Which office employs 120 engineers?", question_id="d2")  # excluded by id
    assert "Answer: Jonas Lie" not in llm.calls[-1][0]


def test_drag_defaults_to_four_demonstrations_with_a_pool(retriever, pool_file):
    llm = FakeLLM(["x"])
    answer = ask("Who founded Harbor Labs?", llm=llm, retriever=retriever, strategy="drag", demos=str(pool_file))
    assert answer.params["m"] == 4 and llm.calls[0][0].count("Example ") == 4


def test_max_context_shrinks_m_then_k_and_is_never_exceeded(retriever, pool_file):
    full = ask("Who founded Harbor Labs?", llm=FakeLLM(["x"]), retriever=retriever, strategy="drag", k=3, m=3,
               demos=str(pool_file))
    limit = full.usage.effective_context_tokens - 40
    answer = ask("Who founded Harbor Labs?", llm=FakeLLM(["x"]), retriever=retriever, strategy="drag", k=3, m=3,
                 demos=str(pool_file), max_context=limit)
    assert answer.usage.effective_context_tokens <= limit
    assert any("m 3→2" in note for note in answer.budget.notes)
    assert answer.budget.limit == limit and answer.budget.used == answer.usage.effective_context_tokens
    tiny = ask("Who founded Harbor Labs?", llm=FakeLLM(["x"]), retriever=retriever, strategy="drag", k=3, m=3,
               demos=str(pool_file), max_context=140)
    assert tiny.usage.effective_context_tokens <= 140 and "m 3→0" in tiny.budget.notes[0]
    assert len(tiny.citations) < 3


def test_a_budget_too_small_for_any_prompt_fails_clearly(retriever):
    with pytest.raises(ContextBudgetError, match="smallest prompt needs .* raise --max-context"):
        ask("Who founded Harbor Labs?", llm=FakeLLM(["x"]), retriever=retriever, strategy="rag", max_context=20)


def test_samples_are_counted_and_stop_at_the_budget(retriever):
    llm = FakeLLM(["Lisbon", "Porto", "Lisbon"])
    answer = ask("Where?", llm=llm, retriever=retriever, strategy="rag", k=2, samples=3)
    assert answer.usage.calls == 3 and answer.answer == "Lisbon"
    assert [c.answer for c in answer.candidates] == ["Lisbon", "Porto", "Lisbon"]
    assert all(p.temperature == 0.7 for _, p in llm.calls) and [p.seed for _, p in llm.calls] == [0, 1, 2]
    one = answer.usage.effective_context_tokens // 3
    capped = ask("Where?", llm=FakeLLM(["Lisbon"]), retriever=retriever, strategy="rag", k=2, samples=3,
                 max_context=2 * one + 5)
    assert capped.usage.calls == 2 and capped.usage.effective_context_tokens <= 2 * one + 5
    assert any("stopped sampling after 2 of 3" in n for n in capped.budget.notes)


def test_samples_run_side_by_side_on_a_batching_model(retriever):
    """Without a context budget, a model that answers several calls at once gets the samples together; with one,
    samples stay sequential (each share depends on what the previous ones spent)."""
    # the fake's barrier breaks (failing the test) unless the three calls overlap
    llm = BatchingFakeLLM(lambda prompt, params: ["Lisbon", "Porto", "Lisbon"][params.seed], width=3, together=3)
    answer = ask("Where?", llm=llm, retriever=retriever, strategy="rag", k=2, samples=3)
    assert answer.answer == "Lisbon" and [c.answer for c in answer.candidates] == ["Lisbon", "Porto", "Lisbon"]
    reference = ask("Where?", llm=FakeLLM(["Lisbon", "Porto", "Lisbon"]), retriever=retriever, strategy="rag", k=2,
                    samples=3)
    assert answer.usage.calls == 3 and answer.budget.used == reference.budget.used


def test_settings_are_validated_with_the_fix_named(retriever, pool_file):
    with pytest.raises(ConfigError, match="unknown strategy 'dragg'; strategies: none, rag, drag, iterdrag"):
        ask("q", llm=FakeLLM(), retriever=retriever, strategy="dragg")
    with pytest.raises(ConfigError, match="k: Input should be greater than or equal to 0"):
        ask("q", llm=FakeLLM(), retriever=retriever, k=-1)
    with pytest.raises(ConfigError, match="needs a demonstration pool"):
        ask("q", llm=FakeLLM(), retriever=retriever, strategy="drag", m=2)
    with pytest.raises(ConfigError, match="pass --index"):
        ask("q", llm=FakeLLM(), strategy="rag")
    with pytest.raises(ConfigError, match="empty question"):
        ask("  ", llm=FakeLLM(), retriever=retriever)


def test_config_loads_from_yaml_and_flags_override(tmp_path):
    path = tmp_path / "ask.yaml"
    path.write_text("strategy: drag\nk: 7\nsamples: 3\nselect: judge\n")
    config = AskConfig.from_yaml(path, k=2)
    assert (config.strategy, config.k, config.samples, config.select) == ("drag", 2, 3, "judge")
    path.write_text("strategy: drag\nbogus: 1\n")
    with pytest.raises(ConfigError, match="bogus: Extra inputs are not permitted"):
        AskConfig.from_yaml(path)


def test_drag_without_demonstrations_is_refused_not_run_as_rag_under_its_name(retriever):
    """Neither -m nor --demos: DRAG has nothing to show, so it says what to pass instead of answering as RAG
    labelled "drag"."""
    with pytest.raises(ConfigError, match="pass --demos FILE.jsonl .* or use --strategy rag"):
        ask("Who founded Harbor Labs?", llm=FakeLLM(["x"]), retriever=retriever, strategy="drag")


def test_drag_with_an_explicit_m_0_is_labelled_rag_and_says_so(retriever):
    answer = ask("Who founded Harbor Labs?", llm=FakeLLM(["x"]), retriever=retriever, strategy="drag", m=0, k=2)
    assert answer.strategy == "rag" and answer.params["m"] == 0
    assert any("drag with m=0" in note and "answered as rag" in note for note in answer.budget.notes)
