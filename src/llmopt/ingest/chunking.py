"""Structure-aware chunking: Elements -> Chunks, bounded by tokens of the embedding model.

- headings become the section path ("Results > Table 2") carried by every chunk under them; the first chunk of
  a section starts with its heading line
- paragraphs are kept whole where they fit; a section's paragraphs fill a chunk up to `chunk_tokens`; a paragraph
  longer than that is split at sentences (then words), the next piece repeating `overlap_tokens` of the last
- tables are kept whole (caption + Markdown) or split by rows with the header repeated in every piece
- pictures are one chunk each: caption + description or OCR text, and the method that produced it
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ..types import Chunk
from .config import IngestConfig
from .document import Document, Element
from .tables import to_markdown

CountTokens = Callable[[str], int]
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+(?=[^\s])|(?<=[。！？])")


def approx_tokens(text: str) -> int:
    """~4 characters per token: for callers without a tokenizer at hand."""
    return max(1, len(text) // 4)


@dataclass
class _Piece:
    """Text waiting to become a chunk, with the elements it came from."""

    parts: list[tuple[str, str]] = field(default_factory=list)  # (separator before, text)
    tokens: int = 0
    elements: list[Element] = field(default_factory=list)
    heading_only: bool = False  # holds just a section's heading line, which must not become a chunk alone


class Chunker:
    def __init__(self, config: IngestConfig, count_tokens: CountTokens = approx_tokens):
        self.budget = config.chunk_tokens
        self.overlap = config.overlap_tokens
        self.count = count_tokens

    def chunk(self, doc: Document) -> list[Chunk]:
        chunks: list[Chunk] = []
        stack: list[tuple[int, str]] = []
        piece = _Piece()
        section_start = False
        for element in doc.elements:
            if element.kind == "heading":
                self._flush(piece, stack, chunks, doc)
                piece = _Piece()
                while stack and stack[-1][0] >= max(element.level, 1):
                    stack.pop()
                stack.append((max(element.level, 1), element.text))
                section_start = True
            elif element.kind in ("text", "list", "code"):
                if section_start and not piece.parts:
                    self._add(piece, "#" * min(stack[-1][0], 6) + " " + stack[-1][1], element)
                    piece.heading_only = True
                section_start = False
                piece = self._text(element, piece, stack, chunks, doc)
            elif element.kind == "table":
                self._flush(piece, stack, chunks, doc)
                piece = _Piece()
                chunks += self._table(element, stack, doc)
            elif element.kind == "picture" and element.text.strip():
                chunks += self._picture(element, stack, doc)
        self._flush(piece, stack, chunks, doc)
        self._tail_headings(stack, chunks, doc, section_start)
        return _number(chunks, doc.source)

    # -- text ----------------------------------------------------------------------------------------------
    def _add(self, piece: _Piece, text: str, element: Element, glue: str = "\n\n") -> None:
        piece.parts.append((glue if piece.parts else "", text))
        piece.tokens += self.count(text) + 1
        if element not in piece.elements:
            piece.elements.append(element)

    def _text(self, element: Element, piece: _Piece, stack, chunks, doc, glue: str = "\n\n") -> _Piece:
        text = element.text if element.kind != "code" else f"```\n{element.text}\n```"
        tokens = self.count(text)
        if piece.tokens + tokens <= self.budget:
            self._add(piece, text, element, glue)
            piece.heading_only = False
            return piece
        if tokens <= self.budget and not piece.heading_only:  # fits alone: a new chunk keeps it whole
            fresh = self._carry(piece, element)
            self._flush(piece, stack, chunks, doc)
            if fresh.tokens + tokens > self.budget:
                fresh = _Piece()
            self._add(fresh, text, element, glue)
            return fresh
        piece.heading_only = False  # the heading goes with the first sentences (or alone, if they are huge)
        for i, sentence in enumerate(self._sentences(text)):  # too long for one chunk: split, overlapping
            part = Element("text", sentence, page=element.page, bbox=element.bbox, method=element.method)
            piece = self._text(part, piece, stack, chunks, doc, glue if i == 0 else " ")
        return piece

    def _sentences(self, text: str) -> list[str]:
        out = []
        for sentence in (s for s in _SENTENCE.split(text) if s and s.strip()):
            if self.count(sentence) <= self.budget - self.overlap:
                out.append(sentence)
                continue
            words, current = sentence.split(), []
            for word in words:  # a run-on "sentence" (a list without stops, a URL dump): cut at words
                if current and self.count(" ".join(current + [word])) > self.budget - self.overlap:
                    out.append(" ".join(current))
                    current = []
                current.append(word)
            if current:
                out.append(" ".join(current))
        return out

    def _carry(self, previous: _Piece, element: Element) -> _Piece:
        """The overlap: the last whole sentences of the previous chunk, up to overlap_tokens (never its heading)."""
        fresh = _Piece()
        body = [text for glue, text in previous.parts if not text.startswith("#")]
        if not self.overlap or not body:
            return fresh
        tail, tokens = [], 0
        for sentence in reversed(self._sentences(" ".join(body))):
            n = self.count(sentence)
            if tokens + n > self.overlap:
                break
            tail.insert(0, sentence)
            tokens += n
        if tail:
            self._add(fresh, " ".join(tail), previous.elements[-1])
        return fresh

    def _flush(self, piece: _Piece, stack, chunks: list[Chunk], doc: Document) -> None:
        if not piece.parts:
            return
        elements = piece.elements
        chunk = self._make("".join(glue + text for glue, text in piece.parts), "text", elements[0], stack, doc)
        pages = [e.page for e in elements if e.page is not None]
        if pages and max(pages) != min(pages):
            chunk.metadata["page_end"] = max(pages)
            chunk.bbox = None
        elif len(elements) > 1 and all(e.bbox for e in elements):
            boxes = [e.bbox for e in elements]
            chunk.bbox = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                          max(b[3] for b in boxes))
        if any(e.method == "ocr" for e in elements):
            chunk.method = "ocr"
        chunks.append(chunk)
        piece.parts, piece.tokens = [], 0

    def _tail_headings(self, stack, chunks, doc, pending: bool) -> None:
        """A heading with nothing under it (a document's last line, a title page) still gets indexed."""
        if pending and stack:
            chunks.append(self._make("#" * min(stack[-1][0], 6) + " " + stack[-1][1], "text",
                                     Element("heading", page=None), stack[:-1], doc))

    # -- tables and pictures -------------------------------------------------------------------------------
    def _table(self, element: Element, stack, doc: Document) -> list[Chunk]:
        rows, header_rows = element.rows or [], max(0, element.header_rows)
        caption = f"{element.caption}\n\n" if element.caption else ""
        whole = caption + to_markdown(rows, header_rows)
        if self.count(whole) <= self.budget or len(rows) <= header_rows + 1:
            return [self._table_chunk(whole, element, stack, doc, 0, len(rows))]
        header, body = rows[:header_rows], rows[header_rows:]
        chunks, start = [], 0
        while start < len(body):
            end = start + 1
            while end < len(body) and self._fits(caption, header + body[start:end + 1], header_rows):
                end += 1
            label = f"{element.caption} (rows {start + 1}-{end} of {len(body)})\n\n" if element.caption else ""
            text = label + to_markdown(header + body[start:end], header_rows)
            chunks.append(self._table_chunk(text, element, stack, doc, start, end))
            start = end
        return chunks

    def _fits(self, caption: str, rows: list[list[str]], header_rows: int) -> bool:
        return self.count(caption + to_markdown(rows, header_rows)) <= self.budget

    def _table_chunk(self, text, element, stack, doc, start, end) -> Chunk:
        chunk = self._make(text, "table", element, stack, doc)
        chunk.metadata.update({"rows": len(element.rows or []), "cols": len((element.rows or [[]])[0]),
                               "row_range": [start, end], "caption": element.caption})
        if element.meta.get("method"):
            chunk.method = f"table:{element.meta['method']}"
        return chunk

    def _picture(self, element: Element, stack, doc: Document) -> list[Chunk]:
        lines = element.text.split("\n")
        caption = element.caption.strip()
        pieces, current = [], []
        for line in lines:
            if current and self.count("\n".join(current + [line])) > self.budget:
                pieces.append("\n".join(current))
                current = [caption] if caption else []
            current.append(line)
        pieces.append("\n".join(current))
        out = []
        for text in pieces:
            chunk = self._make(text, "picture", element, stack, doc)
            chunk.method, chunk.image = element.method, element.meta.get("image_path")
            chunk.metadata["caption"] = caption
            out.append(chunk)
        return out

    def _make(self, text: str, kind: str, element: Element, stack, doc: Document) -> Chunk:
        section = " > ".join(t for _, t in stack)
        return Chunk(chunk_id="", text=text, source=doc.source, page=element.page, type=kind, bbox=element.bbox,
                     section=section, content_hash=_hash(text), metadata={"format": doc.format})


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _number(chunks: list[Chunk], source: str) -> list[Chunk]:
    """Chunk ids: stable for a given source and chunk position, readable ("3f2a9c1b04-0007")."""
    prefix = hashlib.sha1(source.encode("utf-8")).hexdigest()[:10]
    for ordinal, chunk in enumerate(chunks):
        chunk.chunk_id = f"{prefix}-{ordinal:04d}"
    return chunks
