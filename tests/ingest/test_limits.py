"""What one file may cost is bounded before the expensive work: zip bombs (DOCX, PPTX), decompression-bomb
pictures, huge PDF pages. Each refusal names the setting that raises the bound."""

import io
import struct
import zipfile

import pytest

from llmopt.errors import InputError
from llmopt.ingest.config import IngestConfig
from llmopt.ingest.loaders import load_document

PARAGRAPH = b'<w:p><w:r><w:t xml:space="preserve">all work and no play makes a dull document </w:t></w:r></w:p>'
SLIDE_SHAPE = (b'<p:sp><p:nvSpPr><p:cNvPr id="9" name="T"/><p:cNvSpPr/><p:nvPr/></p:nvSpPr><p:spPr/><p:txBody>'
               b'<a:bodyPr/><a:p><a:r><a:t>all work and no play</a:t></a:r></a:p></p:txBody></p:sp>')


def _inflate_part(template: bytes, part: str, marker: bytes, filler: bytes, mb: float, path) -> None:
    """Copy a zip, with `filler` repeated after `marker` in `part` until that part is `mb` MB: a small file
    (repetitive XML deflates about 500:1) whose XML inflates to mb MB."""
    with zipfile.ZipFile(io.BytesIO(template)) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename != part:
                dst.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
                continue
            head, tail = data.split(marker, 1)
            block = filler * 2000
            bomb = zipfile.ZipInfo(part)
            bomb.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(bomb, "w", force_zip64=True) as out:
                out.write(head + marker)
                for _ in range(int(mb * 1024 * 1024 / len(block)) + 1):
                    out.write(block)
                out.write(tail)


def bomb_docx(path, mb: float = 300) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("First paragraph.")
    buffer = io.BytesIO()
    document.save(buffer)
    _inflate_part(buffer.getvalue(), "word/document.xml", b"<w:body>", PARAGRAPH, mb, path)


def bomb_pptx(path, mb: float = 300) -> None:
    from pptx import Presentation

    prs = Presentation()
    prs.slides.add_slide(prs.slide_layouts[5]).shapes.title.text = "Title"
    buffer = io.BytesIO()
    prs.save(buffer)
    _inflate_part(buffer.getvalue(), "ppt/slides/slide1.xml", b"<p:spTree>", SLIDE_SHAPE, mb, path)


def forbid_parsing(monkeypatch):
    """Fail the test if python-docx or python-pptx is asked to open a file: the bound must come first."""
    import docx
    import pptx

    def refuse(*args, **kwargs):
        raise AssertionError("the file was parsed before its unzipped size was checked")

    monkeypatch.setattr(docx, "Document", refuse)
    monkeypatch.setattr(pptx, "Presentation", refuse)


@pytest.mark.parametrize("make,fmt", [(bomb_docx, "DOCX"), (bomb_pptx, "PPTX")])
def test_a_zip_bomb_is_refused_by_its_unzipped_size_before_parsing(tmp_path, monkeypatch, make, fmt):
    path = tmp_path / f"bomb.{fmt.lower()}"
    make(path, mb=100)
    forbid_parsing(monkeypatch)
    assert path.stat().st_size < 1024 * 1024  # small on disk, 100 MB of XML inside
    with pytest.raises(InputError, match=f"the {fmt} part .* inflates to 100 MB of XML, over the 64 MB limit "
                                         r"\(a zip bomb\?\); raise max_xml_mb in an ingest config"):
        load_document(path, IngestConfig())


def test_the_unzipped_limits_are_settings(tmp_path):
    path = tmp_path / "a.docx"
    bomb_docx(path, mb=2)
    assert load_document(path, IngestConfig()).elements  # 2 MB of XML is a document, not a bomb
    with pytest.raises(InputError, match="inflates to 2 MB of XML, over the 1 MB limit"):
        load_document(path, IngestConfig(max_xml_mb=1))
    with pytest.raises(InputError, match=r"inflates to \d MB unzipped, over the 1.5 MB limit .* raise max_unzipped_mb"):
        load_document(path, IngestConfig(max_unzipped_mb=1.5))
    with pytest.raises(InputError, match=r"holds \d+ parts, over the 3 limit .* raise max_zip_parts"):
        load_document(path, IngestConfig(max_zip_parts=3))


def test_a_zip_declaring_millions_of_parts_is_refused_before_its_directory_is_read(tmp_path, monkeypatch):
    # a zip64 end record that declares 3 million parts: zipfile would build an object per part before any check
    body = b"PK\x03\x04" + b"\0" * 100
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 3_000_000, 3_000_000, 0, 0)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(body), 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path = tmp_path / "many.pptx"
    path.write_bytes(body + record + locator + end)
    monkeypatch.setattr(zipfile, "ZipFile", lambda *a, **k: pytest.fail("the directory was read"))
    with pytest.raises(InputError, match="holds 3,000,000 parts, over the 20,000 limit .* raise max_zip_parts"):
        load_document(path, IngestConfig())


def test_a_docx_that_is_not_a_zip_says_so(tmp_path):
    path = tmp_path / "fake.docx"
    path.write_text("I am plain text with the wrong extension")
    with pytest.raises(InputError, match=r"not a valid DOCX file \(not a zip archive\); re-save it"):
        load_document(path, IngestConfig())


def bomb_png(width: int, height: int) -> bytes:
    """A bilevel PNG: a few KB on disk, width x height pixels once decoded (x4 bytes as RGBA)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_image_file_with_too_many_pixels_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(4000, 3000))
    with pytest.raises(InputError, match=r"image is 4,000 x 3,000 pixels \(12 Mpx\), over the 10 Mpx limit "
                                         r"\(a decompression bomb\?\); raise max_image_pixels"):
        load_document(path, IngestConfig(max_image_pixels=10_000_000))
    assert load_document(path, IngestConfig()).elements[0].meta["pixels"] == [4000, 3000]


def test_decoding_a_picture_is_bounded(monkeypatch):
    from llmopt.ingest.pictures import decode_image

    with pytest.raises(InputError, match="picture is 4,000 x 3,000 pixels"):
        decode_image(bomb_png(4000, 3000), max_pixels=10_000_000)
    assert decode_image(bomb_png(400, 300), max_pixels=10_000_000).size == (400, 300)


def test_a_huge_pdf_page_is_rendered_within_the_pixel_limit():
    from llmopt.ingest.limits import render_scale

    config = IngestConfig(max_image_pixels=4_000_000)
    assert render_scale(595, 842, 144, config) == 2.0  # A4 at 144 dpi: 2.0 Mpx, within the limit
    scale = render_scale(14400, 14400, 200, config)  # the largest PDF page (200 in) at 200 dpi: 1.6 Gpx
    assert (14400 * scale) ** 2 == pytest.approx(4_000_000)


def test_a_scanned_huge_page_is_ocred_at_a_bounded_size(tmp_path, monkeypatch):
    from reportlab.pdfgen import canvas

    from llmopt.ingest.loaders import pdf as pdf_loader

    side = 14400  # points: a 200-inch page, the largest PDF allows
    image = tmp_path / "scan.png"
    image.write_bytes(bomb_png(64, 64))
    c = canvas.Canvas(str(tmp_path / "huge.pdf"), pagesize=(side, side), invariant=1)
    c.drawImage(str(image), 0, 0, side, side)  # a page that is one picture: a scan, so it is OCRed
    c.save()
    seen = []

    def fake_ocr(data, min_score=0.5, max_pixels=None):
        from PIL import Image

        seen.append(Image.open(io.BytesIO(data)).size)
        return ["scanned words"]

    monkeypatch.setattr("llmopt.ingest.pictures.ocr_lines", fake_ocr)
    doc = pdf_loader.load(tmp_path / "huge.pdf", IngestConfig(max_image_pixels=1_000_000))
    assert [e.text for e in doc.elements] == ["scanned words"]
    assert seen and seen[0][0] * seen[0][1] <= 1_000_000


def test_a_pdf_with_too_many_pages_is_refused_before_reading_them(tmp_path, monkeypatch):
    from reportlab.pdfgen import canvas

    from llmopt.ingest.loaders import pdf as pdf_loader

    c = canvas.Canvas(str(tmp_path / "many.pdf"), invariant=1)
    for i in range(30):
        c.drawString(50, 50, f"page {i}")
        c.showPage()
    c.save()
    monkeypatch.setattr(pdf_loader, "read_page", lambda *a: pytest.fail("a page was read"))
    with pytest.raises(InputError, match="the PDF has 30 pages, over the 20 limit; split it, or raise max_pdf_pages"):
        load_document(tmp_path / "many.pdf", IngestConfig(max_pdf_pages=20))
