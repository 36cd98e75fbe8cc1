"""Spider's hardness levels (easy / medium / hard / extra), by Spider's own rules.

`hardness_from_spider` applies the official rules (evaluation.py: count_component1, count_component2,
count_others, eval_hardness) to Spider's parsed `sql` field, quirks included. `hardness_from_sql` applies the
same rules to SQL text through a light tokenizer, for questions that have no parsed form (the demo databases, a
user's own example pool); bench/spider_ids.json was stratified with the parsed form, and tests check that the
two agree on Spider dev.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .tokens import AGGREGATES, Token, tokenize

LEVELS = ("easy", "medium", "hard", "extra")
_LIKE_OP = 9  # index of 'like' in Spider's WHERE_OPS


def classify(component1: int, component2: int, others: int) -> str:
    """Spider's eval_hardness on the three counts."""
    if component1 <= 1 and others == 0 and component2 == 0:
        return "easy"
    if (others <= 2 and component1 <= 1 and component2 == 0) or (component1 <= 2 and others < 2 and component2 == 0):
        return "medium"
    if ((others > 2 and component1 <= 2 and component2 == 0)
            or (2 < component1 <= 3 and others <= 2 and component2 == 0)
            or (component1 <= 1 and others == 0 and component2 <= 1)):
        return "hard"
    return "extra"


# -- the official rules on Spider's parsed SQL -------------------------------------------------------------
def _has_agg(unit: Any) -> bool:
    # Spider applies this to select items, col units, cond units (where unit[0] is the NOT flag) and even to
    # the 'and'/'or' strings of HAVING ('a' != 0): reproduced as is, so levels match the official ones
    return unit[0] != 0


def _conds(sql: dict) -> list:
    return sql["from"]["conds"][::2] + sql["where"][::2] + sql["having"][::2]


def _connectors(sql: dict) -> list:
    return sql["from"]["conds"][1::2] + sql["where"][1::2] + sql["having"][1::2]


def spider_counts(sql: dict) -> tuple[int, int, int]:
    component1 = sum(bool(sql[k]) for k in ("where", "groupBy", "orderBy")) + (sql["limit"] is not None)
    component1 += max(0, len(sql["from"]["table_units"]) - 1)
    component1 += sum(1 for c in _connectors(sql) if c == "or")
    component1 += sum(1 for c in _conds(sql) if c[1] == _LIKE_OP)
    nested = sum(isinstance(c[3], dict) + isinstance(c[4], dict) for c in _conds(sql))
    component2 = nested + sum(sql[k] is not None for k in ("intersect", "except", "union"))
    aggs = sum(_has_agg(u) for u in sql["select"][1]) + sum(_has_agg(u) for u in sql["where"][::2])
    aggs += sum(_has_agg(u) for u in sql["groupBy"])
    if sql["orderBy"]:
        units = [u[1] for u in sql["orderBy"][1] if u[1]] + [u[2] for u in sql["orderBy"][1] if u[2]]
        aggs += sum(_has_agg(u) for u in units)
    aggs += sum(_has_agg(u) for u in sql["having"])
    others = (aggs > 1) + (len(sql["select"][1]) > 1) + (len(sql["where"]) > 1) + (len(sql["groupBy"]) > 1)
    return component1, component2, others


def hardness_from_spider(sql: dict) -> str:
    return classify(*spider_counts(sql))


# -- the same rules on SQL text ----------------------------------------------------------------------------
_CLAUSES = ("select", "from", "where", "group", "having", "order", "limit")


@dataclass
class _Span:
    tokens: list[Token]
    depth: list[int]  # parenthesis depth of each token, relative to the query
    in_subquery: list[bool]  # inside a nested SELECT (its tokens belong to the nested query, not this one)


def _annotate(tokens: list[Token]) -> _Span:
    depth, inside, stack, d = [], [], [], 0
    for i, (kind, text) in enumerate(tokens):
        if text == "(":
            opens_subquery = i + 1 < len(tokens) and tokens[i + 1].text == "select"
            depth.append(d)
            inside.append(any(stack))
            stack.append(opens_subquery)
            d += 1
            continue
        if text == ")" and stack:
            stack.pop()
            d -= 1
        depth.append(d)
        inside.append(any(stack))
    return _Span(tokens, depth, inside)


def _clauses(span: _Span) -> dict[str, list[int]]:
    """Indices of the top-level tokens of each clause (subquery contents excluded)."""
    clauses: dict[str, list[int]] = {}
    current = None
    for i, (kind, text) in enumerate(span.tokens):
        if span.depth[i] == 0 and text in _CLAUSES:
            current = text
            clauses.setdefault(current, [])
            continue
        if current and not span.in_subquery[i] and text != "by":
            clauses[current].append(i)
    return clauses


def _condition_counts(span: _Span, indices: list[int]) -> dict[str, int]:
    """Connectors (and/or, not counting BETWEEN's and), ORs, LIKEs, NOTs and nested SELECTs in a condition."""
    counts = {"connectors": 0, "or": 0, "like": 0, "not": 0, "nested": 0}
    in_between = False
    for i in indices:
        text = span.tokens[i].text
        if text == "between":
            in_between = True
        elif text == "and" and in_between:
            in_between = False
        elif text in ("and", "or"):
            counts["connectors"] += 1
            counts["or"] += text == "or"
        elif text == "like":
            counts["like"] += 1
        elif text == "not" and span.tokens[i - 1].text != "is":
            counts["not"] += 1
        elif text == "(" and i + 1 < len(span.tokens) and span.tokens[i + 1].text == "select":
            counts["nested"] += 1
    return counts


def _items(span: _Span, indices: list[int]) -> list[list[int]]:
    """Split a clause's tokens at top-level commas."""
    items: list[list[int]] = [[]]
    for i in indices:
        if span.tokens[i].text == "," and span.depth[i] == 0:
            items.append([])
        else:
            items[-1].append(i)
    return [item for item in items if item]


def _starts_with_agg(span: _Span, item: list[int]) -> bool:
    words = [i for i in item if span.tokens[i].text not in ("distinct", "all")]
    return bool(words) and span.tokens[words[0]].text in AGGREGATES


def sql_counts(sql: str) -> tuple[int, int, int]:
    tokens = [t for t in tokenize(sql) if t.text != ";"]
    while tokens and tokens[0].text == "(" and tokens[-1].text == ")":
        tokens = tokens[1:-1]
    span = _annotate(tokens)
    iue = next((i for i, t in enumerate(tokens) if span.depth[i] == 0 and not span.in_subquery[i]
                and t.text in ("union", "intersect", "except")), None)
    if iue is not None:
        span = _annotate(tokens[:iue])
    clauses = _clauses(span)
    from_tokens = clauses.get("from", [])
    on_at = next((k for k, i in enumerate(from_tokens) if span.tokens[i].text == "on"), len(from_tokens))
    joins = sum(1 for i in from_tokens[:] if span.depth[i] == 0 and span.tokens[i].text in ("join", ","))
    on = _condition_counts(span, [i for i in from_tokens[on_at:] if span.tokens[i].text not in ("join",)])
    where = _condition_counts(span, clauses.get("where", []))
    having = _condition_counts(span, clauses.get("having", []))
    component1 = sum(k in clauses for k in ("where", "group", "order", "limit")) + joins
    component1 += on["or"] + where["or"] + having["or"] + on["like"] + where["like"] + having["like"]
    component2 = on["nested"] + where["nested"] + having["nested"] + (iue is not None)
    select_items = _items(span, [i for i in clauses.get("select", []) if span.tokens[i].text != "distinct"])
    aggs = sum(_starts_with_agg(span, item) for item in select_items) + where["not"]
    aggs += sum(1 for i in clauses.get("order", []) if span.tokens[i].text in AGGREGATES)
    aggs += having["connectors"] + having["not"]
    group_items = _items(span, clauses.get("group", []))
    others = (aggs > 1) + (len(select_items) > 1) + (where["connectors"] > 0) + (len(group_items) > 1)
    return component1, component2, others


def hardness_from_sql(sql: str) -> str:
    return classify(*sql_counts(sql))


def hardness(sql_text: str, parsed: dict | None = None) -> str:
    """Spider's parsed form when there is one, the SQL text otherwise."""
    return hardness_from_spider(parsed) if parsed else hardness_from_sql(sql_text)
