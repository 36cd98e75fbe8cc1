"""`llmopt init DIR`: the commented project file it writes from a folder loads unchanged."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmopt.cli.main import app
from llmopt.errors import ConfigError
from llmopt.project import load_project
from llmopt.project.discover import scan
from llmopt.project.template import init_project


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "docs" / "deep").mkdir(parents=True)
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n\nThe audit team wrote the report.\n")
    (tmp_path / "docs" / "deep" / "notes.txt").write_text("Notes.\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "secret.md").write_text("not a document of the project\n")
    (tmp_path / "qa.jsonl").write_text('{"question": "Who wrote the report?", "answers": ["the audit team"]}\n')
    (tmp_path / "settings.json").write_text('{"not": "questions"}')
    (tmp_path / "sql_dev.json").write_text(json.dumps([{"question": "How many?", "query": "SELECT 1"}]))
    with sqlite3.connect(tmp_path / "shop.db") as db:
        db.execute("CREATE TABLE t (x INTEGER)")
    return tmp_path


def test_scan_finds_documents_questions_and_databases(folder):
    found = scan(folder)
    assert found.documents == ["docs/deep/notes.txt", "docs/guide.md"]
    assert found.qa_questions == ["qa.jsonl"] and found.sql_questions == ["sql_dev.json"]
    assert found.databases == ["shop.db"] and not found.truncated


def test_the_written_file_is_commented_and_loads_unchanged(folder):
    path, _ = init_project(folder)
    text = path.read_text()
    for key in ("documents:", "tasks:", "models:", "search:", "constraints:", "objective:"):
        above = text.split(f"\n{key}")[0].splitlines()[-1]
        assert above.startswith("# "), f"no comment above {key}"
    project = load_project(path)
    assert project.tasks.qa.questions == folder.resolve() / "qa.jsonl"
    assert project.tasks.sql.database == folder.resolve() / "shop.db"
    assert len(project.documents.paths) == 2 and project.goal().maximize == "acc"


def test_init_refuses_to_overwrite_without_force(folder):
    path, _ = init_project(folder)
    path.write_text("# mine\n")
    with pytest.raises(ConfigError, match="--force"):
        init_project(folder)
    assert path.read_text() == "# mine\n"
    init_project(folder, force=True)
    assert "tasks:" in path.read_text()


def test_a_database_without_sql_questions_is_left_commented(tmp_path):
    (tmp_path / "qa.jsonl").write_text('{"question": "Q?", "answers": ["A"]}\n')
    with sqlite3.connect(tmp_path / "only.sqlite") as db:
        db.execute("CREATE TABLE t (x INTEGER)")
    path, found = init_project(tmp_path)
    assert found.databases == ["only.sqlite"] and "# sql:" in path.read_text()
    assert load_project(path).tasks.sql is None


def test_cli_json_and_refusal(folder):
    runner = CliRunner()
    result = runner.invoke(app, ["init", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["path"] == str(folder / "llmopt.yaml") and report["valid"] is True
    assert report["found"]["databases"] == ["shop.db"]
    again = runner.invoke(app, ["init", str(folder)])
    assert again.exit_code != 0 and isinstance(again.exception, ConfigError)


def test_cli_says_when_no_questions_were_found(tmp_path):
    (tmp_path / "a.md").write_text("# A\n")
    result = CliRunner().invoke(app, ["init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "not valid yet" in result.output and "no questions file found" in result.output


def test_many_documents_are_named_by_their_top_folders(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for i in range(40):
        (tmp_path / "a" / "b" / f"{i}.md").write_text(f"# {i}\n")
    (tmp_path / "top.md").write_text("# top\n")
    (tmp_path / "q.jsonl").write_text('{"question": "Q?", "answers": ["A"]}\n')
    path, found = init_project(tmp_path)
    assert len(found.documents) == 41
    assert load_project(path).documents.paths == [str(tmp_path.resolve() / "a"), str(tmp_path.resolve() / "top.md")]


def test_a_demonstration_or_training_pool_is_not_chosen_as_the_questions(folder):
    row = '{"question": "Who wrote it?", "answers": ["them"]}\n'
    for name in ("a_demos.jsonl", "a_train.jsonl"):
        (folder / name).write_text(row)
    assert scan(folder).qa_questions == ["qa.jsonl", "a_demos.jsonl", "a_train.jsonl"]
