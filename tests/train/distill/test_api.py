"""End-to-end distillation on tiny models: token-level KD into a depth-pruned student, and sequence-level KD
from a scripted teacher (any backend works for seq)."""

import json

from llmopt.train.distill import distill


def test_token_level_kd_into_a_pruned_student(teacher, prompts_file, tmp_path):
    out = tmp_path / "kd"
    result = distill({"teacher": f"hf:{teacher}", "student_from_teacher": "layers=every:2", "data": str(prompts_file),
                      "loss": "jsd", "beta": 0.5, "top_k": 8, "ce_weight": 0.2, "out": str(out), "max_steps": 6,
                      "learning_rate": 5e-3, "eval_generate": 3, "speed_prompt_tokens": 32, "speed_repeats": 1,
                      "eval_overlap": "drop"})
    history = result.training.history
    assert history[-1]["loss"] < history[0]["loss"]
    assert result.student.params < result.teacher.params and result.summary()["size_ratio"] < 0.8
    assert set(result.teacher.scores) == {"em", "f1"} and result.teacher.decode_tokens_per_s > 0
    assert list((out / "teacher_topk").glob("shard-*.safetensors"))
    summary = json.loads((out / "distill_result.json").read_text())
    assert summary["loss"] == "jsd" and "kept_f1" in summary
    assert (out / "report" / "report.md").read_text().count("student") > 2


def test_sequence_level_kd_keeps_only_teacher_answers_that_pass_the_metric(teacher, prompts_file, tmp_path):
    out = tmp_path / "seq"
    result = distill({"teacher": "fake:The answer is 3.", "student": f"hf:{teacher}", "data": str(prompts_file),
                      "loss": "seq", "seq_min_score": 0.3, "out": str(out), "max_steps": 2, "eval_generate": 2,
                      "speed_prompt_tokens": 32, "speed_repeats": 1, "eval_overlap": "drop", "method": "lora"})
    answers = [json.loads(line) for line in (out / "teacher_answers.jsonl").read_text().splitlines()]
    assert answers and all(a["answer"] == "The answer is 3." for a in answers)
    gold_three = sum(1 for line in prompts_file.read_text().splitlines() if '"answer": "3"' in line)
    assert 0 < result.teacher_answers_kept <= gold_three  # wrong teacher answers are not taught
    assert result.teacher.model_id.startswith("fake:")
