"""Ingestion settings: one validated pydantic model, loadable from YAML (`llmopt ingest --config ingest.yaml`),
CLI flags override its fields."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config import load_config as load_settings

PIPELINE_VERSION = "1"  # bump when a change to loaders or chunking should re-ingest unchanged files

PictureMode = Literal["auto", "ocr", "vlm", "vlm+ocr", "caption", "none"]


class IngestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chunk_tokens: int = Field(200, ge=16, le=8192, description="Most tokens (of the embedding model) in a chunk.")
    overlap_tokens: int = Field(32, ge=0, description="Tokens repeated from the previous chunk when a section "
                                                       "or a long paragraph is split.")
    pictures: PictureMode = Field("auto", description="How pictures become text: ocr (RapidOCR + caption, offline), "
                                  "vlm (a vision-language model describes them), vlm+ocr (both), caption (caption "
                                  "only), none (skip pictures); auto = vlm when --vlm is set, else ocr.")
    vlm: str | None = Field(None, description="Vision-language model spec for pictures, e.g. "
                            "openai:granite3.2-vision@http://localhost:11434/v1 (any OpenAI-compatible endpoint "
                            "that accepts images).")
    vlm_prompt: str = Field("Describe this picture for a search index. If it is a chart or a table, list every "
                            "label and every number it shows, with what each number measures. Be factual and "
                            "concise.", description="The instruction sent with each picture.")
    converter: Literal["native", "docling"] = Field("native", description="PDF/DOCX/PPTX/HTML converter: native "
                                                    "(pdfplumber + pypdfium2, offline) or docling (when installed "
                                                    "and its models are available locally).")
    max_file_mb: float = Field(200.0, gt=0, description="Files larger than this are skipped and reported.")
    max_unzipped_mb: float = Field(512.0, gt=0, description="A DOCX/PPTX (a zip of parts) whose parts inflate to "
                                   "more than this, all together, is refused before parsing (a zip bomb).")
    max_xml_mb: float = Field(64.0, gt=0, description="A DOCX/PPTX with one XML part that inflates to more than "
                              "this is refused before parsing: an XML tree takes several times its size in memory.")
    max_zip_parts: int = Field(20_000, ge=1, description="A DOCX/PPTX declaring more parts than this is refused "
                               "before its directory is read (real documents have hundreds).")
    max_pdf_pages: int = Field(10_000, ge=1, description="PDFs with more pages are refused before reading any "
                               "(pages may share their content, so a small file can declare millions).")
    max_image_pixels: int = Field(89_478_485, ge=1, description="Pictures with more pixels (width x height) are "
                                  "refused before decoding (a decompression bomb), and PDF pages are rendered at a "
                                  "lower resolution to stay within it. The default is Pillow's own.")
    min_picture_pt: float = Field(10.0, ge=0, description="Pictures smaller than this (points, both sides) are "
                                  "ignored as decoration (bullets, rules).")
    render_dpi: int = Field(144, ge=36, le=600, description="Resolution at which PDF pictures are cropped for OCR "
                            "and VLMs.")
    ocr_scanned_pages: bool = Field(True, description="OCR PDF pages that have no text layer (scans).")
    embed_batch: int = Field(64, ge=1, description="Texts per embedding batch.")
    exclude: list[str] = Field(default_factory=lambda: [".*", "~$*", "*.tmp"], description="File name globs to "
                               "skip when walking folders.")

    @model_validator(mode="after")
    def _check(self) -> "IngestConfig":
        if self.overlap_tokens >= self.chunk_tokens:
            raise ValueError(f"overlap_tokens ({self.overlap_tokens}) must be smaller than chunk_tokens "
                             f"({self.chunk_tokens})")
        if self.pictures in ("vlm", "vlm+ocr") and not self.vlm:
            raise ValueError(f"pictures={self.pictures} needs a model: set vlm (--vlm openai:MODEL@URL)")
        return self

    @property
    def picture_mode(self) -> str:
        if self.pictures == "auto":
            return "vlm" if self.vlm else "ocr"
        return self.pictures

    def fingerprint(self) -> str:
        """A hash of the settings that shape chunks: a change re-ingests files whose bytes did not change."""
        shaping = {"v": PIPELINE_VERSION, "chunk_tokens": self.chunk_tokens, "overlap": self.overlap_tokens,
                   "pictures": self.picture_mode, "vlm": self.vlm if "vlm" in self.picture_mode else None,
                   "vlm_prompt": self.vlm_prompt if "vlm" in self.picture_mode else None,
                   "converter": self.converter, "min_picture_pt": self.min_picture_pt, "dpi": self.render_dpi,
                   "ocr_scanned": self.ocr_scanned_pages}
        return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


def load_config(path: str | Path | None = None, **overrides) -> IngestConfig:
    """Settings from a YAML file (optional) with keyword overrides (None values are ignored)."""
    return load_settings(IngestConfig, path or None, overrides=overrides, what="ingest")
