"""Word documents via python-docx: body paragraphs and tables in order, heading levels from paragraph styles,
inline pictures with the caption paragraph that follows them."""

from __future__ import annotations

import re
from pathlib import Path

from ..config import IngestConfig
from ..document import Document, Element
from ..tables import normalize_rows
from . import loader

_HEADING = re.compile(r"^heading\s*(\d)$", re.I)


@loader("docx", [".docx"], zipped=True)
def load(path: Path, config: IngestConfig) -> Document:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = docx.Document(str(path))
    doc = Document(str(path), "docx", converter="python-docx",
                   title=document.core_properties.title or path.stem)
    styles = _paragraph_styles(document)
    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            _paragraph(Paragraph(child, document), styles, document, doc.elements)
        elif tag == "tbl":
            rows = normalize_rows([[cell.text for cell in row.cells] for row in Table(child, document).rows])
            if rows:
                doc.elements.append(Element("table", rows=_dedupe_merged(rows)))
    return doc


def _paragraph_styles(document) -> dict[str | None, str]:
    """Paragraph style id -> name, with the default style under None. Built once: python-docx's paragraph.style
    scans every style for the default on each call (2 ms), minutes on a long document."""
    from docx.enum.style import WD_STYLE_TYPE

    default = document.styles.default(WD_STYLE_TYPE.PARAGRAPH)
    names: dict[str | None, str] = {None: (default.name if default is not None else "") or ""}
    for style in document.styles:
        if style.type == WD_STYLE_TYPE.PARAGRAPH:
            names[style.style_id] = style.name or ""
    return names


def _paragraph(paragraph, styles: dict[str | None, str], document, out: list[Element]) -> None:
    style = styles.get(paragraph._p.style, styles[None])  # an unknown id falls back to the default, as in Word
    text = " ".join(paragraph.text.split())
    for blob, ext in _images(paragraph, document):
        out.append(Element("picture", image=blob, image_ext=ext))
    if not text:
        return
    match = _HEADING.match(style)
    if style.lower() == "caption" and out and out[-1].kind in ("picture", "table") and not out[-1].caption:
        out[-1].caption = text
    elif match or style.lower() == "title":
        out.append(Element("heading", text, level=int(match.group(1)) if match else 1))
    elif "list" in style.lower():
        out.append(Element("list", f"- {text}"))
    else:
        out.append(Element("text", text))


def _images(paragraph, document):
    from docx.oxml.ns import qn

    for blip in paragraph._p.iter(qn("a:blip")):
        rel = blip.get(qn("r:embed"))
        part = document.part.related_parts.get(rel) if rel else None
        if part is not None and getattr(part, "blob", None):
            yield part.blob, (part.partname.ext or "png").lower()


def _dedupe_merged(rows: list[list[str]]) -> list[list[str]]:
    """python-docx repeats a horizontally merged cell's text in every grid column it spans; keep it once."""
    out = []
    for row in rows:
        out.append([c if j == 0 or c != row[j - 1] else "" for j, c in enumerate(row)])
    return out
