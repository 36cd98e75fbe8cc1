"""Figures on a PDF page: embedded images and clusters of drawn graphics (vector charts, diagrams, logos),
merged when they touch, minus page backgrounds, table rules and text boxes."""

from __future__ import annotations

from dataclasses import dataclass, field

from .reader import PageContent, Word

Box = tuple[float, float, float, float]
JOIN_GAP = 6.0  # points: graphics closer than this belong to one figure


@dataclass
class PdfFigure:
    bbox: Box
    raster: bool  # contains an embedded image (OCR its pixels) rather than only vector drawing
    words: list[Word] = field(default_factory=list)  # text-layer words inside it (a vector chart's labels)


def _area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _near(a: Box, b: Box, gap: float) -> bool:
    return a[0] - gap <= b[2] and b[0] - gap <= a[2] and a[1] - gap <= b[3] and b[1] - gap <= a[3]


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def overlap_ratio(inner: Box, outer: Box) -> float:
    """Share of inner's area that lies inside outer."""
    box = (max(inner[0], outer[0]), max(inner[1], outer[1]), min(inner[2], outer[2]), min(inner[3], outer[3]))
    return _area(box) / max(_area(inner), 1e-6)


def _cluster(items: list[tuple[Box, bool]]) -> list[tuple[Box, bool, int]]:
    """Merge touching boxes until nothing changes; (box, has_raster, members)."""
    clusters = [(box, raster, 1) for box, raster in items]
    changed = True
    while changed:
        changed = False
        merged: list[tuple[Box, bool, int]] = []
        for box, raster, n in clusters:
            for k, (other, other_raster, m) in enumerate(merged):
                if _near(box, other, JOIN_GAP):
                    merged[k] = (_union(box, other), raster or other_raster, n + m)
                    changed = True
                    break
            else:
                merged.append((box, raster, n))
        clusters = merged
    return clusters


def find_figures(page: PageContent, tables: list[Box], min_side: float) -> list[PdfFigure]:
    frames, free = _frame(_candidates(page, tables))
    clusters = [c for c in _cluster(free) if not any(overlap_ratio(c[0], f) > 0.3 for f in frames)]
    figures = []
    for box, raster, members in [(f, True, 3) for f in frames] + clusters:
        if box[2] - box[0] < min_side or box[3] - box[1] < min_side:
            continue
        if any(overlap_ratio(box, t) > 0.6 for t in tables):
            continue
        words = [w for w in page.words if overlap_ratio(w.bbox, box) > 0.6]
        if not raster and (members < 3 or _is_text_box(words, box, members)):
            continue  # one or two plain shapes: a frame or a shaded panel, not a picture
        figures.append(PdfFigure(box, raster, words))
    return figures


def _candidates(page: PageContent, tables: list[Box]) -> list[tuple[Box, bool]]:
    """Images and drawn shapes that may be parts of figures (not backgrounds, separators or table shading)."""
    page_area = page.width * page.height
    items: list[tuple[Box, bool]] = []
    for box in page.images:
        if _area(box) < 0.9 * page_area and max(box[2] - box[0], box[3] - box[1]) >= 4:
            items.append((_clip(box, page), True))
    for box in page.graphics:
        thin, long = min(box[2] - box[0], box[3] - box[1]), max(box[2] - box[0], box[3] - box[1])
        if thin <= 3.5 and long >= 0.25 * page.width:
            continue  # a separator bar (footnote rule, header band), not part of a picture
        if _area(box) < 0.5 * page_area and not any(overlap_ratio(box, t) > 0.8 for t in tables):
            items.append((_clip(box, page), False))
    return items


def _frame(items: list[tuple[Box, bool]]) -> tuple[list[Box], list[tuple[Box, bool]]]:
    """A drawn frame around pictures bounds its figure: what is centred inside it joins it and stops there,
    so two framed figures side by side stay two even when their images' margins overlap."""
    frames = sorted((b for b, raster in items if not raster), key=_area, reverse=True)
    out, absorbed = [], set()
    for frame in frames:
        if id(frame) in absorbed:
            continue
        inside = [(b, r) for b, r in items if b is not frame and id(b) not in absorbed and _centred_in(b, frame)]
        if len(inside) >= 2 and any(r for _, r in inside):
            absorbed.update(id(b) for b, _ in inside)
            absorbed.add(id(frame))
            out.append(frame)
    return out, [(b, r) for b, r in items if id(b) not in absorbed]


def _centred_in(box: Box, frame: Box) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return frame[0] <= cx <= frame[2] and frame[1] <= cy <= frame[3] and _area(box) < 0.95 * _area(frame)


def _clip(box: Box, page: PageContent) -> Box:
    return (max(0.0, box[0]), max(0.0, box[1]), min(page.width, box[2]), min(page.height, box[3]))


def _is_text_box(words: list[Word], box: Box, members: int) -> bool:
    """A shaded panel or rounded frame behind prose (a note, a code listing) is text, not a picture."""
    if len(words) < 25:
        return False
    text_area = sum(_area(w.bbox) for w in words)
    return text_area > 0.18 * _area(box) or members <= 2
