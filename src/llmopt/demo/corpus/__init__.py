"""The demo corpus (`llmopt demo-data DIR` -> DIR/corpus/): a fictional company's documents in every supported
format, deterministic to the byte, with facts.json listing each fact and where it lives (document, page, and
whether it exists only in a table, only in a chart image or only in a picture), plus multi-hop chains.

    annual_report_2024.pdf    prose, a ruled revenue table, five bar charts whose numbers exist only as pixels
                              (two of them near-identical distractors), running headers, regional notes
    operations_handbook.html  plants, managers, capacities (an HTML table) and procedures
    product_faq.md            product specifications (a Markdown table) and people
    press_release.txt         an order and a new CFO
    org_chart.png             leadership boxes: the CTO's name exists only in this image
    board_minutes_2024.docx   decisions and a dividend table
    investor_deck.pptx        targets and a native chart
    field_notes/*.md          twenty short regional field reports (realistic bulk and distractors)
"""

from __future__ import annotations

import json
from pathlib import Path

from ...paths import atomic_write_bytes, atomic_write_text
from .. import writer
from . import content as C
from .charts import org_chart
from .office import write_deck, write_minutes
from .report_pdf import write_report
from .texts import faq_markdown, field_notes, handbook_html, press_release


@writer("corpus")
def write(out_dir: Path) -> list[Path]:
    root = Path(out_dir) / "corpus"
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "annual_report_2024.pdf": lambda p: write_report(p),
        "operations_handbook.html": lambda p: atomic_write_text(p, handbook_html()),
        "product_faq.md": lambda p: atomic_write_text(p, faq_markdown()),
        "press_release.txt": lambda p: atomic_write_text(p, press_release()),
        "org_chart.png": lambda p: atomic_write_bytes(p, org_chart(
            [("Chief Executive Officer", C.PEOPLE["ceo"]), ("Chief Financial Officer", C.PEOPLE["cfo"]),
             ("Chief Technology Officer", C.PEOPLE["cto"]), ("Head of Manufacturing", "Jonas Pärn")])),
        "board_minutes_2024.docx": write_minutes,
        "investor_deck.pptx": write_deck,
    }
    written = []
    for name, make in files.items():
        make(root / name)
        written.append(root / name)
    for name, text in field_notes().items():
        atomic_write_text(root / "field_notes" / name, text)
        written.append(root / "field_notes" / name)
    facts = root / "facts.json"
    atomic_write_text(facts, json.dumps(facts_document(root), indent=2, ensure_ascii=False) + "\n")
    return written + [facts]


def facts_document(root: Path) -> dict:
    pages = _pdf_pages(root / "annual_report_2024.pdf")
    facts = []
    for fact_id, statement, document, anchor, where, only in C.FACTS:
        page = anchor if isinstance(anchor, int) else _page_of(pages, anchor) if anchor else None
        facts.append({"id": fact_id, "statement": statement, "document": document, "page": page, "where": where,
                      "only_in": where if only else None})
    charts = [{"document": "annual_report_2024.pdf", "page": _page_of(pages, caption), "title": title,
               "caption": caption, "values": dict(zip(labels, values)), "unit": unit}
              for _, title, caption, labels, values, unit in C.CHARTS]
    chains = [{"question": q, "answer": a, "facts": ids} for q, a, ids in C.CHAINS]
    return {"company": C.COMPANY, "about": "Fictional company; every fact below is true in this corpus only.",
            "facts": facts, "charts": charts, "chains": chains}


def _pdf_pages(path: Path) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        return [" ".join(pdf[i].get_textpage().get_text_range().split()) for i in range(len(pdf))]
    finally:
        pdf.close()


def _page_of(pages: list[str], anchor: str) -> int:
    needle = " ".join(anchor.split())
    for number, text in enumerate(pages, start=1):
        if needle in text:
            return number
    raise AssertionError(f"demo corpus: '{anchor}' is on no page of the report")
