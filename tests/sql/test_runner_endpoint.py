"""An unreachable endpoint stops `llmopt sql eval` instead of being scored as a wrong answer per question: a
down server must not fill results.jsonl with failures that a re-run would then skip."""

import json

import pytest

from llmopt.errors import EndpointError
from llmopt.sql.runner import evaluate_spider
from llmopt.testing import FakeLLM


def test_an_unreachable_endpoint_stops_the_run_and_a_rerun_asks_again(demo, gold, tmp_path):
    down = {"now": True}

    def server(prompt, params):
        question = prompt.split("/* Question: ")[-1].split(" */")[0]
        if down["now"] and question == "How many authors are there?":
            raise EndpointError("http://127.0.0.1:9/v1/chat/completions failed after 3 attempts")
        return gold[question][len("SELECT"):]

    out = tmp_path / "run"
    with pytest.raises(EndpointError):
        evaluate_spider(demo, out=out, strategy="zero", llm=FakeLLM(server), limit=3)
    results = out / "results.jsonl"
    kept = [json.loads(line) for line in results.read_text().splitlines()] if results.is_file() else []
    assert all(not r["error"] for r in kept)  # nothing was recorded for the question the server never answered
    down["now"] = False
    summary = evaluate_spider(demo, out=out, strategy="zero", llm=FakeLLM(server), limit=3)
    assert summary["count"] == 3 and summary["errors"] == 0 and summary["execution_accuracy"] == 1.0
