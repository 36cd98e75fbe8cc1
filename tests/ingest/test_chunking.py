import re

from llmopt.ingest.chunking import Chunker
from llmopt.ingest.config import IngestConfig
from llmopt.ingest.document import Document, Element


def words(text: str) -> int:
    return len(text.split())


def chunker(tokens=40, overlap=8):
    return Chunker(IngestConfig(chunk_tokens=tokens, overlap_tokens=overlap), words)


def doc(*elements):
    return Document("/docs/a.pdf", "pdf", list(elements), pages=3)


def test_sections_paragraphs_and_provenance():
    d = doc(Element("heading", "Results", level=1), Element("text", "one two three.", page=1, bbox=(0, 0, 10, 10)),
            Element("heading", "Revenue", level=2), Element("text", "four five six.", page=2, bbox=(1, 1, 5, 5)),
            Element("text", "seven eight.", page=2, bbox=(1, 6, 9, 9)),
            Element("heading", "Costs", level=2), Element("text", "nine ten.", page=3))
    chunks = chunker().chunk(d)
    assert [c.section for c in chunks] == ["Results", "Results > Revenue", "Results > Costs"]
    assert chunks[0].text == "# Results\n\none two three." and chunks[1].text.startswith("## Revenue\n\nfour")
    assert chunks[1].page == 2 and chunks[1].bbox == (1, 1, 9, 9) and chunks[1].type == "text"
    assert all(c.source == "/docs/a.pdf" and c.content_hash and c.chunk_id for c in chunks)
    assert len({c.chunk_id for c in chunks}) == 3 and chunks[0].chunk_id.endswith("-0000")
    assert chunker().chunk(d)[2].chunk_id == chunks[2].chunk_id  # stable across runs


def test_paragraphs_stay_whole_and_long_ones_split_with_overlap():
    para = [Element("text", " ".join(f"w{i}" for i in range(15)) + ".", page=1) for _ in range(5)]
    chunks = chunker(tokens=40, overlap=0).chunk(doc(*para))
    assert all(words(c.text) <= 40 for c in chunks)
    assert all(c.text.count("w0 ") == c.text.count("w14.") for c in chunks)  # no paragraph cut in two
    long = Element("text", " ".join(f"Sentence {i} has five words." for i in range(30)), page=1)
    pieces = chunker(tokens=40, overlap=8).chunk(doc(long))
    assert len(pieces) > 3 and all(words(c.text) <= 40 for c in pieces)
    for before, after in zip(pieces, pieces[1:]):  # each piece opens with the last sentence of the one before
        last = before.text.split(". ")[-1].rstrip(".")
        assert after.text.startswith(last + ".") and words(last) <= 8
    assert "\n" not in pieces[1].text  # sentences of one paragraph stay one paragraph
    joined = " ".join(c.text for c in pieces)
    assert all(f"Sentence {i} " in joined for i in range(30))


def test_page_spans_and_ocr_method():
    chunks = chunker(tokens=100).chunk(doc(Element("text", "a b.", page=1), Element("text", "c d.", page=2,
                                                                                     method="ocr")))
    assert chunks[0].page == 1 and chunks[0].metadata["page_end"] == 2 and chunks[0].bbox is None
    assert chunks[0].method == "ocr"


def test_tables_whole_or_split_by_rows_with_the_header():
    rows = [["Product", "Revenue"]] + [[f"P{i}", f"{i}.5"] for i in range(30)]
    small = chunker(tokens=400).chunk(doc(Element("table", rows=rows[:4], caption="Table 1. Revenue.", page=2)))
    assert len(small) == 1 and small[0].type == "table"
    assert small[0].text.startswith("Table 1. Revenue.\n\n| Product | Revenue |\n| --- | --- |\n| P0 | 0.5 |")
    big = chunker(tokens=60).chunk(doc(Element("table", rows=rows, caption="Table 1. Revenue.", page=2)))
    assert len(big) > 2
    for c in big:
        assert "| Product | Revenue |" in c.text and c.text.startswith("Table 1. Revenue. (rows ")
    assert sum(len(re.findall(r"\| P\d", c.text)) for c in big) == 30 and big[0].metadata["rows"] == 31


def test_pictures_are_own_chunks_and_empty_ones_are_dropped():
    picture = Element("picture", "Figure 2. Units.\nText in the picture: 7,340", page=3, caption="Figure 2. Units.",
                      method="ocr+caption", meta={"image_path": "/idx/images/ab.png"})
    empty = Element("picture", "", page=3)
    chunks = chunker().chunk(doc(Element("text", "before.", page=3), picture, empty))
    pictures = [c for c in chunks if c.type == "picture"]
    assert len(pictures) == 1 and pictures[0].method == "ocr+caption" and pictures[0].image == "/idx/images/ab.png"
    assert "7,340" in pictures[0].text and pictures[0].metadata["caption"] == "Figure 2. Units."


def test_a_trailing_heading_is_not_lost():
    chunks = chunker().chunk(doc(Element("text", "body."), Element("heading", "Appendix", level=1)))
    assert chunks[-1].text == "# Appendix"
