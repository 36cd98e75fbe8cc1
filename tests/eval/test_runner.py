import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from llmopt.errors import ConfigError
from llmopt.eval.grid import SweepConfig, expand
from llmopt.eval.runner import ResultStore, evaluate, read_jsonl
from llmopt.testing import FakeLLM

from .conftest import answer_from_prompt

GRID = dict(models=["fake:reader"], strategies=["none", "rag", "drag", "iterdrag"], k=[1, 2], m=[0, 1], n=[1],
            demo_size=4)


def sweep(dataset_file, out, fake, retriever, report=False, **overrides):
    """The sweep's summary in its JSON form (summary.json's)."""
    return evaluate(dataset=str(dataset_file), out=out, llms={"fake:reader": fake}, retriever=retriever,
                    report=report, **{**GRID, **overrides}).to_json()


def questions_asked(fake) -> Counter:
    """Which evaluation question each answering call was about (the last 'Question:' of its prompt)."""
    asked = Counter()
    for prompt, _ in fake.calls:
        found = re.findall(r"Question: What is the code of gadget (\d+)\?\s*$", prompt, re.MULTILINE)
        if found:
            asked[found[-1]] += 1
    return asked


def quality(summary) -> dict:
    return {e["key"]: (e["count"], e["em"], e["f1"], e["acc"], e["acc_ci"]) for e in summary["configs"]}


def predictions(out) -> dict:
    return {(r["key"], r["id"]): (r["prediction"], r["acc"], r["f1"]) for r in read_jsonl(Path(out) / "results.jsonl")}


def test_grid_drops_what_a_strategy_ignores():
    cfg = SweepConfig.make(dataset="x", strategies=["none", "rag", "drag", "iterdrag"], k=[1, 2], m=[0, 2], n=[1, 2])
    keys = [c.key for c in expand(cfg)]
    assert len(keys) == len(set(keys))
    strategies = Counter(c.strategy for c in expand(cfg))
    # none once; rag k=1,2 (drag m=0 is rag); drag k x m=2; iterdrag k x m x n
    assert strategies == {"none": 1, "rag": 2, "drag": 2, "iterdrag": 8}
    with pytest.raises(ConfigError, match="unknown strategy"):
        SweepConfig.make(dataset="x", strategies=["rag", "magic"])


def test_sweep_writes_results_summary_and_report(dataset_file, tmp_path, fake, retriever):
    summary = sweep(dataset_file, tmp_path / "out", fake, retriever, report=True)
    out = tmp_path / "out"
    assert summary["splits"] == {"demo": 4, "train": 0, "eval": 10}
    by = {e["label"]: e for e in summary["configs"]}
    assert by["none basic fake:reader"]["acc"] < 0.5 and by["rag k=1 basic fake:reader"]["acc"] == 1.0
    assert by["rag k=1 basic fake:reader"]["evidence_recall"] == 1.0
    assert by["none basic fake:reader"]["evidence_recall"] is None  # nothing retrieved, nothing to score
    assert set(by["rag k=1 basic fake:reader"]) >= {"model", "prompt", "strategy", "k", "m", "n", "samples",
                                                      "max_context", "count", "em", "f1", "acc", "em_ci", "f1_ci",
                                                      "acc_ci", "effective_context_mean", "latency_p50_s",
                                                      "latency_p95_s", "cost_usd_total"}
    assert by["drag k=1 m=1 basic fake:reader"]["effective_context_mean"] > by["rag k=1 basic fake:reader"][
        "effective_context_mean"]
    rows = read_jsonl(out / "results.jsonl")
    assert len(rows) == 10 * len(summary["configs"])
    assert summary["retrieval"]["recall@1"] == 1.0
    paired = {p["label"]: p for p in summary["paired"]}
    assert paired["rag k=1 basic fake:reader"]["difference"] > 0.5
    assert summary["allocation_model"]["groups"][0]["n_points"] == len(summary["configs"])
    splits = json.loads((out / "splits.json").read_text())
    assert not set(splits["ids"]["demo"]) & set(splits["ids"]["eval"])
    md = (out / "report.md").read_text()
    assert "10 evaluation questions, 4 held out as demonstrations" in md and "plots/context_by_strategy.png" in md
    assert (out / "plots" / "cost.png").read_bytes()[:4] == b"\x89PNG" and (out / "report.html").is_file()
    assert json.loads((out / "summary.json").read_text())["configs"] == summary["configs"]


def test_interrupted_sweep_resumes_without_asking_twice(dataset_file, tmp_path, retriever):
    """Stop after 7 answers (Ctrl-C), resume: every question is asked once per configuration overall, and the
    predictions and metrics equal those of an uninterrupted run."""
    clean = sweep(dataset_file, tmp_path / "clean", FakeLLM(answer_from_prompt, name="reader"), retriever)
    first = FakeLLM(answer_from_prompt, name="reader")
    seen = []

    def stop_after_seven(kind, info):
        if kind == "result":
            seen.append(info)
            if len(seen) == 7:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(dataset=str(dataset_file), out=tmp_path / "run", llms={"fake:reader": first}, retriever=retriever,
                 on_event=stop_after_seven, report=False, **GRID)
    assert len(read_jsonl(tmp_path / "run" / "results.jsonl")) == 7
    second = FakeLLM(answer_from_prompt, name="reader")
    resumed = sweep(dataset_file, tmp_path / "run", second, retriever)
    total = questions_asked(first) + questions_asked(second)
    per_config = len(clean["configs"])
    assert all(count == per_config for count in total.values()) and len(total) == 10
    assert predictions(tmp_path / "run") == predictions(tmp_path / "clean")
    assert quality(resumed) == quality(clean)
    third = FakeLLM(answer_from_prompt, name="reader")
    sweep(dataset_file, tmp_path / "run", third, retriever)
    assert third.calls == []  # a finished sweep asks nothing


def test_a_line_cut_short_by_a_crash_is_redone(dataset_file, tmp_path, fake, retriever):
    sweep(dataset_file, tmp_path / "out", fake, retriever, strategies=["rag"], k=[1])
    path = tmp_path / "out" / "results.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])  # no newline, half a row
    again = FakeLLM(answer_from_prompt, name="reader")
    summary = sweep(dataset_file, tmp_path / "out", again, retriever, strategies=["rag"], k=[1])
    assert len(questions_asked(again)) == 1 and summary["configs"][0]["count"] == 10
    assert len(read_jsonl(path)) == 10


def test_the_grid_may_grow_but_fixed_settings_may_not_change(dataset_file, tmp_path, fake, retriever):
    sweep(dataset_file, tmp_path / "out", fake, retriever, strategies=["rag"], k=[1])
    grown = FakeLLM(answer_from_prompt, name="reader")
    summary = sweep(dataset_file, tmp_path / "out", grown, retriever, strategies=["rag"], k=[1, 2])
    assert [e["k"] for e in summary["configs"]] == [1, 2] and all(e["count"] == 10 for e in summary["configs"])
    assert len(grown.calls) == 10  # only k=2 ran
    with pytest.raises(ConfigError, match="seed"):
        sweep(dataset_file, tmp_path / "out", fake, retriever, strategies=["rag"], k=[1], seed=1)


def test_a_failing_question_is_recorded_and_the_rest_finish(dataset_file, tmp_path, retriever):
    def flaky(prompt, params):
        if "gadget 9?" in prompt:
            raise RuntimeError("engine hiccup")
        return answer_from_prompt(prompt, params)

    summary = sweep(dataset_file, tmp_path / "out", FakeLLM(flaky, name="reader"), retriever, strategies=["rag"],
                    k=[1])
    entry = summary["configs"][0]
    assert entry["count"] == 10 and entry["errors"] == 1 and entry["acc"] == pytest.approx(0.9)
    failed = [r for r in read_jsonl(tmp_path / "out" / "results.jsonl") if r["error"]]
    assert failed[0]["id"] == "q09" and "engine hiccup" in failed[0]["error"]
    retried = FakeLLM(answer_from_prompt, name="reader")
    summary = sweep(dataset_file, tmp_path / "out", retried, retriever, strategies=["rag"], k=[1], retry_errors=True)
    assert len(retried.calls) == 1 and summary["configs"][0]["errors"] == 0


def test_http_backends_answer_concurrently(dataset_file, tmp_path, retriever):
    class HttpLike(FakeLLM):
        engine = "openai"
        thread_safe = True  # what an HTTP backend declares: its calls may overlap

    llm = HttpLike(answer_from_prompt, name="reader")
    summary = sweep(dataset_file, tmp_path / "out", llm, retriever, strategies=["rag"], k=[1], concurrency=4)
    assert summary["configs"][0]["acc"] == 1.0 and len(ResultStore(tmp_path / "out" / "results.jsonl").rows) == 10


def test_demonstrations_must_fit_the_demo_split(dataset_file, tmp_path, fake, retriever):
    with pytest.raises(ConfigError, match="--demo-size"):
        sweep(dataset_file, tmp_path / "out", fake, retriever, strategies=["drag"], m=[6], demo_size=2)


SCRIPT = """
import sys, time, json
sys.path.insert(0, {tests!r})
from conftest import MemoryRetriever, answer_from_prompt
from llmopt.eval import evaluate, load_dataset
from llmopt.testing import FakeLLM

def slow(prompt, params):
    time.sleep(0.15)
    return answer_from_prompt(prompt, params)

retriever = MemoryRetriever(load_dataset({data!r}).corpus_chunks())
evaluate(dataset={data!r}, out={out!r}, llms={{"fake:reader": FakeLLM(slow, name="reader")}}, retriever=retriever,
         models=["fake:reader"], strategies=["rag"], k=[1, 2], demo_size=4, report=False)
"""


def test_a_killed_process_resumes(dataset_file, tmp_path, retriever):
    """SIGKILL mid-sweep (no cleanup runs), then resume in-process: 20 answers in all, none twice."""
    out = tmp_path / "out"
    script = tmp_path / "sweep.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent), data=str(dataset_file), out=str(out)))
    proc = subprocess.Popen([sys.executable, str(script)], env=os.environ.copy())
    results = out / "results.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not results.is_file() or len(read_jsonl(results)) < 4):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(read_jsonl(results))
    assert 4 <= before < 20
    resumed = FakeLLM(answer_from_prompt, name="reader")
    summary = evaluate(dataset=str(dataset_file), out=out, llms={"fake:reader": resumed}, retriever=retriever,
                       models=["fake:reader"], strategies=["rag"], k=[1, 2], demo_size=4, report=False).to_json()
    rows = read_jsonl(results)
    assert len(resumed.calls) == 20 - before
    assert len({(r["key"], r["id"]) for r in rows}) == len(rows) == 20
    assert all(e["acc"] == 1.0 and e["count"] == 10 for e in summary["configs"])


def test_a_time_budget_stops_early_and_a_rerun_finishes(dataset_file, tmp_path, fake, retriever):
    partial = sweep(dataset_file, tmp_path / "out", fake, retriever, strategies=["rag"], k=[1], max_minutes=1e-9,
                    report=True)
    assert not partial["complete"] and partial["configs"][0]["count"] == 0 and fake.calls == []
    assert (tmp_path / "out" / "report.md").is_file()
    done = sweep(dataset_file, tmp_path / "out", fake, retriever, strategies=["rag"], k=[1])
    assert done["complete"] and done["configs"][0]["count"] == 10


def test_evaluate_returns_typed_results(dataset_file, tmp_path, fake, retriever):
    from llmopt.eval.results import EvalSummary
    from llmopt.eval.runner import read_records

    summary = evaluate(dataset=str(dataset_file), out=tmp_path / "out", llms={"fake:reader": fake},
                       retriever=retriever, report=False, **{**GRID, "strategies": ["rag"], "k": [1]})
    assert isinstance(summary, EvalSummary) and summary.best_config.label == "rag k=1 basic fake:reader"
    assert summary.best_config.acc == 1.0 and summary.best_config.point.k == 1
    records = read_records(tmp_path / "out" / "results.jsonl")
    assert len(records) == 10 and all(r.key == summary.best and r.model_id == "fake:reader" for r in records)
