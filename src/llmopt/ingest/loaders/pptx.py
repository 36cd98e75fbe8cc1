"""PowerPoint via python-pptx: one page per slide; the slide title is a heading, text frames are text or lists,
tables are tables, pictures are pictures, and native charts become their data (exact numbers, no OCR needed).
Speaker notes are kept as text."""

from __future__ import annotations

from pathlib import Path

from ..config import IngestConfig
from ..document import Document, Element
from ..tables import normalize_rows, to_markdown
from . import loader

EMU_PER_PT = 12700


@loader("pptx", [".pptx"], zipped=True)
def load(path: Path, config: IngestConfig) -> Document:
    from pptx import Presentation

    prs = Presentation(str(path))
    doc = Document(str(path), "pptx", pages=len(prs.slides), converter="python-pptx",
                   title=prs.core_properties.title or path.stem)
    for number, slide in enumerate(prs.slides, start=1):
        title = slide.shapes.title
        if title is not None and title.has_text_frame and title.text_frame.text.strip():
            doc.elements.append(Element("heading", " ".join(title.text_frame.text.split()), page=number, level=1))
        shapes = sorted(slide.shapes, key=lambda s: (s.top or 0, s.left or 0))
        for shape in shapes:
            if title is not None and shape.shape_id == title.shape_id:
                continue
            doc.elements += _shape(shape, number)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = " ".join(slide.notes_slide.notes_text_frame.text.split())
            if notes:
                doc.elements.append(Element("text", f"Speaker notes: {notes}", page=number))
    return doc


def _bbox(shape):
    if shape.left is None or shape.top is None:
        return None
    x0, y0 = shape.left / EMU_PER_PT, shape.top / EMU_PER_PT
    return (x0, y0, x0 + (shape.width or 0) / EMU_PER_PT, y0 + (shape.height or 0) / EMU_PER_PT)


def _shape(shape, page: int) -> list[Element]:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        return [e for sub in shape.shapes for e in _shape(sub, page)]
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = normalize_rows([[cell.text for cell in row.cells] for row in shape.table.rows])
        return [Element("table", rows=rows, page=page, bbox=_bbox(shape))] if rows else []
    if getattr(shape, "has_chart", False) and shape.has_chart:
        return [_chart(shape, page)]
    if shape.shape_type == MSO_SHAPE_TYPE.PICTURE:
        image = shape.image
        return [Element("picture", page=page, bbox=_bbox(shape), image=image.blob, image_ext=image.ext,
                        caption=(shape.name if not shape.name.lower().startswith("picture") else ""))]
    if shape.has_text_frame:
        lines = [(p.level, " ".join("".join(r.text for r in p.runs).split())) for p in shape.text_frame.paragraphs]
        lines = [(level, text) for level, text in lines if text]
        if len(lines) > 1:
            text = "\n".join("  " * level + f"- {t}" for level, t in lines)
            return [Element("list", text, page=page, bbox=_bbox(shape))]
        if lines:
            return [Element("text", lines[0][1], page=page, bbox=_bbox(shape))]
    return []


def _chart(shape, page: int) -> Element:
    """A native chart: its series values are exact, so its text is the data table (method pptx-chart-data)."""
    chart = shape.chart
    title = chart.chart_title.text_frame.text if chart.has_title and chart.chart_title.has_text_frame else ""
    plot = chart.plots[0] if len(chart.plots) else None
    categories = [str(c) for c in plot.categories] if plot is not None else []
    rows = [["series"] + categories]
    for series in chart.series:
        rows.append([series.name] + [f"{v:g}" if isinstance(v, (int, float)) else "" for v in series.values])
    text = (f"Chart: {title}\n" if title else "Chart\n") + to_markdown(normalize_rows(rows))
    return Element("picture", text=text, page=page, bbox=_bbox(shape), caption=title, method="pptx-chart-data")
