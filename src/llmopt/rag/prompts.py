"""Prompt templates: Jinja files, shipped (llmopt/rag/prompts/*.j2) or the user's own.

    load_template("cot")                 a shipped template by name
    load_template("my_prompt.j2")        a file; it may `{% extends "base.j2" %}` and override blocks

A template renders the user message from `question`, `documents`, `demonstrations` and `iterative` (see base.j2)
and may set module variables: `description`, `answer_marker`, `max_tokens`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ..errors import ConfigError

SHIPPED_DIR = Path(__file__).with_name("prompts")

# rendered once when a template loads, so a broken template fails early with a clear message
EXAMPLE_VARS: dict[str, Any] = {
    "question": "Who wrote the report?",
    "documents": [{"number": 1, "text": "The report was written by the audit team.", "where": "report.pdf, p. 1",
                   "chunk_id": "c1"}],
    "demonstrations": [{"question": "When was it written?", "answer": "2023", "chain": [],
                        "documents": [{"number": 1, "text": "Written in 2023.", "where": "", "chunk_id": "c2"}]}],
    "iterative": False,
    "answer": "the audit team",
}


def shipped_templates() -> dict[str, str]:
    """Shipped template names and their one-line descriptions."""
    names = sorted(p.stem for p in SHIPPED_DIR.glob("*.j2") if not p.stem.startswith("_") and p.stem != "base")
    return {name: load_template(name).description for name in names}


@functools.lru_cache(maxsize=8)
def _environment(user_dir: str | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(str(SHIPPED_DIR))]
    if user_dir:
        loaders.insert(0, jinja2.FileSystemLoader(user_dir))
    return jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False, autoescape=False)


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    template: jinja2.Template
    description: str = ""
    answer_marker: str = ""
    max_tokens: int | None = None

    def render(self, **variables: Any) -> str:
        try:
            return self.template.render(**variables).strip() + "\n"
        except jinja2.TemplateError as exc:
            raise ConfigError(f"prompt template '{self.name}': {exc}; variables available: question, documents, "
                              "demonstrations, iterative (see llmopt/rag/prompts/base.j2)") from None


@functools.lru_cache(maxsize=64)
def load_template(name_or_path: str) -> PromptTemplate:
    """A shipped template by name, or a .j2 file; fails with the shipped names when neither exists."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".j2", ".jinja", ".jinja2") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"prompt template file not found: {path}")
        env, file_name, name = _environment(str(path.resolve().parent)), path.name, str(path)
    elif (SHIPPED_DIR / f"{name_or_path}.j2").is_file() and not name_or_path.startswith("_"):
        env, file_name, name = _environment(None), f"{name_or_path}.j2", name_or_path
    else:
        known = sorted(p.stem for p in SHIPPED_DIR.glob("*.j2") if not p.stem.startswith("_") and p.stem != "base")
        raise ConfigError(f"unknown prompt template '{name_or_path}'; shipped: {', '.join(known)}, or a FILE.j2")
    return _compile(env, file_name, name)


def _compile(env: jinja2.Environment, file_name: str, name: str) -> PromptTemplate:
    try:
        template = env.get_template(file_name)
        module = template.make_module(vars=EXAMPLE_VARS)
    except jinja2.TemplateError as exc:
        where = f" line {exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise ConfigError(f"prompt template '{name}'{where}: {exc.message or exc}; fix the template "
                          "(see llmopt/rag/prompts/base.j2 for the variables and blocks)") from None
    max_tokens = getattr(module, "max_tokens", None)
    return PromptTemplate(name, template, str(getattr(module, "description", "")),
                          str(getattr(module, "answer_marker", "")), int(max_tokens) if max_tokens else None)


@functools.lru_cache(maxsize=1)
def _document_macro():
    return _environment(None).get_template("_document.j2").module.render_document


def render_documents(documents: list[dict[str, Any]]) -> str:
    """Documents in the shipped format, one per line (IterDRAG inserts a follow-up's documents this way)."""
    return "\n".join(str(_document_macro()(doc)) for doc in documents)


_SPACES = re.compile(r"[ \t]+\n")


def tidy(text: str) -> str:
    """Drop trailing spaces a template left at line ends (they cost tokens and break prefix matching)."""
    return _SPACES.sub("\n", text)
