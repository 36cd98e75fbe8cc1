"""The manifest: which version of each source the index has committed. Milvus has no transactions, so this
small SQLite file (WAL mode, one transaction per state change) is the index's source of truth.

A version is the unit of replacement: every chunk row in Milvus carries the version of the source it came
from. The protocol to put a new version V of a source S into the store:

    1. begin(S, V)      V is marked dirty ("pending"): search excludes it from now on
    2. the store deletes any rows of V left by an earlier, interrupted attempt, then inserts V's rows
    3. commit(S, V)     in one transaction: S -> V, V is clean, and the old version (if any) becomes dirty
                        ("superseded"), so search stops returning it at the same instant it starts returning V
    4. the store deletes the old version's rows, then forget(old) marks it clean

BM25 statistics (bm25.py) change in the same transactions: committing a version adds its terms, superseding
or retiring one subtracts them, so they always describe the committed chunks exactly.

Invariant: search filters out dirty versions (a short list: only versions in flight) and drops any hit whose
version is not the one committed for its source. A kill at any point leaves at most some dirty versions;
recovery deletes their rows and forgets them, and the next run re-does the uncommitted sources.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bm25 import VersionTerms

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources(
    source TEXT PRIMARY KEY, version TEXT NOT NULL, kind TEXT NOT NULL, sha256 TEXT, size INTEGER,
    mtime_ns INTEGER, fingerprint TEXT, pages INTEGER, chunks INTEGER NOT NULL, by_type TEXT NOT NULL,
    meta TEXT NOT NULL, committed_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS sources_version ON sources(version);
CREATE TABLE IF NOT EXISTS dirty(version TEXT PRIMARY KEY, source TEXT NOT NULL, state TEXT NOT NULL,
    since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS bm25_version(version TEXT PRIMARY KEY, terms BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS bm25_df(term INTEGER PRIMARY KEY, df INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bm25_totals(id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL,
    length INTEGER NOT NULL);
INSERT OR IGNORE INTO bm25_totals VALUES (1, 0, 0);
"""


@dataclass
class SourceEntry:
    """One committed source (a file, or a group of chunks added through Index.add_chunks)."""

    source: str
    version: str
    kind: str = "file"  # "file" | "chunks"
    sha256: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    fingerprint: str | None = None  # the ingest settings that shaped the chunks
    pages: int | None = None
    chunks: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    committed_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Manifest:
    """SQLite-backed; safe to share between processes (SQLite locking) and threads (one lock here)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, not just a kill
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _tx(self, statements: list[tuple[str, tuple]] | None = None, body=None):
        """Run statements (or body(db), which may read first) in one write transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = body(self._db) if body else None
                for sql, args in statements or []:
                    self._db.execute(sql, args)
                self._db.execute("COMMIT")
                return result
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # -- reads ---------------------------------------------------------------------------------------------
    def get(self, source: str) -> SourceEntry | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM sources WHERE source = ?", (source,)).fetchone()
        return _entry(row) if row else None

    def entries(self) -> list[SourceEntry]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM sources ORDER BY source").fetchall()
        return [_entry(r) for r in rows]

    def committed_versions(self, sources: list[str]) -> dict[str, str]:
        """source -> committed version, for the given sources (those absent are not committed)."""
        found: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(sources), 500):
                part = sources[start:start + 500]
                marks = ",".join("?" * len(part))
                found.update(self._db.execute(
                    f"SELECT source, version FROM sources WHERE source IN ({marks})", part).fetchall())
        return found

    def dirty(self) -> list[tuple[str, str, str]]:
        """(version, source, state) of every version in flight or awaiting deletion."""
        with self._lock:
            return self._db.execute("SELECT version, source, state FROM dirty ORDER BY since").fetchall()

    def dirty_versions(self) -> list[str]:
        return [v for v, _, _ in self.dirty()]

    # -- the protocol ----------------------------------------------------------------------------------------
    def begin(self, source: str, version: str) -> None:
        self.begin_many([(source, version)])

    def begin_many(self, pairs: list[tuple[str, str]]) -> None:
        """Mark versions pending (one transaction). Re-ingesting the committed version un-commits it first, so
        that a crash between deleting its rows and re-inserting them cannot leave a source committed but empty."""
        def body(db: sqlite3.Connection) -> None:
            for source, version in pairs:
                if db.execute("DELETE FROM sources WHERE source = ? AND version = ?", (source, version)).rowcount:
                    _unapply_terms(db, version)
                db.execute("INSERT OR REPLACE INTO dirty VALUES (?, ?, 'pending', ?)", (version, source, time.time()))

        self._tx(body=body)

    def commit(self, entry: SourceEntry, terms: VersionTerms | None = None) -> str | None:
        return self.commit_many([(entry, terms)])[0]

    def commit_many(self, items: list[tuple[SourceEntry, VersionTerms | None]]) -> list[str | None]:
        """Atomically (one transaction) make each entry's version the committed version of its source, with its
        terms in the BM25 statistics; return the superseded version of each (None if there was none)."""
        def body(db: sqlite3.Connection) -> list[str | None]:
            return [_commit_one(db, entry, terms) for entry, terms in items]

        return self._tx(body=body)

    def retire(self, source: str) -> str | None:
        """Un-commit a source (its file disappeared): its version becomes dirty until its rows are deleted."""
        def body(db: sqlite3.Connection) -> str | None:
            row = db.execute("SELECT version FROM sources WHERE source = ?", (source,)).fetchone()
            if row:
                db.execute("DELETE FROM sources WHERE source = ?", (source,))
                _unapply_terms(db, row[0])
                db.execute("INSERT OR REPLACE INTO dirty VALUES (?, ?, 'superseded', ?)", (row[0], source, time.time()))
            return row[0] if row else None

        return self._tx(body=body)

    def forget(self, versions: list[str]) -> None:
        """The store holds no rows of these versions any more."""
        self._tx([("DELETE FROM dirty WHERE version = ?", (v,)) for v in versions])

    # -- BM25 statistics ------------------------------------------------------------------------------------
    def bm25_totals(self) -> tuple[int, int]:
        """(committed chunks, their total length in terms)."""
        with self._lock:
            return tuple(self._db.execute("SELECT n, length FROM bm25_totals WHERE id = 1").fetchone())

    def bm25_df(self, terms: list[int]) -> dict[int, int]:
        with self._lock:
            marks = ",".join("?" * len(terms))
            return dict(self._db.execute(f"SELECT term, df FROM bm25_df WHERE term IN ({marks})", terms).fetchall())

    def touch(self, source: str, mtime_ns: int) -> None:
        """Same content, new modification time: remember it so the next run skips hashing."""
        self._tx([("UPDATE sources SET mtime_ns = ? WHERE source = ?", (mtime_ns, source))])


def _commit_one(db: sqlite3.Connection, entry: SourceEntry, terms: VersionTerms | None) -> str | None:
    entry.committed_at = time.time()
    row = db.execute("SELECT version FROM sources WHERE source = ?", (entry.source,)).fetchone()
    superseded = row[0] if row and row[0] != entry.version else None
    if superseded:
        db.execute("INSERT OR REPLACE INTO dirty VALUES (?, ?, 'superseded', ?)",
                   (superseded, entry.source, time.time()))
        _unapply_terms(db, superseded)
    if terms is not None:
        _apply_terms(db, entry.version, terms)
    db.execute("DELETE FROM dirty WHERE version = ?", (entry.version,))
    db.execute("INSERT OR REPLACE INTO sources VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", _row(entry))
    return superseded


def _apply_terms(db: sqlite3.Connection, version: str, terms: VersionTerms, sign: int = 1) -> None:
    if sign > 0:
        db.execute("INSERT OR REPLACE INTO bm25_version VALUES (?, ?)", (version, terms.encode()))
    db.executemany("INSERT INTO bm25_df VALUES (?, ?) ON CONFLICT(term) DO UPDATE SET df = df + excluded.df",
                   [(t, sign * c) for t, c in terms.df.items()])
    if sign < 0:
        db.executemany("DELETE FROM bm25_df WHERE term = ? AND df <= 0", [(t,) for t in terms.df])
    db.execute("UPDATE bm25_totals SET n = n + ?, length = length + ? WHERE id = 1",
               (sign * terms.n, sign * terms.length))


def _unapply_terms(db: sqlite3.Connection, version: str) -> None:
    row = db.execute("SELECT terms FROM bm25_version WHERE version = ?", (version,)).fetchone()
    if row:
        _apply_terms(db, version, VersionTerms.decode(row[0]), sign=-1)
        db.execute("DELETE FROM bm25_version WHERE version = ?", (version,))


def _row(e: SourceEntry) -> tuple:
    return (e.source, e.version, e.kind, e.sha256, e.size, e.mtime_ns, e.fingerprint, e.pages, e.chunks,
            json.dumps(e.by_type, sort_keys=True), json.dumps(e.meta, sort_keys=True, default=str), e.committed_at)


def _entry(row: tuple) -> SourceEntry:
    (source, version, kind, sha256, size, mtime_ns, fingerprint, pages, chunks, by_type, meta, committed_at) = row
    return SourceEntry(source, version, kind, sha256, size, mtime_ns, fingerprint, pages, chunks,
                       json.loads(by_type), json.loads(meta), committed_at)
