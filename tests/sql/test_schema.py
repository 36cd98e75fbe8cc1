import sqlite3

from llmopt.sql.schema import create_table, read_schema


def _db(path, script):
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.commit()
    conn.close()
    return path


def test_create_table_has_keys_types_and_sample_values(bookshop):
    sql = read_schema(bookshop).to_sql()
    books = sql[sql.index("CREATE TABLE books"):].split(");")[0]
    assert "book_id INTEGER PRIMARY KEY,  -- e.g. 1, 2, 3" in books
    assert "FOREIGN KEY (author_id) REFERENCES authors(author_id)" in books
    assert "genre TEXT,  -- e.g. 'Fantasy'" in books
    assert books.rstrip().endswith("REFERENCES authors(author_id)")  # no trailing comma before ");"
    items = sql[sql.index("CREATE TABLE order_items"):]
    assert "PRIMARY KEY (order_id, book_id)," in items
    assert "order_id INTEGER," in items and "order_id INTEGER PRIMARY KEY" not in items
    assert sql.count("CREATE TABLE") == 5


def test_the_serialized_schema_is_valid_sqlite(bookshop, tmp_path):
    schema = read_schema(bookshop, sample_values=2)
    conn = sqlite3.connect(tmp_path / "copy.sqlite")
    conn.executescript(schema.to_sql())  # comments and all
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")} == \
        {"authors", "books", "customers", "orders", "order_items"}


def test_odd_names_values_and_empty_tables(tmp_path):
    path = _db(tmp_path / "odd.sqlite", """
        CREATE TABLE "order details" ("unit price" REAL, note TEXT, blob_col BLOB, parent INTEGER REFERENCES "my table");
        CREATE TABLE "my table" (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE empty (x INT);
        INSERT INTO "order details" VALUES (2.5, 'it''s a very long note that goes on and on and on for a while', x'00ff', 1);
        INSERT INTO "order details" VALUES (NULL, NULL, NULL, NULL);
    """)
    schema = read_schema(path, sample_values=3)
    sql = schema.to_sql()
    assert 'CREATE TABLE "order details" (' in sql and '"unit price" REAL,  -- e.g. 2.5' in sql
    assert "'it''s a very long note that goes on and o…'" in sql  # cut at 40 characters
    assert "blob_col BLOB," in sql and "x'00ff'" not in sql  # blobs are not sampled
    assert 'FOREIGN KEY (parent) REFERENCES "my table"(id)' in sql  # a bare REFERENCES means the primary key
    assert "CREATE TABLE empty (\n  x INT\n);" in sql
    assert {"order details", "unit price", "my table", "name"} <= schema.identifiers()
    assert read_schema(path, sample_values=0).to_sql().count("-- e.g.") == 0


def test_spider_tables_entry(bookshop):
    entry = read_schema(bookshop).to_spider_tables()
    columns = entry["column_names_original"]
    assert columns[0] == [-1, "*"] and entry["table_names_original"][0] == "authors"
    fk_pairs = {(columns[a][1], columns[b][1]) for a, b in entry["foreign_keys"]}
    assert ("author_id", "author_id") in fk_pairs and ("book_id", "book_id") in fk_pairs
    assert len(entry["column_types"]) == len(columns)


def test_create_table_formatting():
    from llmopt.sql.schema import Column, TableSchema

    table = TableSchema("t", [Column("a", "INT", [1]), Column("b", "", [])], ["a", "b"])
    assert create_table(table) == "CREATE TABLE t (\n  a INT,  -- e.g. 1\n  b TEXT,\n  PRIMARY KEY (a, b)\n);"
