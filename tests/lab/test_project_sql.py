"""The project's text-to-SQL task: reading the user's questions file, the disjoint pool/eval split, and a run of
every model x strategy with scripted models whose execution accuracy is known in advance."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from llmopt.errors import ConfigError, InputError
from llmopt.lab.project_sql import read_questions, run_sql_task, split_questions
from llmopt.project.config import SQLTask as SQLTaskConfig
from llmopt.testing import FakeLLM

COUNT_AUTHORS = "SELECT count(*) FROM authors"


@pytest.fixture(scope="module")
def bookshop_items(tmp_path_factory) -> tuple[Path, list[dict]]:
    from llmopt.demo.sql import write

    root = tmp_path_factory.mktemp("demo")
    write(root)
    items = [q for q in json.loads((root / "sql" / "dev.json").read_text()) if q["db_id"] == "bookshop"]
    return root / "sql" / "database" / "bookshop" / "bookshop.sqlite", items


def write_questions(path: Path, items: list[dict], *, bad_line_at: int | None = None) -> Path:
    lines = [json.dumps({"id": f"q{n}", "question": q["question"], "query": q["query"]}) for n, q in enumerate(items)]
    if bad_line_at is not None:
        lines.insert(bad_line_at - 1, '{"question": "How many books", "query": ')  # cut off mid-row
    path.write_text("\n".join(lines) + "\n")
    return path


def asked(prompt: str) -> str:
    return re.findall(r"/\* Question: (.*?) \*/", prompt)[-1]


def judged(prompt: str) -> str:
    return re.search(r"^Question: (.*)$", prompt, re.M).group(1)


@pytest.fixture
def models(monkeypatch, bookshop_items):
    """fake:gold answers each question with its gold SQL; fake:count always with COUNT_AUTHORS (after the
    SELECT pre-fill); fake:broken with a query that cannot run. fake:judge says yes to the authors question only,
    and something that is not yes/no to the pending-orders one. Questions are embedded lexically (no download)."""
    import llmopt.models.registry as registry
    from llmopt.sql import examples

    gold = {q["question"]: q["query"] for q in bookshop_items[1]}
    llms = {"fake:gold": FakeLLM(lambda prompt, params: gold[asked(prompt)][len("SELECT"):], name="gold"),
            "fake:count": FakeLLM([COUNT_AUTHORS[len("SELECT"):]], name="counter"),
            "fake:broken": FakeLLM([" nope FROM nowhere"], name="broken"),
            "fake:judge": FakeLLM(lambda prompt, params: {"How many authors are there?": "Yes.",
                                                          "How many orders are pending?": "Perhaps"}.get(
                                                              judged(prompt), "no"), name="judge")}
    monkeypatch.setattr(registry, "get_model", lambda spec="default", cache=True: llms[spec])
    monkeypatch.setattr(examples, "get_question_embedder", lambda spec: examples.LexicalEmbedder())
    return llms


def test_a_malformed_line_is_reported_with_file_and_line_and_the_rest_is_read(bookshop_items, tmp_path):
    database, items = bookshop_items
    path = write_questions(tmp_path / "questions.jsonl", items[:5], bad_line_at=3)
    with path.open("a") as handle:
        handle.write('\n{"question": "Who?"}\n["a list"]\n' + json.dumps({"id": "q0", **items[5]}) + "\n")
    read = read_questions(path, database)
    assert [t.id for t in read.tasks] == ["q0", "q1", "q2", "q3", "q4"]
    assert read.skipped[0].startswith("questions.jsonl:3: not JSON")
    assert read.skipped[1].startswith("questions.jsonl:8: no gold SQL")  # line 7 is blank
    assert read.skipped[2].startswith("questions.jsonl:9: not a JSON object")
    assert read.skipped[3].startswith("questions.jsonl:10: duplicate id 'q0' (first at questions.jsonl:1)")
    first = read.tasks[0]
    assert (first.db_id, first.db_path, first.gold_sql, first.hardness) == ("bookshop", database, COUNT_AUTHORS,
                                                                            "easy")


def test_a_spider_json_list_with_sql_or_gold_sql_and_default_ids(bookshop_items, tmp_path):
    database, items = bookshop_items
    rows = [{"question": items[0]["question"], "sql": items[0]["query"]},
            {"question": items[1]["question"], "gold_sql": items[1]["query"], "id": 7},
            {"question": items[2]["question"], "query": items[2]["query"], "sql": {"parsed": "form"}}]
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(rows))
    read = read_questions(path, database)
    assert [t.id for t in read.tasks] == ["item-1", "7", "item-3"] and not read.skipped
    assert [t.gold_sql for t in read.tasks] == [q["query"] for q in items[:3]]


def test_a_file_with_no_usable_row_is_one_line_naming_the_fix(bookshop_items, tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "How many authors?"}\nnot json\n')
    with pytest.raises(InputError) as err:
        read_questions(path, bookshop_items[0])
    message = str(err.value)
    assert "\n" not in message and "no usable questions" in message and "q.jsonl:1: no gold SQL" in message
    assert 'gold SQL in "query"' in message


def test_pool_and_evaluation_questions_are_disjoint_and_stable(bookshop_items, tmp_path):
    database, items = bookshop_items
    tasks = read_questions(write_questions(tmp_path / "q.jsonl", items), database).tasks
    split = split_questions(tasks)
    pool, evaluated = {t.id for t in split.pool}, {t.id for t in split.eval}
    assert len(pool) == len(tasks) // 3 and not pool & evaluated and pool | evaluated == {t.id for t in tasks}
    assert [t.id for t in split_questions(list(reversed(tasks))).pool][::-1] == [t.id for t in split.pool]
    assert {e.db_id for e in split.examples()} == {"bookshop (example pool)"}  # not the evaluated database's id
    assert split_questions(tasks[:5]).pool == [] and len(split_questions(tasks[:5]).eval) == 5


def test_each_model_and_strategy_scores_what_its_queries_deserve(bookshop_items, models, tmp_path):
    database, items = bookshop_items
    questions = write_questions(tmp_path / "q.jsonl", items, bad_line_at=2)
    task = SQLTaskConfig(database=database, questions=questions)
    split = split_questions(read_questions(questions, database).tasks)
    assert COUNT_AUTHORS in {t.gold_sql for t in split.eval}  # the fixed query is right on exactly one question
    progress = []
    result = run_sql_task(task, ["fake:gold", "fake:count"], tmp_path / "out",
                          on_progress=lambda label, done, total: progress.append((label, done, total)))
    n = len(split.eval)
    assert [(r.rung, r.value, r.n) for r in result.ladder] == [
        ("text-to-SQL zero-shot", 1.0, n), ("text-to-SQL few-shot (DAIL selection)", 1.0, n),
        ("text-to-SQL few-shot + self-consistency", 1.0, n)] + [
        ("text-to-SQL zero-shot", 1 / n, n), ("text-to-SQL few-shot (DAIL selection)", 1 / n, n),
        ("text-to-SQL few-shot + self-consistency", 1 / n, n)]
    # each row names the spec: in the label when it is the model id, else after it
    assert [r.config.split(" ", 1)[0] for r in result.ladder] == ["zero", "fewshot", "fewshot-sc"] * 2
    assert all(r.config.endswith("fake:gold") for r in result.ladder[:3])
    assert all(r.config.endswith("fake:counter [fake:count]") for r in result.ladder[3:])
    assert progress[-1] == ("sql fake:count 3/3: fewshot-sc", 6 * n, 6 * n)
    overview, paired, skipped = result.tables
    assert len(overview.rows) == 6 and overview.rows[3][2] == round(100 / n, 1)
    assert [row[0] for row in paired.rows][-3:] == ["fake:count zero − fake:gold zero",
                                                    "fake:count fewshot − fake:gold fewshot",
                                                    "fake:count fewshot-sc − fake:gold fewshot-sc"]
    assert paired.rows[-1][2] == round(100 / n - 100, 1)
    assert skipped.rows == [["q.jsonl:2: not JSON (Expecting value)"]]
    assert f"{n} questions evaluated on the database bookshop.sqlite" in result.summary
    assert f"{len(split.pool)} few-shot example pool, {n} evaluation" in result.summary
    assert all(Path(path).read_bytes()[:4] == b"\x89PNG" for _, path in result.plots)
    assert result.metrics["runs"]["fake:count"]["zero"]["execution_accuracy"] == 1 / n
    # few-shot prompts show pool questions only, never the question being asked
    pool_questions = {t.question for t in split.pool}
    shown = [(set(re.findall(r"/\* Question: (.*?) \*/", prompt)[:-1]), asked(prompt))
             for prompt, _ in models["fake:gold"].calls]
    # per question: few-shot's greedy call (self-consistency's first candidate, computed once) + 4 samples
    assert sum(1 for examples, _ in shown if examples) == n * 5
    assert all(examples <= pool_questions and question not in examples for examples, question in shown)


def test_a_rerun_resumes_from_the_results_on_disk(bookshop_items, models, tmp_path):
    database, items = bookshop_items
    task = SQLTaskConfig(database=database, questions=write_questions(tmp_path / "q.jsonl", items[:9]))
    first = run_sql_task(task, ["fake:gold"], tmp_path / "out", quick=True)
    calls = len(models["fake:gold"].calls)
    again = run_sql_task(task, ["fake:gold"], tmp_path / "out", quick=True)
    assert len(models["fake:gold"].calls) == calls and again.metrics == first.metrics
    assert [r.n for r in first.ladder] == [3, 3, 3] and "Quick mode: the first 3 of 6" in first.summary


def test_too_few_questions_run_zero_shot_only_and_say_so(bookshop_items, models, tmp_path):
    database, items = bookshop_items
    task = SQLTaskConfig(database=database, questions=write_questions(tmp_path / "q.jsonl", items[:4]))
    result = run_sql_task(task, ["fake:count"], tmp_path / "out")
    assert [(r.rung, r.value, r.n) for r in result.ladder] == [("text-to-SQL zero-shot", 0.25, 4)]
    assert "zero-shot only" in result.summary and len(result.tables) == 1


def test_the_judge_metric_scores_verdicts_and_pools_only_rows_with_gold_sql(bookshop_items, models, tmp_path):
    database, items = bookshop_items
    # gold SQL on six rows (the pool); the authors question (row 0) and the pending one (row 5) have none
    rows = [{"question": q["question"], **({"query": q["query"]} if n in (1, 2, 3, 4, 6, 7) else {})}
            for n, q in enumerate(items)]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert len(read_questions(path, database).skipped) == 18  # metric ex needs gold SQL on every row; judge not
    read = read_questions(path, database, need_gold=False)
    assert len(read.tasks) == 24 and (read.tasks[0].gold_sql, read.tasks[0].hardness) == ("", "unknown")
    task = SQLTaskConfig(database=database, questions=path, metric="judge", judge="fake:judge")
    result = run_sql_task(task, ["fake:count", "fake:broken"], tmp_path / "out")
    split = split_questions(read.tasks)
    assert {t.question for t in split.pool} == {items[n]["question"] for n in (1, 2, 3, 4, 6, 7)}
    scored = len(split.eval) - 1  # fake:count's answer to the pending question got no verdict
    assert [(r.metric, r.value, r.n) for r in result.ladder] == [("judge", 1 / scored, scored)] * 3 + [
        ("judge", 0.0, len(split.eval))] * 3
    # a query that did not run is wrong without asking: every judge call is about fake:count's answers
    assert len(models["fake:judge"].calls) == 3 * len(split.eval)
    assert "Select count(*) FROM authors".lower() in models["fake:judge"].calls[0][0].lower()
    assert "1 answer(s) got no yes/no verdict" in result.summary and "judged correct" in result.summary
    assert result.tables[0].columns[2] == "judged %"
    runs = result.metrics["runs"]["fake:count"]["zero"]
    assert runs["no_verdict"] == 1 and runs["judge_usage"]["calls"] == len(split.eval)


def test_no_models_is_one_line(bookshop_items, tmp_path):
    database, items = bookshop_items
    task = SQLTaskConfig(database=database, questions=write_questions(tmp_path / "q.jsonl", items[:3]))
    with pytest.raises(ConfigError, match="^no models to evaluate on tasks.sql; name at least one under `models:`$"):
        run_sql_task(task, [], tmp_path / "out")


@pytest.mark.integration
@pytest.mark.slow
def test_quick_run_with_the_embedded_model(bookshop_items, tmp_path):
    database, items = bookshop_items
    task = SQLTaskConfig(database=database, questions=write_questions(tmp_path / "q.jsonl", items[:9]))
    result = run_sql_task(task, ["default"], tmp_path / "out", quick=True)
    assert len(result.ladder) == 3 and all(0.0 <= r.value <= 1.0 and r.n == 3 for r in result.ladder)
    assert all(r.latency_s > 0 for r in result.ladder) and "default" in result.summary
