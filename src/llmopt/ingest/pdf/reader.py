"""Raw page content from pypdfium2 (PDFium, BSD/Apache; no AGPL): words with boxes and font sizes, ruling
lines (as edge dicts in pdfplumber's format, so its table algorithms apply), drawn graphics and images.

Coordinates are PDF points with the origin at the page's top-left corner (y grows downwards).
PDFium reads text about ten times faster than pdfminer, which keeps parsing a small share of ingest time.
"""

from __future__ import annotations

import ctypes
import math
import re
from dataclasses import dataclass, field

import pypdfium2 as pdfium
import pypdfium2.raw as raw

LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st",
             "\ufb06": "st", "\x02": "-", "\xad": ""}
SKIP = {"\x00", "\ufffe", "\uffff", "\x03"}


@dataclass
class Word:
    text: str
    x0: float
    top: float
    x1: float
    bottom: float
    size: float  # glyph box height (robust to fonts scaled through the text matrix)
    bold: bool = False
    upright: bool = True

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return (self.x0, self.top, self.x1, self.bottom)


@dataclass
class PageContent:
    number: int  # 1-based
    width: float
    height: float
    words: list[Word] = field(default_factory=list)
    edges: list[dict] = field(default_factory=list)  # axis-aligned ruling segments (pdfplumber edge dicts)
    graphics: list[tuple[float, float, float, float]] = field(default_factory=list)  # drawn shapes, not thin rules
    images: list[tuple[float, float, float, float]] = field(default_factory=list)


def read_page(page: pdfium.PdfPage, number: int) -> PageContent:
    width, height = page.get_size()
    content = PageContent(number, width, height)
    textpage = page.get_textpage()
    try:
        content.words = read_words(textpage, height)
    finally:
        textpage.close()
    _walk_objects(page, height, content)
    return content


# -- text --------------------------------------------------------------------------------------------------
class _WordBuilder:
    def __init__(self, height: float):
        self.height = height
        self.words: list[Word] = []
        self.chars: list[tuple[str, float, float, float, float, bool]] = []
        self.bold = False

    def add(self, ch: str, box: tuple[float, float, float, float], upright: bool) -> None:
        x0, top, x1, bottom = box
        if self.chars:
            _, px0, ptop, px1, pbottom, pupright = self.chars[-1]
            size = max(pbottom - ptop, 1.0)
            same_line = abs((top + bottom) / 2 - (ptop + pbottom) / 2) < 0.5 * size
            if upright != pupright or (upright and (not same_line or x0 - px1 > 0.5 * size or x1 < px0 - 0.5)):
                self.flush()
        self.chars.append((ch, x0, top, x1, bottom, upright))

    def flush(self) -> None:
        if self.chars:
            text = "".join(c[0] for c in self.chars)
            x0, top = min(c[1] for c in self.chars), min(c[2] for c in self.chars)
            x1, bottom = max(c[3] for c in self.chars), max(c[4] for c in self.chars)
            upright = self.chars[0][5]
            heights = sorted((c[4] - c[2]) if upright else (c[3] - c[1]) for c in self.chars)
            if text.strip():
                self.words.append(Word(text, x0, top, x1, bottom, heights[len(heights) // 2], self.bold, upright))
        self.chars = []
        self.bold = False


def read_words(textpage: pdfium.PdfTextPage, height: float) -> list[Word]:
    """Words in content-stream order; a word breaks at whitespace, a jump, or a change of direction."""
    tp = textpage.raw
    rect = raw.FS_RECTF()
    builder = _WordBuilder(height)
    count = raw.FPDFText_CountChars(tp)
    i = 0
    while i < count:
        code = raw.FPDFText_GetUnicode(tp, i)
        if 0xD800 <= code < 0xDC00 and i + 1 < count:  # a surrogate pair: one character over two slots
            low = raw.FPDFText_GetUnicode(tp, i + 1)
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            i += 1
        ch = chr(code) if code < 0x110000 else ""
        ch = LIGATURES.get(ch, ch)
        if not ch or ch in SKIP or ch.isspace() or raw.FPDFText_IsGenerated(tp, i) == 1:
            builder.flush()
            i += 1
            continue
        raw.FPDFText_GetLooseCharBox(tp, i, rect)
        box = (rect.left, height - rect.top, rect.right, height - rect.bottom)
        angle = raw.FPDFText_GetCharAngle(tp, i)
        upright = angle < 0 or min(angle, 2 * math.pi - angle) < 0.2  # -1 means unknown: treat as upright
        if not builder.chars:
            builder.bold = _is_bold(tp, i)
        builder.add(ch, box, upright)
        i += 1
    builder.flush()
    return _without_overprint(builder.words)


def _without_overprint(words: list[Word]) -> list[Word]:
    """Drop a word drawn twice at the same spot (fake bold, shadow effects): it would read "on on"."""
    kept: list[Word] = []
    for word in words:
        if any(k.text == word.text and abs(k.x0 - word.x0) < 1.0 and abs(k.top - word.top) < 1.0 for k in kept[-12:]):
            continue
        kept.append(word)
    return kept


_FONT_NAME = ctypes.create_string_buffer(256)
_FLAGS = ctypes.c_int()


# font names that mean bold: the usual words, TeX's Computer Modern / CM-Super (CMBX, SFBX) and Berry names (ptmb)
_BOLD = re.compile(r"bold|black|heavy|demi|cmbx|cmssbx|sfbx|sfsx|^p[a-z]{2}b|[,-]b$")
_FORCE_BOLD = 1 << 18  # PDF font descriptor flag


def _is_bold(tp, index: int) -> bool:
    """Bold by weight (when the font declares one), by the ForceBold flag, or by name."""
    if raw.FPDFText_GetFontWeight(tp, index) >= 600:
        return True
    raw.FPDFText_GetFontInfo(tp, index, _FONT_NAME, 256, ctypes.byref(_FLAGS))
    name = _FONT_NAME.value.decode("latin-1", "ignore").lower().split("+")[-1]
    return bool(_FLAGS.value & _FORCE_BOLD or _BOLD.search(name))


# -- graphics ----------------------------------------------------------------------------------------------
Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _compose(inner: Matrix, outer: Matrix) -> Matrix:
    a, b, c, d, e, f = inner
    A, B, C, D, E, F = outer
    return (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    return (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5])


def _matrix(obj) -> Matrix:
    fs = raw.FS_MATRIX()
    if not raw.FPDFPageObj_GetMatrix(obj, fs):
        return IDENTITY
    return (fs.a, fs.b, fs.c, fs.d, fs.e, fs.f)


def _walk_objects(page: pdfium.PdfPage, height: float, content: PageContent) -> None:
    stack = [(raw.FPDFPage_CountObjects(page.raw), lambda i: raw.FPDFPage_GetObject(page.raw, i), IDENTITY, 0)]
    while stack:
        count, get, parent, depth = stack.pop()
        for i in range(count):
            obj = get(i)
            kind = raw.FPDFPageObj_GetType(obj)
            if kind == raw.FPDF_PAGEOBJ_FORM and depth < 8:
                form_matrix = _compose(_matrix(obj), parent)
                stack.append((raw.FPDFFormObj_CountObjects(obj), lambda j, o=obj: raw.FPDFFormObj_GetObject(o, j),
                              form_matrix, depth + 1))
            elif kind == raw.FPDF_PAGEOBJ_IMAGE:
                box = _bounds(obj, parent, height)
                if box:
                    content.images.append(box)
            elif kind == raw.FPDF_PAGEOBJ_PATH:
                _path(obj, parent, height, content)


def _bounds(obj, parent: Matrix, height: float):
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    if not raw.FPDFPageObj_GetBounds(obj, left, bottom, right, top):
        return None
    corners = [_apply(parent, x, y) for x in (left.value, right.value) for y in (bottom.value, top.value)]
    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    return (min(xs), height - max(ys), max(xs), height - min(ys))


def _path(obj, parent: Matrix, height: float, content: PageContent) -> None:
    """Axis-aligned straight segments become edges (table rules may be drawn as lines or as rectangles); any
    path wider and taller than a rule is also a drawn shape (a diagram box, a logo stripe, a chart bar)."""
    matrix = _compose(_matrix(obj), parent)
    x, y = ctypes.c_float(), ctypes.c_float()
    points, start = [], None
    for s in range(raw.FPDFPath_CountSegments(obj)):
        seg = raw.FPDFPath_GetPathSegment(obj, s)
        raw.FPDFPathSegment_GetPoint(seg, x, y)
        point = _apply(matrix, x.value, y.value)
        kind = raw.FPDFPathSegment_GetType(seg)
        if kind == raw.FPDF_SEGMENT_MOVETO:
            start = point
        elif kind == raw.FPDF_SEGMENT_LINETO and points:
            _edge(points[-1], point, height, content)
        if raw.FPDFPathSegment_GetClose(seg) and start is not None:
            _edge(point, start, height, content)
        points.append(point)
    box = _bounds(obj, parent, height)
    if box and max(box[2] - box[0], box[3] - box[1]) > 2:  # figures.py tells pictures from rules and frames
        content.graphics.append(box)


def _edge(p, q, height: float, content: PageContent) -> None:
    (x0, y0), (x1, y1) = p, q
    if abs(y0 - y1) < 0.5 and abs(x1 - x0) >= 2:
        left, right, top = min(x0, x1), max(x0, x1), height - y0
        content.edges.append({"x0": left, "x1": right, "top": top, "bottom": top, "width": right - left,
                              "height": 0.0, "orientation": "h", "object_type": "line"})
    if abs(x0 - x1) < 0.5 and abs(y1 - y0) >= 2:
        top, bottom = height - max(y0, y1), height - min(y0, y1)
        content.edges.append({"x0": x0, "x1": x0, "top": top, "bottom": bottom, "width": 0.0,
                              "height": bottom - top, "orientation": "v", "object_type": "line"})
