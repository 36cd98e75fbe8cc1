"""What a loader returns: a Document, a flat list of typed Elements in reading order, each with its provenance.
Chunking (chunking.py) turns Elements into Chunks; loaders never chunk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BBox = tuple[float, float, float, float]  # (x0, y0, x1, y1), PDF points, origin top-left of the page

KINDS = ("heading", "text", "list", "code", "table", "picture")


@dataclass
class Element:
    kind: str  # one of KINDS
    text: str = ""  # heading/text/list/code: the text; table: rendered later from rows; picture: filled in later
    page: int | None = None
    bbox: BBox | None = None
    level: int = 0  # headings: 1 = top level
    rows: list[list[str]] | None = None  # tables: cells, row-major
    header_rows: int = 1  # tables: how many leading rows are headers
    caption: str = ""  # tables and pictures
    image: bytes | None = None  # pictures: PNG/JPEG bytes (the crop as rendered, or the embedded file)
    image_ext: str = "png"
    method: str | None = None  # pictures: how `text` was produced ("ocr+caption", "vlm:MODEL", "pdf-text", ...)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Document:
    source: str  # the path, as given to ingest (resolved)
    format: str  # "pdf" | "docx" | "pptx" | "html" | "markdown" | "text" | "image"
    elements: list[Element] = field(default_factory=list)
    pages: int | None = None
    title: str = ""
    converter: str = ""  # which loader produced it, e.g. "pdfplumber" or "docling"
    warnings: list[str] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(e.kind == kind for e in self.elements)
