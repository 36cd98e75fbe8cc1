import json

import pytest

from llmopt.lab import registry
from llmopt.lab.registry import LabContext, LadderRow, StageResult, Table
from llmopt.lab.runner import cheapest_reaching, run_lab
from llmopt.errors import ConfigError


@pytest.fixture
def toy_stages(monkeypatch):
    monkeypatch.setattr(registry, "_STAGES", {})
    monkeypatch.setattr(registry, "_loaded", True)

    @registry.stage("good", order=1, budget_s=1, description="a stage that works")
    def good(ctx: LabContext) -> StageResult:
        from llmopt.report import bar_chart

        plot = bar_chart(ctx.path("plots", "good.png"), ["a", "b"], {"speed": [1.0, 2.0]}, "t", "y")
        return StageResult("works", [Table(["x"], [[1]])], [("speed", plot)],
                           [LadderRow("RAG", "rag k=5", "acc", 0.7, 0.62, 0.78, 1.0, 0.002, 50),
                            LadderRow("DRAG", "drag k=5 m=2", "acc", 0.8, 0.72, 0.88, 2.0, 0.004, 50),
                            LadderRow("none", "plain", "acc", 0.5, 0.4, 0.6, 0.5, 0.001, 50)])

    @registry.stage("bad", order=2, budget_s=1, description="a stage that fails")
    def bad(ctx: LabContext) -> StageResult:
        raise RuntimeError("boom")


def test_runner_reports_every_stage_even_after_a_failure(toy_stages, tmp_path):
    result = run_lab(out=tmp_path / "r", target="acc=0.6")
    assert [s.status for s in result.sections] == ["ok", "error"] and not result.ok
    assert result.target["cheapest"]["config"] == "rag k=5"
    md = (tmp_path / "r" / "report.md").read_text()
    assert "## Ladder" in md and "drag k=5 m=2" in md and "boom" in md and "plots/good.png" in md
    html = (tmp_path / "r" / "report.html").read_text()
    assert "<table>" in html and "plots/good.png" in html
    assert (tmp_path / "r" / "plots" / "good.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "r" / "report.json").read_text())["ladder"][0]["rung"] == "RAG"


def test_stage_selection(toy_stages, tmp_path):
    assert [s.title.split(":")[0] for s in run_lab("good", out=tmp_path / "r").sections] == ["good"]
    with pytest.raises(ConfigError, match="stages: good, bad"):
        run_lab("nope", out=tmp_path / "r")


def test_cheapest_uses_ci_lower_bound():
    rows = [LadderRow("a", "a", "acc", 0.65, 0.55, 0.75, cost_usd=0.001),
            LadderRow("b", "b", "acc", 0.70, 0.61, 0.79, cost_usd=0.002)]
    assert cheapest_reaching(rows, "acc", 0.6).config == "b"
    assert cheapest_reaching(rows, "acc", 0.9) is None


def test_a_file_as_out_fails_before_any_stage_runs(toy_stages, tmp_path, monkeypatch):
    ran = []
    from dataclasses import replace

    monkeypatch.setitem(registry._STAGES, "good", replace(registry._STAGES["good"], run=lambda ctx: ran.append(1)))
    (tmp_path / "taken").write_text("x")
    with pytest.raises(ConfigError, match="is a file; name a folder"):
        run_lab(out=tmp_path / "taken")
    assert ran == []
