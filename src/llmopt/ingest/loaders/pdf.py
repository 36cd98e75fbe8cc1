"""PDF: text in reading order with page numbers, headings, tables as cells, figures as cropped pictures with
their captions, scanned pages through OCR. PDFium (pypdfium2) reads and renders; pdfplumber's lattice algorithm
finds ruled tables. No model downloads; Docling is available as `converter: docling`."""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

from ...errors import InputError
from ..config import IngestConfig
from ..document import Document, Element
from ..limits import render_scale
from ..pdf.figures import PdfFigure, find_figures
from ..pdf.layout import Block, Segment, classify, heading_levels, make_blocks, make_segments, reading_order
from ..pdf.reader import PageContent, read_page
from ..pdf.tables import PdfTable, find_tables, leader_cells, leader_rows
from ..pictures import group_rows
from . import loader

FIGURE_CAPTION = re.compile(r"^(figure|fig\.|chart|diagram|graph)\s", re.I)
MARGIN = 0.09  # share of the page height where running headers and footers live
_DIGITS = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(r"^(page\s*)?(\d{1,4}|[ivxlcdm]{1,6})(\s*(of|/)\s*\d+)?$", re.I)


def open_pdf(path: Path):
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise InputError("encrypted PDF (it needs a password); decrypt it first, e.g. "
                             "`qpdf --decrypt in.pdf out.pdf`") from None
        raise InputError(f"corrupt or unreadable PDF ({exc}); repair or re-export it, e.g. "
                         "`qpdf in.pdf repaired.pdf`") from None
    if len(pdf) == 0:
        pdf.close()
        raise InputError("the PDF has no pages")
    return pdf


@loader("pdf", [".pdf"])
def load(path: Path, config: IngestConfig) -> Document:
    pdf = open_pdf(path)
    try:
        if len(pdf) > config.max_pdf_pages:  # pages can share their content: a small file may hold millions
            raise InputError(f"the PDF has {len(pdf):,} pages, over the {config.max_pdf_pages:,} limit; split it, "
                             "or raise max_pdf_pages in an ingest config (--config FILE.yaml)")
        pages = [read_page(pdf[i], i + 1) for i in range(len(pdf))]
        body = body_size(pages)
        furniture = running_lines(pages)
        doc = Document(str(path), "pdf", pages=len(pages), converter="pdfium",
                       title=(pdf.get_metadata_dict().get("Title") or "").strip())
        for content in pages:
            doc.elements += _page_elements(pdf, content, config, body, furniture)
    finally:
        pdf.close()
    _set_heading_levels(doc.elements, body)
    if not doc.title:
        doc.title = next((e.text for e in doc.elements if e.kind == "heading"), path.stem)
    return doc


def body_size(pages: list[PageContent]) -> float:
    """The most common glyph height, weighted by characters: the body text size."""
    counts: Counter = Counter()
    for page in pages:
        for word in page.words:
            counts[round(word.size * 2) / 2] += len(word.text)
    return counts.most_common(1)[0][0] if counts else 10.0


def _norm(text: str) -> str:
    return _DIGITS.sub("#", " ".join(text.lower().split()))


def running_lines(pages: list[PageContent]) -> set[str]:
    """Texts in the top or bottom margin that repeat on many pages (running headers and footers)."""
    seen: Counter = Counter()
    for page in pages:
        seen.update({_norm(s.text) for s in make_segments(page.words) if _in_margin(s, page)})
    need = max(3, int(0.4 * len(pages)))
    return {text for text, n in seen.items() if n >= need}


def _in_margin(seg: Segment, page: PageContent) -> bool:
    return seg.bottom < MARGIN * page.height or seg.top > (1 - MARGIN) * page.height


def _is_furniture(seg: Segment, page: PageContent, furniture: set[str]) -> bool:
    return _in_margin(seg, page) and (_norm(seg.text) in furniture or bool(_PAGE_NUMBER.match(seg.text.strip())))


def _page_elements(pdf, page: PageContent, config: IngestConfig, body: float, furniture: set[str]) -> list[Element]:
    if _is_scanned(page) and config.ocr_scanned_pages:
        return _ocr_page(pdf, page, config)
    tables = find_tables(page)
    figures = find_figures(page, [t.bbox for t in tables], config.min_picture_pt)
    taken = {id(w) for t in tables for w in t.words} | {id(w) for f in figures for w in f.words}
    words = [w for w in page.words if id(w) not in taken]
    segments = [s for s in make_segments(words) if not _is_furniture(s, page, furniture)]
    regions = [Segment([], *t.bbox, region=t) for t in tables] + [Segment([], *f.bbox, region=f) for f in figures]
    ordered = _leaders_to_tables(reading_order(segments + regions))
    items = make_blocks(ordered)
    classify([b for b in items if isinstance(b, Block)], body)
    _attach_captions(items)
    figures += _figures_captioned_as_tables(items)
    renders = _render(pdf, page, config, figures)
    return [e for item in items for e in _to_elements(item, page.number, renders)]


def _is_scanned(page: PageContent) -> bool:
    covered = sum((b[2] - b[0]) * (b[3] - b[1]) for b in page.images)
    return len(page.words) < 3 and covered > 0.5 * page.width * page.height


def _ocr_page(pdf, page: PageContent, config: IngestConfig) -> list[Element]:
    from ..pictures import ocr_lines

    scale = render_scale(page.width, page.height, max(config.render_dpi, 200), config)
    image = pdf[page.number - 1].render(scale=scale).to_pil()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    lines = ocr_lines(buffer.getvalue(), max_pixels=config.max_image_pixels)
    paragraphs = [" ".join(lines[i:i + 8]) for i in range(0, len(lines), 8)]
    return [Element("text", p, page=page.number, method="ocr", meta={"scanned": True}) for p in paragraphs]


def _leaders_to_tables(ordered: list[Segment]) -> list[Segment]:
    """Runs of table-of-contents lines become one table region, in place."""
    lines = [(s.text, (s.x0, s.top, s.x1, s.bottom)) if s.region is None else ("", ()) for s in ordered]
    out, last = [], 0
    for start, end in leader_rows(lines):
        run = ordered[start:end]
        rows = [leader_cells(s.text) for s in run]
        box = (min(s.x0 for s in run), min(s.top for s in run), max(s.x1 for s in run), max(s.bottom for s in run))
        table = PdfTable(box, rows, "leaders", [w for s in run for w in s.words], header_rows=0)
        out += ordered[last:start] + [Segment([], *box, region=table)]
        last = end
    return out + ordered[last:]


def _attach_captions(items: list) -> None:
    """A caption block next to a table or figure becomes that region's caption (and leaves the text flow)."""
    regions = [i for i in items if isinstance(i, Segment) and i.region is not None]
    for block in [i for i in items if isinstance(i, Block) and i.kind == "caption"]:
        x0, top, x1, bottom = block.bbox
        best, best_gap = None, 3.0 * block.size + 12
        for region in regions:
            if min(x1, region.x1) - max(x0, region.x0) <= 0 or getattr(region, "_caption", None):
                continue
            gap = max(region.top - bottom, top - region.bottom, 0.0)
            if gap < best_gap:
                best, best_gap = region, gap
        if best is not None:
            best._caption = block.text
            block.kind = "attached"


def _figures_captioned_as_tables(items: list) -> list[PdfFigure]:
    """A ruled "table" captioned "Figure ..." is a diagram drawn with boxes: make it a picture."""
    converted = []
    for item in items:
        caption = getattr(item, "_caption", "")
        if isinstance(item.region if isinstance(item, Segment) else None, PdfTable) and FIGURE_CAPTION.match(caption):
            item.region = PdfFigure(item.region.bbox, raster=False, words=item.region.words)
            converted.append(item.region)
    return converted


def _render(pdf, page: PageContent, config: IngestConfig, figures: list[PdfFigure]) -> dict[int, bytes]:
    """PNG crops of the figures, rendered as the reader sees them (raster and vector alike)."""
    if not figures:
        return {}
    scale = render_scale(page.width, page.height, config.render_dpi, config)
    image = pdf[page.number - 1].render(scale=scale).to_pil()
    crops = {}
    for figure in figures:
        x0, top, x1, bottom = figure.bbox
        crop = image.crop((int(x0 * scale), int(top * scale), int(x1 * scale + 1), int(bottom * scale + 1)))
        buffer = io.BytesIO()
        crop.save(buffer, format="PNG", optimize=False)
        crops[id(figure)] = buffer.getvalue()
    return crops


def _to_elements(item, page_no: int, renders: dict[int, bytes]) -> list[Element]:
    if isinstance(item, Block):
        if item.kind == "attached":
            return []
        kind = {"heading": "heading", "list": "list"}.get(item.kind, "text")
        return [Element(kind, item.text, page=page_no, bbox=item.bbox, meta={"size": item.size})]
    region, caption = item.region, getattr(item, "_caption", "")
    if isinstance(region, PdfTable):
        if not region.rows:
            return []
        return [Element("table", page=page_no, bbox=region.bbox, rows=region.rows, header_rows=region.header_rows,
                        caption=caption, meta={"method": region.method})]
    text_layer = group_rows([(w.top, w.bottom, w.x0, w.text) for w in region.words]) if region.words else []
    return [Element("picture", page=page_no, bbox=region.bbox, caption=caption, image=renders.get(id(region)),
                    meta={"text_layer": text_layer if not region.raster else [], "raster": region.raster})]


def _set_heading_levels(elements: list[Element], body: float) -> None:
    headings = [e for e in elements if e.kind == "heading"]
    levels = heading_levels([e.meta.get("size", body) for e in headings], body)
    for element in headings:
        element.level = min(levels.get(element.meta.get("size", body), 1), 6)
