import json

import pytest

from llmopt.lab.runner import run_lab


def test_sql_stage_compares_the_three_strategies(monkeypatch, gold_llm, tmp_path):
    import llmopt.models.registry as registry
    from llmopt.sql import examples

    monkeypatch.setattr(registry, "get_model", lambda spec="default", cache=True: gold_llm)
    monkeypatch.setattr(examples, "get_question_embedder", lambda spec: examples.LexicalEmbedder())
    result = run_lab("sql", out=tmp_path / "lab", quick=True, model="fake:gold")
    section = result.sections[0]
    assert section.status == "ok", section.error
    assert [r.rung for r in result.ladder] == ["text-to-SQL zero-shot", "text-to-SQL few-shot (DAIL selection)",
                                               "text-to-SQL few-shot + self-consistency"]
    assert all(r.metric == "execution_accuracy" and r.value == 1.0 and r.n == 2 for r in result.ladder)
    assert all(r.latency_s is not None and r.cost_usd is not None for r in result.ladder)
    # per question: zero-shot's call is the preliminary query of both few-shot strategies, and few-shot's greedy
    # call is self-consistency's first candidate
    assert "6 model calls were shared" in section.summary
    report = (tmp_path / "lab" / "report.md").read_text()
    assert "fewshot-sc − zero" in report and "plots/sql_accuracy.png" in report
    assert (tmp_path / "lab" / "plots" / "sql_accuracy_latency.png").read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((tmp_path / "lab" / "report.json").read_text())
    assert metrics["ladder"][2]["config"].startswith("fewshot-sc k=5 n=3")


@pytest.mark.integration
@pytest.mark.slow
def test_sql_stage_quick_with_the_embedded_model(tmp_path):
    result = run_lab("sql", out=tmp_path / "lab", quick=True)
    assert result.sections[0].status == "ok", result.sections[0].error
    assert len(result.ladder) == 3 and all(0.0 <= r.value <= 1.0 and r.n == 2 for r in result.ladder)


def test_sql_stage_reports_progress_over_every_strategys_questions(monkeypatch, gold_llm, tmp_path):
    import llmopt.models.registry as registry
    from llmopt.lab.registry import LabContext
    from llmopt.lab.stages import sql as sql_stage
    from llmopt.sql import examples

    monkeypatch.setattr(registry, "get_model", lambda spec="default", cache=True: gold_llm)
    monkeypatch.setattr(examples, "get_question_embedder", lambda spec: examples.LexicalEmbedder())
    calls = []
    sql_stage.run(LabContext(tmp_path / "lab", quick=True, model="fake:gold",
                             on_progress=lambda label, done, total: calls.append((label, done, total))))
    assert calls[-1] == ("sql 3/3: fewshot-sc", 6, 6)  # two questions under each of three strategies
    assert [done for _, done, _ in calls] == [0, 1, 2, 2, 3, 4, 4, 5, 6] and {t for _, _, t in calls} == {6}
    assert [label for label, _, _ in calls][::3] == ["sql 1/3: zero", "sql 2/3: fewshot", "sql 3/3: fewshot-sc"]
