"""`llmopt lab --quick --stages distill` on the embedded model (real weights: integration, slow)."""

import pytest

from llmopt.lab.runner import run_lab


@pytest.mark.integration
@pytest.mark.slow
def test_distill_stage_reports_quality_kept_size_and_speed(tmp_path):
    result = run_lab("distill", out=tmp_path / "lab", quick=True)
    assert result.ok, [s.error for s in result.sections]
    metrics = result.metrics["distill"]
    assert 0.4 < metrics["size_ratio"] < 0.9 and metrics["decode_speedup"] > 0
    assert {r.rung for r in result.ladder} == {"distillation teacher", "distilled student"}
