"""The demo corpus through the real pipeline (MiniLM embedder, RapidOCR): the chart test, tables as Markdown,
re-ingest as a no-op, a fact that exists only in an image file."""

import json
import re
from pathlib import Path

import pytest

from llmopt.demo import write_demo_data
from llmopt.index import open_index
from llmopt.ingest import ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = "How many units did Veltora ship to Central Europe in 2024?"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    write_demo_data(root, ["corpus"])
    corpus = root / "corpus"
    index = str(root / "index")
    report = ingest([corpus], index)
    return corpus, index, report, json.loads((corpus / "facts.json").read_text())


def test_every_document_is_ingested(corpus):
    _, _, report, _ = corpus
    assert report.ok and report.count("added") == 27 and report.count("skipped") == 1  # facts.json
    pdf = next(f for f in report.files if f.path.endswith("annual_report_2024.pdf"))
    assert pdf.by_type["picture"] == 5 and pdf.by_type["table"] == 1 and pdf.methods == {"ocr+caption": 5}


def test_chart_values_exist_only_in_the_image(corpus):
    import pypdfium2 as pdfium

    root, index, _, facts = corpus
    chart = next(c for c in facts["charts"] if c["title"] == "Units shipped by region, 2024")
    value = f"{chart['values']['Central Europe']:,}"
    pdf = pdfium.PdfDocument(str(root / chart["document"]))
    text_layer = " ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    pdf.close()
    for form in (value, value.replace(",", ""), value.replace(",", " ")):
        assert form not in text_layer and form not in chart["caption"] and form not in chart["document"]
    with open_index(index) as idx:
        info = idx.info()
        assert info["chunks"] >= 100 and info["by_type"]["picture"] >= 5  # the distractor charts included
        hits = idx.search(QUESTION, k=5)
    top = hits[0].chunk
    assert top.type == "picture" and top.metadata["caption"] == chart["caption"] and top.page == chart["page"]
    assert value in top.text and re.search(r"Central ?Europe: 9,860", top.text)  # OCR may drop the space
    assert top.method == "ocr+caption" and Path(top.image).is_file()


def test_table_cells_survive_as_markdown(corpus):
    _, index, _, _ = corpus
    with open_index(index) as idx:
        hits = idx.search("revenue by product line 2023 2024", k=3, filters={"type": "table", "source": "*.pdf"})
    table = hits[0].chunk
    assert table.text.startswith("Table 1. Revenue by product line, EUR million.")
    assert "| Product line | 2023 | 2024 |" in table.text and "| Harvest-X | 41.5 | 48.2 |" in table.text
    assert "| Nimbus Hub | 6.8 | 9.4 |" in table.text


def test_reingest_is_a_no_op(corpus):
    root, index, _, _ = corpus
    again = ingest([root], index)
    assert again.summary()["unchanged"] == 27 and again.chunks_written == 0 and again.timings["embed"] == 0


def test_a_fact_only_in_an_image_file_is_found(corpus):
    _, index, _, _ = corpus
    with open_index(index) as idx:
        top = idx.search("Who is the chief technology officer?", k=3)
    assert top[0].chunk.source.endswith("org_chart.png") and "Dace Ozola" in top[0].chunk.text
