"""Text-to-SQL prompts and reading SQL back out of a model's answer.

The prompt follows DAIL-SQL's code representation: the schema as CREATE TABLE statements (keys and sample
values included), then question/SQL example pairs, then the question as a SQL comment. Without reasoning, the
assistant's answer is pre-filled with "```sql\\nSELECT" so that even small models start writing a query at once
(and stop at the closing fence or the first semicolon); with reasoning, the model thinks in a few sentences and
ends with a ```sql block.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .examples import SelectedExample

SYSTEM = ("You are an expert SQLite developer. Given a database schema and a question, you write one correct "
          "SQLite query that answers the question. Use only the tables and columns in the schema.")
INSTRUCTIONS = ("Write one SQLite SELECT query that answers the question. Select only the columns the question "
                "asks for, join tables through their foreign keys, and use the sample values to match the "
                "spelling of values.")
REASONING = ("First explain in at most three short sentences which tables, joins, conditions and aggregations "
             "are needed. Then give the final query in a ```sql code block.")
REPAIR = "The query above failed when run against the database:\n{error}\nWrite a corrected SQLite query."
PREFILL = "```sql\nSELECT"
STOP_DIRECT = ("```", ";")  # the fence closes the answer; a semicolon ends the one statement we run


MASKED_EXAMPLES = ("/* Examples of questions and the SQL that answers them, from other databases; their tables, "
                   "columns and values are masked (table_a, column_a, 'value_a'): follow the pattern, and use only "
                   "the names of the schema above: */")
REPAIR_SCHEMA = "Use only these tables and columns:\n{schema}"


def user_message(schema_sql: str, question: str, examples: Sequence[SelectedExample] = (),
                 reasoning: bool = False, hints: str = "", masked: bool = False) -> str:
    parts = ["/* Database schema (SQLite): */", schema_sql, ""]
    if hints:
        parts += [hints, ""]
    if examples:
        parts.append(MASKED_EXAMPLES if masked else
                     "/* Examples of questions and the SQL that answers them, from other databases: */")
        for selected in examples:
            parts += [f"/* Question: {selected.example.question} */", selected.example.query.rstrip(";") + ";", ""]
    parts += [f"/* {INSTRUCTIONS}{' ' + REASONING if reasoning else ''} */", f"/* Question: {question} */"]
    return "\n".join(parts)


def build_messages(schema_sql: str, question: str, examples: Sequence[SelectedExample] = (),
                   reasoning: bool = False, hints: str = "", masked: bool = False) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": user_message(schema_sql, question, examples, reasoning, hints, masked)}]


def repair_messages(messages: list[dict[str, str]], failed_sql: str, error: str,
                    schema_summary: str = "") -> list[dict[str, str]]:
    """The conversation with the failed query and its error appended: the self-correction turn (restating the
    linked tables and columns when the prompt showed a linked schema)."""
    turn = REPAIR.format(error=error) + ("\n" + REPAIR_SCHEMA.format(schema=schema_summary) if schema_summary else "")
    return messages + [{"role": "assistant", "content": f"```sql\n{failed_sql}\n```"},
                       {"role": "user", "content": turn}]


_STATEMENT_START = re.compile(r"\s*(select|with|values|insert|update|delete|drop|create|alter|attach|detach|"
                              r"pragma|replace|vacuum|begin|explain)\b", re.I)
_FENCE = re.compile(r"```(?:sql|sqlite)?\s*\n?(.*?)(?:```|$)", re.S | re.I)


def extract_sql(text: str, prefilled: bool) -> str:
    """The SQL in a model's answer. With the pre-fill, the answer continues "SELECT"; otherwise the last ```sql
    block, or failing that, the text from the first SELECT/WITH on. Everything the model wrote is kept (a
    second statement included): the safe executor, not this parser, decides what may run."""
    if prefilled:
        body = text.split("```")[0]
        if _STATEMENT_START.match(body):  # the model repeated the keyword or started another statement
            sql = body
        else:
            sql = "SELECT" + (" " if body[:1].isalnum() or body[:1] in "_'\"`[" else "") + body
    else:
        blocks = [b for b in _FENCE.findall(text) if b.strip()]
        if blocks:
            sql = blocks[-1]
        else:
            match = re.search(r"\b(select|with)\b", text, re.I)
            sql = text[match.start():] if match else ""
    return _tidy(sql)


def _tidy(sql: str) -> str:
    sql = sql.strip()
    while sql.endswith(";"):
        sql = sql[:-1].rstrip()
    return sql
