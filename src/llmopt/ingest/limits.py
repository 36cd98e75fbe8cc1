"""Bounds on what one file may cost, checked before the expensive work: its size on disk, how far a zip-based
document (DOCX, PPTX) inflates, how many pixels a picture decodes to, how large a PDF page is rendered.
A refusal is an InputError that names the setting raising the bound, so the run reports the file and goes on."""

from __future__ import annotations

import io
import math
import os
import stat
import struct
import warnings
import zipfile
from pathlib import Path

from ..errors import InputError
from .config import IngestConfig

MB = 1024 * 1024
# zip parts that are parsed into XML trees (several times their size in memory); the rest (media) are kept as bytes
XML_SUFFIXES = (".xml", ".rels", ".vml")
_HOW = "in an ingest config (--config FILE.yaml)"


def check_file(path: Path, config: IngestConfig) -> os.stat_result:
    """The file's stat, once it is known to be a non-empty regular file within max_file_mb."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise InputError("not a regular file (a pipe, a device or a socket); exclude it")
    if info.st_size == 0:
        raise InputError("empty file (0 bytes)")
    if info.st_size > config.max_file_mb * MB:
        raise InputError(f"file is {info.st_size / MB:.1f} MB, over the {config.max_file_mb:g} MB limit; "
                         "raise it with --max-file-mb")
    return info


def check_zip(path: Path, config: IngestConfig, fmt: str) -> None:
    """Refuse a zip-based document whose parts would inflate past the limits, from its central directory alone
    (Python's zipfile never inflates a part past the size the directory declares: it fails the CRC instead)."""
    entries = _declared_entries(path)
    if entries is None:
        raise InputError(f"not a valid {fmt.upper()} file (not a zip archive); re-save it from its application")
    if entries > config.max_zip_parts:
        raise InputError(f"the {fmt.upper()} holds {entries:,} parts, over the {config.max_zip_parts:,} limit (a zip "
                         f"bomb?); raise max_zip_parts {_HOW} if the file is genuine")
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
        raise InputError(f"not a valid {fmt.upper()} file ({exc}); re-save it from its application") from None
    total = sum(p.file_size for p in parts)
    if total > config.max_unzipped_mb * MB:
        raise InputError(f"the {fmt.upper()} inflates to {total / MB:,.0f} MB unzipped, over the "
                         f"{config.max_unzipped_mb:g} MB limit (a zip bomb?); raise max_unzipped_mb {_HOW} if the "
                         "file is genuine")
    xml = max((p for p in parts if p.filename.lower().endswith(XML_SUFFIXES)), key=lambda p: p.file_size, default=None)
    if xml is not None and xml.file_size > config.max_xml_mb * MB:
        raise InputError(f"the {fmt.upper()} part {xml.filename} inflates to {xml.file_size / MB:,.0f} MB of XML, "
                         f"over the {config.max_xml_mb:g} MB limit (a zip bomb?); raise max_xml_mb {_HOW} if the "
                         "file is genuine")


def _declared_entries(path: Path) -> int | None:
    """How many parts the zip's end-of-central-directory record declares (None: not a zip). Read from the file's
    last bytes, before zipfile builds an object per part."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        tail_start = max(0, size - (1 << 16) - 22)  # the record, after at most a 64 KB comment
        handle.seek(tail_start)
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return None
        entries = struct.unpack("<4s4H2LH", tail[at:at + 22])[4]
        locator = tail[at - 20:at] if at >= 20 else b""
        if entries == 0xFFFF and locator[:4] == b"PK\x06\x07":  # zip64: the count lives in the zip64 record
            handle.seek(struct.unpack("<4sLQL", locator)[2])
            record = handle.read(56)
            if len(record) < 56 or record[:4] != b"PK\x06\x06":
                return None
            entries = struct.unpack("<4sQ2H2L4Q", record)[7]
        return entries


def check_pixels(width: int, height: int, max_pixels: int, what: str = "image") -> None:
    if width * height > max_pixels:
        raise InputError(f"{what} is {width:,} x {height:,} pixels ({width * height / 1e6:,.0f} Mpx), over the "
                         f"{max_pixels / 1e6:,.0f} Mpx limit (a decompression bomb?); raise max_image_pixels "
                         f"{_HOW} if it is genuine")


def open_image(source, max_pixels: int, what: str = "image"):
    """A PIL image, opened lazily (header only) and refused before decoding when it has too many pixels."""
    from PIL import Image, UnidentifiedImageError

    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels  # the user raised the limit: Pillow's own check must not undercut it
    try:
        with warnings.catch_warnings():  # Pillow warns of a bomb as it opens one; the check below refuses it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
    except Image.DecompressionBombError as exc:  # over twice the limit: Pillow refuses it first
        raise InputError(f"{what}: {exc}; raise max_image_pixels {_HOW} if it is genuine") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"not a readable {what} ({exc}); re-export it as PNG or JPEG") from None
    check_pixels(*image.size, max_pixels, what)
    return image


def check_image_bytes(data: bytes, max_pixels: int, what: str = "picture") -> None:
    """Refuse image bytes whose header declares too many pixels; bytes Pillow cannot read pass (a remote model
    may read formats Pillow does not)."""
    try:
        open_image(io.BytesIO(data), max_pixels, what).close()
    except InputError as exc:
        if "not a readable" not in str(exc):
            raise


def render_scale(width_pt: float, height_pt: float, dpi: float, config: IngestConfig) -> float:
    """The scale at which to render a PDF page: dpi / 72, lowered so the bitmap stays within max_image_pixels (a
    page can be 200 inches on a side: at 200 dpi that would be 1.6 billion pixels)."""
    scale = dpi / 72
    pixels = width_pt * height_pt * scale * scale
    if pixels > config.max_image_pixels:
        scale *= math.sqrt(config.max_image_pixels / pixels)
    return scale
