"""Pictures become text, so that what a chart or a scan shows is searchable.

    ocr        RapidOCR (onnxruntime; its models ship in the package, fully offline) + the caption: every label
               and number printed in the picture becomes text, in reading order (method "ocr+caption")
    vlm        a vision-language model behind any OpenAI-compatible endpoint that accepts images (Granite Vision
               on vLLM or Ollama, GPT-4o, ...) writes a description (method "vlm:MODEL")
    vlm+ocr    both: the description, then the exact text OCR read
    caption    the caption (and alt text) only

Each picture records the method that produced its text.
"""

from __future__ import annotations

import base64
import io
import re
import threading

from ..errors import InputError
from .config import IngestConfig
from .document import Element
from .limits import check_image_bytes, open_image

DEFAULT_MAX_PIXELS = IngestConfig.model_fields["max_image_pixels"].default
MAX_OCR_SIDE = 2000  # pixels: larger pictures are downscaled before OCR (the text stays legible)
_ocr_engine = None
_load_lock = threading.Lock()
_ocr_lock = threading.Lock()


def ocr_engine():
    """One RapidOCR engine per process (loading its three ONNX models takes about a second)."""
    global _ocr_engine
    with _load_lock:
        if _ocr_engine is None:
            from rapidocr_onnxruntime import RapidOCR

            # never upscale: limit the longest side instead of raising the shortest (3x faster on charts)
            _ocr_engine = RapidOCR(det_limit_type="max", det_limit_side_len=960, print_verbose=False)
        return _ocr_engine


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS):
    """RGB PIL image from bytes; InputError when it is not an image or has more than max_pixels pixels."""
    from PIL import Image

    image = open_image(io.BytesIO(data), max_pixels, "picture")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"not a readable picture ({exc}); re-export it as PNG or JPEG") from None
    if image.mode != "RGB":
        background = Image.new("RGB", image.size, "white")
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.split()[3])
        image = background
    if max(image.size) > MAX_OCR_SIDE:
        image.thumbnail((MAX_OCR_SIDE, MAX_OCR_SIDE))
    return image


def ocr_lines(data: bytes, min_score: float = 0.5, max_pixels: int = DEFAULT_MAX_PIXELS) -> list[str]:
    """Text read from a picture: lines top to bottom (boxes on one row joined), then, for charts, the value
    printed above each category label ("Central Europe: 9,860"), which reading by rows alone would lose."""
    import numpy as np

    image = decode_image(data, max_pixels)
    if min(image.size) < 8:
        return []
    engine = ocr_engine()
    with _ocr_lock:  # onnxruntime sessions are thread-safe, but one OCR at a time keeps the CPU predictable
        result, _ = engine(np.asarray(image)[:, :, ::-1], use_cls=False)
    boxes = [(min(p[1] for p in box), max(p[1] for p in box), min(p[0] for p in box), max(p[0] for p in box),
              text.strip()) for box, text, score in result or [] if float(score) >= min_score and text.strip()]
    lines = group_rows([(b[0], b[1], b[2], b[4]) for b in boxes])
    pairs = label_values(boxes)
    return lines + (["Values by label: " + "; ".join(f"{label}: {value}" for label, value in pairs)] if pairs else [])


_NUMBER = re.compile(r"^[-+−]?[$€£¥]?\d[\d,.\s]*%?[kKmMbB]?$")


def label_values(boxes: list[tuple[float, float, float, float, str]]) -> list[tuple[str, str]]:
    """Pairs (label, number) where a number sits straight above a text label: a bar chart's value labels over
    its category labels. Returned only when at least two labels pair up (one pair is likely chance)."""
    numbers = [b for b in boxes if _NUMBER.match(b[4])]
    pairs = []
    for top, _bottom, left, right, text in boxes:
        if _NUMBER.match(text) or len(text) > 40:
            continue
        centre, width = (left + right) / 2, max(right - left, 1.0)
        above = [n for n in numbers if n[1] <= top + 2 and abs((n[2] + n[3]) / 2 - centre) < 0.6 * width]
        if above:
            pairs.append((left, text, max(above, key=lambda n: n[1])[4]))  # the nearest number above
    pairs.sort()
    return [(text, value) for _, text, value in pairs] if len(pairs) >= 2 else []


def group_rows(boxes: list[tuple[float, float, float, str]]) -> list[str]:
    """Boxes (top, bottom, left, text) -> lines: a box joins the current row when it overlaps it vertically."""
    rows: list[list[tuple[float, float, float, str]]] = []
    for box in sorted(boxes):
        top, bottom = box[0], box[1]
        if rows:
            row_top = min(b[0] for b in rows[-1])
            row_bottom = max(b[1] for b in rows[-1])
            overlap = min(bottom, row_bottom) - max(top, row_top)
            if overlap > 0.5 * min(bottom - top, row_bottom - row_top):
                rows[-1].append(box)
                continue
        rows.append([box])
    return [" ".join(b[3].strip() for b in sorted(row, key=lambda b: b[2])) for row in rows]


class PictureDescriber:
    """Fills in element.text and element.method for picture elements, per the configured mode."""

    def __init__(self, config: IngestConfig, vlm=None):
        self.mode = config.picture_mode
        self.max_pixels = config.max_image_pixels
        self.prompt = config.vlm_prompt
        self._vlm = vlm
        self._vlm_spec = config.vlm

    @property
    def vlm(self):
        if self._vlm is None:
            from ..models.registry import get_model

            self._vlm = get_model(self._vlm_spec)
        return self._vlm

    def describe(self, element: Element) -> None:
        if element.method and element.text:  # the loader already knew the content (e.g. a native chart)
            return
        parts, methods = [], []
        if "vlm" in self.mode and element.image:
            parts.append(f"Description: {self.describe_with_vlm(element)}")
            methods.append(f"vlm:{getattr(self.vlm, 'name', self._vlm_spec)}")
        if "ocr" in self.mode and (element.image or element.meta.get("text_layer")):
            # a vector figure's labels are in the PDF's text layer: exact, and free; OCR only pixels
            text_layer = element.meta.get("text_layer")
            lines = text_layer or ocr_lines(element.image, max_pixels=self.max_pixels)
            if lines:
                parts.append("Text in the picture: " + "\n".join(lines))
            methods.append("pdf-text" if text_layer else "ocr")
        caption = element.caption.strip()
        if caption:
            methods.append("caption")
        element.text = "\n".join(([caption] if caption else []) + parts)
        element.method = "+".join(methods) or "none"

    def describe_with_vlm(self, element: Element) -> str:
        check_image_bytes(element.image, self.max_pixels)  # no decompression bomb goes to the model
        mime = "jpeg" if element.image_ext in ("jpg", "jpeg") else element.image_ext or "png"
        url = f"data:image/{mime};base64,{base64.b64encode(element.image).decode('ascii')}"
        prompt = self.prompt + (f"\nIts caption: {element.caption}" if element.caption else "")
        messages = [{"role": "user", "content": [{"type": "text", "text": prompt},
                                                 {"type": "image_url", "image_url": {"url": url}}]}]
        return " ".join(self.vlm.chat(messages, max_tokens=400, temperature=0.0).text.split())
