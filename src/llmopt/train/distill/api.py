"""`distill(config)`: a teacher's skill into a smaller student, then a report of what the student kept."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ...metrics import f1
from ..finetune.api import FinetuneResult, Session
from ..finetune.config import load_config
from ..finetune.data import Example, check_data_files
from ..finetune.modelio import load_model, load_tokenizer, model_folder
from ..finetune.prepare import load_split, tokenize_split
from .compat import check_tokenizers
from .config import DistillConfig
from .evaluate import ModelCard, measure_card
from .objective import common_vocab, make_kd_objective
from .prune import prune_depth
from .teacher import TopKCache, answered, fill_topk, teacher_answers

Progress = Callable[[str, dict[str, Any]], None]


@dataclass
class DistillResult:
    out: Path
    loss: str
    teacher: ModelCard | None  # None on the non-main processes of a distributed run
    student_before: ModelCard | None
    student: ModelCard | None
    training: FinetuneResult
    teacher_answers_kept: int | None = None  # seq with seq_min_score: answers that passed the filter

    def kept(self, metric: str = "f1") -> float | None:
        """The share of the teacher's score the student keeps."""
        if self.teacher is None or self.student is None:
            return None
        t, s = self.teacher.scores.get(metric), self.student.scores.get(metric)
        return s.value / t.value if t and s and t.value else None

    def summary(self) -> dict[str, Any]:
        card = lambda c: c.to_dict() if c else None  # noqa: E731
        t, s = self.teacher, self.student
        return {"out": str(self.out), "loss": self.loss, "teacher": card(t), "student_before": card(self.student_before),
                "student": card(s), "kept_f1": self.kept("f1"), "kept_em": self.kept("em"),
                "size_ratio": _ratio(s and s.size_bytes, t and t.size_bytes),
                "params_ratio": _ratio(s and s.params, t and t.params),
                "decode_speedup": _ratio(s and s.decode_tokens_per_s, t and t.decode_tokens_per_s),
                "prefill_speedup": _ratio(s and s.prefill_tokens_per_s, t and t.prefill_tokens_per_s),
                "teacher_answers_kept": self.teacher_answers_kept, "training": self.training.summary()}


def _ratio(a, b) -> float | None:
    return a / b if a and b else None


def distill(config: DistillConfig | dict | str | Path, *, on_progress: Progress | None = None) -> DistillResult:
    """Distill `teacher` into `student` (or a depth-pruned teacher) with the chosen loss; see DistillConfig."""
    cfg = _as_config(config)
    check_data_files(cfg)
    out = Path(cfg.out)
    accelerator = Session.make_accelerator(cfg)
    with accelerator.main_process_first():  # one process prunes and asks the teacher; the others read its files
        student_spec = cfg.student or f"hf:{_pruned_student(cfg, out)}"
        session = Session.start(cfg, student_spec, accelerator)
        renderer = session.renderer(cfg)
        if cfg.loss != "seq":  # refuse before any expensive step
            check_tokenizers(load_tokenizer(_logit_teacher_folder(cfg)), session.tokenizer, cfg.teacher, student_spec)
        train, evaluation, report = load_split(cfg, require_answer=False)
        _notify(on_progress, session, "data", {"lines": report.lines()})
        train, kept = _with_responses(cfg, train, renderer, out, on_progress)
        evaluation, _ = _with_responses(cfg, evaluation, renderer, out, on_progress, for_eval=True)
    prepared = tokenize_split(cfg, renderer, train, evaluation, report)
    objective = session.ce_objective(cfg) if cfg.loss == "seq" else _kd_objective(cfg, session, prepared, out, on_progress)
    training = session.run(cfg.model_copy(update={"eval_generate": 0}), prepared, objective, on_progress, renderer)
    session.model = None
    gc.collect()
    if not accelerator.is_main_process:
        return DistillResult(out, cfg.loss, None, None, None, training, kept)
    scored = [e for e in prepared.evaluation if e.golds][: cfg.eval_generate]
    cards = {}
    for role, spec in (("teacher", cfg.teacher), ("student_before", student_spec), ("student", f"hf:{out}")):
        _notify(on_progress, session, "scoring", {"model": role, "examples": len(scored)})
        cards[role] = measure_card(spec, role, scored, renderer, cfg)
    result = DistillResult(out, cfg.loss, cards["teacher"], cards["student_before"], cards["student"], training, kept)
    from .report import write_distill_report

    write_distill_report(result, cfg)
    return result


def _as_config(config) -> DistillConfig:
    if isinstance(config, DistillConfig):
        return config
    if isinstance(config, (str, Path)):
        return load_config(DistillConfig, config)
    return load_config(DistillConfig, None, **config)


def _notify(on_progress, session, event: str, info: dict) -> None:
    if on_progress and session.accelerator.is_main_process:
        on_progress(event, info)


def _logit_teacher_folder(cfg: DistillConfig) -> str:
    try:
        return model_folder(cfg.teacher)
    except ConfigError:
        raise ConfigError(f"--loss {cfg.loss} needs the teacher's logits, and '{cfg.teacher}' has none here; use an "
                          "HF teacher (hf:FOLDER or a pack name) or --loss seq") from None


def _pruned_student(cfg: DistillConfig, out: Path) -> Path:
    target = out / "student-init"
    if not (target / "config.json").is_file() or not cfg.resume:
        prune_depth(model_folder(cfg.teacher), cfg.student_from_teacher, target)
    return target


def _with_responses(cfg: DistillConfig, examples: list[Example], renderer, out: Path, on_progress,
                    for_eval: bool = False) -> tuple[list[Example], int | None]:
    """Answers to train on: the teacher's (seq; responses=teacher; rows without gold) or the gold.
    Evaluation keeps its gold answers and asks the teacher only where there is none."""
    if for_eval:
        use_teacher = [not e.has_answer for e in examples]
    else:
        use_teacher = [cfg.loss == "seq" or cfg.responses == "teacher" or not e.has_answer for e in examples]
    need = [e for e, t in zip(examples, use_teacher) if t]
    if not need:
        return examples, None
    prompts = [renderer.messages(e)[: len(renderer.messages(e)) - e.has_answer] for e in need]
    answers = iter(teacher_answers(cfg.teacher, prompts, out / "teacher_answers.jsonl",
                                   max_new_tokens=cfg.teacher_max_new_tokens, batch_size=cfg.teacher_batch_size,
                                   on_progress=on_progress))
    result, kept = [], 0
    for example, use in zip(examples, use_teacher):
        if not use:
            result.append(example)
            continue
        answer = next(answers)["answer"]
        if not for_eval and cfg.seq_min_score is not None and example.golds and \
                f1(answer, example.golds) < cfg.seq_min_score:
            continue  # the teacher got this one wrong: do not teach it
        result.append(answered([example], [{"answer": answer}])[0])
        kept += 1
    return result, (kept if cfg.seq_min_score is not None and not for_eval else None)


def _kd_objective(cfg: DistillConfig, session: Session, prepared, out: Path, on_progress):
    from transformers import AutoConfig

    folder = _logit_teacher_folder(cfg)
    session.load(cfg)
    vocab = common_vocab(AutoConfig.from_pretrained(folder), session.model.config)
    if cfg.top_k == 0:  # full distributions, computed online beside the student
        teacher, teacher_varlen = load_model(folder)
        return make_kd_objective(session, cfg, vocab=vocab, teacher=teacher.eval(), teacher_varlen=teacher_varlen)
    with session.accelerator.main_process_first():
        cache = TopKCache(out / "teacher_topk", k=cfg.top_k, temperature=cfg.temperature, teacher=folder, vocab=vocab)
        if cache.missing(prepared.train_rows):
            teacher, teacher_varlen = load_model(folder)
            fill_topk(cache, teacher, prepared.train_rows, batch_size=cfg.teacher_batch_size,
                      pad_id=session.tokenizer.pad_token_id, varlen=teacher_varlen,
                      on_progress=(lambda e, i: _notify(on_progress, session, e, i)))
            del teacher
            gc.collect()
    return make_kd_objective(session, cfg, vocab=vocab, cache=cache)
