"""`llmopt lab --quick --stages finetune|merge` on the embedded model (real weights: integration, slow)."""

import pytest

from llmopt.lab.runner import run_lab


@pytest.mark.integration
@pytest.mark.slow
def test_finetune_stage_reports_before_and_after(tmp_path):
    result = run_lab("finetune", out=tmp_path / "lab", quick=True)
    assert result.ok, [s.error for s in result.sections]
    rungs = {r.rung for r in result.ladder}
    assert {"baseline prompt", "fine-tuned (LoRA)"} <= rungs
    assert all(r.n > 0 and r.metric == "f1" for r in result.ladder)
    report = (tmp_path / "lab" / "report.md").read_text()
    assert "before (95% CI)" in report and (tmp_path / "lab" / "plots" / "finetune_before_after.png").is_file()


@pytest.mark.integration
@pytest.mark.slow
def test_merge_stage_evaluates_merges_against_both_parents(tmp_path):
    result = run_lab("merge", out=tmp_path / "lab", quick=True)
    assert result.ok, [s.error for s in result.sections]
    merged = [r for r in result.ladder if r.rung == "merged"]
    # linear, TIES, the searched linear merge and the mixture of experts, each on both tasks
    assert {r.metric for r in merged} == {"f1", "execution_accuracy"} and len(merged) == 8
    metrics = result.metrics["merge"]
    assert set(metrics) >= {"base", "reading fine-tune", "sql fine-tune", "merge: linear", "merge: ties",
                            "merge: MoE (2 experts, hidden gates)", "skills kept", "search"}
    searched = [label for label in metrics if label.startswith("merge: linear, searched")]
    assert len(searched) == 1 and metrics["search"]["trials"] == 3
    assert metrics["search"]["dev objective"] >= metrics["search"]["dev objective at 0.5/0.5"]
    assert set(metrics["skills kept"]) == {"merge: linear", "merge: ties", searched[0],
                                           "merge: MoE (2 experts, hidden gates)"}
    assert "Skills kept" in (tmp_path / "lab" / "report.md").read_text()
