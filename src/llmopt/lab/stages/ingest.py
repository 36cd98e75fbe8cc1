"""Lab stage `ingest`: the demo corpus (`llmopt demo-data DIR --only corpus`) into a hybrid Milvus index, then
retrieval checks built from its facts.json: can search find the chart, table and multi-hop facts, under dense,
BM25 and hybrid retrieval, and does the retrieved picture chunk hold the number the chart shows?

Quick mode ingests the documents without the twenty field notes (the charts, table and cross-document facts are
all still there); full mode ingests everything. The index is left in the report folder (ctx.shared["index"]).
"""

from __future__ import annotations

import json
from pathlib import Path

from ...report import bar_chart, percent, seconds
from ..registry import LabContext, LadderRow, StageResult, Table, stage

MODES = ("dense", "sparse", "hybrid")


def fact_queries(facts: dict, quick: bool = False) -> list[dict]:
    """(query, expected document, page, type, value) per chart bar, table row and chain (quick: two charts)."""
    queries = []
    for chart in facts["charts"][:2] if quick else facts["charts"]:
        for label, value in chart["values"].items():
            queries.append({"kind": "chart", "query": f"{chart['title']}: what is the value for {label}?",
                            "document": chart["document"], "page": chart["page"], "type": "picture",
                            "caption": chart["caption"], "value": f"{value:,}"})
    for fact in facts["facts"]:
        if fact["only_in"] == "table" and fact["document"].endswith(".pdf"):
            product = fact["statement"].split(" revenue")[0]
            queries.append({"kind": "table", "query": f"What was the 2024 revenue of the {product} product line?",
                            "document": fact["document"], "page": fact["page"], "type": "table",
                            "value": fact["statement"].split("EUR ")[1].split(" ")[0]})
    by_id = {f["id"]: f for f in facts["facts"]}
    for chain in facts["chains"]:
        first = by_id[chain["facts"][0]]
        queries.append({"kind": "multi-hop (1st hop)", "query": chain["question"], "document": first["document"],
                        "page": first["page"], "type": None, "value": None})
    return queries


def check(index, query: dict, mode: str, k: int = 5) -> tuple[int | None, bool]:
    """Rank (1-based) of the first hit from the expected document/page/type, and whether it holds the value."""
    hits = index.search(query["query"], k=k, mode=mode)
    for hit in hits:
        c = hit.chunk
        if Path(c.source).name != query["document"] or (query["page"] and c.page != query["page"]):
            continue
        if query["type"] and c.type != query["type"]:
            continue
        if query.get("caption") and c.metadata.get("caption") != query["caption"]:
            continue  # another chart on the same page
        return hit.rank, bool(query["value"]) and query["value"] in c.text
    return None, False


def ingest_progress(ctx: LabContext, label: str = "ingest"):
    """An ingest callback reporting ctx.progress per file: (f"{label}: NAME", files done, files found)."""
    count = {"done": 0, "total": 0}

    def callback(event: str, info: dict) -> None:
        if event == "start":
            count["total"] = info["files"]
            ctx.progress(label, 0, count["total"])
        elif event == "file":
            count["done"] += 1
            name = Path(info["result"].path).name
            ctx.progress(f"{label}: {name}", count["done"], max(count["total"], count["done"]))

    return callback


def _ingest(ctx: LabContext) -> tuple[Path, str, object]:
    from ...demo import write_demo_data
    from ...ingest import ingest

    data = ctx.out_dir / "data"
    write_demo_data(data, ["corpus"])
    corpus = data / "corpus"
    paths = sorted(p for p in corpus.iterdir() if p.is_file() and p.suffix != ".json")
    if not ctx.quick:
        paths.append(corpus / "field_notes")
    index = str(ctx.out_dir / "ingest-index")
    return corpus, index, ingest(paths, index=index, callback=ingest_progress(ctx))


@stage("ingest", order=20, budget_s=300,
       description="demo corpus -> hybrid Milvus index; chart, table and multi-hop retrieval under dense/BM25/hybrid")
def run(ctx: LabContext) -> StageResult:
    from ...index import open_index

    corpus, index_path, report = _ingest(ctx)
    ctx.shared.update({"index": index_path, "corpus": str(corpus)})
    queries = fact_queries(json.loads((corpus / "facts.json").read_text(encoding="utf-8")), ctx.quick)
    results: dict[str, list[tuple[int | None, bool]]] = {}
    with open_index(index_path) as index:
        info = index.info()
        for m, mode in enumerate(MODES):
            results[mode] = []
            for i, query in enumerate(queries):
                ctx.progress(f"ingest: {mode} retrieval checks", m * len(queries) + i, len(MODES) * len(queries))
                results[mode].append(check(index, query, mode))
        ctx.progress("ingest: retrieval checks", len(MODES) * len(queries), len(MODES) * len(queries))
    kinds = sorted({q["kind"] for q in queries})
    rows = []
    for kind in kinds:
        picked = [i for i, q in enumerate(queries) if q["kind"] == kind]
        for mode in MODES:
            ranks = [results[mode][i][0] for i in picked]
            values = [results[mode][i][1] for i in picked if queries[i]["value"]]
            rows.append([kind, mode, len(picked), percent(_share(r == 1 for r in ranks)),
                         percent(_share(r is not None for r in ranks)), percent(_share(values)) if values else None])
    ladder = [LadderRow(f"retrieval: {mode}", f"{mode} k=5 {info['embedder']}", "hit@5",
                        _share(r is not None for r, _ in results[mode]), n=len(queries), stage="ingest")
              for mode in MODES]
    timings = report.timings
    plot = bar_chart(ctx.path("plots", "ingest_time.png"), list(timings), {"seconds": list(timings.values())},
                     "Ingest time by phase", "seconds")
    files = Table(["file", "status", "chunks", "types", "pictures", "seconds", "reason"],
                  [[Path(f.path).name, f.status, f.chunks, " ".join(f"{k}:{v}" for k, v in sorted(f.by_type.items())),
                    f.pictures, seconds(f.seconds), f.reason] for f in report.files],
                  "What ingestion did with each file.")
    checks = Table(["facts", "retrieval", "n", "hit@1", "hit@5", "value in chunk"], rows,
                   "Queries built from facts.json: is the chunk holding the fact (right document, page and element "
                   "type) in the top 5, and does it contain the exact value?")
    hybrid_hit = ladder[-1].value
    summary = (f"Ingested {report.count('added') + report.count('unchanged')} files into {info['chunks']} chunks "
               f"({', '.join(f'{k} {v}' for k, v in info['by_type'].items())}) in {seconds(report.seconds)}; hybrid "
               f"retrieval finds {hybrid_hit:.0%} of {len(queries)} fact queries in the top 5.")
    metrics = {"chunks": info["chunks"], "by_type": info["by_type"], "ingest_s": report.seconds,
               "timings": timings, "failed": report.count("failed"),
               "hit@5": {mode: ladder[i].value for i, mode in enumerate(MODES)}}
    return StageResult(summary, [checks, files], [("Ingest time by phase", plot)], ladder, metrics)


def _share(flags) -> float:
    flags = list(flags)
    return sum(bool(f) for f in flags) / len(flags) if flags else 0.0
