"""The project file: every refusal is one ConfigError line naming the file, the line and the key path."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from llmopt.errors import ConfigError
from llmopt.project import load_project

GOOD = """\
documents:
  paths: [docs/*.md]
  index: my-index
tasks:
  qa:
    questions: questions.jsonl
    metric: acc
  sql:
    database: shop.sqlite
    questions: sql.json
models:
  - default
  - spec: openai:gpt-4o-mini@http://127.0.0.1:9/v1
    prices: {input: 0.1, output: 0.4}
training:
  finetune:
    - {method: lora, with_context: true}
  distill:
    - {teacher: default, student: default@hf, loss: seq}
search:
  strategies: [rag, drag]
  k: [3, 5]
  prompts: [basic, cot]
  budget: {minutes: 30, dollars: 2}
constraints:
  max_context: 8000
  p95_latency_s: 3
  usd_per_1k_queries: 0.5
objective:
  cheapest_reaching: {metric: acc, value: 0.6}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nThe audit team wrote it.\n")
    (tmp_path / "questions.jsonl").write_text('{"question": "Who wrote it?", "answers": ["the audit team"]}\n')
    (tmp_path / "sql.json").write_text('[{"question": "How many?", "query": "SELECT count(*) FROM t"}]')
    with sqlite3.connect(tmp_path / "shop.sqlite") as db:
        db.execute("CREATE TABLE t (x INTEGER)")
    (tmp_path / "not_a_db.sqlite").write_text("just text")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "llmopt.yaml"
    path.write_text(text)
    return path


def refused(folder: Path, text: str) -> str:
    path = write(folder, text)
    with pytest.raises(ConfigError) as caught:
        load_project(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:")
    return message


def replace(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


def test_a_good_project_loads_with_paths_resolved(folder):
    project = load_project(write(folder, GOOD))
    assert project.documents.paths == [str(folder.resolve() / "docs" / "*.md")]
    assert project.tasks.qa.questions == folder.resolve() / "questions.jsonl"
    assert project.tasks.sql.database == folder.resolve() / "shop.sqlite"
    assert [m.spec for m in project.models] == ["default", "openai:gpt-4o-mini@http://127.0.0.1:9/v1"]
    assert project.models[1].prices.output == 0.4
    assert project.training.finetune[0].with_context and project.training.distill[0].loss == "seq"
    assert project.goal().metric == "acc" and project.search.budget.dollars == 2


def test_a_folder_means_its_llmopt_yaml_and_defaults_fill_in(folder):
    write(folder, "tasks:\n  qa: {questions: questions.jsonl}\ndocuments: {paths: [docs]}\n")
    project = load_project(folder)
    assert project.documents.index == folder.resolve().name
    assert project.goal().maximize == "acc" and [m.spec for m in project.models] == ["default"]


@pytest.mark.parametrize("old,new,line,where", [
    ("  index: my-index\n", "  index: my-index\n  indx: 3\n", 4, "documents.indx"),  # depth 2
    ("constraints:\n", "constraint:\n", 25, "constraint"),  # top level
    ("    metric: acc\n", "    metric: acc\n    metrc: f1\n", 8, "tasks.qa.metrc"),  # depth 3
    ("    prices: {input: 0.1, output: 0.4}", "    prices: {input: 0.1, outptu: 0.4}", 14,
     "models.1.prices.outptu"),  # inside a list item
    ("  budget: {minutes: 30, dollars: 2}", "  budget: {minutes: 30, hours: 2}", 24, "search.budget.hours"),
])
def test_unknown_keys_are_refused_at_every_depth(folder, old, new, line, where):
    message = refused(folder, replace(old, new))
    assert f":{line}: {where}:" in message and "unknown key" in message


def test_unknown_key_in_a_training_rung_lists_the_supported_keys(folder):
    message = refused(folder, replace("{method: lora, with_context: true}", "{method: lora, lora_rank: 8}"))
    assert ":17: training.finetune.0.lora_rank:" in message and "lora_r" in message


def test_wrong_type(folder):
    message = refused(folder, replace("  k: [3, 5]", "  k: [3, five]"))
    assert ":22: search.k.1:" in message and "'five'" in message


def test_bad_metric_names_the_choices(folder):
    message = refused(folder, replace("    metric: acc\n", "    metric: acuracy\n"))
    assert ":7: tasks.qa.metric:" in message and "'acuracy'" in message and "'f1'" in message


def test_sql_task_refuses_a_qa_metric(folder):
    message = refused(folder, replace("    questions: sql.json\n", "    questions: sql.json\n    metric: acc\n"))
    assert ":11: tasks.sql.metric:" in message and "'ex'" in message


def test_bad_strategy_lists_the_registered_ones(folder):
    message = refused(folder, replace("[rag, drag]", "[rag, dragg]"))
    assert ":21: search.strategies.1:" in message and "'dragg'" in message and "iterdrag" in message


def test_bad_prompt_template(folder):
    message = refused(folder, replace("[basic, cot]", "[basic, cto]"))
    assert ":23: search.prompts.1:" in message and "cot" in message


def test_missing_questions_file(folder):
    message = refused(folder, replace("questions: questions.jsonl", "questions: nowhere.jsonl"))
    assert ":6: tasks.qa.questions:" in message and "nowhere.jsonl" in message


def test_glob_matching_nothing(folder):
    message = refused(folder, replace("[docs/*.md]", "[docs/*.md, 'papers/**/*.pdf']"))
    assert ":2: documents.paths.1:" in message and "papers/**/*.pdf" in message and "matches no file" in message


def test_missing_document_path(folder):
    message = refused(folder, replace("[docs/*.md]", "[docs/b.md]"))
    assert ":2: documents.paths.0:" in message and "b.md" in message


def test_database_that_is_not_sqlite(folder):
    message = refused(folder, replace("database: shop.sqlite", "database: not_a_db.sqlite"))
    assert ":9: tasks.sql.database:" in message and "not a SQLite database" in message


def test_missing_database(folder):
    message = refused(folder, replace("database: shop.sqlite", "database: gone.sqlite"))
    assert ":9: tasks.sql.database:" in message and "gone.sqlite" in message


@pytest.mark.parametrize("spec", ["nosuchengine:x", "x@nosuchengine", "openai:@http://127.0.0.1:9/v1"])
def test_bad_model_spec(folder, spec):
    message = refused(folder, replace("  - default\n", f"  - {spec!r}\n"))
    assert ":12: models.0" in message and spec in message


def test_bad_judge_spec(folder):
    message = refused(folder, replace("    metric: acc\n", "    metric: judge\n    judge: 'nosuchengine:x'\n"))
    assert ":8: tasks.qa.judge:" in message and "nosuchengine" in message


def test_judge_metric_without_a_judge_model(folder):
    message = refused(folder, replace("    metric: acc\n", "    metric: judge\n"))
    assert ":5: tasks.qa:" in message and "judge: SPEC" in message


def test_objective_with_both_forms(folder):
    message = refused(folder, replace("objective:\n", "objective:\n  maximize: acc\n"))
    assert ":29: objective:" in message and "exactly one" in message


def test_objective_with_neither_form(folder):
    message = refused(folder, replace("  cheapest_reaching: {metric: acc, value: 0.6}\n", "  {}\n"))
    assert ":29: objective:" in message and "exactly one" in message


def test_objective_metric_no_task_is_scored_by(folder):
    message = refused(folder, replace("{metric: acc, value: 0.6}", "{metric: f1, value: 0.6}"))
    assert ":30: objective.cheapest_reaching.metric:" in message and "acc, ex" in message


@pytest.mark.parametrize("old,new,line,where", [
    ("{minutes: 30, dollars: 2}", "{minutes: -5}", 24, "search.budget.minutes"),
    ("{minutes: 30, dollars: 2}", "{dollars: -1}", 24, "search.budget.dollars"),
    ("  max_context: 8000", "  max_context: -1", 26, "constraints.max_context"),
])
def test_negative_budget_and_limits(folder, old, new, line, where):
    message = refused(folder, replace(old, new))
    assert f":{line}: {where}:" in message and "greater than" in message


def test_no_task_at_all(folder):
    message = refused(folder, replace("tasks:\n", "tasks: {}\nx_tasks:\n"))
    assert ":4: tasks:" in message and "at least one task" in message


def test_a_missing_required_key_points_at_its_parent(folder):
    message = refused(folder, replace("    database: shop.sqlite\n", ""))
    assert ":8: tasks.sql.database:" in message and "required" in message.lower()


def test_training_data_must_exist(folder):
    message = refused(folder, replace("{method: lora, with_context: true}", "{method: lora, data: train.jsonl}"))
    assert ":17: training.finetune.0.data:" in message and "train.jsonl" in message


def test_a_distill_rung_keeps_distill_rules(folder):
    message = refused(folder, replace("{teacher: default, student: default@hf, loss: seq}", "{teacher: default}"))
    assert ":19: training.distill.0:" in message and "student" in message


def test_not_a_mapping_and_bad_yaml(folder):
    with pytest.raises(ConfigError, match="mapping"):
        load_project(write(folder, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_project(write(folder, "tasks: [\n"))


def test_training_outputs_live_in_the_project_folder(folder):
    project = load_project(write(folder, replace("{teacher: default, student: default@hf, loss: seq}",
                                                 "{teacher: default, student: default@hf, out: runs/student}")))
    assert project.training.finetune[0].out == folder.resolve() / "finetuned"  # the default, resolved
    assert project.training.distill[0].out == folder.resolve() / "runs" / "student"


def test_every_project_setting_has_a_description():
    from pydantic import BaseModel

    from llmopt.project import config

    models = [v for v in vars(config).values() if isinstance(v, type) and issubclass(v, BaseModel)
              and v.__module__ == config.__name__]
    assert len(models) >= 12
    for model in models:
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"


def test_a_prompt_file_resolves_against_the_project_folder(folder):
    (folder / "mine.j2").write_text('{% extends "base.j2" %}\n')
    project = load_project(write(folder, replace("[basic, cot]", "[basic, mine.j2]")))
    assert project.search.prompts == ["basic", str(folder.resolve() / "mine.j2")]
    message = refused(folder, replace("[basic, cot]", "[basic, gone.j2]"))
    assert ":23: search.prompts.1:" in message and "gone.j2" in message
