"""Safe execution of SQL that a model wrote (or a person typed) against a user's SQLite database.

Three independent layers, so that no single mistake lets a write through:
1. the database is opened read-only (`file:...?mode=ro`): SQLite itself refuses to write;
2. a statement gate: exactly one statement, starting with SELECT / WITH / VALUES / EXPLAIN / PRAGMA;
3. an authorizer that denies every action except reading (default deny): no INSERT/UPDATE/DELETE, no DDL, no
   ATTACH/DETACH, no transactions, no PRAGMA outside a read-only introspection list, no extension loading.
Each query runs under a time limit (a progress handler interrupts it). Rows shown to a person are capped and
marked truncated; rows compared by an evaluation use a much larger cap that raises when hit (a silent cut
would make two different results look equal).
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError

DISPLAY_ROWS = 20  # rows a person sees by default
EVAL_ROW_CAP = 100_000  # rows compared during evaluation; more is an error, never a silent cut
DEFAULT_TIMEOUT_S = 10.0
MAX_VALUE_BYTES = 100_000_000  # the largest string or blob a query may build

ALLOWED_FIRST_WORDS = ("select", "with", "values", "explain", "pragma")
# PRAGMAs that only read the schema; everything else (journal_mode, user_version = 1, writable_schema, ...) is denied
READ_ONLY_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list",
    "database_list", "collation_list", "function_list", "pragma_list",
})
DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                    getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


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


def check_statement(sql: str) -> str:
    """The single read-only statement in `sql` (trailing semicolon removed), or UnsafeSQLError saying why not."""
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
_ACTION_NAMES = {getattr(sqlite3, f"SQLITE_{name}"): name for name in _AUTHORIZER_ACTIONS
                 if hasattr(sqlite3, f"SQLITE_{name}")}


class SafeDatabase:
    """A read-only handle on one SQLite file. Use as a context manager or call close()."""

    def __init__(self, path: str | Path, *, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise InputError(f"database file not found: {self.path}; pass the path of a .sqlite file with --db")
        self.timeout_s = timeout_s
        self._denied: str | None = None
        self._deadline = float("inf")
        self._limit_s = timeout_s
        self.conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # fails here on a non-database file
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path} is not a readable SQLite database ({exc})") from exc
        conn.text_factory = lambda b: b.decode(errors="ignore")  # some real databases hold invalid UTF-8
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)  # no second database, even if ATTACH got through
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)  # a runaway group_concat fails, not the RAM
        conn.set_authorizer(self._authorize)
        conn.set_progress_handler(self._over_time, 2000)
        return conn

    def _authorize(self, action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None) -> int:
        if action in _ALLOWED_ACTIONS:
            if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in DENIED_FUNCTIONS:
                self._denied = f"calling {arg2}()"
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in READ_ONLY_PRAGMAS:
            return sqlite3.SQLITE_OK
        what = _ACTION_NAMES.get(action, f"action {action}").replace("_", " ")
        if action == sqlite3.SQLITE_PRAGMA:
            self._denied = f"PRAGMA {arg1}{' = ' + arg2 if arg2 else ''} (not a read-only PRAGMA)"
        else:
            target = next((a for a in (arg1, arg2) if a), "")
            self._denied = f"{what}{' on ' + repr(target) if target else ''}"
        return sqlite3.SQLITE_DENY

    def _over_time(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0  # non-zero interrupts the statement

    def execute(self, sql: str, *, max_rows: int = DISPLAY_ROWS, truncate: bool = True,
                timeout_s: float | None = None) -> QueryResult:
        """Run one read-only statement. truncate=True keeps the first max_rows and marks the result truncated;
        truncate=False raises RowLimitError when the result has more than max_rows rows."""
        statement = check_statement(sql)
        self._denied = None
        started = time.monotonic()
        self._limit_s = self.timeout_s if timeout_s is None else timeout_s
        self._deadline = started + self._limit_s
        try:
            cursor = self.conn.execute(statement)
            rows = cursor.fetchmany(max_rows + 1)
        except sqlite3.Error as exc:
            raise self._error(exc, statement) from None
        finally:
            self._deadline = float("inf")
        columns = [d[0] for d in cursor.description or []]
        cursor.close()
        over = len(rows) > max_rows
        if over and not truncate:
            raise RowLimitError(f"the result has more than {max_rows:,} rows (the evaluation cap); "
                                "raise --row-cap if this is expected")
        return QueryResult(columns, rows[:max_rows], over, time.monotonic() - started)

    def _error(self, exc: sqlite3.Error, statement: str) -> Exception:
        message = str(exc)
        if "interrupted" in message:
            return SQLTimeoutError(f"the query ran longer than {self._limit_s:g} s and was stopped; simplify it "
                                   "or raise --timeout")
        if self._denied or "not authorized" in message or "readonly" in message:
            return UnsafeSQLError(f"refused: the query would run {self._denied or 'a write'}; only read-only "
                                  "queries run against this database")
        return SQLExecutionError(f"SQLite error: {message}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "SafeDatabase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
