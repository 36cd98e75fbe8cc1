"""Knowledge distillation: sequence-level (the teacher's answers) and token-level (forward KL, reverse KL,
generalized JSD on the teacher's next-token distributions, optionally top-k sparse), into a given student or a
depth-pruned copy of the teacher, with a quality / size / speed report.

    from llmopt.train.distill import distill
    result = distill({"teacher": "default", "student_from_teacher": "layers=every:2", "data": "prompts.jsonl",
                      "loss": "fkl", "out": "student"})
    result.kept("f1")   # share of the teacher's F1 the student keeps

Layout: config.py · losses.py (pure math) · compat.py (tokenizer check) · prune.py (depth pruning) ·
teacher.py (answers and top-k caches) · objective.py (KD loss in the training loop) · evaluate.py · api.py.
"""

from ...lazy import lazy_exports

# resolved lazily: the CLI imports the config (for its flags) without paying for torch at every `llmopt` call
_LAZY = {
    "DistillResult": ".api:DistillResult",
    "distill": ".api:distill",
    "DistillConfig": ".config:DistillConfig",
}
__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
