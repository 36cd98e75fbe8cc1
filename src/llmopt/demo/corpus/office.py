"""Word and PowerPoint files for the demo corpus, with their zip entries normalised so the bytes never change."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from ...paths import atomic_write_bytes
from . import content as C


def write_minutes(path: Path) -> None:
    import docx

    document = docx.Document()
    _fixed_properties(document.core_properties)
    document.add_heading("Board meeting minutes, 12 December 2024", level=1)
    document.add_paragraph(f"The board of {C.COMPANY} met in Tallinn. The chair opened the meeting at 10:00.")
    document.add_heading("Decisions", level=2)
    document.add_paragraph("The board approved a EUR 6.5 million expansion of the Gdansk plant, to add a second "
                           "airframe line in 2025.")
    document.add_paragraph("The board approved the payout below, to be paid in May 2025.")
    table = document.add_table(rows=3, cols=2)
    for row, (key, value) in zip(table.rows, [("Item", "Amount"), ("Dividend per share", "EUR 0.42"),
                                               ("Record date", "30 April 2025")]):
        row.cells[0].text, row.cells[1].text = key, value
    document.add_heading("Attendance", level=2)
    document.add_paragraph(f"Present: {C.PEOPLE['ceo']} (chief executive), {C.PEOPLE['cfo']} (finance) and four "
                           "non-executive directors.")
    buffer = io.BytesIO()
    document.save(buffer)
    atomic_write_bytes(path, normalise_zip(buffer.getvalue()))


def write_deck(path: Path) -> None:
    from pptx import Presentation
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.util import Inches

    prs = Presentation()
    _fixed_properties(prs.core_properties)
    slide = prs.slides.add_slide(prs.slide_layouts[0])
    slide.shapes.title.text = f"{C.COMPANY}: investor update"
    slide.placeholders[1].text = "Capital markets day, January 2025"
    slide = prs.slides.add_slide(prs.slide_layouts[1])
    slide.shapes.title.text = "Targets for 2025"
    body = slide.placeholders[1].text_frame
    body.text = "Ship 40,000 units in 2025"
    for line in ("Open a service centre in Ontario", "Launch the Skylark S3 survey drone in the autumn"):
        body.add_paragraph().text = line
    slide = prs.slides.add_slide(prs.slide_layouts[5])
    slide.shapes.title.text = "Software subscriptions"
    data = CategoryChartData()
    data.categories = ["2022", "2023", "2024"]
    data.add_series("Nimbus Hub subscribers", (310, 545, 905))
    slide.shapes.add_chart(XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(1.6), Inches(8), Inches(5), data)
    buffer = io.BytesIO()
    prs.save(buffer)
    atomic_write_bytes(path, normalise_zip(buffer.getvalue()))


def _fixed_properties(props) -> None:
    import datetime

    moment = datetime.datetime(2025, 1, 15, 9, 0, 0)
    props.author, props.title = C.COMPANY, ""
    props.created = props.modified = moment
    props.last_modified_by = C.COMPANY


_DATE = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)")


def normalise_zip(data: bytes) -> bytes:
    """Same entries, fixed timestamps and dates (also inside an embedded chart workbook): deterministic bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            payload = source.read(name)
            if name.endswith(".xlsx"):
                payload = normalise_zip(payload)
            elif name.endswith("core.xml"):
                payload = _DATE.sub(rb"\g<1>2025-01-15T09:00:00Z\g<3>", payload)
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 15, 9, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, payload)
    return out.getvalue()
