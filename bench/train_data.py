"""Training examples for the training benchmarks, built from Spider dev (read from ../shared/data, never copied):
a compact schema of the tables the gold query uses, the question, and the gold SQL as the completion.

The fixed subset (question indices into dev.json) is committed in bench/train_speed_ids.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SPIDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "spider"
IDS = Path(__file__).with_name("train_speed_ids.json")


def schema_line(table: dict, used: set[str]) -> str:
    parts = []
    for t_index, name in enumerate(table["table_names_original"]):
        if name.lower() in used:
            cols = [c for ti, c in table["column_names_original"] if ti == t_index]
            parts.append(f"{name}({', '.join(cols)})")
    return "; ".join(parts)


def spider_rows(spider: Path = SPIDER) -> list[dict]:
    """Every dev question as a prompt/completion row with its gold answer."""
    questions = json.loads((spider / "dev.json").read_text())
    tables = {t["db_id"]: t for t in json.loads((spider / "tables.json").read_text())}
    rows = []
    for q in questions:
        words = set(re.findall(r"[a-z_][a-z0-9_]*", q["query"].lower()))
        schema = schema_line(tables[q["db_id"]], words)
        prompt = (f"Database {q['db_id']} with tables {schema}.\nQuestion: {q['question']}\n"
                  "Answer with one SQLite query.")
        rows.append({"prompt": prompt, "completion": q["query"], "answer": q["query"], "db_id": q["db_id"]})
    return rows


def write_subset(path: Path, ids_file: Path = IDS) -> Path:
    ids = json.loads(ids_file.read_text())["ids"]
    rows = spider_rows()
    path.write_text("".join(json.dumps(rows[i]) + "\n" for i in ids))
    return path
