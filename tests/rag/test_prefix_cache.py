"""The prefix cache keeps shared prefixes across interleaved questions; the fake backend shows it through
cached_prompt_tokens (its built-in reuse only covers the previous prompt)."""

import pytest

from llmopt.rag.api import Asker, prefix_cache_for
from llmopt.rag.config import AskConfig
from llmopt.rag.demos import DemoPool
from llmopt.rag.layout import build_prompt
from llmopt.rag.prefix_cache import PrefixCache, shared_token_count
from llmopt.rag.prompts import load_template
from llmopt.testing import FakeLLM

from .conftest import POOL_ROWS


def _askers(llm, retriever, cache: bool):
    set_a = DemoPool.from_rows(POOL_ROWS[:2])
    set_b = DemoPool.from_rows(POOL_ROWS[3:5])
    config = AskConfig(strategy="drag", k=2, m=2, prefix_cache=cache)
    return Asker(config, llm=llm, retriever=retriever, pool=set_a), Asker(config, llm=llm, retriever=retriever,
                                                                         pool=set_b)


def test_interleaved_questions_reuse_their_shared_prefix(retriever):
    llm = FakeLLM(["x"])
    with_a, with_b = _askers(llm, retriever, cache=True)
    first = with_a.ask("Who founded Harbor Labs?")
    with_b.ask("Who founded Blue Finch Robotics?")  # a different demonstration set in between
    second = with_a.ask("What does Blue Finch Robotics build?")
    prompt = build_prompt(llm, load_template("basic"), "What does Blue Finch Robotics build?",
                          retriever.search("What does Blue Finch Robotics build?", 2),
                          with_a.pool.shown(with_a.pool.select("q", 2), 2, retriever))
    shared = shared_token_count(llm, prompt, llm.tokenize(prompt.text))
    assert first.usage.cached_prompt_tokens == 0
    assert second.usage.cached_prompt_tokens >= shared > 100
    assert prefix_cache_for(llm).hits >= 1


def test_without_the_cache_only_the_previous_prompt_is_reused(retriever):
    from llmopt.models.base import common_prefix_length

    llm = FakeLLM(["x"])
    with_a, with_b = _askers(llm, retriever, cache=False)
    with_a.ask("Who founded Harbor Labs?")
    with_b.ask("Who founded Blue Finch Robotics?")
    second = with_a.ask("What does Blue Finch Robotics build?")
    previous, current = llm.calls[-2][0], llm.calls[-1][0]
    assert second.usage.cached_prompt_tokens == common_prefix_length(llm.tokenize(previous), llm.tokenize(current))
    assert second.usage.cached_prompt_tokens < _cached_with_cache(retriever)


def _cached_with_cache(retriever) -> int:
    llm = FakeLLM(["x"])
    with_a, with_b = _askers(llm, retriever, cache=True)
    with_a.ask("Who founded Harbor Labs?")
    with_b.ask("Who founded Blue Finch Robotics?")
    return with_a.ask("What does Blue Finch Robotics build?").usage.cached_prompt_tokens


def test_entries_are_bounded_least_recently_used_first():
    cache = PrefixCache(max_entries=2, min_tokens=1)
    llm = FakeLLM(["x"])
    template = load_template("basic")
    from llmopt.rag.demos import ShownDemo

    for i in range(3):
        demo = ShownDemo(f"question number {i}?", f"answer {i}", (), ())
        cache.generate(llm, build_prompt(llm, template, "Which?", (), [demo]), max_tokens=4)
    assert len(cache.entries) == 2 and cache.saves == 3
    cache.clear()
    assert cache.nbytes == 0


def test_engines_without_local_state_run_uncached():
    class Remote(FakeLLM):  # declared the way a remote backend declares itself
        engine = "openai"
        is_local = False
        thread_safe = True
        state_adapter = None

    llm = Remote(["x"])
    gen = PrefixCache().generate(llm, build_prompt(llm, load_template("basic"), "Which?"), max_tokens=4)
    assert llm.engine_state() is None and gen.text == "x"


@pytest.mark.parametrize("cache", [True, False])
def test_the_run_log_records_what_the_answers_report(retriever, cache):
    """One row per call, with the call's final usage: the log's token, compute and cost sums equal the answers'
    usage whether or not a prefix snapshot was restored (the log used to miss the cache's share)."""
    import sqlite3

    from llmopt.paths import runlog_path
    from llmopt.runlog import finish_run, start_run

    run = start_run("pytest drag")
    llm = FakeLLM(["x"], seconds_per_token=1e-3)
    with_a, with_b = _askers(llm, retriever, cache=cache)
    answers = [with_a.ask("Who founded Harbor Labs?"), with_b.ask("Who founded Blue Finch Robotics?"),
               with_a.ask("What does Blue Finch Robotics build?")]
    finish_run("ok", run)
    logged = sqlite3.connect(runlog_path()).execute(
        "SELECT COUNT(*), SUM(prompt_tokens), SUM(cached_prompt_tokens), SUM(completion_tokens), SUM(compute_s),"
        " SUM(cost_usd) FROM calls WHERE run_id = ?", (run,)).fetchone()
    usage = [a.usage for a in answers]
    assert logged[:4] == (sum(u.calls for u in usage), sum(u.prompt_tokens for u in usage),
                          sum(u.cached_prompt_tokens for u in usage), sum(u.completion_tokens for u in usage))
    assert logged[4:] == pytest.approx((sum(u.compute_s for u in usage), sum(u.cost_usd for u in usage)),
                                        rel=1e-12, abs=0)
    if cache:
        assert usage[2].cached_prompt_tokens > 100  # the third call did restore a snapshot
