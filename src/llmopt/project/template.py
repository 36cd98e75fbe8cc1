"""The commented llmopt.yaml `llmopt init` writes: each key under a comment saying what it is and the choices,
filled with what the scan found, so `load_project` accepts it unchanged (when a task could be filled in)."""

from __future__ import annotations

import json
from pathlib import Path

from .discover import Found

MAX_LISTED = 30  # more documents than this: list their top-level folders instead


def q(text: str) -> str:
    """A YAML-safe scalar (a JSON string is a YAML string)."""
    return json.dumps(text)


def document_paths(documents: list[str]) -> list[str]:
    if len(documents) <= MAX_LISTED:
        return documents
    tops = {d.split("/", 1)[0] + ("/" if "/" in d else "") for d in documents}
    return sorted(tops)


def render_project(found: Found, index: str) -> str:
    return "\n".join([_HEADER, _documents(found, index), _tasks(found), _MODELS, _TRAINING, _search(),
                      _CONSTRAINTS, _objective(found)]) + "\n"


_HEADER = """\
# llmopt project file: your problem, the candidates and what wins. Relative paths start at this file's folder.
# llmopt.project.load_project("llmopt.yaml") checks it: unknown keys, wrong types and missing files are refused."""


def _documents(found: Found, index: str) -> str:
    if not found.documents:
        return ("# documents: the files to retrieve from (paths, folders or globs) and the index they go to.\n"
                "# None were found; add e.g.\n# documents:\n#   paths: [\"docs/**/*.pdf\"]\n#   index: my-index")
    paths = "\n".join(f"    - {q(p)}" for p in document_paths(found.documents))
    return ("# documents: the files to retrieve from and the index they go to (ingestion is incremental).\n"
            "documents:\n"
            "  # paths: files, folders (walked recursively) or globs ('docs/**/*.pdf'); each must match something\n"
            f"  paths:\n{paths}\n"
            "  # index: a name (under LLMOPT_HOME/indexes), a folder, or milvus://HOST:PORT/COLLECTION\n"
            f"  index: {q(index)}")


def _tasks(found: Found) -> str:
    lines = ["# tasks: what is asked, and the metric that decides (qa and/or sql).", "tasks:"]
    if found.qa_questions or not (found.databases and found.sql_questions):
        questions = found.qa_questions[0] if found.qa_questions else "questions.jsonl"
        lines += ["  qa:",
                  "    # questions: the generic JSONL (question, answers, evidence optional) or any format"
                  " `llmopt eval qa` reads" + ("" if found.qa_questions else "; NONE FOUND: write this file"),
                  f"    questions: {q(questions)}",
                  "    # metric: acc | f1 | em | judge (an LLM judge for questions without answers; add judge: SPEC)",
                  "    metric: acc"]
        lines += [f"    # other question files found: {q(p)}" for p in found.qa_questions[1:]]
    if found.databases and found.sql_questions:
        lines += ["  sql:", "    # database: a SQLite file", f"    database: {q(found.databases[0])}",
                  "    # questions: question rows with or without gold SQL (`query`)",
                  f"    questions: {q(found.sql_questions[0])}",
                  "    # metric: ex (execution accuracy against the gold SQL) | judge (add judge: SPEC)",
                  "    metric: ex"]
    elif found.databases:
        lines += [f"  # sql: SQLite database {q(found.databases[0])} found, but no SQL questions file; to add it:",
                  f"  # sql: {{database: {q(found.databases[0])}, questions: sql_questions.jsonl, metric: ex}}"]
    return "\n".join(lines)


_MODELS = """\
# models: candidate model specs: packs (default, qwen2.5-coder-1.5b@llamacpp), hf:FOLDER|hub-id,
# llamacpp:FILE.gguf, openai:MODEL@URL; add prices (input/cached_input/output per 1M tokens,
# usd_per_gpu_hour, usd_per_cpu_hour) where yours differ from prices.yaml.
models:
  - spec: default
  # - spec: openai:gpt-4o-mini@https://api.example.com/v1
  #   prices: {input: 0.15, output: 0.60}"""

_TRAINING = """\
# training (optional): rungs whose results enter the search as candidate models; the settings are those of
# `llmopt finetune` / `llmopt distill` / `llmopt merge` (data defaults to the training pool).
# training:
#   finetune:
#     - {method: lora, with_context: true}
#   distill:
#     - {teacher: "openai:big-model@http://127.0.0.1:8000/v1", student: default@hf, loss: seq}"""

def _search() -> str:
    from ..rag.prompts import shipped_templates
    from ..rag.strategy import strategy_names

    strategies = strategy_names()
    return _SEARCH.format(choices=" | ".join(strategies), strategies=", ".join(strategies),
                          prompts=", ".join(shipped_templates()))


_SEARCH = """\
# search: the space to try and the search's own budget.
search:
  # strategies: {choices} (default: all)
  strategies: [{strategies}]
  # k: retrieved chunks; m: demonstrations; n: rounds (iterdrag); samples: answers voted per question
  k: [1, 3, 5, 10]
  m: [0, 1, 2]
  n: [1, 2, 3]
  samples: [1]
  # prompts: shipped templates ({prompts}) or FILE.j2
  prompts: [basic]
  # budget: wall minutes and/or dollars (`llmopt lab --project FILE --search-minutes N` overrides minutes)
  budget: {{minutes: 60}}"""

_CONSTRAINTS = """\
# constraints: limits every answer keeps: max_context (prompt tokens), p95_latency_s, usd_per_1k_queries.
constraints:
  max_context: 8000
  # p95_latency_s: 3
  # usd_per_1k_queries: 0.50"""


def _objective(found: Found) -> str:
    metric = "acc" if found.qa_questions or not (found.databases and found.sql_questions) else "ex"
    return ("# objective: maximize: METRIC (highest score within the constraints), or\n"
            "# cheapest_reaching: {metric: METRIC, value: 0.6} (cheapest whose CI lower bound reaches it).\n"
            f"objective:\n  maximize: {metric}")


def init_project(folder: str | Path, *, force: bool = False) -> tuple[Path, Found]:
    """Scan `folder` and write folder/llmopt.yaml (refused when one exists, unless `force`)."""
    from ..errors import ConfigError
    from ..paths import atomic_write_text
    from .discover import scan
    from .load import PROJECT_FILE

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; pass the folder holding your documents and questions")
    target = folder / PROJECT_FILE
    if target.exists() and not force:
        raise ConfigError(f"{target} exists; edit it, or pass --force to overwrite it")
    found = scan(folder)
    atomic_write_text(target, render_project(found, folder.resolve().name or "project"))
    return target, found
