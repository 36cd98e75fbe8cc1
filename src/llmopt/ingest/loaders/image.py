"""Image files (PNG, JPEG, ...): one picture; its text comes from OCR or a VLM like any other picture."""

from __future__ import annotations

import io
from pathlib import Path

from ...errors import InputError
from ..config import IngestConfig
from ..document import Document, Element
from ..limits import open_image
from . import loader


@loader("image", [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"])
def load(path: Path, config: IngestConfig) -> Document:
    data = path.read_bytes()
    with open_image(io.BytesIO(data), config.max_image_pixels) as img:  # refused before decoding when too large
        size = img.size
        try:
            img.verify()
        except (OSError, SyntaxError, ValueError) as exc:
            raise InputError(f"not a readable image ({exc}); re-export it as PNG or JPEG") from None
    ext = path.suffix.lower().lstrip(".").replace("jpg", "jpeg")
    element = Element("picture", image=data, image_ext=ext, bbox=(0.0, 0.0, float(size[0]), float(size[1])),
                      meta={"pixels": list(size)})
    return Document(str(path), "image", elements=[element], title=path.stem, converter="pillow")
