"""`llmopt lab --project`: the project's QA search end to end with a fake reader over the demo corpus's text
documents (control flow), and the real thing with the embedded model (integration, slow)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmopt.lab.runner import run_lab

from ..eval.conftest import _demo_root, demo_data  # noqa: F401  (fixtures)
from ..eval.test_lab_stage import demo_retriever, gold_reader

TEXT_IDS = ("q-cfo", "q-porto-manager", "q-skylark-price", "q-agrinord", "q-gdansk-flight", "q-lead-plant")


def write_project(folder: Path, *, extra: str = "", bad_line: bool = True) -> Path:
    from llmopt.demo.qa import demonstrations, questions

    folder.mkdir(parents=True, exist_ok=True)
    rows = [json.dumps({"id": q["id"], "question": q["question"], "answers": [q["answer"]]})
            for q in questions() if q["id"] in TEXT_IDS]
    if bad_line:
        rows.insert(2, '{"question": "cut short')
    (folder / "questions.jsonl").write_text("\n".join(rows) + "\n")
    (folder / "demos.jsonl").write_text("".join(json.dumps({"question": d["question"], "answer": d["answer"]}) + "\n"
                                                for d in demonstrations()[:2]))
    (folder / "docs").mkdir(exist_ok=True)
    (folder / "docs" / "note.txt").write_text("A placeholder document; the test's retriever serves the demo's.")
    path = folder / "llmopt.yaml"
    path.write_text(f"""
documents:
  paths: [docs]
  index: ./index
tasks:
  qa:
    questions: questions.jsonl
    demos: demos.jsonl
models: ["fake:gold-reader"]
search:
  strategies: [none, rag, drag]
  k: [1, 3]
  m: [0, 1]
  prompts: [basic]
  first_questions: 2
{extra}""")
    return path


@pytest.fixture
def fake_world(monkeypatch, tmp_path, demo_data):
    import llmopt.rag.api as rag_api
    from llmopt.models import registry

    reader, retriever = gold_reader(), demo_retriever(tmp_path)
    calls = {"n": 0}
    original = reader._complete

    def counted(prompt, params):
        calls["n"] += 1
        return original(prompt, params)

    reader._complete = counted
    monkeypatch.setattr(registry, "get_model", lambda spec="default", cache=True: reader)
    monkeypatch.setattr(rag_api, "open_retriever", lambda index: retriever)
    return calls


def test_the_project_search_picks_retrieval_writes_the_winner_and_a_verdict_first(fake_world, tmp_path):
    project = write_project(tmp_path / "p")
    logged = []
    result = run_lab(out=tmp_path / "out", project=project, on_log=logged.append)
    assert result.ok, [s.error for s in result.sections]
    qa = result.metrics["project"]["qa"]
    assert qa["space"] == 5  # none, rag k=1, rag k=3, drag k=1 m=1, drag k=3 m=1
    assert qa["chosen"] and "strategy=none" not in qa["chosen"]  # the gold reader needs the documents
    assert any(t["state"] == "pruned" for t in qa["trials"])
    assert qa["search"]["answers"] < qa["grid"]["answers"]
    assert any("questions.jsonl:3 is not JSON" in line for line in logged)  # the bad line, reported and skipped
    md = (tmp_path / "out" / "report.md").read_text()
    assert md.index("wins:") < md.index("## Ladder")
    assert "questions.jsonl:3 is not JSON" in md and "%" in md and "per 1k queries" in md
    assert (tmp_path / "out" / "plots" / "pareto_cost.png").read_bytes()[:4] == b"\x89PNG"
    from llmopt.rag.pipeline import load_pipeline

    pipeline = load_pipeline(tmp_path / "out" / "pipeline.yaml", check_files=False)
    assert pipeline.settings.strategy in ("rag", "drag") and pipeline.measured.metric == "acc"
    assert Path(pipeline.settings.index).name == "index"  # the project's own index, ingested for real
    assert "1 files into index" in md or "files into index" in md
    # a re-run answers nothing again
    before = fake_world["n"]
    again = run_lab(out=tmp_path / "out", project=project)
    assert fake_world["n"] == before
    assert again.metrics["project"]["qa"]["spent_now"]["answers"] == 0
    assert again.metrics["project"]["qa"]["chosen"] == qa["chosen"]


def test_constraints_nothing_meets_are_reported_with_the_nearest(fake_world, tmp_path):
    project = write_project(tmp_path / "p", extra="constraints:\n  max_context: 1\n", bad_line=False)
    result = run_lab(out=tmp_path / "out", project=project)
    qa = result.metrics["project"]["qa"]
    assert qa["chosen"] is None and "no configuration keeps" in qa["reason"]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Nothing won" in md and "nearest:" in md
    assert not (tmp_path / "out" / "pipeline.yaml").exists()


def test_a_bad_project_file_is_refused_before_anything_runs(tmp_path):
    from llmopt.errors import ConfigError, LlmoptError

    path = tmp_path / "llmopt.yaml"
    path.write_text("tasks:\n  qa:\n    questions: missing.jsonl\n")
    with pytest.raises(LlmoptError, match="missing.jsonl"):
        run_lab(out=tmp_path / "out", project=path)
    assert not (tmp_path / "out" / "report.md").exists()


@pytest.mark.integration
@pytest.mark.slow
def test_llmopt_lab_project_with_the_embedded_model(tmp_path, demo_data):
    """The real thing: ingest three text documents, search none/RAG with SmolLM2 under a budget, write the
    winner; then `llmopt ask --pipeline` answers with it."""
    from llmopt.demo.qa import TEXT_DOCUMENTS
    from llmopt.eval.datasets import load_dataset

    folder = tmp_path / "p"
    write_project(folder)
    docs = folder / "docs"
    (docs / "note.txt").unlink()
    for path in load_dataset("demo").documents:
        if path.name in TEXT_DOCUMENTS:
            (docs / path.name).write_bytes(path.read_bytes())
    project = folder / "llmopt.yaml"
    text = project.read_text().replace('["fake:gold-reader"]', "[default]").replace("[none, rag, drag]",
                                                                                   "[none, rag]")
    project.write_text(text.replace("k: [1, 3]", "k: [1, 2]"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-m", "llmopt.cli.main", "lab", "--project", str(project), "--out",
                          str(tmp_path / "out"), "--json"], capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    data = json.loads(run.stdout)
    assert data["metrics"]["project"]["qa"]["chosen"]
    assert "llama_model_loader" not in run.stderr
    pipeline = tmp_path / "out" / "pipeline.yaml"
    ask = subprocess.run([sys.executable, "-m", "llmopt.cli.main", "ask", "--pipeline", str(pipeline),
                          "Who is the chief financial officer of Veltora Dynamics?", "--json"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert ask.returncode == 0, ask.stderr[-2000:]
    assert json.loads(ask.stdout)["answer"]


def rows_sample_question(md: str) -> bool:
    from llmopt.demo.qa import questions

    return any(q["question"] in md for q in questions() if q["id"] in TEXT_IDS[:2])


def test_too_few_questions_are_generated_from_the_documents(fake_world, tmp_path, monkeypatch):
    """tasks.qa.generate: the lab calls llmopt.datagen with the project's index, then searches the eval pool;
    the report says the questions were generated."""
    import llmopt.datagen as datagen

    calls = {}

    def fake_generate(*, index, model, out, count, pools, on_progress):
        from llmopt.demo.qa import questions

        calls.update(index=index, model=model, count=count, pools=pools)
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        rows = [{"id": q["id"], "question": q["question"], "answers": [q["answer"]], "generated": True}
                for q in questions() if q["id"] in TEXT_IDS]
        (folder / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (folder / "demos.jsonl").write_text("")

        class Made:
            accepted, tried, quality = {"single": len(rows)}, 9, "low (embedded model)"
            files = {"eval": str(folder / "eval.jsonl"), "demos": str(folder / "demos.jsonl")}

            def to_dict(self):
                return {"accepted": self.accepted, "quality": self.quality, "sample": rows[:2]}

        return Made()

    monkeypatch.setattr(datagen, "generate_questions", fake_generate)
    project = write_project(tmp_path / "p", bad_line=False)
    text = project.read_text().replace("    questions: questions.jsonl\n    demos: demos.jsonl\n",
                                       "    generate: {model: default, count: 8}\n")
    project.write_text(text.replace("[none, rag, drag]", "[none, rag]"))
    result = run_lab(out=tmp_path / "out", project=project)
    assert result.ok, [s.error for s in result.sections]
    assert calls["model"] == "default" and calls["count"] == 8 and Path(calls["index"]).name == "index"
    md = (tmp_path / "out" / "report.md").read_text()
    assert "generated from the documents" in md
    assert "Generated questions: a sample" in md and rows_sample_question(md)
    assert result.metrics["project"]["qa"]["chosen"]


def test_training_rungs_run_once_and_their_models_enter_the_search(fake_world, tmp_path):
    from llmopt.testing import make_tiny_llama

    tiny = make_tiny_llama(tmp_path / "tiny")
    folder = tmp_path / "p"
    project = write_project(folder, bad_line=False, extra=f"""training:
  finetune:
    - {{model: "hf:{tiny}", method: lora, max_steps: 1, batch_size: 2, out: ft, data: train.jsonl,
       eval_generate: 0, save_steps: 0}}
""")
    (folder / "train.jsonl").write_text("".join(json.dumps({"prompt": f"What is {i} plus 1?", "completion": str(i + 1)})
                                                + "\n" for i in range(8)))
    text = project.read_text().replace("[none, rag, drag]", "[rag]").replace("k: [1, 3]", "k: [1]")
    project.write_text(text)
    logged = []
    result = run_lab(out=tmp_path / "out", project=project, on_log=logged.append)
    assert result.ok, [s.error for s in result.sections]
    assert (folder / "ft" / "finetune_result.json").is_file()
    trials = result.metrics["project"]["qa"]["trials"]
    assert {t["key"].split("|")[0] for t in trials} == {"model=fake:gold-reader", f"model=hf:{folder / 'ft'}"}
    md = (tmp_path / "out" / "report.md").read_text()
    assert "training rungs produced a model" in md
    again = run_lab(out=tmp_path / "out", project=project, on_log=logged.append)
    assert again.ok and any("(already done)" in line for line in logged)


@pytest.mark.slow
def test_a_merge_search_rung_runs_once_and_its_best_merge_enters_the_search(fake_world, tmp_path):
    from llmopt.testing import make_tiny_llama

    one, two = make_tiny_llama(tmp_path / "one", seed=1), make_tiny_llama(tmp_path / "two", seed=2)
    dev = tmp_path / "dev.jsonl"
    dev.write_text("".join(json.dumps({"prompt": f"What is {i} plus 1?", "answer": str(i + 1)}) + "\n"
                           for i in range(3)))
    folder = tmp_path / "p"
    project = write_project(folder, bad_line=False, extra=f"""training:
  merge_search:
    - recipe: {{merge_method: linear, models: [{{model: "{one}"}}, {{model: "{two}"}}]}}
      search: {{models.*.parameters.weight: [0, 1]}}
      tasks: [{{data: "{dev}", name: sums}}]
      trials: 2
""")
    text = project.read_text().replace("[none, rag, drag]", "[rag]").replace("k: [1, 3]", "k: [1]")
    project.write_text(text)
    logged = []
    result = run_lab(out=tmp_path / "out", project=project, on_log=logged.append)
    assert result.ok, [s.error for s in result.sections]
    search = tmp_path / "out" / "training" / "merge_search-1"
    trials = [json.loads(line) for line in (search / "trials.jsonl").read_text().splitlines()]
    assert len(trials) == 2 and all(set(t["scores"]) == {"sums"} for t in trials)
    keys = {t["key"].split("|")[0] for t in result.metrics["project"]["qa"]["trials"]}
    assert f"model=hf:{search / 'best-model'}" in keys
    again = run_lab(out=tmp_path / "out", project=project, on_log=logged.append)
    assert again.ok and any("merge_search -> " in line and "(already done)" in line for line in logged)
