"""Tables on a PDF page, as cells.

    ruled      a grid of ruling lines: pdfplumber's lattice algorithm (Nurminen 2013) run on PDFium's edges
    booktabs   only horizontal rules (academic papers): rows between long rules, columns from text gaps
    leaders    a table of contents: lines ending in dot leaders and a page number

Cell text keeps its words in reading order; cells that span several grid cells keep their text once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pdfplumber.table import cells_to_tables, edges_to_intersections, intersections_to_cells, merge_edges

from ..tables import normalize_rows
from .reader import PageContent, Word

LEADER = re.compile(r"^(?P<title>.*?\S)\s*(?:\.\s*){4,}\s*(?P<page>[\divxlcdmIVXLCDM]{1,6})$")


@dataclass
class PdfTable:
    bbox: tuple[float, float, float, float]
    rows: list[list[str]]
    method: str  # ruled | booktabs | leaders
    words: list[Word]  # the words it took from the page
    header_rows: int = 1


def _inside(word: Word, box, pad: float = 1.0) -> bool:
    cx, cy = (word.x0 + word.x1) / 2, (word.top + word.bottom) / 2
    return box[0] - pad <= cx <= box[2] + pad and box[1] - pad <= cy <= box[3] + pad


def cell_text(words: list[Word]) -> str:
    if words and not any(w.upright for w in words):  # rotated text: its lines run left to right
        return " ".join(w.text for w in sorted(words, key=lambda w: (w.x0, -w.bottom)))
    return " ".join(" ".join(w.text for w in sorted(line, key=lambda w: w.x0)) for line in text_lines(words))


def _grid(words: list[Word], xs: list[float], ys: list[float]) -> list[list[str]]:
    """Words into the cells of a grid given by column and row boundaries."""
    cells: dict[tuple[int, int], list[Word]] = {}
    for word in words:
        cx, cy = (word.x0 + word.x1) / 2, (word.top + word.bottom) / 2
        col = next((j for j in range(len(xs) - 1) if xs[j] <= cx < xs[j + 1]), None)
        row = next((i for i in range(len(ys) - 1) if ys[i] <= cy < ys[i + 1]), None)
        if col is not None and row is not None:
            cells.setdefault((row, col), []).append(word)
    return [[cell_text(cells.get((i, j), [])) for j in range(len(xs) - 1)] for i in range(len(ys) - 1)]


# -- ruled ---------------------------------------------------------------------------------------------------
def ruled_tables(page: PageContent) -> list[PdfTable]:
    edges = [e for e in page.edges if max(e["width"], e["height"]) >= 3]
    if len(edges) < 4:
        return []
    edges = merge_edges(edges, 3, 3, 3, 3)
    cells = intersections_to_cells(edges_to_intersections(edges, 3, 3))
    tables = []
    for group in cells_to_tables(cells):
        xs = sorted({round(c[0], 1) for c in group} | {round(c[2], 1) for c in group})
        ys = sorted({round(c[1], 1) for c in group} | {round(c[3], 1) for c in group})
        xs, ys = _dedupe(xs), _dedupe(ys)
        bbox = (xs[0], ys[0], xs[-1], ys[-1])
        words = [w for w in page.words if _inside(w, bbox, 0)]
        rows = _grid(words, xs, ys)  # a merged cell's words sit in one slot: its text is kept once
        if _plausible(rows):
            tables.append(PdfTable(bbox, normalize_rows(rows), "ruled", words))
    return tables


def _dedupe(values: list[float], tol: float = 2.0) -> list[float]:
    out: list[float] = []
    for v in values:
        if not out or v - out[-1] > tol:
            out.append(v)
    return out


def _plausible(rows: list[list[str]]) -> bool:
    """At least 2x2 with a reasonable share of filled cells (a diagram's grid of boxes is not a table)."""
    rows = normalize_rows(rows)
    if len(rows) < 2 or len(rows[0]) < 2:
        return False
    filled = sum(bool(c) for r in rows for c in r)
    return filled >= 4 and filled >= 0.4 * len(rows) * len(rows[0])


# -- booktabs ------------------------------------------------------------------------------------------------
def booktabs_tables(page: PageContent) -> list[PdfTable]:
    """Stacks of >= 3 long horizontal rules with the same extent and text between them."""
    h_edges = [e for e in page.edges if e["orientation"] == "h"]
    rules = sorted((e for e in merge_edges(h_edges, 3, 3, 3, 3) if e["width"] >= 60), key=lambda e: e["top"])
    tables, used = [], set()
    for i, first in enumerate(rules):
        if i in used:
            continue
        stack = [first] + [r for r in rules[i + 1:] if _same_extent(r, first)]
        stack = _contiguous(stack, page)
        if len(stack) < 3:
            continue
        used.update(rules.index(r) for r in stack)
        table = _booktabs(page, stack)
        if table:
            tables.append(table)
    return tables


def _same_extent(a: dict, b: dict) -> bool:
    return abs(a["x0"] - b["x0"]) < 4 and abs(a["x1"] - b["x1"]) < 4


def find_tables(page: PageContent) -> list[PdfTable]:
    """Ruled and booktabs tables; where both claim the same area, the one that found more columns wins."""
    ruled, booktabs = ruled_tables(page), booktabs_tables(page)
    kept = []
    for table in ruled:
        rivals = [b for b in booktabs if _overlaps(table.bbox, b.bbox)]
        if all(len(table.rows[0]) >= len(b.rows[0]) for b in rivals):
            kept.append(table)
            booktabs = [b for b in booktabs if b not in rivals]
    return kept + booktabs


def _overlaps(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def _inside_box(edge: dict, box) -> bool:
    return box[1] - 2 <= edge["top"] <= box[3] + 2 and edge["x0"] >= box[0] - 2 and edge["x1"] <= box[2] + 2


def _contiguous(stack: list[dict], page: PageContent) -> list[dict]:
    """Keep rules until a gap with too many text lines (a table does not span paragraphs of prose)."""
    kept = [stack[0]]
    for rule in stack[1:]:
        lines = {round(w.top) for w in page.words if kept[-1]["top"] < w.top < rule["top"]}
        if len(lines) > 12:
            break
        kept.append(rule)
    return kept


def _booktabs(page: PageContent, stack: list[dict]) -> PdfTable | None:
    x0, x1 = stack[0]["x0"], stack[0]["x1"]
    top, bottom = stack[0]["top"], stack[-1]["top"]
    words = [w for w in page.words if x0 - 2 <= (w.x0 + w.x1) / 2 <= x1 + 2 and top < (w.top + w.bottom) / 2 < bottom]
    if len(words) < 4:
        return None
    ys = _dedupe([r["top"] for r in stack])
    ys = _split_tall_bands(ys, words)
    xs = _text_columns(words, x0, x1, ys)
    if len(xs) < 3:
        return None
    rows = _grid(words, xs, ys)
    if not _plausible(rows):
        return None
    return PdfTable((x0, top, x1, bottom), normalize_rows(rows), "booktabs", words)


def _split_tall_bands(ys: list[float], words: list[Word]) -> list[float]:
    """A band between two rules holding 3+ text lines is a run of rows (not one row of wrapped cells)."""
    out = [ys[0]]
    for a, b in zip(ys, ys[1:]):
        lines = text_lines([w for w in words if a < (w.top + w.bottom) / 2 < b])
        if len(lines) >= 3:
            out += [(max(w.bottom for w in p) + min(w.top for w in q)) / 2 for p, q in zip(lines, lines[1:])]
        out.append(b)
    return out


def text_lines(words: list[Word]) -> list[list[Word]]:
    """Words grouped into lines by vertical overlap, top to bottom."""
    lines: list[list[Word]] = []
    for word in sorted(words, key=lambda w: (w.top + w.bottom) / 2):
        if lines:
            top, bottom = min(w.top for w in lines[-1]), max(w.bottom for w in lines[-1])
            if min(bottom, word.bottom) - max(top, word.top) > 0.4 * min(bottom - top, word.bottom - word.top):
                lines[-1].append(word)
                continue
        lines.append([word])
    return lines


def _text_columns(words: list[Word], x0: float, x1: float, ys: list[float]) -> list[float]:
    """Column boundaries at x positions no word of the body rows crosses (header words may span columns)."""
    body = [w for w in words if (w.top + w.bottom) / 2 > ys[1]] if len(ys) > 2 else words
    spans = sorted((w.x0, w.x1) for w in body or words)
    bounds, reach = [x0], spans[0][1]
    for a, b in spans[1:]:
        if a - reach >= 4.0:
            bounds.append((reach + a) / 2)
        reach = max(reach, b)
    return bounds + [x1 + 0.01]


# -- leaders (tables of contents) --------------------------------------------------------------------------------
def leader_rows(lines: list[tuple[str, tuple]]) -> list[tuple[int, int]]:
    """Runs (start, end) of >= 3 consecutive lines that end in dot leaders and a page number."""
    runs, start = [], None
    for i, (text, _) in enumerate(lines + [("", ())]):
        if LEADER.match(text):
            start = i if start is None else start
        else:
            if start is not None and i - start >= 3:
                runs.append((start, i))
            start = None
    return runs


def leader_cells(text: str) -> list[str]:
    match = LEADER.match(text)
    return [match.group("title"), match.group("page")] if match else [text, ""]
