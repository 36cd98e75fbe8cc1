"""Markdown (CommonMark + tables) via markdown-it-py: headings, paragraphs, lists, code, tables, images."""

from __future__ import annotations

import re
from pathlib import Path

from ..config import IngestConfig
from ..document import Document, Element
from ..limits import MB
from ..tables import normalize_rows
from . import loader
from .html import local_image
from .text import read_text

_FRONT_MATTER = re.compile(r"\A---\s*\n.*?\n---\s*\n", re.S)


@loader("markdown", [".md", ".markdown"])
def load(path: Path, config: IngestConfig) -> Document:
    from markdown_it import MarkdownIt

    text = _FRONT_MATTER.sub("", read_text(path))
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    doc = Document(str(path), "markdown", converter="markdown-it")
    doc.elements = list(_elements(tokens, path, config.max_file_mb * MB))
    headings = [e for e in doc.elements if e.kind == "heading"]
    doc.title = headings[0].text if headings else path.stem
    return doc


def _elements(tokens, path: Path, max_image_bytes: float):
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open":
            yield Element("heading", tokens[i + 1].content.strip(), level=int(tok.tag[1]))
            i += 3
        elif tok.type == "paragraph_open":
            inline = tokens[i + 1]
            yield from _paragraph(inline, path, max_image_bytes)
            i += 3
        elif tok.type in ("bullet_list_open", "ordered_list_open"):
            end = _close(tokens, i)
            yield Element("list", _list_text(tokens[i:end]))
            i = end + 1
        elif tok.type in ("fence", "code_block"):
            yield Element("code", tok.content.rstrip("\n"))
            i += 1
        elif tok.type == "table_open":
            end = _close(tokens, i)
            rows, header_rows = _table(tokens[i:end])
            yield Element("table", rows=rows, header_rows=header_rows)
            i = end + 1
        elif tok.type == "html_block":
            from bs4 import BeautifulSoup

            text = BeautifulSoup(tok.content, "lxml").get_text(" ", strip=True)
            if text:
                yield Element("text", text)
            i += 1
        else:
            i += 1


def _close(tokens, start: int) -> int:
    """Index of the token closing tokens[start] (same nesting level)."""
    depth = 0
    for j in range(start, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j
    return len(tokens) - 1


def _paragraph(inline, path: Path, max_image_bytes: float):
    """A paragraph's text, and a picture element for each image in it (alt text and title as its caption)."""
    for image in [c for c in inline.children or [] if c.type == "image"]:
        src, alt = image.attrs.get("src", ""), image.content or ""
        data, ext = local_image(src, path.parent, max_image_bytes)
        yield Element("picture", caption=image.attrs.get("title") or alt, image=data, image_ext=ext,
                      meta={"src": src, "alt": alt})
    text = " ".join(_plain(inline).split())
    if text:
        yield Element("text", text)


def _plain(inline) -> str:
    out = []
    for child in inline.children or []:
        if child.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif child.type != "image":
            out.append(child.content)
    return "".join(out)


def _list_text(tokens) -> str:
    lines, depth, number = [], 0, []
    for tok in tokens:
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
            number.append(0 if tok.type == "ordered_list_open" else None)
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
            number.pop()
        elif tok.type == "list_item_open" and number and number[-1] is not None:
            number[-1] += 1
        elif tok.type == "inline":
            marker = f"{number[-1]}." if number and number[-1] is not None else "-"
            lines.append("  " * (depth - 1) + f"{marker} " + " ".join(_plain(tok).split()))
    return "\n".join(lines)


def _table(tokens) -> tuple[list[list[str]], int]:
    rows, row, header_rows, in_head = [], None, 0, False
    for tok in tokens:
        if tok.type == "thead_open":
            in_head = True
        elif tok.type == "thead_close":
            in_head = False
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "tr_close":
            rows.append(row)
            header_rows += in_head
        elif tok.type == "inline" and row is not None:
            row.append(_plain(tok))
    return normalize_rows(rows), header_rows
