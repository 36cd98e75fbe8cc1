"""Training data: JSONL rows in the two shapes HF/TRL users already have.

    {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}
    {"prompt": "...", "completion": "..."}          (prompt may also be a list of messages)

An optional "answer" (a string or a list of acceptable strings) is the gold for the task metric; without it the
final assistant turn / completion is the gold. Rows without an answer are prompts (distillation input).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ...errors import InputError

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Example:
    """One conversation; the assistant turns are what the model learns to produce."""

    messages: tuple[dict[str, str], ...]
    where: str = ""  # "file.jsonl:12", for messages that point at the row
    raw_prompt: str | None = None  # prompt/completion rows with plain strings (template=raw uses them)
    raw_completion: str | None = None
    gold: tuple[str, ...] = ()  # explicit "answer" field
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # other fields, kept for callers

    @property
    def has_answer(self) -> bool:
        return bool(self.messages) and self.messages[-1]["role"] == "assistant"

    @property
    def prompt_messages(self) -> list[dict[str, str]]:
        """The conversation up to (not including) the final assistant turn: what the model is asked."""
        return list(self.messages[:-1] if self.has_answer else self.messages)

    @property
    def answer(self) -> str | None:
        return self.messages[-1]["content"] if self.has_answer else None

    @property
    def question(self) -> str:
        """The last user turn: what retrieval searches for and what overlap checks compare."""
        users = [m["content"] for m in self.prompt_messages if m["role"] == "user"]
        return users[-1] if users else ""

    @property
    def golds(self) -> list[str]:
        return list(self.gold) or ([self.answer] if self.answer is not None else [])

    def with_answer(self, text: str) -> "Example":
        """The same prompt answered by `text` (sequence-level distillation swaps in the teacher's answer)."""
        messages = tuple(self.prompt_messages) + ({"role": "assistant", "content": text},)
        raw = text if self.raw_prompt is not None else None
        return replace(self, messages=messages, raw_completion=raw)

    def with_question(self, user_text: str) -> "Example":
        """The same example with its last user turn replaced (retrieval-augmented prompts)."""
        messages = list(self.messages)
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        messages[last_user] = {"role": "user", "content": user_text}
        return replace(self, messages=tuple(messages), raw_prompt=user_text if self.raw_prompt is not None else None)


def check_data_files(settings: Any) -> None:
    """Fail on a missing training or eval file before a model is loaded (minutes), not after."""
    for path in (settings.data, settings.eval):
        if path is not None:
            _data_file(path)


def _data_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "not found"
        raise InputError(f"data file {path} {what}; pass a JSONL file with messages or prompt/completion rows")
    return path


def read_examples(path: str | Path, *, require_answer: bool = True) -> list[Example]:
    """Parse a JSONL file; a bad row fails with its file and line number (training on half a file is worse)."""
    path = _data_file(path)
    examples = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                examples.append(parse_row(line, f"{path.name}:{number}", require_answer))
    if not examples:
        raise InputError(f"{path} has no rows; write one JSON object per line")
    return examples


def parse_row(line: str, where: str, require_answer: bool = True) -> Example:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg}); fix or remove the line") from None
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a JSON object per line")
    gold = _gold(row.get("answer"), where)
    extra = {k: v for k, v in row.items() if k not in ("messages", "prompt", "completion", "answer")}
    if "messages" in row:
        example = Example(_messages(row["messages"], where), where, gold=gold, extra=extra)
    elif "prompt" in row:
        example = _prompt_completion(row, where, gold, extra)
    else:
        raise InputError(f"{where}: a row needs 'messages' or 'prompt' (+ 'completion'); found {sorted(row)}")
    if require_answer and not example.has_answer:
        raise InputError(f"{where}: no answer to train on; end 'messages' with an assistant turn or add 'completion'")
    return example


def _prompt_completion(row: dict[str, Any], where: str, gold: tuple[str, ...], extra: dict) -> Example:
    prompt, completion = row["prompt"], row.get("completion")
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    else:
        messages = list(_messages(prompt, where))
    if completion is not None:
        if isinstance(completion, list):  # conversational completion: its assistant turn(s)
            messages += list(_messages(completion, where))
        elif isinstance(completion, str):
            messages.append({"role": "assistant", "content": completion})
        else:
            raise InputError(f"{where}: 'completion' must be a string or a list of messages")
    raw = isinstance(prompt, str) and (completion is None or isinstance(completion, str))
    return Example(tuple(messages), where, prompt if raw else None, completion if raw else None, gold, extra)


def _messages(value: Any, where: str) -> tuple[dict[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: 'messages' must be a non-empty list of {{role, content}} objects")
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise InputError(f"{where}: message {i} needs a role in {ROLES} and a string content, got {message!r:.80}")
        out.append({"role": message["role"], "content": message["content"]})
    return tuple(out)


def _gold(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InputError(f"{where}: 'answer' must be a string or a list of strings")


def holdout_split(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A deterministic train/eval split (at least one example on each side)."""
    if len(examples) < 2:
        raise InputError("need at least 2 examples to hold some out for evaluation; pass --eval EVAL.jsonl")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_eval = min(len(examples) - 1, max(1, round(len(examples) * fraction)))
    held = set(order[:n_eval])
    return ([e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held])


def write_examples(path: str | Path, examples: list[Example]) -> Path:
    """Write examples back as JSONL ({"messages": ..., "answer": ...}), atomically."""
    from ...paths import atomic_write_text

    lines = []
    for e in examples:
        row: dict[str, Any] = {"messages": list(e.messages), **e.extra}
        if e.gold:
            row["answer"] = list(e.gold) if len(e.gold) > 1 else e.gold[0]
        lines.append(json.dumps(row, ensure_ascii=False))
    atomic_write_text(Path(path), "\n".join(lines) + "\n")
    return Path(path)
