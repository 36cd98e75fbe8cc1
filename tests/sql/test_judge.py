"""The LLM judge for questions without gold SQL: the prompt it sees, how its reply is read, when it is not asked,
and a resumable run that refuses to mix two judges' verdicts."""

from __future__ import annotations

import json

import pytest

from llmopt.errors import ConfigError, EndpointError
from llmopt.sql.config import SQLConfig
from llmopt.sql.judge import JUDGE_ROWS, judge_answer, judge_prompt, judge_tasks, parse_verdict
from llmopt.sql.pipeline import SQLAnswer
from llmopt.sql.spider import SQLTask
from llmopt.testing import FakeLLM
from llmopt.types import Usage


def answer(sql="SELECT title FROM books", rows=(("The Iron River",),), error=None, truncated=False) -> SQLAnswer:
    return SQLAnswer("List the titles.", sql, ["title"], [list(r) for r in rows], truncated, error, Usage())


@pytest.mark.parametrize("text, verdict", [("yes", True), (" Yes.", True), ("NO", False), ("no, the query...", False),
                                           ("maybe", None), ("", None), ("yesterday", None)])
def test_the_reply_is_read_as_yes_no_or_no_verdict(text, verdict):
    assert parse_verdict(text) is verdict


def test_the_prompt_shows_schema_question_query_and_the_first_rows():
    many = answer(rows=[(f"title {n}",) for n in range(JUDGE_ROWS + 5)])
    prompt = judge_prompt("CREATE TABLE books (title TEXT);", "List the titles.", many)
    assert "CREATE TABLE books (title TEXT);" in prompt and "Question: List the titles." in prompt
    assert "Query:\nSELECT title FROM books" in prompt and f"the first {JUDGE_ROWS} rows; columns: title" in prompt
    assert f"title {JUDGE_ROWS - 1}\n" in prompt and f"title {JUDGE_ROWS}\n" not in prompt
    assert "(1 row; columns: title):\nThe Iron River" in judge_prompt("", "q", answer())
    assert "(0 rows; columns: title):\n(no rows)" in judge_prompt("", "q", answer(rows=()))


def test_a_query_that_did_not_run_is_wrong_without_asking():
    judge = FakeLLM(["yes"])
    verdict = judge_answer(judge, "", "q", answer(error="SQLite error: no such table: x"))
    assert (verdict.correct, judge.calls) == (False, []) and "did not run" in verdict.reason


def test_a_failed_judge_call_gives_no_verdict_but_an_unreachable_judge_stops_the_run():
    def failing(prompt, params):
        raise ValueError("prompt too long")

    verdict = judge_answer(FakeLLM(failing), "", "q", answer())
    assert verdict.correct is None and verdict.reason == "judge failed: ValueError: prompt too long"

    def unreachable(prompt, params):
        raise EndpointError("connection refused")

    with pytest.raises(EndpointError):
        judge_answer(FakeLLM(unreachable), "", "q", answer())


def test_judged_runs_resume_and_refuse_another_judge(bookshop, tmp_path):
    tasks = [SQLTask(f"q{n}", "bookshop", bookshop, question, "", "unknown")
             for n, question in enumerate(["How many authors are there?", "How many books are there?"])]
    llm = FakeLLM([" count(*) FROM authors"], name="count")
    judge = FakeLLM(lambda prompt, params: "yes" if "authors are there" in prompt else "no", name="judge")
    cfg = SQLConfig(strategy="zero", repairs=0)
    summary = judge_tasks(tasks, cfg, None, tmp_path / "run", llm=llm, judge=judge)
    assert (summary["execution_accuracy"], summary["count"], summary["judge"]) == (0.5, 2, "fake:judge")
    assert summary["judge_usage"]["calls"] == 2 and summary["usage"]["calls"] == 2  # kept apart
    records = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert [r["judge"]["correct"] for r in records] == [True, False] and records[0]["judge"]["model"] == "fake:judge"
    again = judge_tasks(tasks, cfg, None, tmp_path / "run", llm=llm, judge=judge)
    assert len(judge.calls) == 2 and again["execution_accuracy"] == 0.5
    with pytest.raises(ConfigError, match="holds verdicts of another judge"):
        judge_tasks(tasks, cfg, None, tmp_path / "run", llm=llm, judge=FakeLLM(["yes"], name="other"))
