"""Demo questions with gold answers over the demo corpus (llmopt/demo/corpus), for `llmopt ask` and the lab's
ask stage, plus a separate demonstration pool; `llmopt demo-data DIR` writes them under DIR/qa/:

    questions.jsonl   id, question, answer, kind, documents, hops, chain: the questions the lab asks
    demos.jsonl       the demonstration pool: other questions about the same documents, with decomposition
                      chains for the multi-hop ones ("chain": [] says one hop), never a lab question

Every answer is computed from the corpus's own fact tables (corpus/content.py), so the documents, the questions
and the gold answers cannot drift apart. `kind` says where the answer lives (text, table, chart, picture,
multi-hop); `documents` names the files it needs, so a test can ingest just those.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..paths import atomic_write_text
from . import writer
from .corpus import content as C

PDF, HANDBOOK, FAQ, PRESS = "annual_report_2024.pdf", "operations_handbook.html", "product_faq.md", "press_release.txt"
TEXT_DOCUMENTS = (HANDBOOK, FAQ, PRESS)  # quick to ingest: no PDF, no pictures


def _fact(fact_id: str, pattern: str) -> str:
    """A value read out of one fact's statement, e.g. the year out of "... was founded in 2011 in Tartu ..."."""
    statement = next(f[1] for f in C.FACTS if f[0] == fact_id)
    found = re.search(pattern, statement)
    if not found:
        raise ValueError(f"demo QA: fact '{fact_id}' no longer matches {pattern!r}: {statement}")
    return found.group(1)


def _plant(city: str) -> tuple:
    return next(p for p in C.PLANTS if p[0] == city)


def _plant_of(product: str) -> tuple:
    return next(p for p in C.PLANTS if p[1] == product)


def _spec(product: str) -> tuple:
    return next(s for s in C.SPECS if s[0] == product)


def _minutes(product: str) -> str:
    return _spec(product)[1].replace(" of flight", "")


def _chart(stem: str) -> dict:
    chart = next(c for c in C.CHARTS if c[0] == stem)
    return {label: f"{value:,}" for label, value in zip(chart[3], chart[4])}


def _q(qid, question, answer, kind, documents, chain=()) -> dict:
    return {"id": qid, "question": question, "answer": answer, "kind": kind, "documents": list(documents),
            "hops": max(1, len(chain)), "chain": [{"question": q, "answer": a} for q, a in chain]}


def questions() -> list[dict]:
    gdansk, lead = _plant("Gdansk"), C.PEOPLE["lead_engineer"]
    founded_city = _fact("founded", r"founded in \d{4} in (\w+)")
    return [
        _q("q-cfo", f"Who is the chief financial officer of {C.COMPANY}?", C.PEOPLE["cfo"], "text", [PRESS]),
        _q("q-porto-manager", "Who manages the Porto plant?", _plant("Porto")[2], "table", [HANDBOOK]),
        _q("q-skylark-price", "How much does the Skylark S2 cost?", _spec("Skylark S2")[3], "table", [FAQ]),
        _q("q-agrinord", "How many Harvest-X drones did the AgriNord cooperative order?",
           _fact("agrinord", r"ordered ([\d,]+) Harvest-X"), "text", [PRESS]),
        _q("q-gdansk-flight", "How long can the drone built in the Gdansk plant fly?", _minutes(gdansk[1]),
           "multi-hop", [HANDBOOK, FAQ], [("Which drone does the Gdansk plant build?", gdansk[1]),
                                          (f"How long can the {gdansk[1]} fly?", _minutes(gdansk[1]))]),
        _q("q-lead-plant", f"Who manages the plant that builds the drone {lead} leads?", _plant_of("Harvest-X")[2],
           "multi-hop", [FAQ, HANDBOOK], [(f"Which drone is {lead} the lead engineer of?", "Harvest-X"),
                                          ("Who manages the plant that builds the Harvest-X?",
                                           _plant_of("Harvest-X")[2])]),
        _q("q-founded", f"In which year was {C.COMPANY} founded?", _fact("founded", r"founded in (\d{4})"), "text", [PDF]),
        _q("q-rootline-revenue", "What was the Rootline revenue in 2024?", f"EUR {C.REVENUE['Rootline'][1]} million",
           "table", [PDF]),
        _q("q-iberia-units", f"How many units did {C.COMPANY} ship to Iberia in 2024?",
           _chart("chart_units_2024")["Iberia"], "chart", [PDF]),
        _q("q-cto", f"Who is the chief technology officer of {C.COMPANY}?", C.PEOPLE["cto"], "picture",
           ["org_chart.png"]),
        _q("q-gdansk-battery", "How many charge cycles does the battery of the drone built in Gdansk last?",
           _chart("chart_battery")[gdansk[1]], "multi-hop", [HANDBOOK, PDF],
           [("Which drone does the Gdansk plant build?", gdansk[1]),
            (f"How many charge cycles does the {gdansk[1]} battery last?", _chart("chart_battery")[gdansk[1]])]),
        _q("q-founding-site-rd", f"How many research and development staff work in the city where {C.COMPANY} "
           "was founded?", _chart("chart_headcount")[founded_city], "multi-hop", [PDF],
           [(f"In which city was {C.COMPANY} founded?", founded_city),
            (f"How many research and development staff work at the {founded_city} site?",
             _chart("chart_headcount")[founded_city])]),
    ]


def demonstrations() -> list[dict]:
    porto, harvest = _plant("Porto"), _plant_of("Harvest-X")
    return [
        _q("d-ceo", f"Who is the chief executive officer of {C.COMPANY}?", C.PEOPLE["ceo"], "text", [PRESS]),
        _q("d-gdansk-opened", "In which year did the Gdansk plant open?", str(_plant("Gdansk")[3]), "table",
           [HANDBOOK]),
        _q("d-harvest-price", "How much does the Harvest-X cost?", _spec("Harvest-X")[3], "table", [FAQ]),
        _q("d-porto-product-price", "How much does the product built in the Porto plant cost?", _spec(porto[1])[3],
           "multi-hop", [HANDBOOK, FAQ], [("Which product does the Porto plant build?", porto[1]),
                                          (f"How much does {porto[1]} cost?", _spec(porto[1])[3])]),
        _q("d-harvest-capacity", "How many units a month can the plant that builds the Harvest-X build?",
           f"{harvest[4]:,}", "multi-hop", [HANDBOOK], [("Which plant builds the Harvest-X?", harvest[0]),
                                                        (f"How many units a month can the {harvest[0]} plant build?",
                                                         f"{harvest[4]:,}")]),
        _q("d-ramos-opened", f"In which year did the plant managed by {porto[2]} open?", str(porto[3]), "multi-hop",
           [HANDBOOK], [(f"Which plant does {porto[2]} manage?", porto[0]),
                        (f"In which year did the {porto[0]} plant open?", str(porto[3]))]),
        _q("d-hq", f"Where did {C.COMPANY} move its headquarters in 2019?",
           _fact("hq", r"headquarters to (\w+)"), "text", [PDF]),
        _q("d-target", f"How many units does {C.COMPANY} target for 2025?",
           _fact("target_2025", r"targets ([\d,]+) units"), "text",
           ["investor_deck.pptx"]),
    ]


@writer("qa")
def write(out_dir: Path) -> list[Path]:
    root = Path(out_dir) / "qa"
    written = []
    for name, rows in (("questions.jsonl", questions()), ("demos.jsonl", demonstrations())):
        path = root / name
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        written.append(path)
    return written
