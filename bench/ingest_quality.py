"""Ingestion quality and speed on the 10 real PDFs in ../shared/data/pdf (Docling's test set, with Docling's own
conversion beside each PDF as ground truth).

Per document:
  text recall        share of the ground-truth Markdown's word tokens (multiset, lower-cased) found in the
                     text of the chunks ingestion wrote (every type: text, table, picture)
  table-cell recall  share of ground-truth table cells (non-empty) matched by an extracted cell on the same
                     page: equal after normalisation (lower case, letters and digits only), or contained in one
                     extracted cell at most 3x its length (a merged cell); each extracted cell matches once
  pictures found     ground-truth pictures matched one-to-one by a detected picture on the same page:
                     IoU >= 0.3, or >= 70% of the ground-truth box covered by a detection at most 4x its area
  speed              pages/s of the whole ingest (parse, pictures, chunk, embed, store); the share of that time
                     spent outside embedding, with and without picture OCR

Targets: mean text recall >= 0.95 on the English documents, table-cell recall >= 0.85, every picture found,
non-embedding overhead <= 30% of ingest time.

    .venv/bin/python bench/ingest_quality.py                 # all 10 (resumes: finished documents are kept)
    .venv/bin/python bench/ingest_quality.py --only redp5110_sampled --fresh
Results: bench/results/ingest_quality.jsonl (one line per document), summary printed and written to
bench/results/ingest_quality_summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "pdf"
RESULTS = ROOT / "bench" / "results" / "ingest_quality.jsonl"
SUMMARY = ROOT / "bench" / "results" / "ingest_quality_summary.json"
DOCS = ["2305.03393v1-pg9", "amt_handbook_sample", "code_and_formula", "multi_page", "normal_4pages",
        "picture_classification", "redp5110_sampled", "right_to_left_01", "right_to_left_03",
        "table_mislabeled_as_picture"]
NOT_ENGLISH = {"normal_4pages", "right_to_left_01", "right_to_left_03"}  # Korean, Arabic, Persian
_WORD = re.compile(r"\w+")


# -- metrics (pure) ------------------------------------------------------------------------------------------
def md_tokens(markdown: str) -> Counter:
    text = markdown.replace("<!-- image -->", " ").replace("\\_", " ")
    text = re.sub(r"^\|?(\s*-+\s*\|)+\s*-*\s*$", " ", text, flags=re.M)  # table separator rows
    return Counter(w for w in _WORD.findall(text.lower()) if w != "_" and w.strip("_"))


def token_recall(truth: Counter, found: Counter) -> float:
    total = sum(truth.values())
    return sum(min(n, found[t]) for t, n in truth.items()) / total if total else 1.0


def norm_cell(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def cell_recall(truth: list[tuple[int, str]], found: list[tuple[int, str]]) -> tuple[int, int]:
    """(matched, total) ground-truth cells; cells are (page, text)."""
    pool: dict[int, list[str]] = {}
    for page, text in found:
        if norm_cell(text):
            pool.setdefault(page, []).append(norm_cell(text))
    matched = total = 0
    for page, text in truth:
        cell = norm_cell(text)
        if not cell:
            continue
        total += 1
        candidates = pool.get(page, [])
        hit = next((i for i, c in enumerate(candidates) if c == cell), None)
        if hit is None:
            hit = next((i for i, c in enumerate(candidates) if cell in c and len(c) <= 3 * len(cell)), None)
        if hit is not None:
            candidates.pop(hit)
            matched += 1
    return matched, total


def _area(b) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _inter(a, b) -> float:
    return _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def pictures_found(truth: list[tuple[int, tuple]], found: list[tuple[int, tuple]]) -> int:
    """One-to-one greedy matching, best overlap first; boxes (x0, top, x1, bottom) in points."""
    pairs = []
    for i, (page, gt) in enumerate(truth):
        for j, (fpage, det) in enumerate(found):
            if page != fpage:
                continue
            inter = _inter(gt, det)
            iou = inter / max(_area(gt) + _area(det) - inter, 1e-6)
            covered = inter >= 0.7 * _area(gt) and _area(det) <= 4 * _area(gt)
            if iou >= 0.3 or covered:
                pairs.append((iou, i, j))
    used_t, used_f = set(), set()
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
    return len(used_t)


# -- ground truth ----------------------------------------------------------------------------------------------
def ground_truth(name: str) -> dict:
    doc = json.loads((DATA / f"{name}.json").read_text())
    heights = {int(k): v["size"]["height"] for k, v in doc["pages"].items()}
    cells = [(t["prov"][0]["page_no"], c["text"]) for t in doc["tables"] for c in t["data"]["table_cells"]]
    pictures = []
    for p in doc["pictures"]:
        prov = p["prov"][0]
        b, h = prov["bbox"], heights[prov["page_no"]]
        flip = b["coord_origin"] == "BOTTOMLEFT"
        box = (b["l"], h - b["t"], b["r"], h - b["b"]) if flip else (b["l"], b["t"], b["r"], b["b"])
        pictures.append((prov["page_no"], box))
    return {"tokens": md_tokens((DATA / f"{name}.md").read_text()), "cells": cells, "pictures": pictures,
            "pages": len(doc["pages"])}


# -- one document ----------------------------------------------------------------------------------------------
def measure(name: str, index_dir: Path) -> dict:
    from llmopt.index import open_index
    from llmopt.ingest import IngestConfig, ingest
    from llmopt.ingest.loaders import load_document

    path = DATA / f"{name}.pdf"
    index = str(index_dir / name)
    shutil.rmtree(index, ignore_errors=True)
    report = ingest([path], index)
    result = report.files[0]
    if result.status != "added":
        return {"doc": name, "error": result.reason}
    with open_index(index) as idx:
        chunks = idx.chunks(str(path))
    doc = load_document(path, IngestConfig())  # the same elements the pipeline chunked: cells and boxes
    truth = ground_truth(name)
    found_tokens = Counter(w for c in chunks for w in _WORD.findall(c.text.lower()))
    matched, total = cell_recall(truth["cells"], [(e.page, cell) for e in doc.elements if e.kind == "table"
                                                  for row in e.rows for cell in row])
    pictures = [(e.page, e.bbox) for e in doc.elements if e.kind == "picture" and e.bbox]
    t = result.timings
    total_s = sum(t.values())
    return {"doc": name, "english": name not in NOT_ENGLISH, "pages": truth["pages"], "chunks": len(chunks),
            "by_type": result.by_type, "text_recall": round(token_recall(truth["tokens"], found_tokens), 4),
            "cells_matched": matched, "cells_total": total, "pictures_truth": len(truth["pictures"]),
            "pictures_found": pictures_found(truth["pictures"], pictures), "pictures_detected": len(pictures),
            "timings": t, "seconds": round(total_s, 3), "load_avg": os.getloadavg()[0]}


def summarise(rows: list[dict]) -> dict:
    ok = [r for r in rows if "error" not in r]
    english = [r for r in ok if r["english"]]
    cells_m, cells_t = sum(r["cells_matched"] for r in ok), sum(r["cells_total"] for r in ok)
    phase = {p: sum(r["timings"].get(p, 0.0) for r in ok) for p in ("parse", "pictures", "chunk", "embed", "store")}
    total = sum(phase.values())
    no_ocr = total - phase["pictures"]
    return {
        "documents": len(ok), "errors": [r for r in rows if "error" in r],
        "text_recall_english_mean": round(sum(r["text_recall"] for r in english) / max(len(english), 1), 4),
        "text_recall_all_mean": round(sum(r["text_recall"] for r in ok) / max(len(ok), 1), 4),
        "table_cell_recall": round(cells_m / cells_t, 4) if cells_t else None, "cells": [cells_m, cells_t],
        "pictures": [sum(r["pictures_found"] for r in ok), sum(r["pictures_truth"] for r in ok)],
        "pages": sum(r["pages"] for r in ok), "seconds": round(total, 2),
        "pages_per_s": round(sum(r["pages"] for r in ok) / total, 3) if total else None,
        "phase_seconds": {k: round(v, 2) for k, v in phase.items()},
        "non_embedding_share": round((total - phase["embed"]) / total, 4) if total else None,
        "non_embedding_share_without_ocr": round((no_ocr - phase["embed"]) / no_ocr, 4) if no_ocr else None,
        "targets": {"text_recall_english": 0.95, "table_cell_recall": 0.85, "pictures": "all",
                    "non_embedding_share": 0.30},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="document names (default: all 10)")
    parser.add_argument("--fresh", action="store_true", help="forget finished documents and measure again")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"no benchmark data at {DATA}", file=sys.stderr)
        return 2
    os.environ.setdefault("LLMOPT_HOME", str(ROOT / "bench" / ".cache" / "llmopt-home"))
    names = args.only or DOCS
    if args.fresh and RESULTS.exists():
        keep = [line for line in RESULTS.read_text().splitlines() if json.loads(line).get("doc") not in names]
        RESULTS.write_text("".join(line + "\n" for line in keep))
    done = {} if not RESULTS.exists() else {
        r["doc"]: r for r in map(json.loads, RESULTS.read_text().splitlines()) if r.get("doc")}
    _warm_up()
    index_dir = ROOT / "bench" / ".cache" / "ingest_quality"
    for name in names:
        if name in done:
            continue
        row = measure(name, index_dir)
        done[name] = row
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with open(RESULTS, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    rows = [done[n] for n in DOCS if n in done]
    summary = dict(summarise(rows), date=time.strftime("%Y-%m-%d"), machine="2-core CPU, 24 GiB, no GPU (shared)")
    SUMMARY.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def _warm_up() -> None:
    """Load the embedder and the OCR engine once, outside the timings (a one-time cost per process)."""
    from llmopt.ingest.pictures import ocr_engine
    from llmopt.models.embed import get_embedder

    get_embedder("default").embed(["warm up"])
    ocr_engine()


if __name__ == "__main__":
    sys.exit(main())
