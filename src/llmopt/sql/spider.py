"""Spider-layout datasets: `<split>.json` (questions with gold SQL), optional `tables.json`, and
`database/<db_id>/<db_id>.sqlite`. The demo databases (`llmopt demo-data`) use the same layout.

Each question gets a stable id, `<split>-<index in the file>` (e.g. dev-0042), which results files and
bench/spider_ids.json refer to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .examples import SQLExample
from .hardness import hardness


@dataclass
class SQLTask:
    """One question to answer over one database, with its gold query."""

    id: str
    db_id: str
    db_path: Path
    question: str
    gold_sql: str
    hardness: str

    def to_dict(self) -> dict:
        return {"id": self.id, "db_id": self.db_id, "question": self.question, "gold_sql": self.gold_sql,
                "hardness": self.hardness}


def database_path(root: str | Path, db_id: str) -> Path:
    return Path(root) / "database" / db_id / f"{db_id}.sqlite"


def _read_split(root: Path, split: str) -> list[dict]:
    path = root / f"{split}.json"
    if not path.is_file():
        raise InputError(f"{path} not found: --spider must name a folder with {split}.json and database/ "
                         "(the Spider 1.0 layout)")
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(items, list):
        raise InputError(f"{path}: expected a JSON list of questions")
    return items


def load_spider(root: str | Path, *, split: str = "dev", db_ids: Sequence[str] | None = None,
                ids: Sequence[str] | None = None) -> list[SQLTask]:
    """The questions of a split, optionally only some databases or some question ids, in file order."""
    root = Path(root).expanduser()
    items = _read_split(root, split)
    wanted_dbs = set(db_ids) if db_ids else None
    wanted_ids = set(ids) if ids else None
    known = {item.get("db_id") for item in items}
    if wanted_dbs and wanted_dbs - known:
        raise InputError(f"unknown database id(s) {', '.join(sorted(wanted_dbs - known))}; {split}.json has: "
                         f"{', '.join(sorted(k for k in known if k))}")
    tasks = []
    for index, item in enumerate(items):
        task_id = f"{split}-{index:04d}"
        if (wanted_dbs and item.get("db_id") not in wanted_dbs) or (wanted_ids and task_id not in wanted_ids):
            continue
        tasks.append(_task(root, task_id, item))
    if wanted_ids and len(tasks) < len(wanted_ids):
        missing = sorted(wanted_ids - {t.id for t in tasks})
        raise InputError(f"{len(missing)} question id(s) not in {split}.json, e.g. {missing[0]}; check --ids")
    return tasks


def _task(root: Path, task_id: str, item: dict) -> SQLTask:
    if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("db_id", "question", "query")):
        raise InputError(f"{task_id}: each question needs db_id, question and query strings")
    db_path = database_path(root, item["db_id"])
    if not db_path.is_file():
        raise InputError(f"{task_id}: database file {db_path} is missing")
    parsed = item.get("sql") if isinstance(item.get("sql"), dict) else None
    return SQLTask(task_id, item["db_id"], db_path, item["question"], item["query"].strip(),
                   hardness(item["query"], parsed))


def spider_examples(root: str | Path, *, split: str = "dev") -> list[SQLExample]:
    """Every question of a split as an example pool (evaluation excludes each question's own database)."""
    items = _read_split(Path(root).expanduser(), split)
    return [SQLExample(i["question"], i["query"].strip(), i["db_id"]) for i in items
            if isinstance(i, dict) and isinstance(i.get("query"), str) and i.get("question")]
