"""Where queries run: a child process per open database, killed when a query outlives its limit.

Some SQLite built-ins loop in C without ever checking for an interrupt: printf('%.*c', 1000000000, 'x') spends
13 s writing characters it then throws away, and trim(X, Y) compares every character of X with every character
of Y. No clock check or sqlite3_interrupt reaches into such a loop, so only a process boundary bounds the time:

    parent (SafeDatabase)                       child (`python -m llmopt.sql.sandbox`, one connection)
    send (statement, limits) ------------------> ReadOnlyConnection.execute: a watchdog thread interrupts it at the
    wait limit + safe.GRACE_S for the reply <--- deadline (the cheap, usual way out: the child is reused)
    no reply: SIGKILL the child, SQLTimeoutError; the next query starts a fresh child

The child also caps its own address space (MAX_WORKER_BYTES), so no query can take the host's memory. Idle
children are kept in a small pool, so a Spider evaluation that opens a database per question pays the start-up
(~0.1 s) once. Messages are pickled over two pipes; the child exits when the parent goes away.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

MAX_WORKER_BYTES = 1024**3  # address space of a child: SQLite's heap, the fetched rows, the interpreter
MAX_IDLE_WORKERS = 4


class WorkerLost(Exception):
    """The child is gone: killed because it overran its limit (overran=True), or it died on its own."""

    def __init__(self, overran: bool, status: int | None = None):
        super().__init__("overran its limit" if overran else f"exited with status {status}")
        self.overran = overran
        self.status = status


class Worker:
    """The parent's handle on one child process."""

    def __init__(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        package_root = str(Path(__file__).resolve().parents[2])  # the child imports this same llmopt
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH"))
                                                           if p)}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "llmopt.sql.sandbox", str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env,
                start_new_session=True)  # Ctrl-C reaches the parent only: it decides what to stop
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._send = Connection(to_child_w, readable=False)
        self._recv = Connection(from_child_r, writable=False)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def call(self, request: tuple, wait_s: float) -> Any:
        """The child's reply to `request`, or WorkerLost when none comes within wait_s (the child is killed) or
        the child dies first."""
        overran = False
        try:
            self._send.send(request)
            if self._recv.poll(wait_s):
                return self._recv.recv()
            overran = True
        except (OSError, EOFError):  # the child died (its end of the pipe closed)
            pass
        self.kill()
        raise WorkerLost(overran and self.process.returncode == -9, self.process.returncode)

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
        self.process.wait()
        self._send.close()
        self._recv.close()


_idle: list[Worker] = []
_idle_lock = threading.Lock()


def acquire() -> Worker:
    with _idle_lock:
        while _idle:
            worker = _idle.pop()
            if worker.alive:
                return worker
            worker.kill()
    return Worker()


def release(worker: Worker) -> None:
    if worker.alive:
        with _idle_lock:
            if len(_idle) < MAX_IDLE_WORKERS:
                _idle.append(worker)
                return
    worker.kill()


# -- the child ------------------------------------------------------------------------------------------------
def serve(read_fd: int, write_fd: int) -> None:
    """Answer requests until the parent closes the pipe: ("open", path, limits), ("execute", statement, max_rows,
    truncate, limit_s). Replies are ("ok", value) or ("error", class name, message)."""
    import resource

    from ..errors import LlmoptError

    resource.setrlimit(resource.RLIMIT_AS, (MAX_WORKER_BYTES, MAX_WORKER_BYTES))
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    requests, replies = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    connection = None
    while True:
        try:
            request = requests.recv()
        except EOFError:
            return
        try:
            if request[0] == "open":
                if connection is not None:
                    connection.close()
                connection = None
                connection = ReadOnlyConnection(request[1], request[2])
                reply: tuple = ("ok", None)
            else:
                reply = ("ok", connection.execute(*request[1:]))
        except LlmoptError as exc:
            reply = ("error", type(exc).__name__, str(exc))
        except MemoryError:
            reply = ("error", "SQLExecutionError", "the query needed more memory than a query may use; select "
                                                   "fewer or smaller values")
        replies.send(reply)


def _exit_with_parent(parent: int) -> None:
    """A child stuck in a C loop never reads the pipe's end: leave as soon as the parent is gone (killed)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


class ReadOnlyConnection:
    """One SQLite connection with every layer of safe.py: read-only mode, authorizer, size limits and a
    watchdog. It runs in the child; its errors are safe.py's. `limits` are safe.py's MAX_* values, sent by the
    parent (so that they are set in one place)."""

    def __init__(self, path: str, limits: dict[str, int]):
        import sqlite3

        from .safe import InputError

        self.path = path
        self.limits = limits
        self._denied: str | None = None
        self._deadline = float("inf")
        self._running: int | None = None  # the query the watchdog may interrupt
        self._running_lock = threading.Lock()
        self._queries = itertools.count()
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        try:
            self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # fails here on a non-database
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{path} is not a readable SQLite database ({exc})") from None
        self._configure()

    def _configure(self) -> None:
        import sqlite3

        conn, limits = self.conn, self.limits
        conn.text_factory = lambda b: b.decode(errors="ignore")  # some real databases hold invalid UTF-8
        self.max_columns = max(limits["MAX_RESULT_COLUMNS"], 2 * _widest_table(conn))
        _prepare_table_functions(conn)
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)  # no second database, even if ATTACH got through
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limits["MAX_VALUE_BYTES"])  # most steps stay small
        conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, self.max_columns)  # a row holds at most columns x value cap
        conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 4 * limits["MAX_SQL_CHARS"])  # bytes; the gate counts chars
        conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, limits["MAX_LIKE_PATTERN"])
        conn.set_authorizer(self._authorize)
        conn.set_progress_handler(self._over_time, limits["CHECK_EVERY_STEPS"])

    def _authorize(self, action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None) -> int:
        import sqlite3

        from . import safe

        if action in safe.ALLOWED_ACTIONS:
            if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in safe.DENIED_FUNCTIONS:
                self._denied = f"calling {arg2}()"
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in safe.READ_ONLY_PRAGMAS:
            return sqlite3.SQLITE_OK
        what = safe.ACTION_NAMES.get(action, f"action {action}").replace("_", " ")
        if action == sqlite3.SQLITE_PRAGMA:
            self._denied = f"PRAGMA {arg1}{' = ' + arg2 if arg2 else ''} (not a read-only PRAGMA)"
        else:
            target = next((a for a in (arg1, arg2) if a), "")
            self._denied = f"{what}{' on ' + repr(target) if target else ''}"
        return sqlite3.SQLITE_DENY

    def _over_time(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0  # non-zero interrupts the statement

    def _interrupt(self, query: int) -> None:
        """The watchdog: stop `query` if it still runs (never a later one on the same connection)."""
        with self._running_lock:
            if self._running == query:
                self.conn.interrupt()

    def execute(self, statement: str, max_rows: int, truncate: bool, limit_s: float):
        """(columns, rows, more rows existed) of one statement already checked by safe.check_statement."""
        import sqlite3

        self._denied = None
        self._deadline = time.monotonic() + limit_s
        query = next(self._queries)
        watchdog = threading.Timer(limit_s, self._interrupt, (query,))
        watchdog.daemon = True
        cursor = self.conn.cursor()
        with self._running_lock:
            self._running = query
        watchdog.start()
        try:
            cursor.execute(statement)
            rows, over = self._fetch(cursor, max_rows, truncate)
            return [d[0] for d in cursor.description or []], rows, over
        except sqlite3.Error as exc:
            raise self._error(exc, limit_s) from None
        finally:
            with self._running_lock:
                self._running = None
            watchdog.cancel()
            self._deadline = float("inf")
            cursor.close()

    def _fetch(self, cursor, max_rows: int, truncate: bool) -> tuple[list[tuple[Any, ...]], bool]:
        """Up to max_rows rows and whether more existed, one row at a time so that memory stays bounded."""
        from .safe import RowLimitError, row_bytes

        max_bytes = self.limits["MAX_RESULT_BYTES"]
        rows: list[tuple[Any, ...]] = []
        size = 0
        for row in cursor:
            if len(rows) == max_rows:
                if truncate:
                    return rows, True
                raise RowLimitError(f"the result has more than {max_rows:,} rows (the evaluation cap); "
                                    "raise --row-cap if this is expected")
            size += row_bytes(row)
            if size > max_bytes:
                if truncate and rows:  # what fits is shown; a first row over the limit is an error
                    return rows, True
                where = f"after {len(rows):,} rows" if rows else "in its first row"
                raise RowLimitError(f"the result holds more than {max_bytes / 1e6:g} MB {where}; select fewer or "
                                    "smaller columns")
            rows.append(row)
        return rows, False

    def _error(self, exc: Exception, limit_s: float) -> Exception:
        from . import safe

        message = str(exc)
        if "interrupted" in message:
            return safe.timeout_error(limit_s)
        if self._denied and self._denied.split(" on ")[-1].strip("'").lower() in safe.SCHEMA_TABLES:
            # a write to the schema, or the first use of a table-valued function outside the read-only list
            self._denied += (" (a write to the schema, or a table-valued function other than "
                             f"{', '.join(safe.READ_ONLY_TABLE_FUNCTIONS)})")
        if self._denied or "not authorized" in message or "readonly" in message:
            return safe.UnsafeSQLError(f"refused: the query would run {self._denied or 'a write'}; only read-only "
                                       "queries run against this database")
        if "too big" in message:
            message += f" (a string or blob may hold at most {self.limits['MAX_VALUE_BYTES']:,} bytes here)"
        elif "too many columns" in message:
            message += f" (a row may have at most {self.max_columns} columns here)"
        elif "out of memory" in message:
            message += " (the query needed more memory than a query may use; select fewer or smaller values)"
        return safe.SQLExecutionError(f"SQLite error: {message}")

    def close(self) -> None:
        self.conn.close()


def _widest_table(conn) -> int:
    import sqlite3

    try:
        row = conn.execute("SELECT max(n) FROM (SELECT count(*) AS n FROM sqlite_master AS m, "
                           "pragma_table_info(m.name) WHERE m.type IN ('table', 'view') GROUP BY m.name)").fetchone()
    except sqlite3.Error:  # e.g. a view over a missing table: assume nothing wide
        return 0
    return row[0] or 0


def _prepare_table_functions(conn) -> None:
    """Compile (never run) a query on every table-valued PRAGMA and JSON function before the authorizer is on:
    SQLite's first use of one asks to write sqlite_master, which the authorizer must refuse. Afterwards a query
    on one of them is judged by its PRAGMA name: allowed if read-only, else refused with that name."""
    import sqlite3

    names = [f"pragma_{r[0]}" for r in conn.execute("SELECT name FROM pragma_pragma_list")] + ["json_each",
                                                                                              "json_tree"]
    for name in names:
        try:
            conn.execute(f"EXPLAIN SELECT * FROM {name}").fetchall()
        except sqlite3.Error:  # not a table-valued function
            pass


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
