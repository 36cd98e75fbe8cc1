"""Token-level distillation compares the teacher's and the student's next-token distributions position by
position, which only means something when both use the same tokenizer: same tokens, same ids."""

from __future__ import annotations

from ...errors import ConfigError


class TokenizerMismatchError(ConfigError):
    """Teacher and student tokenize differently, so their distributions cannot be compared token by token."""


def vocab_difference(teacher_vocab: dict[str, int], student_vocab: dict[str, int]) -> str | None:
    """A short description of the first difference, or None when the vocabularies are identical."""
    if teacher_vocab == student_vocab:
        return None
    if len(teacher_vocab) != len(student_vocab):
        return f"vocabulary sizes {len(teacher_vocab)} vs {len(student_vocab)}"
    for token, index in sorted(teacher_vocab.items(), key=lambda item: item[1]):
        other = student_vocab.get(token)
        if other != index:
            return f"token {token!r} is id {index} for the teacher and {other} for the student"
    return "the vocabularies differ"


def check_tokenizers(teacher_tokenizer, student_tokenizer, teacher: str = "teacher", student: str = "student") -> None:
    """Refuse token-level KD between models that do not share a tokenizer (suggesting sequence-level KD)."""
    difference = vocab_difference(teacher_tokenizer.get_vocab(), student_tokenizer.get_vocab())
    if difference is None and teacher_tokenizer.eos_token_id != student_tokenizer.eos_token_id:
        difference = f"end-of-sequence ids {teacher_tokenizer.eos_token_id} vs {student_tokenizer.eos_token_id}"
    if difference:
        raise TokenizerMismatchError(
            f"{teacher} and {student} do not share a tokenizer ({difference}); token-level KD (fkl/rkl/jsd) needs "
            "one. Use --loss seq (sequence-level KD: the student learns from the teacher's answers, any tokenizer)")
