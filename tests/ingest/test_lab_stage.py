"""The lab's ingest stage (`llmopt lab --quick --stages ingest`), run in-process."""

import json

import pytest

from llmopt.lab.runner import run_lab
from llmopt.lab.stages.ingest import fact_queries

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_quick_ingest_stage_reports_retrieval_checks(tmp_path):
    result = run_lab("ingest", out=tmp_path / "lab", quick=True)
    section = result.sections[0]
    assert section.status == "ok", section.error
    report = json.loads((tmp_path / "lab" / "report.json").read_text())
    rungs = {row["rung"]: row for row in report["ladder"]}
    assert set(rungs) == {"retrieval: dense", "retrieval: sparse", "retrieval: hybrid"}
    assert rungs["retrieval: hybrid"]["metric"] == "hit@5" and rungs["retrieval: hybrid"]["value"] >= 0.8
    assert (tmp_path / "lab" / "plots" / "ingest_time.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "lab" / "report.md").read_text()
    assert "annual_report_2024.pdf" in md and "value in chunk" in md
    assert (tmp_path / "lab" / "ingest-index" / "index.json").is_file()


def test_fact_queries_cover_charts_tables_and_chains():
    facts = {"charts": [{"title": "T", "caption": "Figure 1.", "document": "r.pdf", "page": 2,
                         "values": {"North": 7340}, "unit": "units"}],
             "facts": [{"id": "rev", "statement": "Harvest-X revenue was EUR 48.2 million in 2024.", "document":
                        "r.pdf", "page": 1, "where": "table", "only_in": "table"}],
             "chains": [{"question": "Q?", "answer": "A", "facts": ["rev"]}]}
    queries = fact_queries(facts)
    assert [q["kind"] for q in queries] == ["chart", "table", "multi-hop (1st hop)"]
    assert queries[0]["value"] == "7,340" and queries[1]["value"] == "48.2" and queries[2]["page"] == 1
