"""Examples to token ids with a loss mask, through the model's chat template.

A conversation is rendered once per assistant turn: the text before the turn (with the generation prompt) is what
the model reads, the turn itself (through its end-of-turn token) is what it learns to write. Each piece is
tokenized on its own, so the prompt tokens are exactly the ones `llmopt` feeds the model when it serves it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ...errors import ConfigError, InputError
from .data import Example

IGNORE = -100  # label of a position that carries no loss (the PyTorch / HF convention)


@dataclass(frozen=True)
class Tokenized:
    input_ids: list[int]
    labels: list[int]  # the token itself where it is trained on, IGNORE elsewhere (not yet shifted)
    key: str  # content hash: checkpoints and teacher caches refer to examples by it

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels[1:] if label != IGNORE)  # position 0 is never a target


class Renderer:
    """Turns examples into Tokenized rows for one tokenizer and one template mode."""

    def __init__(self, tokenizer, template: str = "chat", system_prompt: str | None = None,
                 completion_only: bool = True):
        if template == "chat" and not getattr(tokenizer, "chat_template", None):
            raise ConfigError("the model's tokenizer has no chat template; pass --template raw (prompt + completion)")
        self.tokenizer = tokenizer
        self.template = template
        self.system_prompt = system_prompt
        self.completion_only = completion_only
        self.eos = tokenizer.eos_token or ""

    # -- text ---------------------------------------------------------------------------------------------
    def messages(self, example: Example) -> list[dict[str, str]]:
        messages = list(example.messages)
        if self.system_prompt and messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return messages

    def prompt_text(self, example: Example) -> str:
        """What the model reads before answering (used for generation during eval and distillation)."""
        if self.template == "raw":
            return self._raw_parts(example)[0]
        return self._render(self.messages(example)[: len(self.messages(example)) - example.has_answer], True)

    def _render(self, messages: list[dict[str, str]], generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)

    def pieces(self, example: Example) -> list[tuple[str, bool]]:
        """(text, trained) pieces whose concatenation is the whole rendered example."""
        if self.template == "raw":
            prompt, completion = self._raw_parts(example)
            return [(prompt, False), (completion + self.eos, True)]
        messages = self.messages(example)
        pieces: list[tuple[str, bool]] = []
        done = ""
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            before = self._render(messages[:i], True)
            through = self._render(messages[: i + 1], False)
            if not before.startswith(done) or not through.startswith(before):
                raise InputError(f"{example.where}: the chat template renders this conversation inconsistently "
                                 "(a later turn changes earlier text); use --template raw or drop the row")
            pieces.append((before[len(done):], False))
            pieces += self._split_turn(through[len(before):])
            done = through
        return [(text, trained) for text, trained in pieces if text]

    def _split_turn(self, turn: str) -> list[tuple[str, bool]]:
        """The turn through its end-of-turn token is trained on; the template's trailing newline is not."""
        cut = turn.rfind(self.eos) if self.eos else -1
        if cut < 0:
            return [(turn + self.eos, True)]  # a template that does not close turns: teach the model to stop
        return [(turn[: cut + len(self.eos)], True), (turn[cut + len(self.eos):], False)]

    def _raw_parts(self, example: Example) -> tuple[str, str]:
        if example.raw_prompt is None:
            raise InputError(f"{example.where}: template=raw needs prompt/completion rows with string values")
        return example.raw_prompt, example.raw_completion or ""

    # -- tokens -------------------------------------------------------------------------------------------
    def encode(self, text: str, first: bool) -> list[int]:
        bos = self.tokenizer.bos_token
        special = first and not (bos and text.startswith(bos))  # as the hf backend tokenizes a prompt
        return self.tokenizer(text, add_special_tokens=special)["input_ids"]

    def tokenize(self, example: Example) -> Tokenized:
        ids: list[int] = []
        labels: list[int] = []
        for text, trained in self.pieces(example):
            piece = self.encode(text, first=not ids)
            ids += piece
            labels += piece if (trained or not self.completion_only) else [IGNORE] * len(piece)
        key = hashlib.sha256(repr(ids).encode()).hexdigest()[:20]
        return Tokenized(ids, labels, key)

    def prompt_ids(self, example: Example) -> list[int]:
        return self.encode(self.prompt_text(example), first=True)
