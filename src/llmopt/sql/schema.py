"""Read a SQLite database's schema (tables, columns, types, primary and foreign keys, sample values) and write it
the way text-to-SQL prompts show it: CREATE TABLE statements, with a few sample values per column as comments.

Introspection goes through the safe executor (read-only PRAGMAs and SELECTs only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .safe import SafeDatabase

SAMPLE_VALUE_CHARS = 40  # long texts are cut in the prompt: the model needs their shape, not their content


@dataclass
class Column:
    name: str
    type: str
    samples: list[Any] = field(default_factory=list)


@dataclass
class ForeignKey:
    column: str
    ref_table: str
    ref_column: str


@dataclass
class TableSchema:
    name: str
    columns: list[Column]
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)


@dataclass
class DatabaseSchema:
    db_id: str
    tables: list[TableSchema]

    def to_sql(self) -> str:
        """CREATE TABLE statements with keys, sample values as comments."""
        return "\n\n".join(create_table(t) for t in self.tables)

    def identifiers(self) -> set[str]:
        """Lower-cased table and column names: what a question mentions when it links to the schema."""
        names = {t.name.lower() for t in self.tables}
        names |= {c.name.lower() for t in self.tables for c in t.columns}
        return names

    def to_spider_tables(self) -> dict[str, Any]:
        """This schema as one entry of Spider's tables.json (so other Spider tools can read demo databases)."""
        columns = [[-1, "*"]] + [[i, c.name] for i, t in enumerate(self.tables) for c in t.columns]
        index = {(self.tables[t].name.lower(), name.lower()): k for k, (t, name) in enumerate(columns) if t >= 0}
        return {
            "db_id": self.db_id,
            "table_names_original": [t.name for t in self.tables],
            "table_names": [_natural(t.name) for t in self.tables],
            "column_names_original": columns,
            "column_names": [[t, _natural(n) if t >= 0 else n] for t, n in columns],
            "column_types": ["text"] + [_spider_type(c.type) for t in self.tables for c in t.columns],
            "primary_keys": [index[(t.name.lower(), c.lower())] for t in self.tables for c in t.primary_key],
            "foreign_keys": [[index[(t.name.lower(), fk.column.lower())],
                              index[(fk.ref_table.lower(), fk.ref_column.lower())]]
                             for t in self.tables for fk in t.foreign_keys
                             if (fk.ref_table.lower(), fk.ref_column.lower()) in index],
        }


def quote_name(name: str) -> str:
    """An identifier as SQLite needs it: bare when it is a plain word, double-quoted otherwise."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


def format_value(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= SAMPLE_VALUE_CHARS else value[:SAMPLE_VALUE_CHARS] + "…"
        return "'" + text.replace("'", "''").replace("\n", " ") + "'"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def create_table(table: TableSchema) -> str:
    single_pk = table.primary_key[0] if len(table.primary_key) == 1 else None
    lines = []
    for column in table.columns:
        line = f"  {quote_name(column.name)} {column.type or 'TEXT'}"
        if column.name == single_pk:
            line += " PRIMARY KEY"
        comment = f"  -- e.g. {', '.join(format_value(v) for v in column.samples)}" if column.samples else ""
        lines.append((line, comment))
    extra = []
    if len(table.primary_key) > 1:
        extra.append(f"  PRIMARY KEY ({', '.join(quote_name(c) for c in table.primary_key)})")
    for fk in table.foreign_keys:
        extra.append(f"  FOREIGN KEY ({quote_name(fk.column)}) REFERENCES {quote_name(fk.ref_table)}"
                     f"({quote_name(fk.ref_column)})")
    # commas go before the comment, and the last definition has none
    body = [line + ("," if i < len(lines) + len(extra) - 1 else "") + comment
            for i, (line, comment) in enumerate(lines)]
    body += [line + ("," if i < len(extra) - 1 else "") for i, line in enumerate(extra)]
    return f"CREATE TABLE {quote_name(table.name)} (\n" + "\n".join(body) + "\n);"


def read_schema(db: SafeDatabase | str | Path, *, sample_values: int = 3, db_id: str | None = None) -> DatabaseSchema:
    """The schema of a SQLite database, with up to `sample_values` distinct non-null values per column."""
    if not isinstance(db, SafeDatabase):
        with SafeDatabase(db) as handle:
            return read_schema(handle, sample_values=sample_values, db_id=db_id)
    names = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
        max_rows=10_000).rows]
    tables = [_read_table(db, name, sample_values) for name in names]
    return DatabaseSchema(db_id or db.path.stem, tables)


def _read_table(db: SafeDatabase, name: str, sample_values: int) -> TableSchema:
    info = db.execute(f"PRAGMA table_info({quote_name(name)})", max_rows=10_000).rows
    columns = [Column(row[1], (row[2] or "").upper()) for row in info]
    primary_key = [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    foreign_keys = []
    for row in db.execute(f"PRAGMA foreign_key_list({quote_name(name)})", max_rows=10_000).rows:
        ref_column = row[4] or _first_pk(db, row[2])  # "REFERENCES t" without a column means t's primary key
        if ref_column:
            foreign_keys.append(ForeignKey(row[3], row[2], ref_column))
    if sample_values > 0:
        for column in columns:
            column.samples = _samples(db, name, column.name, sample_values)
    return TableSchema(name, columns, primary_key, foreign_keys)


def _first_pk(db: SafeDatabase, table: str) -> str | None:
    rows = db.execute(f"PRAGMA table_info({quote_name(table)})", max_rows=10_000).rows
    keys = [r[1] for r in sorted((r for r in rows if r[5]), key=lambda r: r[5])]
    return keys[0] if keys else None


def _samples(db: SafeDatabase, table: str, column: str, k: int) -> list[Any]:
    sql = (f"SELECT DISTINCT {quote_name(column)} FROM {quote_name(table)} "
           f"WHERE {quote_name(column)} IS NOT NULL AND typeof({quote_name(column)}) != 'blob' LIMIT {int(k)}")
    try:
        return [r[0] for r in db.execute(sql, max_rows=k, timeout_s=2.0).rows]
    except Exception:  # a broken column (bad collation, huge table) must not lose the schema
        return []


def _natural(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ").lower()


def _spider_type(sql_type: str) -> str:
    t = sql_type.lower()
    if any(k in t for k in ("int", "real", "float", "double", "num", "dec")):
        return "number"
    if any(k in t for k in ("date", "time", "year")):
        return "time"
    if "bool" in t:
        return "boolean"
    return "text"
