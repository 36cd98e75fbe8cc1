"""Docling as an optional converter (`--converter docling`) for PDF, DOCX, PPTX and HTML.

Docling (IBM, MIT) is the reference converter in this field: layout and table-structure models give it better
reading order and tables on hard PDFs. Its models come from a model hub on first use, so it is never the default
here, and this adapter runs it offline: it must be installed (`pip install docling`) and its models already
downloaded (`docling-tools models download`, or a run on a machine with internet). Its DoclingDocument is mapped
to the same Elements the native loaders produce, so chunking, pictures and indexing are unchanged.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from ...errors import ConfigError, InputError
from ..config import IngestConfig
from ..document import Document, Element

_converters: dict[int, object] = {}


def _converter(config: IngestConfig):
    key = config.render_dpi
    if key in _converters:
        return _converters[key]
    try:
        from docling.datamodel.base_models import InputFormat
        from docling.datamodel.pipeline_options import PdfPipelineOptions
        from docling.document_converter import DocumentConverter, PdfFormatOption
    except ImportError:
        raise ConfigError("converter 'docling' needs Docling: pip install docling (and download its models once "
                          "with `docling-tools models download`), or use --converter native") from None
    options = PdfPipelineOptions()
    options.generate_picture_images = True  # crops for OCR / VLM descriptions, like the native loader
    options.images_scale = config.render_dpi / 72
    _converters[key] = DocumentConverter(format_options={InputFormat.PDF: PdfFormatOption(pipeline_options=options)})
    return _converters[key]


def load_with_docling(path: Path, config: IngestConfig, fmt: str) -> Document:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # use local models only; never download during ingest
    converter = _converter(config)
    try:
        result = converter.convert(str(path))
    except (OSError, RuntimeError, ValueError) as exc:
        if "offline" in str(exc).lower() or "hub" in str(exc).lower() or "snapshot" in str(exc).lower():
            raise ConfigError(f"Docling's models are not available locally ({str(exc)[:160]}); download them once "
                              "with `docling-tools models download`, or use --converter native") from None
        raise InputError(f"Docling could not convert the file: {str(exc)[:200]}") from None
    return to_document(result.document, path, fmt)


def to_document(dl_doc, path: Path, fmt: str) -> Document:
    """DoclingDocument -> Document (elements in Docling's reading order, furniture excluded)."""
    from docling_core.types.doc import DocItemLabel, PictureItem, SectionHeaderItem, TableItem, TextItem

    doc = Document(str(path), fmt, pages=len(dl_doc.pages) or None, converter="docling",
                   title=dl_doc.name or path.stem)
    for item, _level in dl_doc.iterate_items():
        page, bbox = _provenance(item, dl_doc)
        if isinstance(item, TableItem):
            rows = [[cell.text for cell in row] for row in item.data.grid]
            doc.elements.append(Element("table", page=page, bbox=bbox, rows=rows, caption=item.caption_text(dl_doc),
                                        meta={"method": "docling"}))
        elif isinstance(item, PictureItem):
            image = item.get_image(dl_doc)
            data = None
            if image is not None:
                buffer = io.BytesIO()
                image.save(buffer, format="PNG")
                data = buffer.getvalue()
            doc.elements.append(Element("picture", page=page, bbox=bbox, caption=item.caption_text(dl_doc),
                                        image=data, meta={"raster": True}))
        elif isinstance(item, TextItem) and item.text.strip():
            if item.label in (DocItemLabel.PAGE_HEADER, DocItemLabel.PAGE_FOOTER, DocItemLabel.CAPTION):
                continue  # furniture, and captions already travel with their table or picture
            if isinstance(item, SectionHeaderItem) or item.label == DocItemLabel.TITLE:
                level = 1 if item.label == DocItemLabel.TITLE else getattr(item, "level", 1) + 1
                doc.elements.append(Element("heading", item.text, page=page, bbox=bbox, level=level))
            else:
                kind = {DocItemLabel.LIST_ITEM: "list", DocItemLabel.CODE: "code"}.get(item.label, "text")
                doc.elements.append(Element(kind, item.text if kind != "list" else f"- {item.text}", page=page,
                                            bbox=bbox))
    return doc


def _provenance(item, dl_doc):
    if not getattr(item, "prov", None):
        return None, None
    prov = item.prov[0]
    page = dl_doc.pages.get(prov.page_no)
    box = prov.bbox.to_top_left_origin(page_height=page.size.height) if page else prov.bbox
    return prov.page_no, (box.l, box.t, box.r, box.b)
