"""What `llmopt init DIR` finds in a folder: documents (the extensions the ingest loaders read), question files
(JSON/JSONL whose first rows have a "question"; with gold SQL in "query"/"sql" they are SQL questions) and SQLite
databases (by their header). The walk is bounded (depth, file count) and skips hidden and environment folders."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .config import SQLITE_HEADER

MAX_DEPTH = 6
MAX_FILES = 20_000
SKIPPED_FOLDERS = {"node_modules", "__pycache__", "venv", "site-packages"}
SQL_KEYS = ("query", "sql", "gold_sql")
# files named like a demonstration or training pool are offered after the others as the task's questions
POOL_NAME = re.compile(r"demo|train|example|shot|pool", re.IGNORECASE)


@dataclass
class Found:
    """Paths relative to the scanned folder, sorted."""

    documents: list[str] = field(default_factory=list)
    qa_questions: list[str] = field(default_factory=list)
    sql_questions: list[str] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    truncated: bool = False  # the walk stopped at MAX_FILES

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def scan(folder: Path) -> Found:
    from ..ingest.loaders import supported_extensions

    extensions = set(supported_extensions())
    found = Found()
    for count, path in enumerate(_walk(folder)):
        if count >= MAX_FILES:
            found.truncated = True
            break
        relative = path.relative_to(folder).as_posix()
        if path.suffix.lower() in extensions:
            found.documents.append(relative)
        elif path.suffix.lower() in (".jsonl", ".json"):
            kind = question_kind(path)
            if kind:
                (found.sql_questions if kind == "sql" else found.qa_questions).append(relative)
        elif is_sqlite(path):
            found.databases.append(relative)
    for paths in (found.documents, found.databases):
        paths.sort()
    for paths in (found.qa_questions, found.sql_questions):  # the first one found is the one the file names
        paths.sort(key=lambda p: (bool(POOL_NAME.search(Path(p).name)), p))
    return found


def _walk(folder: Path):
    for root, dirs, files in os.walk(folder):
        depth = len(Path(root).relative_to(folder).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_FOLDERS and depth < MAX_DEPTH)
        for name in sorted(files):
            if not name.startswith(".") and name != "llmopt.yaml":
                yield Path(root) / name


def is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def question_kind(path: Path, rows: int = 3) -> str | None:
    """"sql" or "qa" when the file's first rows are question objects, else None."""
    first = _first_rows(path, rows)
    if not first or not all(isinstance(r, dict) and isinstance(r.get("question"), str) for r in first):
        return None
    return "sql" if any(key in first[0] for key in SQL_KEYS) else "qa"


def _first_rows(path: Path, rows: int) -> list:
    try:
        if path.suffix.lower() == ".jsonl":
            with path.open(encoding="utf-8") as handle:
                lines = [line for line in (next(handle, "") for _ in range(rows)) if line.strip()]
            return [json.loads(line) for line in lines]
        if path.stat().st_size > 50_000_000:  # a whole JSON file is parsed: leave giant ones alone
            return []
        data = json.loads(path.read_text(encoding="utf-8"))
        data = data.get("data", data) if isinstance(data, dict) else data
        return data[:rows] if isinstance(data, list) else []
    except (OSError, UnicodeDecodeError, ValueError):
        return []
