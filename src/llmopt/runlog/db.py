"""SQLite run log with numbered migrations.

Each insert is its own transaction, so an interrupted process (Ctrl-C, SIGKILL) leaves every row either fully
written or absent. The schema version lives in PRAGMA user_version; MIGRATIONS[i] moves it from i to i + 1.

The log is secondary to the work: a damaged file is set aside (runlog.db.damaged-TIME) and a new log started, a
locked one is skipped, each with one warning on stderr naming the file, and the command runs either way.
Command lines, model ids and error messages are stored with their secrets masked (llmopt.redact); the file is
created owner-only (0600).
"""

from __future__ import annotations

import contextvars
import hashlib
import os
import sqlite3
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ..paths import create_private, runlog_path
from ..redact import redact

BUSY_TIMEOUT_S = 30.0  # how long a write waits for another process's write before the log counts as locked

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
        create_private(self.path)
        self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                     check_same_thread=False)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a crash never corrupts the log or leaves half a row; one fsync per checkpoint
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

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

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# -- the process's log: opened on first use, set aside when damaged, skipped when locked ------------------------
_logs: dict[Path, RunLog | None] = {}  # None: unusable in this process (warned once)
_logs_lock = threading.RLock()


def _log() -> RunLog | None:
    path = runlog_path()
    with _logs_lock:
        if path not in _logs:
            _logs[path] = _open(path)
        return _logs[path]


def _open(path: Path) -> RunLog | None:
    try:
        return RunLog(path)
    except (sqlite3.Error, OSError) as exc:
        return _recover(path, exc)


def _recover(path: Path, exc: BaseException) -> RunLog | None:
    """After the log failed with `exc`: a fresh log when the file was damaged (kept aside), else none."""
    if not _damaged(exc):
        fix = ("another process holds it: let it finish" if _locked(exc) else "check the file and its folder")
        _warn(f"the run log {path} cannot be used ({exc}); this command's calls are not logged. "
              f"Fix: {fix}, or set LLMOPT_RUNLOG to another file")
        return None
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):  # a stale WAL must not be replayed into the new log
        if Path(f"{path}{suffix}").exists():
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    try:
        log = RunLog(path)
    except (sqlite3.Error, OSError) as again:
        _warn(f"the run log {path} is damaged ({exc}) and a new one cannot be made there ({again}); "
              "this command's calls are not logged. Fix: set LLMOPT_RUNLOG to a writable file")
        return None
    _warn(f"the run log {path} was damaged ({exc}); it is kept as {aside} and a new log started. "
          f"Fix: nothing to do; delete {aside.name} once you no longer need its history")
    return log


def _damaged(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and any(
        word in text for word in ("not a database", "malformed", "corrupt", "file is encrypted"))


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and any(w in str(exc).lower() for w in ("locked", "busy"))


def _warn(message: str) -> None:
    print(f"llmopt: warning: {message}", file=sys.stderr, flush=True)


def _execute(sql: str, args: tuple = ()) -> list[Any]:
    """Run one statement on the log; a damaged or locked log warns once and the caller goes on without it."""
    log = _log()
    if log is None:
        return []
    try:
        return log.execute(sql, args)
    except sqlite3.Error as exc:
        with _logs_lock:
            if _logs.get(log.path) is log:
                try:
                    log.close()
                except sqlite3.Error:
                    pass
                _logs[log.path] = _recover(log.path, exc)
            fresh = _logs[log.path]
        if fresh is None:
            return []
        try:
            return fresh.execute(sql, args)
        except sqlite3.Error:
            return []


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


def start_run(command: str) -> str:
    """Open a run (one CLI invocation or API session); calls made after this are filed under it. The command is
    stored with its secrets masked."""
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    _execute("INSERT INTO runs(run_id, started_at, command) VALUES (?, ?, ?)",
             (run_id, time.time(), redact(command)))
    _current_run.set(run_id)
    return run_id


def finish_run(status: str = "ok", run_id: str | None = None) -> None:
    run_id = run_id or _current_run.get()
    if run_id:
        _execute("UPDATE runs SET finished_at = ?, status = ? WHERE run_id = ?", (time.time(), status, run_id))


def current_run_id() -> str:
    """The run calls are filed under; a process that opened none gets one of its own on first use."""
    global _process_run
    run_id = _current_run.get() or _process_run
    if run_id is None:
        _process_run = start_run(f"python (pid {os.getpid()})")
        run_id = _process_run
    return run_id


def log_generation(gen, *, model: str, engine: str, prompt: str, latency_s: float = 0.0, error: str | None = None) -> None:
    """Append one call. `gen` is None for a call that failed. The model id and error are stored redacted."""
    row: dict[str, Any] = {
        "prompt_tokens": 0, "cached_prompt_tokens": 0, "completion_tokens": 0,
        "latency_s": latency_s, "compute_s": 0.0, "cost_usd": 0.0, "finish_reason": "error",
    }
    if gen is not None:
        row = {k: getattr(gen, k) for k in row}
    _execute(
        "INSERT INTO calls(run_id, ts, model, engine, prompt_hash, prompt_tokens, cached_prompt_tokens,"
        " completion_tokens, latency_s, compute_s, cost_usd, finish_reason, error)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (current_run_id(), time.time(), redact(model), engine, prompt_hash(prompt), row["prompt_tokens"],
         row["cached_prompt_tokens"], row["completion_tokens"], row["latency_s"], row["compute_s"],
         row["cost_usd"], row["finish_reason"], redact(error) if error else None),
    )


def recent_runs(limit: int = 20) -> list[dict[str, Any]]:
    rows = _execute(
        "SELECT r.run_id, r.started_at, r.finished_at, r.command, r.status,"
        " COUNT(c.id), COALESCE(SUM(c.prompt_tokens),0), COALESCE(SUM(c.completion_tokens),0),"
        " COALESCE(SUM(c.latency_s),0), COALESCE(SUM(c.cost_usd),0), COALESCE(SUM(c.error IS NOT NULL),0)"
        " FROM runs r LEFT JOIN calls c ON c.run_id = r.run_id"
        " GROUP BY r.run_id ORDER BY r.started_at DESC LIMIT ?",
        (limit,),
    )
    keys = ["run_id", "started_at", "finished_at", "command", "status", "calls", "prompt_tokens",
            "completion_tokens", "latency_s", "cost_usd", "errors"]
    runs = [dict(zip(keys, row)) for row in rows]
    for run in runs:
        run["command"] = redact(run["command"])  # rows written before commands were stored masked
    return runs


def run_totals() -> dict[str, Any]:
    rows = _execute(
        "SELECT COUNT(DISTINCT run_id), COUNT(*), COALESCE(SUM(prompt_tokens),0), COALESCE(SUM(completion_tokens),0),"
        " COALESCE(SUM(latency_s),0), COALESCE(SUM(cost_usd),0), COALESCE(SUM(error IS NOT NULL),0) FROM calls"
    )
    row = rows[0] if rows else (0, 0, 0, 0, 0.0, 0.0, 0)
    keys = ["runs", "calls", "prompt_tokens", "completion_tokens", "latency_s", "cost_usd", "errors"]
    return dict(zip(keys, row))
