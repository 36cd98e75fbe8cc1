"""Words -> line segments -> reading order -> blocks (paragraphs, headings, list items).

Reading order is a recursive XY-cut (Nagy & Seth 1984) with one refinement: consecutive horizontal bands that
share a column gutter are cut together, so a two-column page reads down the left column, then the right, even
where paragraph gaps happen to line up across the columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from statistics import median

from .reader import Word

BULLET = re.compile(r"^([•◦▪▫●○■□►▶‣⁃∙·\-–—*]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s")
# "Figure 3-1 Existing controls" or "Table 2: results" is a caption; "Table 2-2 shows ..." is a sentence
CAPTION = re.compile(r"^(?i:figure|fig\.|table|chart|exhibit|graph|plate|diagram|listing)\s*[\dA-Z][\w.\-]*"
                     r"(\s*[:.—–]\s*|\s+(?=[A-Z0-9\"“'(]))")
LABEL = re.compile(r"^(?i:figure|fig\.|table|chart|exhibit|listing)\s*[\dA-Z][\w.\-]*[:.]?$")
MIN_GUTTER = 6.0  # points: narrower vertical gaps are word spacing, not a column gutter


@dataclass
class Segment:
    """Words on one baseline with no wide gap between them (or one rotated word); or a placeholder region."""

    words: list[Word]
    x0: float
    top: float
    x1: float
    bottom: float
    region: object = None  # a table or figure standing in the reading order

    @classmethod
    def of(cls, words: list[Word]) -> "Segment":
        return cls(words, min(w.x0 for w in words), min(w.top for w in words), max(w.x1 for w in words),
                   max(w.bottom for w in words))

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def size(self) -> float:
        return median(w.size for w in self.words) if self.words else 0.0

    @property
    def bold(self) -> bool:
        return bool(self.words) and sum(len(w.text) for w in self.words if w.bold) > 0.6 * sum(
            len(w.text) for w in self.words)


@dataclass
class Block:
    segments: list[Segment] = field(default_factory=list)
    kind: str = "text"  # text | heading | list | caption
    level: int = 0

    @property
    def text(self) -> str:
        return join_lines([s.text for s in self.segments])

    @property
    def size(self) -> float:
        return median(s.size for s in self.segments)

    @property
    def bold(self) -> bool:
        return all(s.bold for s in self.segments)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        s = self.segments
        return (min(x.x0 for x in s), min(x.top for x in s), max(x.x1 for x in s), max(x.bottom for x in s))


def join_lines(lines: list[str]) -> str:
    """Join a paragraph's lines, removing end-of-line hyphenation ("infor-" + "mation" -> "information")."""
    out = ""
    for line in lines:
        if out.endswith("-") and len(out) > 1 and out[-2].isalpha() and line[:1].islower():
            out = out[:-1] + line
        else:
            out = f"{out} {line}" if out else line
    return out


# -- segments ----------------------------------------------------------------------------------------------
def make_segments(words: list[Word]) -> list[Segment]:
    segments = [Segment.of([w]) for w in words if not w.upright]
    rows: list[list[Word]] = []
    for word in sorted((w for w in words if w.upright), key=lambda w: (w.top + w.bottom) / 2):
        for row in reversed(rows[-6:]):  # rows are few and recent ones are the likely match
            top, bottom = min(w.top for w in row), max(w.bottom for w in row)
            overlap = min(bottom, word.bottom) - max(top, word.top)
            if overlap > 0.5 * min(bottom - top, word.bottom - word.top):
                row.append(word)
                break
        else:
            rows.append([word])
    for row in rows:
        row.sort(key=lambda w: w.x0)
        current = [row[0]]
        for word in row[1:]:
            wide = word.x0 - current[-1].x1 > max(1.0 * max(word.size, current[-1].size), 4.0)
            if wide and not LABEL.match(" ".join(w.text for w in current)):  # "Table 1." + wide space + caption
                segments.append(Segment.of(current))
                current = []
            current.append(word)
        segments.append(Segment.of(current))
    return segments


# -- reading order -----------------------------------------------------------------------------------------
def _gutter(segs: list[Segment]) -> float | None:
    """x of the widest vertical gap that no segment crosses, with content on both sides; None if none."""
    spans = sorted((s.x0, s.x1) for s in segs)
    best, best_width = None, MIN_GUTTER
    reach = spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 - reach >= best_width:
            best, best_width = (reach + x0) / 2, x0 - reach
        reach = max(reach, x1)
    return best


def _bands(segs: list[Segment]) -> list[list[Segment]]:
    bands: list[list[Segment]] = []
    bottom = None
    for seg in sorted(segs, key=lambda s: s.top):
        if bands and seg.top < bottom - 0.5:
            bands[-1].append(seg)
            bottom = max(bottom, seg.bottom)
        else:
            bands.append([seg])
            bottom = seg.bottom
    return bands


def reading_order(segs: list[Segment], depth: int = 0) -> list[Segment]:
    if len(segs) <= 1 or depth > 40:
        return sorted(segs, key=lambda s: (round(s.top), s.x0))
    cut = _gutter(segs)
    if cut is not None:
        left = [s for s in segs if (s.x0 + s.x1) / 2 < cut]
        right = [s for s in segs if (s.x0 + s.x1) / 2 >= cut]
        return reading_order(left, depth + 1) + reading_order(right, depth + 1)
    groups: list[list[Segment]] = []
    for band in _bands(segs):
        if groups and _gutter(groups[-1] + band) is not None:
            groups[-1] += band  # same columns continue: cut them together
        else:
            groups.append(list(band))
    if len(groups) == 1:
        return sorted(segs, key=lambda s: (round(s.top), s.x0))
    return [s for g in groups for s in reading_order(g, depth + 1)]


# -- blocks ------------------------------------------------------------------------------------------------
def make_blocks(ordered: list[Segment]) -> list[Block | Segment]:
    """Group ordered text segments into blocks; region placeholders pass through in place."""
    out: list[Block | Segment] = []
    current: Block | None = None
    for seg in ordered:
        if seg.region is not None:
            out.append(seg)
            current = None
            continue
        if current is not None and _continues(current.segments[-1], seg):
            current.segments.append(seg)
        else:
            current = Block([seg])
            out.append(current)
    return out


def _continues(prev: Segment, seg: Segment) -> bool:
    size = max(prev.size, seg.size, 1.0)
    gap = seg.top - prev.bottom
    if gap > 0.45 * size or gap < -0.5 * size:  # paragraph spacing, or a jump up (a new column)
        return False
    if abs(prev.size - seg.size) > 0.12 * size or prev.bold != seg.bold:
        return False
    if seg.x1 < prev.x0 or seg.x0 > prev.x1:  # no horizontal overlap: another column
        return False
    if BULLET.match(seg.text) or CAPTION.match(seg.text):
        return False
    return True


def classify(blocks: list[Block], body_size: float) -> None:
    """Mark headings (larger or bold short lines), list items and captions; levels are set per document."""
    for block in blocks:
        text = block.text
        words = len(text.split())
        larger = block.size >= 1.12 * body_size
        if CAPTION.match(text):
            block.kind = "caption"
        elif larger and words <= 25 and len(block.segments) <= 3 and any(c.isalpha() for c in text):
            block.kind = "heading"
        elif (block.bold and len(block.segments) <= 2 and 1 <= words <= 14 and not text.endswith((".", ":", ","))
              and any(c.isalpha() for c in text) and not BULLET.match(text)):
            block.kind = "heading"
        elif BULLET.match(text):
            block.kind = "list"


def heading_levels(sizes: list[float], body_size: float) -> dict[float, int]:
    """Heading font sizes -> levels: the largest is 1; bold body-size headings come last."""
    distinct: list[float] = []
    for size in sorted(sizes, reverse=True):
        if not distinct or distinct[-1] - size > 0.6:
            distinct.append(size)
    levels = {}
    for size in sizes:
        levels[size] = next(i for i, d in enumerate(distinct, start=1) if d - size <= 0.6)
    return levels
