"""SQLite run log with numbered migrations.

Each insert is its own transaction, so an interrupted process (Ctrl-C, SIGKILL) leaves every row either fully
written or absent. The schema version lives in PRAGMA user_version; MIGRATIONS[i] moves it from i to i + 1.
"""

from __future__ import annotations

import contextvars
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ..paths import runlog_path

MIGRATIONS: list[str] = [
    # 1: runs and calls
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL,
        command TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'running'
    );
    CREATE TABLE calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        ts REAL NOT NULL,
        model TEXT NOT NULL,
        engine TEXT NOT NULL,
        prompt_hash TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        cached_prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        latency_s REAL NOT NULL DEFAULT 0,
        compute_s REAL NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        finish_reason TEXT,
        error TEXT
    );
    CREATE INDEX calls_by_run ON calls(run_id);
    """,
]

_current_run: contextvars.ContextVar[str | None] = contextvars.ContextVar("llmopt_run", default=None)
_process_run: str | None = None


class RunLog:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else runlog_path()
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a crash never corrupts the log or leaves half a row; one fsync per checkpoint, not per call
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            for number in range(version, len(MIGRATIONS)):
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    # a second process may have migrated while we waited for the lock
                    if self._conn.execute("PRAGMA user_version").fetchone()[0] > number:
                        self._conn.execute("COMMIT")
                        continue
                    for statement in MIGRATIONS[number].split(";"):
                        if statement.strip():
                            self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version = {number + 1}")
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise

    @property
    def schema_version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def execute(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            cursor = self._conn.execute(sql, args)
            return cursor.fetchall()


_logs: dict[Path, RunLog] = {}
_logs_lock = threading.Lock()


def _log() -> RunLog:
    path = runlog_path()
    with _logs_lock:
        if path not in _logs:
            _logs[path] = RunLog(path)
        return _logs[path]


def start_run(command: str) -> str:
    """Open a run (one CLI invocation or API session); calls made after this are filed under it."""
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    _log().execute("INSERT INTO runs(run_id, started_at, command) VALUES (?, ?, ?)", (run_id, time.time(), command))
    _current_run.set(run_id)
    return run_id


def finish_run(status: str = "ok", run_id: str | None = None) -> None:
    run_id = run_id or _current_run.get()
    if run_id:
        _log().execute("UPDATE runs SET finished_at = ?, status = ? WHERE run_id = ?", (time.time(), status, run_id))


def current_run_id() -> str:
    """The run calls are filed under; a process that opened none gets one of its own on first use."""
    global _process_run
    run_id = _current_run.get() or _process_run
    if run_id is None:
        _process_run = start_run(f"python (pid {os.getpid()})")
        run_id = _process_run
    return run_id


def log_generation(gen, *, model: str, engine: str, prompt: str, latency_s: float = 0.0, error: str | None = None) -> None:
    """Append one call. `gen` is None for a call that failed."""
    from ..models.base import prompt_hash

    row: dict[str, Any] = {
        "prompt_tokens": 0, "cached_prompt_tokens": 0, "completion_tokens": 0,
        "latency_s": latency_s, "compute_s": 0.0, "cost_usd": 0.0, "finish_reason": "error",
    }
    if gen is not None:
        row = {k: getattr(gen, k) for k in row}
    _log().execute(
        "INSERT INTO calls(run_id, ts, model, engine, prompt_hash, prompt_tokens, cached_prompt_tokens,"
        " completion_tokens, latency_s, compute_s, cost_usd, finish_reason, error)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (current_run_id(), time.time(), model, engine, prompt_hash(prompt), row["prompt_tokens"],
         row["cached_prompt_tokens"], row["completion_tokens"], row["latency_s"], row["compute_s"],
         row["cost_usd"], row["finish_reason"], error),
    )


def recent_runs(limit: int = 20) -> list[dict[str, Any]]:
    rows = _log().execute(
        "SELECT r.run_id, r.started_at, r.finished_at, r.command, r.status,"
        " COUNT(c.id), COALESCE(SUM(c.prompt_tokens),0), COALESCE(SUM(c.completion_tokens),0),"
        " COALESCE(SUM(c.latency_s),0), COALESCE(SUM(c.cost_usd),0), COALESCE(SUM(c.error IS NOT NULL),0)"
        " FROM runs r LEFT JOIN calls c ON c.run_id = r.run_id"
        " GROUP BY r.run_id ORDER BY r.started_at DESC LIMIT ?",
        (limit,),
    )
    keys = ["run_id", "started_at", "finished_at", "command", "status", "calls", "prompt_tokens",
            "completion_tokens", "latency_s", "cost_usd", "errors"]
    return [dict(zip(keys, row)) for row in rows]


def run_totals() -> dict[str, Any]:
    row = _log().execute(
        "SELECT COUNT(DISTINCT run_id), COUNT(*), COALESCE(SUM(prompt_tokens),0), COALESCE(SUM(completion_tokens),0),"
        " COALESCE(SUM(latency_s),0), COALESCE(SUM(cost_usd),0), COALESCE(SUM(error IS NOT NULL),0) FROM calls"
    )[0]
    keys = ["runs", "calls", "prompt_tokens", "completion_tokens", "latency_s", "cost_usd", "errors"]
    return dict(zip(keys, row))
