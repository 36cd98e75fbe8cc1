import json
import sqlite3
from collections import Counter

from llmopt.demo.sql import write
from llmopt.sql.hardness import hardness_from_sql


def test_demo_databases_are_deterministic(demo_root, tmp_path, file_hash):
    write(tmp_path)
    for db_id in ("bookshop", "university"):
        ours = tmp_path / "sql" / "database" / db_id / f"{db_id}.sqlite"
        assert file_hash(ours) == file_hash(demo_root / "database" / db_id / f"{db_id}.sqlite")
    assert (tmp_path / "sql" / "dev.json").read_text() == (demo_root / "dev.json").read_text()


def test_every_gold_query_runs_and_returns_rows(demo_root):
    questions = json.loads((demo_root / "dev.json").read_text())
    assert Counter(q["db_id"] for q in questions) == {"bookshop": 24, "university": 24}
    levels = Counter(hardness_from_sql(q["query"]) for q in questions)
    assert set(levels) == {"easy", "medium", "hard", "extra"} and min(levels.values()) >= 5
    for q in questions:
        conn = sqlite3.connect(demo_root / "database" / q["db_id"] / f"{q['db_id']}.sqlite")
        assert conn.execute(q["query"]).fetchall(), q["question"]  # an empty gold would reward empty answers
        conn.close()


def test_pool_and_tables_files(demo_root):
    pool = [json.loads(line) for line in (demo_root / "examples.jsonl").read_text().splitlines()]
    assert len(pool) == 48 and {p["db_id"] for p in pool} == {"bookshop", "university"}
    tables = json.loads((demo_root / "tables.json").read_text())
    assert [t["db_id"] for t in tables] == ["bookshop", "university"]
