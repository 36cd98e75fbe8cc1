"""A small SQL tokenizer: enough to compute query skeletons (example selection) and Spider hardness from SQL text.

Tokens are (kind, text): kind is "keyword", "name", "string", "number", "op" or "punct"; keywords and operators
are lower-cased, names keep their spelling (quotes removed).
"""

from __future__ import annotations

import re
from typing import NamedTuple

KEYWORDS = frozenset("""
select from where group by having order limit offset asc desc join inner left right outer full cross natural on
using as and or not in like glob between is null exists distinct all union intersect except case when then else
end cast collate escape with recursive values count sum avg min max
""".split())
AGGREGATES = frozenset({"count", "sum", "avg", "min", "max"})

_TOKEN = re.compile(r"""
    (?P<ws>\s+|--[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\])
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<op><>|!=|>=|<=|==|\|\||[-+*/%<>=])
  | (?P<punct>[(),.;])
  | (?P<other>.)
""", re.X | re.S)


class Token(NamedTuple):
    kind: str
    text: str


def tokenize(sql: str) -> list[Token]:
    tokens = []
    for match in _TOKEN.finditer(sql):
        kind, text = match.lastgroup, match.group()
        if kind == "ws":
            continue
        if kind == "word":
            lower = text.lower()
            tokens.append(Token("keyword", lower) if lower in KEYWORDS else Token("name", text))
        elif kind == "quoted":
            tokens.append(Token("name", text[1:-1]))
        elif kind == "op":
            tokens.append(Token("op", "!=" if text == "<>" else text))
        else:
            tokens.append(Token("other" if kind == "other" else kind, text))
    return tokens


def token_spans(sql: str) -> list[tuple[Token, int, int]]:
    """The tokens with where each stands in the text: lets a rewrite (example masking) edit names and values of a
    query without touching its keywords, operators or spacing."""
    spans = []
    for match in _TOKEN.finditer(sql):
        if match.lastgroup == "ws":
            continue
        token = tokenize(match.group())
        spans.append((token[0] if token else Token("other", match.group()), match.start(), match.end()))
    return spans


def skeleton(sql: str) -> list[str]:
    """The query's shape: keywords, operators and punctuation kept; names and values become "_".

    `SELECT name FROM singer WHERE age > 30` -> select _ from _ where _ > _ (the form DAIL-SQL compares)."""
    out: list[str] = []
    tokens = tokenize(sql)
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        if kind in ("name", "string", "number"):
            # T1.name is one column reference: fold alias.column into one placeholder
            while i + 2 < len(tokens) and tokens[i + 1].text == "." and tokens[i + 2].kind == "name":
                i += 2
            if not out or out[-1] != "_":
                out.append("_")
        elif text not in (";",):
            out.append(text)
        i += 1
    return out
