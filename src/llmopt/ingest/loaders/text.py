"""Plain text: paragraphs split on blank lines."""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import InputError
from ..config import IngestConfig
from ..document import Document, Element
from . import loader

_BLANK = re.compile(r"\n\s*\n")


def read_text(path: Path) -> str:
    """UTF-8 (with or without BOM), else Windows-1252; NUL bytes mean the file is not text."""
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise InputError("binary content in a text file; give it the right extension or exclude it")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in _BLANK.split(text.replace("\r\n", "\n")) if p.strip()]


@loader("text", [".txt", ".text"])
def load(path: Path, config: IngestConfig) -> Document:
    doc = Document(str(path), "text", converter="text")
    doc.elements = [Element("text", p) for p in paragraphs(read_text(path))]
    return doc
