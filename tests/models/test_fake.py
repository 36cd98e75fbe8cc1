from llmopt.runlog import recent_runs, run_totals
from llmopt.testing import FakeLLM
from llmopt.errors import ContextLengthError

import pytest


def test_scripted_replies_usage_and_log():
    llm = FakeLLM(["first", "second answer"], seconds_per_token=0.01)
    a = llm.generate("shared prefix then question one")
    b = llm.generate("shared prefix then question two")
    assert (a.text, b.text) == ("first", "second answer")
    assert a.cached_prompt_tokens == 0 and b.cached_prompt_tokens > 0
    assert b.completion_tokens == 2 and b.cost_usd > 0 and b.model == "fake:scripted"
    totals = run_totals()
    assert totals["calls"] == 2 and totals["completion_tokens"] == 3


def test_stop_and_length():
    llm = FakeLLM(["a b c STOP d"])
    assert llm.generate("q", stop=["STOP"]).text.strip() == "a b c"
    gen = FakeLLM(["one two three four"]).generate("q", max_tokens=2)
    assert gen.finish_reason == "length" and gen.completion_tokens == 2


def test_context_length_error_names_both_numbers():
    llm = FakeLLM(["x"], context_length=10)
    with pytest.raises(ContextLengthError) as info:
        llm.generate("w " * 20, max_tokens=5)
    assert "40" in str(info.value) and "10" in str(info.value)
    gen = llm.generate("w " * 20, max_tokens=5, truncate=True)
    assert gen.prompt_tokens <= 10


def test_failed_call_is_logged():
    def boom(prompt, params):
        raise RuntimeError("engine fell over")

    with pytest.raises(RuntimeError):
        FakeLLM(boom).generate("q")
    assert run_totals()["errors"] == 1


def test_stream_yields_then_result():
    llm = FakeLLM(["hello world"])
    stream = llm.stream("q")
    assert "".join(stream) == "hello world"
    assert stream.result.completion_tokens == 2


def test_logprobs():
    gen = FakeLLM(["a b"]).generate("q", logprobs=True)
    assert len(gen.token_logprobs) == 2 and gen.mean_logprob < 0
