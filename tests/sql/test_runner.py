import json

import pytest

from llmopt.errors import ConfigError, InputError
from llmopt.sql.config import SQLConfig
from llmopt.sql.examples import ExamplePool, SQLExample
from llmopt.sql.runner import evaluate_spider, evaluate_tasks, summarize
from llmopt.sql.spider import load_spider, spider_examples
from llmopt.testing import BatchingFakeLLM, FakeLLM


def test_eval_writes_results_summary_and_report(demo, gold_llm, tmp_path):
    summary = evaluate_spider(demo, out=tmp_path / "run", strategy="fewshot", shots=2, embedder="lexical",
                              llm=gold_llm, limit=6)
    assert summary["count"] == 6 and summary["execution_accuracy"] == 1.0
    assert summary["execution_accuracy_ci"] == [1.0, 1.0]
    assert set(summary["by_hardness"]) == {"easy", "medium", "hard", "extra"}
    assert summary["usage"]["calls"] == 12 and summary["per_question"]["calls"] == 2.0
    records = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [f"dev-{i:04d}" for i in range(6)]
    # the example pool never holds questions from the question's own database
    assert all(e["db_id"] != r["db_id"] for r in records for e in r["examples"])
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["count"] == 6
    report = (tmp_path / "run" / "report.md").read_text()
    assert "| easy |" in report and "fewshot k=2" in report and (tmp_path / "run" / "report.html").is_file()


def test_eval_resumes_where_it_stopped(demo, gold_llm, tmp_path):
    out = tmp_path / "run"
    evaluate_spider(demo, out=out, strategy="zero", llm=gold_llm, limit=3)
    assert len(gold_llm.calls) == 3
    summary = evaluate_spider(demo, out=out, strategy="zero", llm=gold_llm, limit=5)
    assert len(gold_llm.calls) == 5 and summary["count"] == 5  # only the two new questions were asked
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(lines[:4]) + "\n" + lines[4][:20])  # a crash mid-write
    evaluate_spider(demo, out=out, strategy="zero", llm=gold_llm, limit=5)
    assert len(gold_llm.calls) == 6  # the half-written record is redone
    evaluate_spider(demo, out=out, strategy="zero", llm=gold_llm, limit=5)
    assert len(gold_llm.calls) == 6  # and kept: the redone record was not glued onto the torn line
    with pytest.raises(ConfigError, match="holds results of other settings \\(repairs differ\\)"):
        evaluate_spider(demo, out=out, strategy="zero", llm=gold_llm, repairs=3)


def test_questions_answered_side_by_side_store_the_same_results(demo, gold_llm, tmp_path):
    """On a model that answers several calls at once, `concurrency` questions run together; every result is stored
    once with the same score, the progress count reaches the total, and the setting does not block a resume."""
    one = evaluate_spider(demo, out=tmp_path / "one", strategy="zero", llm=gold_llm, limit=6)
    batching = BatchingFakeLLM(gold_llm.script, name="gold", width=4)
    seen = []
    together = evaluate_spider(demo, out=tmp_path / "together", strategy="zero", llm=batching, limit=6,
                               concurrency=3, on_result=lambda record, done, total: seen.append((done, total)))
    assert together["execution_accuracy"] == one["execution_accuracy"] and together["count"] == 6
    assert sorted(d for d, _ in seen) == list(range(1, 7)) and {t for _, t in seen} == {6}
    records = [json.loads(line) for line in (tmp_path / "together" / "results.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in records) == [f"dev-{i:04d}" for i in range(6)]
    evaluate_spider(demo, out=tmp_path / "together", strategy="zero", llm=batching, limit=6, concurrency=1)


def test_one_failing_question_does_not_stop_the_batch(demo, gold, tmp_path):
    def flaky(prompt, params):
        question = prompt.split("/* Question: ")[-1].split(" */")[0]
        if question == "How many authors are there?":
            raise RuntimeError("engine crashed")
        return gold[question][len("SELECT"):]

    summary = evaluate_spider(demo, out=tmp_path / "run", strategy="zero", llm=FakeLLM(flaky), limit=3)
    records = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert records[0]["error"] == "RuntimeError: engine crashed" and not records[0]["correct"]
    assert summary["count"] == 3 and summary["execution_accuracy"] == pytest.approx(2 / 3)
    assert summary["error_types"] == {"RuntimeError": 1}


def test_wrong_and_failing_predictions_count_as_wrong(demo, tmp_path):
    summary = evaluate_spider(demo, out=tmp_path / "run", strategy="zero", repairs=0,
                              llm=FakeLLM([" nope FROM books"]), limit=4)
    assert summary["execution_accuracy"] == 0.0 and summary["errors"] == 4
    assert summary["error_types"] == {"no such column": 4}
    assert "The first 4 wrong answers" in (tmp_path / "run" / "report.md").read_text()


def test_db_and_id_filters(demo):
    assert {t.db_id for t in load_spider(demo, db_ids=["university"])} == {"university"}
    assert [t.id for t in load_spider(demo, ids=["dev-0003", "dev-0030"])] == ["dev-0003", "dev-0030"]
    with pytest.raises(InputError, match="unknown database id\\(s\\) nope; dev.json has: bookshop, university"):
        load_spider(demo, db_ids=["nope"])
    with pytest.raises(InputError, match="not in dev.json"):
        load_spider(demo, ids=["dev-9999"])
    with pytest.raises(InputError, match="Spider 1.0 layout"):
        load_spider(demo / "database")


def test_a_pool_without_database_ids_is_refused(demo, gold_llm, tmp_path):
    pool = ExamplePool([SQLExample("q", "SELECT 1")], embedder="lexical")
    with pytest.raises(ConfigError, match="needs a db_id"):
        evaluate_tasks(load_spider(demo)[:1], SQLConfig(strategy="fewshot"), pool, tmp_path / "r", llm=gold_llm)


def test_gold_failures_are_reported_not_scored(demo, gold_llm, tmp_path):
    dev = json.loads((demo / "dev.json").read_text())
    dev[0]["query"] = "SELECT missing FROM authors"
    (demo / "dev.json").write_text(json.dumps(dev))
    summary = evaluate_spider(demo, out=tmp_path / "run", strategy="zero", llm=FakeLLM([" 1"]), limit=2)
    assert summary["gold_errors"] == 1 and summary["count"] == 1


def test_summary_by_hardness_and_usage():
    records = [{"id": str(i), "hardness": h, "correct": c, "usage": {"calls": 2, "cost_usd": 0.5, "latency_s": 1.0},
                "latency_s": 1.5, "wall_s": 1.5, "error": None}
               for i, (h, c) in enumerate([("easy", True), ("easy", False), ("hard", True), ("extra", False)])]
    summary = summarize(records)
    assert summary["execution_accuracy"] == 0.5 and summary["by_hardness"]["easy"]["execution_accuracy"] == 0.5
    assert summary["by_hardness"]["medium"] == {"count": 0, "execution_accuracy": None, "execution_accuracy_ci": None}
    assert summary["per_question"]["cost_usd"] == 0.5 and summary["per_question"]["latency_s"] == 1.5
    low, high = summary["execution_accuracy_ci"]
    assert 0.0 <= low < 0.5 < high <= 1.0
