"""The PDF loader on PDFs drawn here with reportlab: reading order, headings, tables, figures, captions, running
headers, and the bad cases (encrypted, corrupt, empty)."""

import io

import pytest

from llmopt.errors import InputError
from llmopt.ingest.config import IngestConfig
from llmopt.ingest.loaders import load_document

LOREM = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango").split()


def chart_png() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (300, 200), "white")
    draw = ImageDraw.Draw(image)
    for i, h in enumerate((60, 120, 90)):
        draw.rectangle((30 + 90 * i, 190 - h, 90 + 90 * i, 190), fill=(70, 120, 170))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def column_lines(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i} " + " ".join(LOREM[(i + j) % 20] for j in range(5)) for i in range(n)]


def write_pdf(path, pages=3, encrypt=None):
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4, invariant=1, encrypt=encrypt)
    width, height = A4
    for page in range(1, pages + 1):
        c.setFont("Helvetica", 8)
        c.drawString(50, height - 30, "Acme Corp - Confidential report")  # running header
        c.drawString(width - 60, 25, str(page))  # page number
        c.setFont("Helvetica-Bold", 18)
        c.drawString(50, height - 80, f"Chapter {page} overview")
        c.setFont("Helvetica", 10)
        for i, line in enumerate(column_lines("left", 12)):  # two columns
            c.drawString(50, height - 120 - 14 * i, line)
        for i, line in enumerate(column_lines("right", 12)):
            c.drawString(310, height - 120 - 14 * i, line)
        if page == 1:
            top = height - 330
            c.drawString(50, top + 12, "Table 1. Revenue by product.")
            rows = [["Product", "2023", "2024"], ["Harvest-X", "41.5", "48.2"], ["Skylark", "27.3", "31.7"]]
            for r, row in enumerate(rows):
                for k, cell in enumerate(row):
                    c.drawString(55 + 100 * k, top - 15 - 20 * r, cell)
            for r in range(4):
                c.line(50, top - 20 * r, 350, top - 20 * r)
            for k in range(4):
                c.line(50 + 100 * k, top, 50 + 100 * k, top - 60)
            c.drawImage(ImageReader(io.BytesIO(chart_png())), 50, top - 300, width=225, height=150)
            c.drawString(50, top - 318, "Figure 1. Units by region.")
        if page == 2:
            c.setFont("Helvetica", 10)
            for i, (title, number) in enumerate([("Introduction", "1"), ("Methods", "4"), ("Results", "9")]):
                c.drawString(50, height - 330 - 14 * i, f"{title} " + ". " * 30 + number)
        c.showPage()
    c.save()
    return path


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    path = write_pdf(tmp_path_factory.mktemp("pdf") / "report.pdf")
    return load_document(path, IngestConfig())


def texts(doc, kind=None, page=None):
    return [e.text for e in doc.elements if (kind is None or e.kind == kind) and (page is None or e.page == page)]


def test_two_columns_read_left_then_right(doc):
    body = " ".join(texts(doc, "text", 1))
    assert body.index("left0 ") < body.index("left11 ") < body.index("right0 ") < body.index("right11 ")


def test_headings_pages_and_no_running_furniture(doc):
    assert texts(doc, "heading") == [f"Chapter {p} overview" for p in (1, 2, 3)]
    assert {e.page for e in doc.elements} == {1, 2, 3} and doc.pages == 3
    everything = " ".join(e.text for e in doc.elements)
    assert "Confidential report" not in everything  # the running header is furniture
    assert all(e.bbox and 0 <= e.bbox[0] < e.bbox[2] and e.bbox[1] < e.bbox[3] for e in doc.elements)


def test_ruled_table_cells_with_caption(doc):
    tables = [e for e in doc.elements if e.kind == "table" and e.page == 1]
    assert len(tables) == 1
    assert tables[0].rows == [["Product", "2023", "2024"], ["Harvest-X", "41.5", "48.2"], ["Skylark", "27.3", "31.7"]]
    assert tables[0].caption == "Table 1. Revenue by product." and tables[0].meta["method"] == "ruled"
    assert "Harvest-X" not in " ".join(texts(doc, "text"))  # cells are not repeated as prose


def test_figure_is_cropped_with_its_caption(doc):
    from PIL import Image

    pictures = [e for e in doc.elements if e.kind == "picture"]
    assert len(pictures) == 1
    figure = pictures[0]
    assert figure.page == 1 and figure.caption == "Figure 1. Units by region." and figure.meta["raster"]
    x0, top, x1, bottom = figure.bbox
    assert abs(x0 - 50) < 2 and abs((x1 - x0) - 225) < 2 and abs((bottom - top) - 150) < 2
    image = Image.open(io.BytesIO(figure.image))
    assert image.size[0] == pytest.approx(225 * 2, abs=4)  # rendered at 144 dpi
    assert "Figure 1." not in " ".join(texts(doc, "text"))


def test_table_of_contents_becomes_a_table(doc):
    tocs = [e for e in doc.elements if e.kind == "table" and e.page == 2]
    assert len(tocs) == 1 and tocs[0].rows == [["Introduction", "1"], ["Methods", "4"], ["Results", "9"]]
    assert tocs[0].meta["method"] == "leaders"


def test_bad_pdfs_name_the_problem(tmp_path):
    good = write_pdf(tmp_path / "good.pdf", pages=1)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(good.read_bytes()[:300])
    with pytest.raises(InputError, match="corrupt or unreadable PDF"):
        load_document(broken, IngestConfig())
    locked = write_pdf(tmp_path / "locked.pdf", pages=1, encrypt="secret")
    with pytest.raises(InputError, match="encrypted PDF .*qpdf --decrypt"):
        load_document(locked, IngestConfig())
    not_pdf = tmp_path / "fake.pdf"
    not_pdf.write_text("hello, I am text")
    with pytest.raises(InputError, match="corrupt or unreadable PDF"):
        load_document(not_pdf, IngestConfig())


def test_an_empty_page_yields_no_elements(tmp_path):
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(tmp_path / "blank.pdf"), invariant=1)
    c.showPage()
    c.save()
    assert load_document(tmp_path / "blank.pdf", IngestConfig()).elements == []
