"""Metadata filters -> a Milvus boolean expression.

    {"source": "report.pdf"}                 a path, a file name (matches any folder) or a glob with *
    {"source": ["a.pdf", "b.md"]}            any of them
    {"type": "table"} / {"type": ["table", "picture"]}
    {"page": 3} / {"page": (2, 5)}           one page or an inclusive range (either end may be None)
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import ConfigError

TYPES = ("text", "table", "picture")
KEYS = ("source", "type", "page")


def _lit(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return _lit(escaped.replace("*", "%"))


def source_expr(value: str) -> str:
    if "*" in value:
        return f"source like {_like(value if value.startswith('*') or '/' in value else '*/' + value)}"
    if "/" in value:
        return f"source == {_lit(value)}"
    return f"(source == {_lit(value)} or source like {_like('*/' + value)})"  # a bare file name


def _any(values: Any, one) -> str:
    items = [values] if isinstance(values, str) else list(values)
    if not items:
        raise ConfigError("an empty filter list matches nothing; drop the filter or give values")
    parts = [one(v) for v in items]
    return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"


def _type_expr(value: str) -> str:
    if value not in TYPES:
        raise ConfigError(f"unknown element type '{value}' in filter; use one of {', '.join(TYPES)}")
    return f"type == {_lit(value)}"


def _page_expr(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"page == {value}"
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ConfigError(f"page filter {value!r}: give a page number or a (first, last) pair") from None
    parts = [f"page >= {int(low)}"] if low is not None else []
    parts += [f"page <= {int(high)}"] if high is not None else []
    return " and ".join(parts) or "page >= 0"


def filter_expr(filters: dict[str, Any] | None) -> str:
    """The Milvus expression for a filters dict ('' when there is nothing to filter)."""
    if not filters:
        return ""
    unknown = [k for k in filters if k not in KEYS]
    if unknown:
        raise ConfigError(f"unknown filter key(s) {', '.join(unknown)}; filters take {', '.join(KEYS)}")
    parts = []
    if filters.get("source") is not None:
        parts.append(_any(filters["source"], source_expr))
    if filters.get("type") is not None:
        parts.append(_any(filters["type"], _type_expr))
    if filters.get("page") is not None:
        parts.append(_page_expr(filters["page"]))
    return " and ".join(parts)


def exclude_versions(versions: list[str]) -> str:
    return f"version not in [{', '.join(_lit(v) for v in versions)}]" if versions else ""


def both(*exprs: str) -> str:
    kept = [e for e in exprs if e]
    return " and ".join(f"({e})" for e in kept)


def parse_page_range(text: str | None) -> Any:
    """'3' -> 3, '2-5' -> (2, 5), '4-' -> (4, None) (a CLI convenience)."""
    if not text:
        return None
    try:
        if "-" not in text:
            return int(text)
        low, high = text.split("-", 1)
        return (int(low) if low else None, int(high) if high else None)
    except ValueError:
        raise ConfigError(f"bad page range '{text}'; write 3, 2-5 or 4-") from None
