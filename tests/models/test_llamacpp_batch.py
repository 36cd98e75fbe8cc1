"""Continuous batching on the llama.cpp engine (models/llamacpp_batch.py), with the embedded model, for real."""

import threading

import pytest

from llmopt.concurrency import in_threads
from llmopt.models.registry import get_model

pytestmark = pytest.mark.integration

TOPICS = ["fruit", "city", "river", "planet", "colour", "animal", "tool", "song", "book", "game",
          "bird", "tree", "sport", "metal", "ocean", "language", "dance", "flower", "insect", "mountain"]
PROMPTS = [[{"role": "user", "content": f"Name a {topic} and say one thing about it."}] for topic in TOPICS]


@pytest.fixture(scope="module")
def batched():
    llm = get_model("default?parallel=8", cache=False)
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def single():
    llm = get_model("default?parallel=1", cache=False)
    yield llm
    llm.close()


def test_a_batch_answers_as_one_call_at_a_time_does(batched, single):
    alone = [single.chat(p, max_tokens=40).text for p in PROMPTS]
    steps = batched._scheduler.steps
    together = [g.text for g in batched.chat_batch(PROMPTS, max_tokens=40)]
    differ = [(i, a, b) for i, (a, b) in enumerate(zip(alone, together)) if a != b]
    assert len(differ) <= 1, f"{len(differ)} of 20 greedy answers differ when batched: {differ}"
    # 20 answers of up to 40 tokens took far fewer than 20 x 40 steps: sequences really shared steps
    assert batched._scheduler.steps - steps < 0.5 * sum(len(single.tokenize(t)) for t in alone)


def test_each_sequence_keeps_its_own_stops_seeds_and_budget(batched, single):
    count = "1, 2, 3, 4, 5, 6, 7,"
    stops = batched.generate_batch([count] * 3, max_tokens=30, stop=[" 9"])
    assert all(" 9" not in g.text and g.finish_reason == "stop" for g in stops)
    calls = [lambda: batched.generate(count, max_tokens=30, stop=[" 9"]),
             lambda: batched.generate(count, max_tokens=30, stop=[" 12"]),
             lambda: batched.generate(count, max_tokens=3)]
    mixed = in_threads(lambda call: call(), calls, 3)
    assert " 9" not in mixed[0].text and " 9" in mixed[1].text and " 12" not in mixed[1].text
    assert mixed[2].completion_tokens == 3 and mixed[2].finish_reason == "length"
    # each sequence samples from its own seeded generator: alone in the batching engine, a seed gives the
    # one-at-a-time answer; in a batch, different seeds give different answers. (A sample that shares its steps
    # with others can drift from its one-at-a-time answer: llama.cpp's batched kernels round differently, up to
    # ~2e-3 in a token's logprob here, and a flat distribution turns that into another token.)
    alone = batched.chat(PROMPTS[0], max_tokens=24, temperature=1.0, seed=1)
    assert alone.text == single.chat(PROMPTS[0], max_tokens=24, temperature=1.0, seed=1).text
    sampled = in_threads(lambda seed: batched.chat(PROMPTS[0], max_tokens=24, temperature=1.0, seed=seed),
                         [1, 2, 3, 4], 4)
    assert len({g.text for g in sampled}) >= 3


def test_samples_of_one_prompt_read_it_once(batched):
    batched.reset_cache()
    gens = in_threads(lambda seed: batched.chat(PROMPTS[3], max_tokens=8, temperature=0.8, seed=seed),
                      range(5), 5)
    assert sorted(g.cached_prompt_tokens for g in gens)[1:] == [gens[0].prompt_tokens] * 4
    assert min(g.cached_prompt_tokens for g in gens) < gens[0].prompt_tokens  # the first one read it


def test_usage_adds_up_to_the_run_log_and_the_engine_time(batched):
    from llmopt.runlog import finish_run, recent_runs, start_run

    run = start_run("pytest batch usage")
    busy = batched._scheduler.busy_s
    gens = batched.chat_batch(PROMPTS[:8], max_tokens=16)
    finish_run(run_id=run)
    row = next(r for r in recent_runs(50) if r["run_id"] == run)
    assert row["calls"] == 8 and row["errors"] == 0
    assert row["prompt_tokens"] == sum(g.prompt_tokens for g in gens)
    assert row["completion_tokens"] == sum(g.completion_tokens for g in gens)
    assert row["cost_usd"] == pytest.approx(sum(g.cost_usd for g in gens))
    # a shared step's time is divided among its sequences: the calls' compute adds up to the engine's busy time
    assert sum(g.compute_s for g in gens) == pytest.approx(batched._scheduler.busy_s - busy, rel=1e-6)
    assert all(g.latency_s >= g.compute_s > 0 for g in gens)


def test_a_cancelled_stream_frees_its_slot_at_once():
    counting = "Count to a thousand: 1, 2, 3, 4, 5,"
    llm = get_model("default?parallel=2", cache=False)
    try:
        pieces = iter(llm.stream(counting, max_tokens=400))
        assert next(pieces)
        order = []

        def long_answer():
            llm.generate(counting, max_tokens=300)  # holds the other slot, ends before the stream would
            order.append("long")

        other = threading.Thread(target=long_answer)
        other.start()
        pieces.close()  # the client went away mid-answer
        third = llm.chat(PROMPTS[2], max_tokens=4)  # needs a slot: only the cancelled stream's can free soon
        order.append("third")
        other.join()
        assert third.completion_tokens > 0 and order == ["third", "long"]
        scheduler = llm._scheduler
        assert not scheduler.active and sorted(scheduler.free_seqs) == [0, 1]
    finally:
        llm.close()


def test_a_call_whose_caller_gives_up_stops_with_cancelled(batched):
    from llmopt.concurrency import cancel_scope
    from llmopt.errors import Cancelled

    event, started, outcome = threading.Event(), threading.Event(), {}

    def caller():
        with cancel_scope(event):
            try:
                for _ in batched.stream("Count to a thousand: 1, 2, 3, 4, 5,", max_tokens=400):
                    started.set()
            except Cancelled as exc:
                outcome["error"] = exc

    thread = threading.Thread(target=caller)
    thread.start()
    started.wait(120)
    event.set()  # e.g. the server's request timed out
    thread.join()
    assert isinstance(outcome.get("error"), Cancelled)
    assert not batched._scheduler.active and len(batched._scheduler.free_seqs) == 8


def test_requests_beyond_the_cache_wait_for_room_and_all_finish():
    llm = get_model("default?parallel=8&n_ctx=512", cache=False)
    try:
        prompts = [f"Write a long list of {topic}s, one per line:\n" for topic in TOPICS[:8]]
        gens = llm.generate_batch(prompts, max_tokens=150)
        assert all(g.completion_tokens > 0 and g.finish_reason in {"stop", "length"} for g in gens)
        assert max(len(g.text) for g in gens) > 100
    finally:
        llm.close()


def test_a_closed_model_refuses_new_calls_with_a_clear_error():
    from llmopt.errors import BackendError

    llm = get_model("default?parallel=2", cache=False)
    llm.close()
    with pytest.raises(BackendError, match="closed"):
        llm.generate("hello", max_tokens=2)
