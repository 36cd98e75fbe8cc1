import pytest

from llmopt.errors import ConfigError
from llmopt.sql.config import SQLConfig
from llmopt.sql.examples import ExamplePool
from llmopt.sql.pipeline import MemoLLM, TextToSQL, ask
from llmopt.sql.prompts import PREFILL
from llmopt.sql.spider import spider_examples
from llmopt.testing import BatchingFakeLLM, FakeLLM


@pytest.fixture
def pool(demo_root):
    return ExamplePool(spider_examples(demo_root), embedder="lexical")


def test_zero_shot_answers_with_rows_and_usage(bookshop, gold_llm):
    answer = TextToSQL(SQLConfig(strategy="zero"), llm=gold_llm).ask("How many authors are there?", bookshop)
    assert answer.ok and answer.sql == "SELECT count(*) FROM authors"
    assert answer.columns == ["count(*)"] and answer.rows == [[12]]
    assert answer.usage.calls == 1 and answer.examples == [] and answer.preliminary_sql is None
    prompt, params = gold_llm.calls[0]
    assert prompt.endswith(PREFILL) and "CREATE TABLE authors" in prompt and "-- e.g." in prompt
    assert params.temperature == 0.0 and params.stop == ("```", ";")


def test_few_shot_makes_a_preliminary_query_and_shows_other_databases_examples(bookshop, gold_llm, pool):
    asker = TextToSQL(SQLConfig(strategy="fewshot", shots=3, embedder="lexical"), pool, gold_llm)
    answer = asker.ask("How many authors are there?", bookshop, exclude_db="bookshop")
    assert answer.ok and answer.rows == [[12]] and answer.usage.calls == 2
    assert answer.preliminary_sql == "SELECT count(*) FROM authors"
    assert len(answer.examples) == 3 and all(e.example.db_id == "university" for e in answer.examples)
    assert answer.examples[0].example.question == "How many students are there?"
    final_prompt = gold_llm.calls[-1][0]
    assert "/* Question: How many students are there? */\nSELECT count(*) FROM students;" in final_prompt
    assert "from other databases" not in gold_llm.calls[0][0]  # the preliminary query is zero-shot


def test_self_correction_sends_the_error_back(bookshop):
    llm = FakeLLM([" nope FROM books", " count(*) FROM books"])
    answer = TextToSQL(SQLConfig(strategy="zero", repairs=2), llm=llm).ask("How many books?", bookshop)
    assert answer.ok and answer.sql == "SELECT count(*) FROM books" and answer.rows == [[30]]
    assert answer.candidates[0].repairs == 1 and answer.usage.calls == 2
    repair_prompt = llm.calls[1][0]
    assert "SELECT nope FROM books" in repair_prompt and "no such column: nope" in repair_prompt
    no_repair = TextToSQL(SQLConfig(strategy="zero", repairs=0), llm=FakeLLM([" nope FROM books"]))
    failed = no_repair.ask("How many books?", bookshop)
    assert not failed.ok and "no such column" in failed.error and failed.usage.calls == 1 and failed.rows == []


def test_self_consistency_votes_by_result_set(bookshop, pool):
    replies = {0: " title FROM books WHERE price > 31", 1: " count(*) FROM books", 2: " count(book_id) FROM books",
               3: " nope", 4: " count(title) FROM books"}
    llm = FakeLLM(lambda prompt, params: replies[params.seed])
    cfg = SQLConfig(strategy="fewshot-sc", samples=5, temperature=0.8, preliminary=False, repairs=0,
                    embedder="lexical")
    answer = TextToSQL(cfg, pool, llm).ask("How many books are there?", bookshop)
    assert answer.sql == "SELECT count(*) FROM books" and answer.rows == [[30]]
    assert [c.votes for c in answer.candidates] == [1, 3, 3, 0, 3]
    assert [c.chosen for c in answer.candidates] == [False, True, False, False, False]
    assert [(c.temperature, c.seed) for c in answer.candidates] == [(0.0, 0), (0.8, 1), (0.8, 2), (0.8, 3), (0.8, 4)]
    assert answer.candidates[3].error and answer.usage.calls == 5


def test_without_agreement_the_greedy_query_wins(bookshop, pool):
    llm = FakeLLM(lambda prompt, params: [" count(*) FROM books", " count(*) FROM authors", " nope"][params.seed])
    cfg = SQLConfig(strategy="fewshot-sc", samples=3, preliminary=False, repairs=0, embedder="lexical")
    answer = TextToSQL(cfg, pool, llm).ask("How many books are there?", bookshop)
    assert answer.candidates[0].chosen and answer.rows == [[30]]


@pytest.mark.parametrize("reply, reasoning", [
    ("We should clean up.\n```sql\nSELECT 1; DROP TABLE books\n```", True),
    ("```sql\nDELETE FROM books\n```", True),
    (" DELETE FROM books", False),
    ("UPDATE books SET price = 0", False),
])
def test_generated_writes_are_refused_and_the_database_is_unchanged(bookshop, file_hash, reply, reasoning):
    before = file_hash(bookshop)
    llm = FakeLLM([reply])
    answer = TextToSQL(SQLConfig(strategy="zero", reasoning=reasoning, repairs=1), llm=llm).ask("Tidy up", bookshop)
    assert not answer.ok and answer.error.startswith("refused") and answer.rows == []
    assert "refused" in llm.calls[1][0]  # the refusal went back to the model as the error to fix
    assert file_hash(bookshop) == before


def test_usage_sums_every_call(bookshop, pool):
    llm = FakeLLM([" nope FROM books", " count(*) FROM books"], seconds_per_token=0.001)
    cfg = SQLConfig(strategy="fewshot", shots=2, repairs=1, embedder="lexical")
    answer = TextToSQL(cfg, pool, llm).ask("How many books?", bookshop)
    # preliminary (nope) -> greedy candidate (count) ; every call counted
    assert answer.usage.calls == 2
    assert answer.usage.prompt_tokens == sum(len(llm.tokenize(p)) for p, _ in llm.calls)
    assert answer.usage.cost_usd > 0 and answer.usage.latency_s > 0 and answer.latency_s >= answer.usage.latency_s


def test_examples_are_dropped_when_the_prompt_would_overflow(bookshop, gold_llm, pool):
    cfg = SQLConfig(strategy="fewshot", shots=5, max_tokens=100, embedder="lexical", preliminary=False)
    TextToSQL(cfg, pool, gold_llm).ask("How many authors are there?", bookshop)
    five_examples = len(gold_llm.tokenize(gold_llm.calls[-1][0]))
    small = FakeLLM(gold_llm.script, context_length=five_examples + cfg.max_tokens - 1)
    answer = TextToSQL(cfg, pool, small).ask("How many authors are there?", bookshop)
    assert answer.ok and len(answer.examples) == 4  # the least similar one went
    assert len(small.tokenize(small.calls[-1][0])) + cfg.max_tokens <= small.context_length


def test_display_rows_are_capped_but_voting_sees_everything(bookshop):
    answer = TextToSQL(SQLConfig(strategy="zero", display_rows=3), llm=FakeLLM([" * FROM books"])).ask("all", bookshop)
    assert len(answer.rows) == 3 and answer.truncated and answer.candidates[0].row_count == 30


def test_a_result_over_the_row_cap_is_shown_but_does_not_vote(bookshop, pool):
    replies = [" * FROM books", " nope", " title FROM books WHERE price > 32"]
    llm = FakeLLM(lambda prompt, params: replies[params.seed])
    cfg = SQLConfig(strategy="fewshot-sc", samples=3, row_cap=10, display_rows=5, preliminary=False, repairs=0,
                    embedder="lexical")
    answer = TextToSQL(cfg, pool, llm).ask("Which books?", bookshop)
    assert answer.candidates[0].too_large and answer.candidates[0].votes == 0
    assert answer.candidates[2].chosen and answer.rows == [["The Northern Garden"]]
    alone = TextToSQL(cfg.model_copy(update={"strategy": "zero"}), llm=FakeLLM([" * FROM books"])).ask("All", bookshop)
    assert alone.ok and len(alone.rows) == 5 and alone.truncated  # a big answer is not an error for a person


def test_few_shot_without_a_pool_is_a_clear_error():
    with pytest.raises(ConfigError, match="needs an example pool: pass --examples"):
        TextToSQL(SQLConfig(strategy="fewshot"))


def test_ask_api_loads_a_pool_file(demo, bookshop, gold_llm):
    answer = ask("How many authors are there?", bookshop, examples=demo / "examples.jsonl", strategy="fewshot",
                 embedder="lexical", llm=gold_llm)
    assert answer.rows == [[12]] and len(answer.examples) == 5


def test_memo_llm_computes_a_repeated_call_once(gold_llm):
    memo = MemoLLM(gold_llm)
    prompt = "/* Question: How many authors are there? */"
    first = memo.generate(prompt, max_tokens=20, temperature=0.0, seed=0, stop=("```",))
    again = memo.generate(prompt, max_tokens=20, temperature=0.0, seed=0, stop=("```",))
    other_seed = memo.generate(prompt, max_tokens=20, temperature=0.7, seed=1, stop=("```",))
    assert again.text == first.text and again.prompt_tokens == first.prompt_tokens and again is not first
    assert len(gold_llm.calls) == 2 and memo.hits == 1 and other_seed.text == first.text
    assert memo.model_id == gold_llm.model_id and memo.context_length == gold_llm.context_length


def test_self_consistency_candidates_run_side_by_side_on_a_batching_model(bookshop, pool):
    """A model that answers several calls at once (thread_safe, batch_width) gets every candidate at once; the
    vote, the order of candidates and calls, and the usage are those of the one-at-a-time run, and the question
    is charged the longest candidate's latency, not the sum."""
    replies = {0: " title FROM books WHERE price > 31", 1: " count(*) FROM books", 2: " count(book_id) FROM books",
               3: " nope", 4: " count(title) FROM books"}
    cfg = SQLConfig(strategy="fewshot-sc", samples=5, temperature=0.8, preliminary=False, repairs=0,
                    embedder="lexical")
    # the fake's barrier breaks (failing the test) unless all five calls overlap
    batching = BatchingFakeLLM(lambda prompt, params: replies[params.seed], width=5, together=5,
                               seconds_per_token=0.01)
    batched = TextToSQL(cfg, pool, batching)
    answer = batched.ask("How many books are there?", bookshop)
    alone = TextToSQL(cfg, pool, FakeLLM(lambda prompt, params: replies[params.seed], seconds_per_token=0.01))
    reference = alone.ask("How many books are there?", bookshop)
    assert answer.sql == reference.sql == "SELECT count(*) FROM books"
    assert [c.votes for c in answer.candidates] == [c.votes for c in reference.candidates] == [1, 3, 3, 0, 3]
    assert [c.seed for c in answer.candidates] == [0, 1, 2, 3, 4] and answer.usage.calls == 5
    assert answer.usage.latency_s == pytest.approx(reference.usage.latency_s)
    assert answer.latency_s < answer.usage.latency_s  # the longest candidate, not the five added up
    assert reference.latency_s >= reference.usage.latency_s
