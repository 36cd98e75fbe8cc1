"""Schema linking: the tables and columns a question needs, so that the prompt shows those and their keys only.

Every table and column is scored against the question: its name, split into words (snake_case and camelCase:
`singer_in_concert` -> "singer in concert"), is embedded and compared with the question's word n-grams, and a
name whose words all occur in the question scores 1; a column holding a value the question names (value
grounding) scores 1 too. The best `tables` tables are kept, with the tables on the foreign-key paths between
them (a join needs its bridge table); in each kept table its best `columns` columns, its primary key and the
foreign keys between kept tables. Tables the caller holds (`extra_tables`: those storing a grounded value, and
with `embed+model` the valid names the model gives when asked which tables the question needs) are kept
whatever their score.

Everything here is pure: the embedder comes in as a function from texts to L2-normalised vectors.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .schema import DatabaseSchema, TableSchema
from .tokens import tokenize

Embed = Callable[[list[str]], np.ndarray]
LINK_METHODS: tuple[str, ...] = ("none", "embed", "embed+model")
MAX_PHRASE_WORDS = 3
_STOPWORDS = frozenset("""
a an the of in on at to for from by with and or not is are was were be been do does did has have had what which who
whom whose when where why how many much list show give find me all each every any that this these those there
their its it than then as more most less least return tell please
""".split())


@dataclass
class SchemaLink:
    """The linked schema: kept tables (schema order) and, per table, kept columns (schema order)."""

    tables: list[str]
    columns: dict[str, list[str]]
    scores: dict[str, float] = field(default_factory=dict)  # "table" and "table.column" -> score
    model_tables: list[str] = field(default_factory=list)  # what the model pass added (embed+model)

    def has_table(self, name: str) -> bool:
        return name.lower() in {t.lower() for t in self.tables}

    def has_column(self, table: str, column: str) -> bool:
        for kept, columns in self.columns.items():
            if kept.lower() == table.lower():
                return column.lower() in {c.lower() for c in columns}
        return False

    def column_names(self) -> set[str]:
        return {c.lower() for columns in self.columns.values() for c in columns}

    def to_dict(self) -> dict:
        return {"tables": self.tables, "columns": self.columns, "model_tables": self.model_tables}


def natural_name(name: str) -> str:
    """`singerInConcert`, `singer_in_concert`, `SINGER-in concert` -> "singer in concert"."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return " ".join(re.split(r"[_\W]+", name)).strip().lower()


def _stem(word: str) -> str:
    word = word.lower()
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def question_phrases(question: str, max_words: int = MAX_PHRASE_WORDS) -> list[str]:
    """Word n-grams of the question (lower-cased) that do not start or end with a stopword."""
    words = re.findall(r"[a-z0-9]+", natural_name(question))
    phrases = []
    for n in range(1, max_words + 1):
        for i in range(len(words) - n + 1):
            gram = words[i:i + n]
            if gram[0] in _STOPWORDS or gram[-1] in _STOPWORDS:
                continue
            phrases.append(" ".join(gram))
    return list(dict.fromkeys(phrases)) or [natural_name(question)]


def lexical_score(name: str, question_stems: set[str]) -> float:
    """The share of a name's words that occur in the question (stems: 'singers' names 'singer')."""
    words = [w for w in natural_name(name).split() if w not in _STOPWORDS]
    if not words:
        return 0.0
    return sum(1 for w in words if _stem(w) in question_stems) / len(words)


def schema_items(schema: DatabaseSchema) -> list[tuple[str, str | None, str]]:
    """(table, column or None, text embedded for it), tables first."""
    items: list[tuple[str, str | None, str]] = [(t.name, None, natural_name(t.name)) for t in schema.tables]
    items += [(t.name, c.name, natural_name(c.name)) for t in schema.tables for c in t.columns]
    return items


def score_schema(schema: DatabaseSchema, question: str, embed: Embed, *,
                 item_vectors: np.ndarray | None = None, valued: Iterable[tuple[str, str]] = ()) -> dict[str, float]:
    """Scores of every table ("t") and column ("t.c"): the best cosine between its name and a question phrase,
    raised to the name's lexical overlap with the question; columns holding a grounded value score 1. A table
    scores at least 0.9 x its best column (a question names a table through its columns, too)."""
    items = schema_items(schema)
    if item_vectors is None:
        item_vectors = embed([text for _, _, text in items])
    phrase_vectors = embed(question_phrases(question))
    similarity = (np.asarray(item_vectors) @ np.asarray(phrase_vectors).T).max(axis=1)
    stems = {_stem(w) for w in re.findall(r"[a-z0-9]+", natural_name(question))}
    valued = {(t.lower(), c.lower()) for t, c in valued}
    scores: dict[str, float] = {}
    for (table, column, _), sim in zip(items, similarity.tolist()):
        name = column if column is not None else table
        score = max(float(sim), lexical_score(name, stems))
        if column is not None and (table.lower(), column.lower()) in valued:
            score = 1.0
        scores[table if column is None else f"{table}.{column}"] = round(score, 4)
    for table in schema.tables:
        best_column = max((scores[f"{table.name}.{c.name}"] for c in table.columns), default=0.0)
        scores[table.name] = max(scores[table.name], round(0.9 * best_column, 4))
    return scores


def link_schema(schema: DatabaseSchema, scores: dict[str, float], *, tables: int, columns: int,
                extra_tables: Sequence[str] = ()) -> SchemaLink:
    """Keep the `tables` best tables (and `extra_tables`), close them over foreign-key paths, and in each the
    `columns` best columns plus its primary key and the foreign keys between kept tables."""
    by_score = sorted(schema.tables, key=lambda t: -scores.get(t.name, 0.0))
    kept = {t.name for t in by_score[:tables]} | {t.name for t in schema.tables
                                                  if t.name.lower() in {e.lower() for e in extra_tables}}
    kept = join_closure(schema, kept)
    linked_columns: dict[str, list[str]] = {}
    for table in schema.tables:
        if table.name not in kept:
            continue
        best = sorted(table.columns, key=lambda c: -scores.get(f"{table.name}.{c.name}", 0.0))[:columns]
        keep = {c.name for c in best} | set(table.primary_key)
        keep |= {fk.column for fk in table.foreign_keys if fk.ref_table in kept}
        keep |= {fk.ref_column for other in schema.tables if other.name in kept
                 for fk in other.foreign_keys if fk.ref_table == table.name}
        linked_columns[table.name] = [c.name for c in table.columns if c.name in keep]
    ordered = [t.name for t in schema.tables if t.name in kept]
    return SchemaLink(ordered, linked_columns, scores)


def join_closure(schema: DatabaseSchema, kept: set[str]) -> set[str]:
    """`kept` plus every table on a shortest foreign-key path between two kept tables."""
    graph: dict[str, set[str]] = {t.name: set() for t in schema.tables}
    for table in schema.tables:
        for fk in table.foreign_keys:
            if fk.ref_table in graph and fk.ref_table != table.name:
                graph[table.name].add(fk.ref_table)
                graph[fk.ref_table].add(table.name)
    out = set(kept)
    ordered = [t.name for t in schema.tables if t.name in kept]
    for i, start in enumerate(ordered):
        parents = _bfs(graph, start)
        for goal in ordered[i + 1:]:
            node = goal
            while node in parents and parents[node] is not None:
                out.add(node)
                node = parents[node]
    return out


def _bfs(graph: dict[str, set[str]], start: str) -> dict[str, str | None]:
    parents: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph[node]):
            if nxt not in parents:
                parents[nxt] = node
                queue.append(nxt)
    return parents


def linked_schema(schema: DatabaseSchema, link: SchemaLink) -> DatabaseSchema:
    """The schema cut down to the link: kept tables, kept columns, keys among them."""
    tables = []
    for table in schema.tables:
        if table.name not in link.columns:
            continue
        keep = set(link.columns[table.name])
        tables.append(TableSchema(
            table.name, [c for c in table.columns if c.name in keep],
            [k for k in table.primary_key if k in keep],
            [fk for fk in table.foreign_keys if fk.column in keep and fk.ref_table in link.columns
             and fk.ref_column in link.columns[fk.ref_table]]))
    return DatabaseSchema(schema.db_id, tables)


def schema_summary(schema: DatabaseSchema) -> str:
    """One line per table, `table(column, ...)`: what the repair turn restates."""
    return "\n".join(f"{t.name}({', '.join(c.name for c in t.columns)})" for t in schema.tables)


# -- the model pass ------------------------------------------------------------------------------------------------
MODEL_PROMPT = ("Which tables of this database are needed to write a SQL query for the question? Answer with a "
                "JSON object {{\"tables\": [...]}} naming only tables of the schema.\n\nTables:\n{tables}\n\n"
                "Question: {question}")
MODEL_PREFILL = '{"tables": ["'


def model_link_messages(schema: DatabaseSchema, question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": MODEL_PROMPT.format(tables=schema_summary(schema), question=question)}]


def parse_model_tables(text: str, schema: DatabaseSchema, prefilled: bool = True) -> list[str]:
    """The schema's tables the model named (case-insensitive); anything else it wrote is dropped."""
    body = (MODEL_PREFILL + text) if prefilled else text
    names: list[str] = []
    match = re.search(r"\{.*?\}", body, re.S)
    if match:
        try:
            value = json.loads(match.group())
            names = [n for n in value.get("tables", []) if isinstance(n, str)] if isinstance(value, dict) else []
        except json.JSONDecodeError:
            names = []
    if not names:  # unfinished JSON (a stop or a token limit): the quoted names it did write
        names = re.findall(r"\"([^\"]+)\"", body)
    known = {t.name.lower(): t.name for t in schema.tables}
    return list(dict.fromkeys(known[n.strip().lower()] for n in names if n.strip().lower() in known))


# -- recall against gold -------------------------------------------------------------------------------------------
def sql_schema_items(sql: str, schema: DatabaseSchema) -> tuple[set[str], set[str]]:
    """The tables and columns ("table.column", lower-cased) a query uses: its names that name a table, and its
    names that name a column of one of those tables (every such table, when the name is ambiguous)."""
    names = {text.lower() for kind, text in tokenize(sql) if kind == "name"}
    tables = {t.name.lower() for t in schema.tables if t.name.lower() in names}
    columns = {f"{t.name.lower()}.{c.name.lower()}" for t in schema.tables if t.name.lower() in tables
               for c in t.columns if c.name.lower() in names}
    return tables, columns


def link_recall(link: SchemaLink, gold_sql: str, schema: DatabaseSchema) -> dict[str, float | None]:
    """The share of the gold query's tables and columns the link kept (None when the query names none)."""
    tables, columns = sql_schema_items(gold_sql, schema)
    kept_tables = {t.lower() for t in link.tables}
    kept_columns = {f"{t.lower()}.{c.lower()}" for t, cs in link.columns.items() for c in cs}
    return {"tables": len(tables & kept_tables) / len(tables) if tables else None,
            "columns": len(columns & kept_columns) / len(columns) if columns else None}


def outside_link(sql: str, schema: DatabaseSchema, link: SchemaLink) -> list[str]:
    """Schema names a query uses that the link left out: a table not kept, or a column that no kept table keeps
    (a name that is no table or column of the schema, like an alias, is not this check's business)."""
    names = list(dict.fromkeys(text for kind, text in tokenize(sql) if kind == "name"))
    tables = {t.name.lower() for t in schema.tables}
    columns = {c.name.lower() for t in schema.tables for c in t.columns}
    kept_columns = link.column_names()
    out = []
    for name in names:
        lower = name.lower()
        if lower in tables and not link.has_table(name):
            out.append(f"table {name}")
        elif lower in columns and lower not in tables and lower not in kept_columns:
            out.append(f"column {name}")
    return out
