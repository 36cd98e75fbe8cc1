"""Tables as cells (row-major lists of strings) and as GitHub-flavoured Markdown."""

from __future__ import annotations

import re

_SPACE = re.compile(r"\s+")


def clean_cell(value) -> str:
    return _SPACE.sub(" ", "" if value is None else str(value)).strip()


def normalize_rows(rows: list[list]) -> list[list[str]]:
    """Rectangular rows of clean strings, without rows or columns that are empty everywhere."""
    cleaned = [[clean_cell(c) for c in row] for row in rows if row is not None]
    cleaned = [row for row in cleaned if any(row)]
    if not cleaned:
        return []
    width = max(len(row) for row in cleaned)
    cleaned = [row + [""] * (width - len(row)) for row in cleaned]
    keep = [j for j in range(width) if any(row[j] for row in cleaned)]
    return [[row[j] for j in keep] for row in cleaned]


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(rows: list[list[str]], header_rows: int = 1) -> str:
    """A Markdown table; the first header row is the Markdown header (an empty one when there is none)."""
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    padded = [list(r) + [""] * (width - len(r)) for r in rows]
    if header_rows >= 1:
        header, body = padded[0], padded[1:]
    else:
        header, body = [""] * width, padded
    lines = ["| " + " | ".join(_md_cell(c) for c in header) + " |", "|" + " --- |" * width]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in body]
    return "\n".join(lines)
