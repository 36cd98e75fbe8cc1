"""Progress while a stage runs: LabContext.progress and the adapters stages use (ingest files, training steps)."""

from types import SimpleNamespace

from llmopt.lab.registry import LabContext
from llmopt.lab.stages.finetune import training_progress
from llmopt.lab.stages.ingest import ingest_progress


def _ctx(tmp_path, calls, **settings):
    return LabContext(tmp_path, **settings, on_progress=lambda label, done, total: calls.append((label, done, total)))


def test_progress_is_a_no_op_without_a_callback_and_forwarded_with_one(tmp_path):
    LabContext(tmp_path).progress("eval", 1, 2)  # nothing to call: nothing happens
    calls = []
    _ctx(tmp_path, calls).progress("eval 1/4: rag k=3", 3, 12)
    assert calls == [("eval 1/4: rag k=3", 3, 12)]


def test_ingest_progress_counts_files(tmp_path):
    calls = []
    callback = ingest_progress(_ctx(tmp_path, calls), "ask: ingest")
    callback("start", {"files": 2, "index": "demo"})
    callback("embed", {"n": 5, "path": "a.pdf"})  # not a unit of work: no report
    callback("file", {"result": SimpleNamespace(path="/data/a.pdf")})
    callback("file", {"result": SimpleNamespace(path="/data/b.md")})
    assert calls == [("ask: ingest", 0, 2), ("ask: ingest: a.pdf", 1, 2), ("ask: ingest: b.md", 2, 2)]


def test_training_progress_follows_steps_teacher_batches_and_evaluations(tmp_path):
    calls = []
    callback = training_progress(_ctx(tmp_path, calls), "distill")
    callback("data", {"lines": ["8 examples"]})
    callback("teacher_answers", {"done": 4, "total": 8})
    callback("step", {"step": 1, "total": 3, "loss": 2.5, "tokens_per_s": 10.0})
    callback("scoring", {"model": "student", "examples": 4})
    assert calls == [("distill: teacher answers", 4, 8), ("distill: training (loss 2.500)", 1, 3),
                     ("distill: evaluating student", 1, 3)]


def test_ask_stage_reports_every_question_of_every_setting(tmp_path, monkeypatch):
    import llmopt.rag.api
    import llmopt.rag.config
    from llmopt.lab.stages import ask as ask_stage

    from .test_same_numbers import QUESTIONS, ConfigAsIs, ScriptedAsker

    monkeypatch.setattr(ask_stage, "demo_set", lambda ctx: (QUESTIONS, tmp_path / "demos.jsonl", "index"))
    monkeypatch.setattr(llmopt.rag.api, "Asker", ScriptedAsker)
    monkeypatch.setattr(llmopt.rag.config, "AskConfig", ConfigAsIs)
    calls = []
    ask_stage.run(_ctx(tmp_path, calls, quick=True, model="scripted"))
    total = 4 * len(QUESTIONS)  # quick: none, RAG, DRAG, IterDRAG
    assert calls[-1] == ("ask 4/4: iterdrag k=2 m=2 n=2", total, total) and {t for _, _, t in calls} == {total}
    assert sorted({done for _, done, _ in calls}) == list(range(total + 1))
    assert calls[0] == ("ask 1/4: none", 0, total)
