"""Schema linking on a hand-made database (tests/sql/conftest.py: flights), and its plumbing into the pipeline,
the evaluation records and the report."""

import json

import pytest

from llmopt.sql.config import SQLConfig
from llmopt.sql.examples import LexicalEmbedder
from llmopt.sql.grounding import build_value_index, ground_values
from llmopt.sql.linking import (SchemaLink, join_closure, link_recall, link_schema, linked_schema, natural_name,
                                outside_link, parse_model_tables, question_phrases, score_schema)
from llmopt.sql.pipeline import TextToSQL
from llmopt.sql.runner import evaluate_tasks
from llmopt.sql.safe import SafeDatabase
from llmopt.sql.schema import read_schema
from llmopt.sql.spider import load_spider
from llmopt.testing import FakeLLM

CASES = [  # question, gold query: what linking must keep
    ("How many flights arrive in Aberdeen?",
     "SELECT count(*) FROM flights AS T1 JOIN airports AS T2 ON T1.DestAirport = T2.AirportCode "
     "WHERE T2.City = 'Aberdeen '"),
    ("What is the country of the airline JetBlue Airways?", "SELECT Country FROM airlines WHERE Airline = "
                                                              "'JetBlue Airways'"),
    ("Which pilot has the most years of service?",
     "SELECT pilot_name FROM pilots ORDER BY years_of_service DESC LIMIT 1"),
    ("Give the airport code and airport name of the city Ada.",
     "SELECT AirportCode, AirportName FROM airports WHERE City = 'Ada '"),
]


@pytest.fixture
def schema(flights):
    return read_schema(flights)


def embed(texts):
    return LexicalEmbedder().embed(texts)


def link_for(flights, schema, question, tables=2, columns=3) -> SchemaLink:
    with SafeDatabase(flights) as db:
        index = build_value_index(db, schema)
    grounded = ground_values(question, index)
    scores = score_schema(schema, question, embed, valued=[(m.table, m.column) for m in grounded])
    return link_schema(schema, scores, tables=tables, columns=columns, extra_tables=[m.table for m in grounded])


def test_names_are_split_into_words():
    assert natural_name("singer_in_concert") == "singer in concert"
    assert natural_name("AirportCode") == "airport code" and natural_name("maintenanceLog") == "maintenance log"
    assert natural_name("HTTPServer") == "http server" and natural_name("Song-Name 2") == "song name 2"
    phrases = question_phrases("How many flights arrive in Aberdeen?")
    assert "flights" in phrases and "flights arrive" in phrases and "how many" not in phrases


@pytest.mark.parametrize("question,gold", CASES)
def test_linking_keeps_the_gold_tables_and_columns(flights, schema, question, gold):
    link = link_for(flights, schema, question)
    assert link_recall(link, gold, schema) == {"tables": 1.0, "columns": 1.0}
    assert len(link.tables) < len(schema.tables)  # and it left something out
    assert outside_link(gold, schema, link) == []


def test_linking_drops_unrelated_tables(flights, schema):
    link = link_for(flights, schema, "How many flights arrive in Aberdeen?")
    assert "pilots" not in link.tables and "maintenanceLog" not in link.tables
    assert link.has_table("AIRPORTS") and link.has_column("airports", "city")


def test_foreign_key_paths_join_the_kept_tables(schema):
    link = link_schema(schema, {"airlines": 1.0, "airports": 0.9}, tables=2, columns=1)
    assert link.tables == ["airlines", "airports", "flights"]  # the bridge table comes along
    assert join_closure(schema, {"pilots", "airlines"}) == {"pilots", "airlines"}  # no path: nothing added
    # keys stay: airlines' primary key, and flights' foreign keys to both kept tables
    assert "uid" in link.columns["airlines"] and "AirportCode" in link.columns["airports"]
    assert {"Airline", "SourceAirport", "DestAirport"} <= set(link.columns["flights"])
    shown = linked_schema(schema, link).to_sql()
    assert "FOREIGN KEY (SourceAirport) REFERENCES airports(AirportCode)" in shown
    assert "pilots" not in shown and "CountryAbbrev" not in shown


def test_the_model_pass_is_validated():
    from llmopt.sql.schema import Column, DatabaseSchema, TableSchema

    schema = DatabaseSchema("x", [TableSchema("airports", [Column("City", "TEXT")]),
                                  TableSchema("flights", [Column("FlightNo", "INT")])])
    assert parse_model_tables('Airports", "flights", "nope"]}', schema) == ["airports", "flights"]
    assert parse_model_tables('flights", "fli', schema) == ["flights"]  # cut off: the finished names
    assert parse_model_tables("I think you need the airports table", schema) == []
    assert parse_model_tables('{"tables": ["flights"]}', schema, prefilled=False) == ["flights"]


def test_link_recall_counts_what_was_left_out(schema):
    link = SchemaLink(["airports"], {"airports": ["City", "AirportCode"]})
    gold = CASES[0][1]
    recall = link_recall(link, gold, schema)
    assert recall["tables"] == 0.5 and recall["columns"] == pytest.approx(2 / 3)
    assert link_recall(link, "SELECT 1", schema) == {"tables": None, "columns": None}


def _prompted(llm: FakeLLM) -> str:
    return llm.calls[-1][0]


def test_the_pipeline_prompts_with_the_linked_schema(flights):
    llm = FakeLLM([" count(*) FROM flights"])
    cfg = SQLConfig(strategy="zero", schema_linking="embed", link_tables=2, embedder="lexical")
    answer = TextToSQL(cfg, llm=llm).ask("How many flights are there?", flights)
    assert answer.ok and answer.rows == [[5]] and answer.usage.calls == 1
    assert "CREATE TABLE flights" in _prompted(llm) and "CREATE TABLE pilots" not in _prompted(llm)
    assert answer.link is not None and "flights" in answer.link.tables and answer.to_dict()["link"]["tables"]
    whole = FakeLLM([" count(*) FROM flights"])
    TextToSQL(SQLConfig(strategy="zero"), llm=whole).ask("How many flights are there?", flights)
    assert "CREATE TABLE pilots" in _prompted(whole)  # the default shows everything, as before


def test_the_model_pass_adds_the_tables_it_names(flights):
    def reply(prompt, params):
        if "Which tables of this database" in prompt:
            assert params.stop == ("]",)
            return 'flights", "pilots", "no_such_table"'
        return " count(*) FROM flights"

    llm = FakeLLM(reply)
    cfg = SQLConfig(strategy="zero", schema_linking="embed+model", link_tables=1, embedder="lexical")
    answer = TextToSQL(cfg, llm=llm).ask("How many flights are there?", flights)
    assert answer.usage.calls == 2 and answer.link.model_tables == ["flights", "pilots"]
    assert "CREATE TABLE pilots" in _prompted(llm) and "no_such_table" not in _prompted(llm)


def test_eval_records_and_reports_link_recall_and_grounding(demo, gold_llm, tmp_path):
    tasks = load_spider(demo)[:6]
    cfg = SQLConfig(strategy="zero", schema_linking="embed", value_grounding=True, selection="vote+check",
                    embedder="lexical", link_tables=2)
    summary = evaluate_tasks(tasks, cfg, None, tmp_path / "run", llm=gold_llm)
    records = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert all(set(r["link_recall"]) == {"tables", "columns"} and "tables" in r["link"] for r in records)
    assert all(set(r["grounding"]) == {"found", "literals"} for r in records)
    link = summary["link_recall"]
    assert link["count"] == 6 and 0.0 <= link["tables"] <= 1.0 and 0.0 <= link["columns"] <= 1.0
    assert summary["grounding_hit_rate"]["literals"] == sum(r["grounding"]["literals"] for r in records)
    report = (tmp_path / "run" / "report.md").read_text()
    assert "Schema linking and value grounding" in report and "link recall, gold tables" in report
    assert "link=embed(2,8)" in summary["label"] and "values" in summary["label"]


def test_a_run_from_before_these_settings_resumes(demo, gold_llm, tmp_path):
    tasks = load_spider(demo)[:2]
    out = tmp_path / "run"
    evaluate_tasks(tasks[:1], SQLConfig(strategy="zero"), None, out, llm=gold_llm)
    recorded = json.loads((out / "config.json").read_text())
    for key in ("schema_linking", "link_tables", "link_columns", "value_grounding", "example_masking",
                "examples_same_db", "selection"):
        del recorded[key]
    (out / "config.json").write_text(json.dumps(recorded))
    summary = evaluate_tasks(tasks, SQLConfig(strategy="zero"), None, out, llm=gold_llm)
    assert summary["count"] == 2 and summary["link_recall"] is None and summary["grounding_hit_rate"] is None
