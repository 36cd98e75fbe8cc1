"""The annual report PDF: prose with headings, a ruled table, charts whose numbers exist only as pixels (and
distractor charts), running headers and page numbers. reportlab in invariant mode: same bytes every time."""

from __future__ import annotations

import io
from pathlib import Path

from . import content as C
from .charts import bar_chart


def write_report(path: Path) -> None:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Image, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    story = [Paragraph(f"{C.COMPANY} Annual Report 2024", styles["Title"])]

    def chart(stem: str) -> list:
        _, title, caption, labels, values, unit = next(c for c in C.CHARTS if c[0] == stem)
        image = Image(io.BytesIO(bar_chart(title, labels, values, unit)), width=15 * cm, height=8.9 * cm)
        return [image, Paragraph(caption, styles["Italic"]), Spacer(1, 0.4 * cm)]

    for section, paragraphs in C.REPORT_SECTIONS:
        story.append(Paragraph(section, styles["Heading1"]))
        story += [Paragraph(p, styles["BodyText"]) for p in paragraphs]
        if section == "Financial results":
            story += [Paragraph("Table 1. Revenue by product line, EUR million.", styles["Italic"]),
                      _revenue_table(Table, TableStyle, colors), Spacer(1, 0.4 * cm), PageBreak()]
            story += chart("chart_units_2024") + chart("chart_units_2023") + [PageBreak()]
        elif section == "Research and development":
            story += chart("chart_battery") + chart("chart_csat") + [PageBreak()]
            story += chart("chart_headcount")
    story += [PageBreak(), Paragraph("Regional notes", styles["Heading1"])]
    for region, details in C.REGION_DETAILS.items():
        story.append(Paragraph(region, styles["Heading2"]))
        for topic, template in C.REGION_NOTES_TOPICS:
            story.append(Paragraph(f"<b>{topic.capitalize()}.</b> " + template.format(r=region, **details),
                                   styles["BodyText"]))
    doc = SimpleDocTemplate(str(path), pagesize=A4, invariant=1, title=f"{C.COMPANY} Annual Report 2024",
                            author=C.COMPANY, creator="llmopt demo-data", leftMargin=2.2 * cm, rightMargin=2.2 * cm)
    doc.build(story, onFirstPage=_furniture, onLaterPages=_furniture)


def _revenue_table(Table, TableStyle, colors):
    rows = [["Product line", "2023", "2024"]] + [[p, f"{C.REVENUE[p][0]:.1f}", f"{C.REVENUE[p][1]:.1f}"]
                                                 for p in C.PRODUCTS]
    table = Table(rows, colWidths=[150, 80, 80])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.6, colors.black),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                               ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold")]))
    return table


def _furniture(canvas, doc) -> None:
    """A running header and a page number, as real reports have (ingestion should drop both)."""
    canvas.saveState()
    canvas.setFont("Helvetica", 8)
    width, height = doc.pagesize
    canvas.drawString(doc.leftMargin, height - 1.2 * 28.35, f"{C.COMPANY} - Annual Report 2024")
    canvas.drawRightString(width - doc.rightMargin, 1.0 * 28.35, f"{doc.page}")
    canvas.restoreState()
