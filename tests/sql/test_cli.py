import json

import pytest

from llmopt.cli.main import main


def run_cli(capsys, *args):
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def fake_model(monkeypatch, gold_llm):
    import llmopt.models.registry as registry

    monkeypatch.setattr(registry, "get_model", lambda spec="default", cache=True: gold_llm)
    return gold_llm


def test_sql_run_json_and_refusals(capsys, bookshop, file_hash):
    code, out, _ = run_cli(capsys, "sql", "run", "--db", str(bookshop), "SELECT name FROM authors ORDER BY name",
                           "--max-rows", "2", "--json")
    data = json.loads(out)
    assert code == 0 and data["columns"] == ["name"] and len(data["rows"]) == 2 and data["truncated"]
    before = file_hash(bookshop)
    code, out, err = run_cli(capsys, "sql", "run", "--db", str(bookshop), "SELECT 1; DROP TABLE books")
    assert code == 1 and out == "" and "refused: 2 statements" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "sql", "run", "--db", str(bookshop), "DELETE FROM books")
    assert code == 1 and "refused" in err
    assert file_hash(bookshop) == before


def test_sql_ask_json(capsys, bookshop, demo, fake_model):
    code, out, _ = run_cli(capsys, "sql", "ask", "How many authors are there?", "--db", str(bookshop),
                           "--examples", str(demo / "examples.jsonl"), "--strategy", "fewshot-sc", "--samples", "3",
                           "--embedder", "lexical", "--json")
    data = json.loads(out)
    assert code == 0 and data["sql"] == "SELECT count(*) FROM authors" and data["rows"] == [[12]]
    assert data["columns"] == ["count(*)"] and len(data["candidates"]) == 3
    assert data["usage"]["calls"] == 4 and set(data["usage"]) >= {"prompt_tokens", "completion_tokens", "cost_usd"}


def test_sql_ask_prints_sql_rows_and_usage(capsys, bookshop, fake_model):
    code, out, err = run_cli(capsys, "sql", "ask", "How many authors are there?", "--db", str(bookshop))
    assert code == 0 and "SELECT count(*) FROM authors" in out and "12" in out
    assert "zero" in err and "prompt" in err and "$" in err


def test_sql_ask_bad_settings_are_one_line(capsys, bookshop, fake_model):
    code, _, err = run_cli(capsys, "sql", "ask", "q", "--db", str(bookshop), "--strategy", "magic")
    assert code == 1 and "strategy" in err and "zero" in err
    code, _, err = run_cli(capsys, "sql", "ask", "q", "--db", str(bookshop), "--strategy", "fewshot")
    assert code == 1 and "--examples" in err


def test_sql_eval_json_and_yaml_config(capsys, demo, fake_model, tmp_path):
    config = tmp_path / "sql.yaml"
    config.write_text("sql:\n  strategy: fewshot\n  shots: 2\n  embedder: lexical\n")
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps(["dev-0001", "dev-0030"]))
    code, out, _ = run_cli(capsys, "sql", "eval", "--spider", str(demo), "--ids", str(ids), "--config", str(config),
                           "--out", str(tmp_path / "run"), "--json")
    data = json.loads(out)
    assert code == 0 and data["count"] == 2 and data["execution_accuracy"] == 1.0
    assert data["config"]["shots"] == 2 and data["strategy"] == "fewshot"
    assert (tmp_path / "run" / "report.md").is_file()
    code, out, _ = run_cli(capsys, "sql", "eval", "--spider", str(demo), "--db-ids", "university", "--limit", "2",
                           "--strategy", "zero", "--out", str(tmp_path / "run2"))
    assert code == 0 and "Execution accuracy" in out and "100.0%" in out


def test_sql_schema(capsys, bookshop):
    code, out, _ = run_cli(capsys, "sql", "schema", "--db", str(bookshop), "--sample-values", "0")
    assert code == 0 and "CREATE TABLE books" in out and "-- e.g." not in out


def test_sql_options_of_issue_23_from_the_command_line(capsys, bookshop, demo, fake_model):
    code, out, _ = run_cli(capsys, "sql", "ask", "How many authors are there?", "--db", str(bookshop),
                           "--examples", str(demo / "examples.jsonl"), "--strategy", "fewshot-sc", "--samples", "2",
                           "--embedder", "lexical", "--schema-linking", "embed", "--link-tables", "2",
                           "--link-columns", "3", "--value-grounding", "--example-masking", "--examples-same-db",
                           "prefer", "--selection", "vote+check", "--json")
    data = json.loads(out)
    assert code == 0 and data["rows"] == [[12]] and "authors" in data["link"]["tables"]
    assert len(data["link"]["tables"]) < 5 and data["grounded"] == []
    code, _, err = run_cli(capsys, "sql", "ask", "How many authors are there?", "--db", str(bookshop),
                           "--schema-linking", "embed", "--embedder", "lexical", "--value-grounding")
    assert code == 0 and "linked schema: authors(" in err
    code, _, err = run_cli(capsys, "sql", "ask", "q", "--db", str(bookshop), "--schema-linking", "magic")
    assert code == 1 and "schema_linking" in err and "embed+model" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run_cli(capsys, "sql", "eval", "--help")
    for flag in ("--schema-linking", "--link-tables", "--value-grounding", "--example-masking",
                 "--examples-same-db", "--selection"):
        assert flag in out
