"""The lab's eval stage: control flow with a fake reader over the demo corpus's text documents, and the real thing
(`llmopt lab --quick --stages eval` with the embedded model) as an integration test."""

import json
import os
import re
import subprocess
import sys

import pytest

from llmopt.eval.datasets import load_dataset
from llmopt.lab.runner import run_lab
from llmopt.testing import FakeLLM
from llmopt.types import Chunk

from .conftest import MemoryRetriever

RUNGS = ["baseline prompt", "best prompt", "RAG", "DRAG", "IterDRAG"]


def demo_retriever(tmp_path):
    """Paragraphs of the three text documents the quick questions need, best first by word overlap."""
    from llmopt.demo.qa import TEXT_DOCUMENTS

    files = load_dataset("demo").documents  # written once under LLMOPT_HOME, where the stage reads it too
    chunks = []
    for path in (p for p in files if p.name in TEXT_DOCUMENTS):
        text = re.sub(r"<[^>]+>", " ", path.read_text())
        for i, block in enumerate(b.strip() for b in re.split(r"\n\s*\n|</tr>", text)):
            if block:
                chunks.append(Chunk(f"{path.name}#{i}", block, str(path)))
    return MemoryRetriever(chunks)


def gold_reader():
    """Answers a demo question with its gold answer when the prompt's documents contain it (whatever the
    prompt), else with something wrong: retrieval decides the score."""
    from llmopt.demo.qa import demonstrations, questions

    gold = {q["question"]: q["answer"] for q in questions() + demonstrations()}

    def reply(prompt, params):
        asked = re.findall(r"^Question: (.+?)\s*$", prompt, re.MULTILINE)
        answer = gold.get(asked[-1], "") if asked else ""
        body = prompt.rsplit("Question:", 1)[0]
        return answer if answer and answer in body else "I do not know"

    return FakeLLM(reply, name="gold-reader")


def test_eval_stage_builds_the_ladder(monkeypatch, tmp_path, demo_data):
    import llmopt.rag.api as rag_api
    from llmopt.lab.stages import eval as eval_stage
    from llmopt.models import registry

    reader, retriever = gold_reader(), demo_retriever(tmp_path)
    monkeypatch.setattr(registry, "get_model", lambda spec="default", cache=True: reader)
    monkeypatch.setattr(eval_stage, "demo_index", lambda ctx: "demo-memory")
    monkeypatch.setattr(rag_api, "open_retriever", lambda index: retriever)
    result = run_lab("eval", out=tmp_path / "lab", quick=True, model="fake:gold-reader", target="acc=0.0")
    section = result.sections[0]
    assert section.status == "ok", section.error + section.summary
    assert [r.rung for r in result.ladder] == RUNGS
    assert all(r.metric == "acc" and r.n == 3 and r.ci_low <= r.value <= r.ci_high for r in result.ladder)
    by = {r.rung: r for r in result.ladder}
    assert by["baseline prompt"].value == 0.0 and by["RAG"].value > 0  # nothing to read vs. retrieved documents
    assert "(demo QA set)" in by["RAG"].config
    report = (tmp_path / "lab" / "report.md").read_text()
    assert "## Ladder" in report and "budget (tokens)" in report and "eval/plots/context_by_strategy.png" in report
    assert (tmp_path / "lab" / "eval" / "summary.json").is_file()
    cheapest = min(result.ladder, key=lambda r: r.cost_usd)  # every rung reaches 0.0: the cheapest is named
    assert result.target["cheapest"]["config"] == cheapest.config


@pytest.mark.integration
@pytest.mark.slow
def test_lab_quick_eval_with_the_embedded_model(tmp_path):
    out = tmp_path / "lab"
    proc = subprocess.run([sys.executable, "-m", "llmopt.cli.main", "lab", "--quick", "--stages", "eval", "--out",
                           str(out), "--json"], capture_output=True, text=True, env=os.environ.copy(), timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(proc.stdout)
    assert [r["rung"] for r in data["ladder"]] == RUNGS
    summary = json.loads((out / "eval" / "summary.json").read_text())
    assert summary["complete"] and summary["splits"]["eval"] == 3
    assert all(e["count"] == 3 and e["effective_context_mean"] > 0 for e in summary["configs"])
    rag = [e for e in summary["configs"] if e["strategy"] == "rag"]
    assert rag[0]["effective_context_mean"] < rag[1]["effective_context_mean"]  # k=1 reads less than k=3


def test_eval_stage_reports_progress_per_configuration_and_question(monkeypatch, tmp_path, demo_data):
    import llmopt.rag.api as rag_api
    from llmopt.lab.registry import LabContext
    from llmopt.lab.stages import eval as eval_stage
    from llmopt.models import registry

    reader, retriever = gold_reader(), demo_retriever(tmp_path)
    monkeypatch.setattr(registry, "get_model", lambda spec="default", cache=True: reader)
    monkeypatch.setattr(eval_stage, "demo_index", lambda ctx: "demo-memory")
    monkeypatch.setattr(rag_api, "open_retriever", lambda index: retriever)
    calls = []
    ctx = LabContext(tmp_path / "lab", quick=True, model="fake:gold-reader",
                     on_progress=lambda label, done, total: calls.append((label, done, total)))
    outcome = eval_stage.run(ctx)
    configs = outcome.metrics["configs"]
    assert calls[-1][1:] == (3 * configs, 3 * configs)  # every (configuration, question) counted once
    assert [done for _, done, _ in calls] == sorted(done for _, done, _ in calls)
    assert {total for _, _, total in calls} == {3 * configs}
    labels = list(dict.fromkeys(label for label, _, _ in calls))
    assert len(labels) == configs and labels[0].startswith(f"eval 1/{configs}: ") and "rag" in " ".join(labels)
    calls.clear()
    eval_stage.run(ctx)  # resumed: nothing to answer, the bar is full from the first configuration on
    assert calls[-1][1:] == (3 * configs, 3 * configs) and calls[0][1] == 3
