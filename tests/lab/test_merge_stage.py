"""The lab's merge stage, its pure parts: dev questions apart from the evaluation ones, skills kept."""

from __future__ import annotations

import pytest

from llmopt.lab.stages.merge import dev_and_test, skills_kept


def test_skills_kept_is_each_task_as_a_share_of_its_specialist():
    scores = {"base": {"reading": 0.2, "sql": 0.0}, "reading fine-tune": {"reading": 0.8, "sql": 0.1},
              "sql fine-tune": {"reading": 0.3, "sql": 0.5}, "merge: linear": {"reading": 0.6, "sql": 0.25}}
    assert skills_kept(scores) == {"merge: linear": {"reading": pytest.approx(0.75), "sql": pytest.approx(0.5),
                                                     "both": pytest.approx(0.5)}}
    scores["sql fine-tune"]["sql"] = 0.0  # a parent that scored nothing: no share to report
    assert skills_kept(scores)["merge: linear"] == {"reading": pytest.approx(0.75), "sql": None, "both": None}


@pytest.mark.parametrize("quick", [True, False])
def test_dev_questions_are_never_evaluation_questions(tmp_path, quick):
    from llmopt.train.finetune.tasks import build_tasks

    tasks = build_tasks(tmp_path / "data", ("reading", "sql"), quick)
    dev, test = dev_and_test(tasks, tmp_path / "splits", quick)
    for name in tasks:
        dev_prompts = {r["prompt"] for r in dev[name].eval_rows()}
        test_prompts = {r["prompt"] for r in test[name].eval_rows()}
        assert dev_prompts and test_prompts and not dev_prompts & test_prompts
        assert dev[name].metric == test[name].metric == tasks[name].metric
    assert test["reading"].eval_rows() == tasks["reading"].eval_rows()  # the reading evaluation set is kept whole
    assert len(dev["sql"].eval_rows()) + len(test["sql"].eval_rows()) == len(tasks["sql"].eval_rows())


def test_the_stage_adds_a_searched_merge_a_mixture_of_experts_and_skills_kept(tmp_path, monkeypatch):
    """The whole stage on tiny models (merges, search and MoE for real; answers faked): every row and table."""
    import llmopt.train.finetune.tasks as tasks_module
    from llmopt.lab.registry import LabContext
    from llmopt.lab.stages.merge import run
    from llmopt.metrics import score
    from llmopt.testing import make_tiny_llama
    from llmopt.train.finetune.tasks import TaskEval, build_tasks

    base, reading, sql = (make_tiny_llama(tmp_path / name, seed=seed) for seed, name in enumerate(("b", "r", "s")))
    tasks = build_tasks(tmp_path / "data", ("reading", "sql"), quick=True)
    skill = {str(reading): "reading", str(sql): "sql"}
    seen = []

    def fake_evaluate(spec, task, **_):
        seen.append((spec, task.eval))
        folder = spec.removeprefix("hf:")
        value = 0.8 if skill.get(folder) == task.name else 0.2 if folder in skill else 0.5
        return TaskEval(spec, score(task.metric, [value] * len(task.eval_rows())), 0.01, 0.0, [])

    monkeypatch.setattr(tasks_module, "evaluate_model", fake_evaluate)
    ctx = LabContext(out_dir=tmp_path / "lab", quick=True,
                     shared={"finetune_base": f"hf:{base}",
                             "finetuned": {"reading": {"model": str(reading), "task": tasks["reading"]},
                                           "sql": {"model": str(sql), "task": tasks["sql"]}}})
    result = run(ctx)
    metrics = result.metrics
    searched = next(label for label in metrics if label.startswith("merge: linear, searched"))
    moe = "merge: MoE (2 experts, hidden gates)"
    assert {"merge: linear", "merge: ties", searched, moe} <= set(metrics)
    assert metrics["search"]["trials"] == 3 and (tmp_path / "lab" / "merge" / "search" / "best.yaml").is_file()
    assert (tmp_path / "lab" / "merge" / "moe" / "config.json").is_file()
    assert metrics["skills kept"][moe] == {"reading": pytest.approx(0.5 / 0.8), "sql": pytest.approx(0.5 / 0.8),
                                          "both": pytest.approx(0.5 / 0.8)}
    # the search answered dev questions only; every model in the tables answered test questions only
    dev_files = {path for spec, path in seen if spec.endswith("search/candidate")}
    test_files = {path for spec, path in seen if not spec.endswith("search/candidate")}
    assert dev_files and all("dev.jsonl" in str(p) for p in dev_files)
    assert all("test.jsonl" in str(p) for p in test_files)
    assert [t.columns[0] for t in result.tables] == ["model", "merge"] and len(result.tables[1].rows) == 4
    assert len([r for r in result.ladder if r.rung == "merged"]) == 8
