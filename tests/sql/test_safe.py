import os
import sqlite3

import pytest

from llmopt.sql.safe import (RowLimitError, SafeDatabase, SQLExecutionError, SQLTimeoutError, UnsafeSQLError,
                             check_statement, scan_statements)

ATTACKS = [
    "DROP TABLE books",
    "DELETE FROM books",
    "UPDATE books SET price = 0",
    "INSERT INTO authors VALUES (99, 'x', 'y', 2000)",
    "ATTACH DATABASE 'stolen.db' AS stolen",
    "SELECT 1; DROP TABLE books",
    "SELECT * FROM books; DELETE FROM books;",
    "select 1 ;\n-- harmless?\n drop table authors",
    "WITH doomed AS (SELECT 1) DELETE FROM books",
    "WITH x AS (SELECT 1) UPDATE books SET price = 0",
    "PRAGMA journal_mode = WAL",
    "PRAGMA user_version = 7",
    "PRAGMA writable_schema = ON",
    "PRAGMA foreign_keys = ON",
    "CREATE TABLE t (x)",
    "CREATE TEMP TABLE t (x)",
    "ALTER TABLE books ADD COLUMN y",
    "VACUUM",
    "VACUUM INTO 'copy.db'",
    "REINDEX",
    "BEGIN; DELETE FROM books; COMMIT",
    "SELECT load_extension('evil')",
    "REPLACE INTO authors VALUES (1, 'x', 'y', 1)",
]


@pytest.mark.parametrize("sql", ATTACKS)
def test_attacks_are_refused_and_the_file_stays_byte_identical(bookshop, sql, tmp_path, monkeypatch, file_hash):
    monkeypatch.chdir(tmp_path)  # a relative ATTACH / VACUUM INTO target would land here
    before = file_hash(bookshop)
    siblings = set(os.listdir(bookshop.parent))
    with SafeDatabase(bookshop) as db:
        with pytest.raises(UnsafeSQLError, match="refused|empty"):
            db.execute(sql)
        assert db.execute("SELECT count(*) FROM books").rows == [(30,)]  # still usable afterwards
    assert file_hash(bookshop) == before
    assert set(os.listdir(bookshop.parent)) == siblings  # no journal, WAL or copy left behind
    assert not list(tmp_path.glob("*.db"))


def test_the_authorizer_refuses_writes_that_pass_the_statement_gate(bookshop, file_hash):
    before = file_hash(bookshop)
    with SafeDatabase(bookshop) as db:
        for sql in ("WITH a AS (SELECT 1) DELETE FROM books", "EXPLAIN DELETE FROM books", "PRAGMA user_version = 3"):
            with pytest.raises(UnsafeSQLError, match="would run (DELETE on 'books'|PRAGMA user_version)"):
                db.execute(sql)
    assert file_hash(bookshop) == before


def test_read_only_introspection_is_allowed(bookshop):
    with SafeDatabase(bookshop) as db:
        assert [r[1] for r in db.execute("PRAGMA table_info(authors)").rows] == ["author_id", "name", "country",
                                                                                 "birth_year"]
        assert db.execute("PRAGMA foreign_key_list(books)").rows
        assert db.execute("EXPLAIN SELECT * FROM books").rows
        assert db.execute("VALUES (1), (2)").rows == [(1,), (2,)]


def test_long_queries_time_out(bookshop):
    endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    with SafeDatabase(bookshop, timeout_s=0.3) as db:
        with pytest.raises(SQLTimeoutError, match="longer than 0.3 s"):
            db.execute(endless)
        with pytest.raises(SQLTimeoutError, match="longer than 0.1 s"):
            db.execute(endless, timeout_s=0.1)
        assert db.execute("SELECT count(*) FROM authors").rows == [(12,)]  # the deadline is reset


def test_a_runaway_value_fails_instead_of_filling_memory(bookshop, monkeypatch):
    from llmopt.sql import safe

    monkeypatch.setattr(safe, "MAX_VALUE_BYTES", 10_000)
    with SafeDatabase(bookshop) as db:
        with pytest.raises(SQLExecutionError, match="too big"):
            db.execute("SELECT group_concat(b1.title, ' ') FROM books AS b1, books AS b2, books AS b3")


def test_display_rows_are_capped_but_evaluation_rows_raise(bookshop):
    with SafeDatabase(bookshop) as db:
        shown = db.execute("SELECT * FROM books", max_rows=5)
        assert len(shown.rows) == 5 and shown.truncated
        full = db.execute("SELECT * FROM books", max_rows=30, truncate=False)
        assert len(full.rows) == 30 and not full.truncated
        with pytest.raises(RowLimitError, match="more than 29 rows"):
            db.execute("SELECT * FROM books", max_rows=29, truncate=False)


def test_sql_errors_and_bad_files_are_clear(bookshop, tmp_path):
    with SafeDatabase(bookshop) as db:
        with pytest.raises(SQLExecutionError, match="no such column: nope"):
            db.execute("SELECT nope FROM books")
    with pytest.raises(Exception, match="not found"):
        SafeDatabase(tmp_path / "missing.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database at all " * 100)
    with pytest.raises(Exception, match="not a readable SQLite database"):
        SafeDatabase(junk)


def test_read_only_even_without_the_authorizer(bookshop):
    """The URI mode=ro layer holds on its own."""
    conn = sqlite3.connect(bookshop.resolve().as_uri() + "?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM books")
    conn.close()


def test_statement_scanner_respects_strings_and_comments():
    assert scan_statements("SELECT ';' FROM t;") == ["SELECT ';' FROM t"]
    assert scan_statements("SELECT 1 -- ; DROP TABLE t\n;") == ["SELECT 1 -- ; DROP TABLE t"]
    assert scan_statements("SELECT \"a;b\" FROM t /* ; */ ;  ") == ['SELECT "a;b" FROM t /* ; */']
    assert len(scan_statements("SELECT 'it''s'; DROP TABLE t")) == 2
    assert check_statement("  select 1 ;; ") == "select 1"
    with pytest.raises(UnsafeSQLError, match="empty"):
        check_statement(" ; -- nothing")
