"""Loaders for the non-PDF formats, on small files written here."""

import io

import pytest

from llmopt.errors import InputError
from llmopt.ingest.config import IngestConfig
from llmopt.ingest.loaders import format_of, load_document, supported_extensions


def png(color=(200, 30, 30), size=(40, 30)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def kinds(doc):
    return [e.kind for e in doc.elements]


def load(path):
    return load_document(path, IngestConfig())


def test_registry():
    assert {".pdf", ".docx", ".pptx", ".html", ".md", ".txt", ".png", ".jpg"} <= set(supported_extensions())
    assert format_of(__import__("pathlib").Path("A.PDF")) == "pdf"
    with pytest.raises(InputError, match="unsupported file type '.xyz'"):
        load(__import__("pathlib").Path("a.xyz"))


def test_markdown(tmp_path):
    (tmp_path / "fig.png").write_bytes(png())
    path = tmp_path / "a.md"
    path.write_text("---\ntitle: x\n---\n# Title\n\nFirst *para*\nwraps here.\n\n## Sub\n\n- one\n- two\n  1. nested\n\n"
                    "```python\nprint(1)\n```\n\n| A | B |\n|---|---|\n| 1 | x \\| y |\n\n"
                    "![Fig. 1: a red box](fig.png)\n\n<div>raw <b>html</b></div>\n")
    doc = load(path)
    assert kinds(doc) == ["heading", "text", "heading", "list", "code", "table", "picture", "text"]
    assert doc.title == "Title" and doc.elements[1].text == "First para wraps here."
    assert doc.elements[3].text == "- one\n- two\n  1. nested"
    assert doc.elements[5].rows == [["A", "B"], ["1", "x | y"]] and doc.elements[5].header_rows == 1
    picture = doc.elements[6]
    assert picture.caption == "Fig. 1: a red box" and picture.image == png() and picture.image_ext == "png"


def test_html_drops_scripts_and_keeps_structure(tmp_path):
    (tmp_path / "p.png").write_bytes(png())
    path = tmp_path / "a.html"
    path.write_text("<html><head><title>T</title><script>var x = 'secret';</script></head><body><nav>Menu</nav>"
                    "<h1>Head</h1><div>Loose <a href='#'>text</a> here<p>Para</p></div><ul><li>a<ul><li>b</li></ul>"
                    "</li></ul><table><caption>Cap</caption><tr><th>k</th><th>v</th></tr><tr><td>1</td><td>2</td>"
                    "</tr></table><figure><img src='p.png' alt='alt'><figcaption>Figure 1. Red</figcaption></figure>"
                    "<img src='http://remote/x.png' alt='remote'><pre>code  here</pre></body></html>")
    doc = load(path)
    text = " ".join(e.text for e in doc.elements)
    assert "secret" not in text and "Menu" not in text and doc.title == "T"
    assert kinds(doc) == ["heading", "text", "text", "list", "table", "picture", "picture", "code"]
    assert doc.elements[1].text == "Loose text here" and doc.elements[3].text == "- a\n  - b"
    assert doc.elements[4].rows == [["k", "v"], ["1", "2"]] and doc.elements[4].caption == "Cap"
    assert doc.elements[5].caption == "Figure 1. Red" and doc.elements[5].image == png()
    assert doc.elements[6].image is None and doc.elements[6].caption == "remote"  # never fetched


def test_text_encodings_and_binary(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("Caf\xe9 one\nline two\n\n\nPara two".encode("cp1252"))
    doc = load(path)
    assert [e.text for e in doc.elements] == ["Café one line two", "Para two"]
    path.write_bytes(b"\x00\x01binary")
    with pytest.raises(InputError, match="binary content"):
        load(path)


def test_docx(tmp_path):
    import docx

    document = docx.Document()
    document.add_heading("Minutes", level=1)
    document.add_paragraph("Decided things.")
    document.add_picture(io.BytesIO(png()))
    document.add_paragraph("Figure 1. A box.", style="Caption")
    table = document.add_table(rows=2, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Item", "Amount"
    table.rows[1].cells[0].text, table.rows[1].cells[1].text = "Dividend", "EUR 0.42"
    document.add_paragraph("Point", style="List Bullet")
    path = tmp_path / "a.docx"
    document.save(path)
    doc = load(path)
    assert kinds(doc) == ["heading", "text", "picture", "table", "list"]
    assert doc.elements[2].caption == "Figure 1. A box." and doc.elements[2].image == png()
    assert doc.elements[3].rows == [["Item", "Amount"], ["Dividend", "EUR 0.42"]]


def test_pptx_slides_tables_pictures_charts_and_notes(tmp_path):
    from pptx import Presentation
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.util import Inches

    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[1])
    slide.shapes.title.text = "Targets"
    body = slide.placeholders[1].text_frame
    body.text = "Ship more"
    body.add_paragraph().text = "Hire"
    slide.notes_slide.notes_text_frame.text = "Say it slowly"
    slide = prs.slides.add_slide(prs.slide_layouts[5])
    slide.shapes.title.text = "Numbers"
    data = CategoryChartData()
    data.categories = ["2023", "2024"]
    data.add_series("Subscribers", (545, 905))
    slide.shapes.add_chart(XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(1.5), Inches(4), Inches(3), data)
    slide.shapes.add_picture(io.BytesIO(png()), Inches(6), Inches(1.5))
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(5), Inches(4), Inches(1)).table
    for (r, c), value in {(0, 0): "k", (0, 1): "v", (1, 0): "a", (1, 1): "1"}.items():
        table.cell(r, c).text = value
    path = tmp_path / "a.pptx"
    prs.save(path)
    doc = load(path)
    assert doc.pages == 2 and [e.page for e in doc.elements] == [1, 1, 1, 2, 2, 2, 2]
    assert kinds(doc) == ["heading", "list", "text", "heading", "picture", "picture", "table"]
    assert doc.elements[1].text == "- Ship more\n- Hire" and doc.elements[2].text == "Speaker notes: Say it slowly"
    chart = doc.elements[4]
    assert chart.method == "pptx-chart-data" and "| Subscribers | 545 | 905 |" in chart.text
    assert doc.elements[5].image == png() and doc.elements[6].rows == [["k", "v"], ["a", "1"]]


def test_images(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(png(size=(64, 48)))
    doc = load(path)
    assert kinds(doc) == ["picture"] and doc.elements[0].bbox == (0, 0, 64, 48)
    path.write_bytes(b"not a png")
    with pytest.raises(InputError, match="not a readable image"):
        load(path)


def test_docling_converter_is_optional_and_says_how_to_get_it(tmp_path):
    pytest.importorskip("pypdfium2")
    try:
        import docling  # noqa: F401

        pytest.skip("docling is installed here; this checks the message when it is not")
    except ImportError:
        pass
    from llmopt.errors import ConfigError

    path = tmp_path / "a.html"
    path.write_text("<p>x</p>")
    with pytest.raises(ConfigError, match="pip install docling .* or use --converter native"):
        load_document(path, IngestConfig(converter="docling"))


def test_docx_styles_are_looked_up_once_per_document_not_per_paragraph(tmp_path, monkeypatch):
    """Regression: python-docx's paragraph.style scans every style on each call (2 ms): a 20,000-paragraph
    document spent over a minute there."""
    import docx
    from docx.oxml.styles import CT_Styles

    document = docx.Document()
    for i in range(50):
        document.add_paragraph(f"Paragraph {i}.", style="List Bullet" if i % 2 else None)
    path = tmp_path / "long.docx"
    document.save(path)
    calls = []
    real = CT_Styles.default_for
    monkeypatch.setattr(CT_Styles, "default_for", lambda self, style_type: calls.append(1) or real(self, style_type))
    doc = load(path)
    assert kinds(doc) == ["text", "list"] * 25 and len(calls) <= 1


def test_html_nested_deeper_than_python_recurses_is_read_as_text(tmp_path):
    """Regression: 600 nested <div>s (or lists) failed the file with a RecursionError."""
    path = tmp_path / "deep.html"
    path.write_text("<body>" + "<div>" * 5000 + "deep text" + "</div>" * 5000 + "<p>after</p>"
                    + "<ul>" + "<li>item<ul>" * 2000 + "<li>last</li>" + "</ul></li>" * 2000 + "</ul></body>")
    doc = load(path)
    assert [e.text for e in doc.elements][:2] == ["deep text", "after"]
    items = doc.elements[2].text.split()
    assert doc.elements[2].kind == "list" and items.count("item") == 2000 and items[-1] == "last"
