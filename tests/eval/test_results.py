"""Typed sweep results: their JSON is exactly what results.jsonl and summary.json have always held."""

import json
from pathlib import Path

import pytest

from llmopt.eval.allocation import MAX_BUDGET_LIMITED_SHARE, eligible
from llmopt.eval.grid import GridPoint
from llmopt.eval.results import ConfigSummary, EvalRecord, EvalSummary

COMMITTED = Path(__file__).resolve().parents[2] / "bench" / "results" / "qa" / "hotpotqa" / "default"


@pytest.mark.skipif(not COMMITTED.is_dir(), reason="the committed HotpotQA sweep is not in this checkout")
def test_committed_sweeps_load_and_write_back_byte_for_byte():
    text = (COMMITTED / "summary.json").read_text(encoding="utf-8")
    summary = EvalSummary.from_json(json.loads(text))
    assert json.dumps(summary.to_json(), indent=2, default=str) == text
    assert summary.best_config is not None and summary.best_config.key == summary.best
    for line in (COMMITTED / "results.jsonl").read_text(encoding="utf-8").splitlines()[:60]:
        record = EvalRecord.from_json(json.loads(line))
        assert json.dumps(record.to_json(), ensure_ascii=False) == json.dumps(json.loads(line), ensure_ascii=False)
        assert record.point.key == record.key


def test_a_failed_question_has_no_model_id_in_its_line():
    point = GridPoint("fake:x", "basic", "rag", 1, 0, 0)
    record = EvalRecord(key=point.key, id="q1", **point.to_json(), question="q", gold=["a"], prediction="", em=0.0,
                        f1=0.0, acc=0.0, usage={"latency_s": 0.5}, error="RuntimeError: boom")
    data = record.to_json()
    assert "model_id" not in data and list(data)[:3] == ["key", "id", "model"] and data["error"].endswith("boom")


def entry(**values) -> ConfigSummary:
    base = dict(model="M", prompt="basic", strategy="rag", k=1, m=0, n=0, samples=1, count=10, acc=0.5,
                budget_limited=0.0)
    return ConfigSummary(**{**base, **values})


def test_one_eligibility_rule_for_the_allocation_model():
    assert eligible(entry(), "acc") and eligible(entry(budget_limited=MAX_BUDGET_LIMITED_SHARE), "acc")
    assert not eligible(entry(budget_limited=0.6), "acc")  # mostly ran a smaller θ than its label
    assert not eligible(entry(samples=3), "acc")  # selection among samples is not part of θ
    assert not eligible(entry(count=0), "acc") and not eligible(entry(acc=None), "acc")
    assert not eligible(entry(strategy="retired"), "acc")  # a strategy this installation does not have
