"""Safe execution of SQL that a model wrote (or a person typed) against a user's SQLite database.

Three independent layers, so that no single mistake lets a write through:
1. the database is opened read-only (`file:...?mode=ro`): SQLite itself refuses to write;
2. a statement gate: exactly one statement, starting with SELECT / WITH / VALUES / EXPLAIN / PRAGMA;
3. an authorizer that denies every action except reading (default deny): no INSERT/UPDATE/DELETE, no DDL, no
   ATTACH/DETACH, no transactions, no PRAGMA outside a read-only introspection list, no extension loading.

And bounds, so that no query holds a thread or the memory past its limit, whatever it does:
- time: each query runs in a child process (sandbox.py); a watchdog thread there interrupts it at its deadline,
  and a query stuck inside one C call that never checks for interrupts (printf('%.*c', 1e9, 'x'), trim() of two
  long strings) is killed with its process GRACE_S later;
- size: every string or blob is capped at MAX_VALUE_BYTES, a row at MAX_RESULT_COLUMNS columns, the fetched rows
  at MAX_RESULT_BYTES, the SQL text at MAX_SQL_CHARS, the child's address space at sandbox.MAX_WORKER_BYTES.
Rows shown to a person are capped and marked truncated; rows compared by an evaluation use a much larger cap that
raises when hit (a silent cut would make two different results look equal).
"""

from __future__ import annotations

import math
import re
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError

DISPLAY_ROWS = 20  # rows a person sees by default
EVAL_ROW_CAP = 100_000  # rows compared during evaluation; more is an error, never a silent cut
DEFAULT_TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 86_400.0  # a day: anything longer is a typo (and too large for a timer)
MAX_VALUE_BYTES = 1_000_000  # the largest string or blob a query may read or build
MAX_RESULT_BYTES = 64_000_000  # estimated Python memory of the fetched rows
MAX_RESULT_COLUMNS = 128  # columns per result row (raised to twice the widest table of a wide schema)
MAX_SQL_CHARS = 100_000  # a query longer than this is not a query a person or a model meant to write
MAX_LIKE_PATTERN = 1_000  # LIKE / GLOB pattern length: backtracking grows with it
CHECK_EVERY_STEPS = 1000  # VM steps between clock checks (the watchdog covers the steps in between)
_VALUE_OVERHEAD = 40  # rough bytes of a Python object beside its payload (int, float, str header)
_ROW_OVERHEAD = 56

ALLOWED_FIRST_WORDS = ("select", "with", "values", "explain", "pragma")
# PRAGMAs that only read the schema; everything else (journal_mode, user_version = 1, writable_schema, ...) is denied
READ_ONLY_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list",
    "database_list", "collation_list", "function_list", "pragma_list",
})
# the table-valued functions a query may use (the PRAGMA ones are judged by READ_ONLY_PRAGMAS)
READ_ONLY_TABLE_FUNCTIONS = tuple(f"pragma_{name}" for name in sorted(READ_ONLY_PRAGMAS)) + ("json_each", "json_tree")
DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})
ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                   getattr(sqlite3, "SQLITE_RECURSIVE", 33)}
SCHEMA_TABLES = {"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"}


def check_timeout(seconds: Any) -> float:
    """A time limit as a float, or InputError: NaN would never expire, zero or less always would."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        value = math.nan
    if not (0 < value <= MAX_TIMEOUT_S):  # False for NaN too
        raise InputError(f"the time limit must be a number of seconds above 0 and at most {MAX_TIMEOUT_S:g}, got "
                         f"{seconds!r}; pass e.g. --timeout 10 (timeout_s: 10 in a settings file)")
    return value


class UnsafeSQLError(InputError):
    """A statement refused because it could change the database or read outside it."""


class SQLExecutionError(InputError):
    """A statement that SQLite could not run (syntax, unknown column, ...)."""


class SQLTimeoutError(SQLExecutionError):
    """A statement that ran past its time limit."""


class RowLimitError(SQLExecutionError):
    """A result larger than the evaluation row cap."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False  # more rows existed than were fetched (display mode only)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": [list(r) for r in self.rows], "truncated": self.truncated,
                "elapsed_s": self.elapsed_s}


def scan_statements(sql: str) -> list[str]:
    """Split SQL into statements at top-level semicolons, skipping strings, quoted names and comments.

    Empty statements (stray semicolons, trailing comments) are dropped."""
    statements, start, i, n = [], 0, 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`[":
            close = "]" if ch == "[" else ch
            i += 1
            while i < n:
                if sql[i] == close:
                    if close != "]" and i + 1 < n and sql[i + 1] == close:  # doubled quote escapes itself
                        i += 2
                        continue
                    break
                i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 1
        elif ch == ";":
            statements.append(sql[start:i])
            start = i + 1
        i += 1
    statements.append(sql[start:])
    return [s.strip() for s in statements if strip_comments(s).strip()]


_COMMENT = re.compile(r"--[^\n]*|/\*.*?(\*/|$)", re.S)


def strip_comments(sql: str) -> str:
    return _COMMENT.sub(" ", sql)


def first_word(statement: str) -> str:
    match = re.match(r"[\s(]*([A-Za-z_]+)", strip_comments(statement))
    return match.group(1).lower() if match else ""


def check_text(sql: str) -> None:
    """Refuse text no query needs before anything scans it: over MAX_SQL_CHARS, or with a lone surrogate
    (from a JSON escape such as \\ud800) that has no UTF-8 form."""
    if len(sql) > MAX_SQL_CHARS:
        raise SQLExecutionError(f"the query is {len(sql):,} characters, over the limit of {MAX_SQL_CHARS:,}; "
                                "write a shorter query")
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SQLExecutionError(f"the query holds a character with no UTF-8 form ({sql[exc.start]!r} at position "
                                f"{exc.start}, a lone surrogate); remove it") from None


def check_statement(sql: str) -> str:
    """The single read-only statement in `sql` (trailing semicolon removed), or UnsafeSQLError saying why not
    (SQLExecutionError for text SQLite cannot take: too long, or not encodable as UTF-8)."""
    check_text(sql)
    statements = scan_statements(sql)
    if not statements:
        raise UnsafeSQLError("empty query: write one SELECT statement")
    if len(statements) > 1:
        raise UnsafeSQLError(f"refused: {len(statements)} statements in one query; only a single read-only "
                             "statement runs (remove everything after the first ';')")
    word = first_word(statements[0])
    if word not in ALLOWED_FIRST_WORDS:
        raise UnsafeSQLError(f"refused: {word.upper() or 'this'} statements can change the database; only "
                             "read-only queries (SELECT, WITH, VALUES, EXPLAIN, read-only PRAGMA) run here")
    return statements[0]


_AUTHORIZER_ACTIONS = (
    "CREATE_INDEX", "CREATE_TABLE", "CREATE_TEMP_INDEX", "CREATE_TEMP_TABLE", "CREATE_TEMP_TRIGGER",
    "CREATE_TEMP_VIEW", "CREATE_TRIGGER", "CREATE_VIEW", "DELETE", "DROP_INDEX", "DROP_TABLE", "DROP_TEMP_INDEX",
    "DROP_TEMP_TABLE", "DROP_TEMP_TRIGGER", "DROP_TEMP_VIEW", "DROP_TRIGGER", "DROP_VIEW", "INSERT", "PRAGMA",
    "TRANSACTION", "UPDATE", "ATTACH", "DETACH", "ALTER_TABLE", "REINDEX", "ANALYZE", "CREATE_VTABLE",
    "DROP_VTABLE", "SAVEPOINT",
)
# authorizer action codes overlap with result codes (9 is both DELETE and INTERRUPT): name only the actions
ACTION_NAMES = {getattr(sqlite3, f"SQLITE_{name}"): name for name in _AUTHORIZER_ACTIONS
                 if hasattr(sqlite3, f"SQLITE_{name}")}


class SafeDatabase:
    """A read-only handle on one SQLite file. Use as a context manager or call close().

    timeout_s bounds each query; deadline (a time.monotonic() value) bounds them all, e.g. a server request's
    end: no query runs past it. Queries run in a child process (sandbox.py), one at a time per handle."""

    def __init__(self, path: str | Path, *, timeout_s: float = DEFAULT_TIMEOUT_S, deadline: float | None = None):
        from . import sandbox

        self.timeout_s = check_timeout(timeout_s)
        self.deadline = deadline
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise InputError(f"database file not found: {self.path}; pass the path of a .sqlite file with --db")
        self._lock = threading.Lock()
        self._worker: sandbox.Worker | None = None
        self._closed = False
        self._open_worker()

    def _open_worker(self) -> None:
        from . import sandbox

        worker = sandbox.acquire()
        try:
            _unpack(worker.call(("open", str(self.path), limits()), OPEN_TIMEOUT_S))
        except sandbox.WorkerLost as lost:
            if lost.overran:
                raise InputError(f"{self.path}: opening the database took over {OPEN_TIMEOUT_S:g} s; check the "
                                 "file (a network drive, a huge schema?)") from None
            raise InputError(f"{self.path}: the query process stopped ({lost}) before the database opened; check "
                             f"that {sys.executable} can import llmopt (its error is above)") from None
        except Exception:
            sandbox.release(worker)
            raise
        self._worker = worker

    def _limit(self, timeout_s: float | None) -> float:
        limit = self.timeout_s if timeout_s is None else check_timeout(timeout_s)
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise SQLTimeoutError("the request's time limit is spent, so the query did not run; raise the "
                                      "request's timeout_s or ask for fewer candidates")
            limit = min(limit, left)
        return limit

    def execute(self, sql: str, *, max_rows: int = DISPLAY_ROWS, truncate: bool = True,
                timeout_s: float | None = None) -> QueryResult:
        """Run one read-only statement. truncate=True keeps the first max_rows (fewer when they pass
        MAX_RESULT_BYTES) and marks the result truncated; truncate=False raises RowLimitError instead."""
        from . import sandbox

        statement = check_statement(sql)
        with self._lock:
            limit = self._limit(timeout_s)
            if self._worker is None:  # the last query's child was killed (or the handle is closed)
                if self._closed:
                    raise InputError("this database handle is closed; open a new SafeDatabase")
                self._open_worker()
            started = time.monotonic()
            try:
                reply = self._worker.call(("execute", statement, max_rows, truncate, limit), limit + GRACE_S)
            except sandbox.WorkerLost as lost:
                self._worker = None
                if lost.overran:
                    raise timeout_error(limit) from None
                raise SQLExecutionError(f"the process running the query stopped ({lost}); it may have needed more "
                                        "memory than a query may use: select fewer or smaller values") from None
            columns, rows, over = _unpack(reply)
            return QueryResult(columns, rows, over, time.monotonic() - started)

    def close(self) -> None:
        from . import sandbox

        with self._lock:
            self._closed = True
            if self._worker is not None:
                sandbox.release(self._worker)
                self._worker = None

    def __enter__(self) -> "SafeDatabase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


OPEN_TIMEOUT_S = 60.0  # starting a child and reading the schema; a local file takes ~0.1 s
GRACE_S = 0.25  # past its limit, a query's child has this long to report the interrupt before it is killed
_ERRORS = {cls.__name__: cls for cls in (InputError, UnsafeSQLError, SQLExecutionError, SQLTimeoutError,
                                         RowLimitError)}


def _unpack(reply: tuple) -> Any:
    if reply[0] == "ok":
        return reply[1]
    raise _ERRORS.get(reply[1], SQLExecutionError)(reply[2])


def limits() -> dict[str, int]:
    """The size limits a child applies (read when a database opens, so a test may change them)."""
    return {name: globals()[name] for name in ("MAX_VALUE_BYTES", "MAX_RESULT_BYTES", "MAX_RESULT_COLUMNS",
                                               "MAX_SQL_CHARS", "MAX_LIKE_PATTERN", "CHECK_EVERY_STEPS")}


def timeout_error(limit_s: float) -> SQLTimeoutError:
    return SQLTimeoutError(f"the query ran longer than {limit_s:g} s and was stopped; simplify it or raise --timeout")


def row_bytes(row: tuple[Any, ...]) -> int:
    """A rough size of a fetched row in Python memory: its payload plus per-object overhead."""
    return _ROW_OVERHEAD + sum(_VALUE_OVERHEAD + (len(v) if isinstance(v, (str, bytes)) else 0) for v in row)


@dataclass
class ExecutionOutcome:
    """A result or the error that stopped it: what evaluation and voting need without try/except everywhere."""

    result: QueryResult | None = None
    error: str | None = None
    error_type: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result is not None


def try_execute(db: SafeDatabase, sql: str, **kwargs: Any) -> ExecutionOutcome:
    try:
        return ExecutionOutcome(db.execute(sql, **kwargs))
    except InputError as exc:
        return ExecutionOutcome(error=str(exc), error_type=type(exc).__name__)
