"""`llmopt lab --quick --stages ask` end to end: the demo questions under each strategy with the embedded model."""

import json

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_quick_ask_stage_reports_every_strategy(tmp_path):
    from llmopt.lab.runner import run_lab

    result = run_lab("ask", out=tmp_path / "lab", quick=True)
    assert result.ok, result.sections[0].error
    assert [r.rung for r in result.ladder] == ["baseline prompt", "RAG", "DRAG", "IterDRAG"]
    assert all(r.n == 3 and 0 <= r.value <= 1 and r.latency_s > 0 for r in result.ladder)
    report = (tmp_path / "lab" / "report.md").read_text()
    assert "iterdrag k=2 m=2 n=2" in report and "effective context" in report and "token F1" in report
    answers = [json.loads(line) for line in (tmp_path / "lab" / "ask" / "answers.jsonl").read_text().splitlines()]
    assert len(answers) == 12 and {a["strategy"] for a in answers} == {"none", "rag", "drag", "iterdrag"}
    assert (tmp_path / "lab" / "plots" / "ask_accuracy_vs_context.png").is_file()
