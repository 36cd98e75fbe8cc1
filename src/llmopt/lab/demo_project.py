"""The demo as a project: `llmopt lab` (and `make demo`) writes the demo corpus and questions and a project file
over them under OUT/project/, then climbs the ladder on it like on any user's project. The file is an example to
copy: it is what `llmopt init` would write for that folder, with the search narrowed to fit minutes."""

from __future__ import annotations

from pathlib import Path

from ..paths import atomic_write_text

PROJECT = """\
# The demo project: llmopt's generated demo corpus (PDF, Word, PowerPoint, HTML, Markdown, a picture) and 12
# questions about it (text, tables, charts, pictures, multi-hop). Copy this file next to your own documents.
documents:
  paths: ["data/corpus"]
  index: "./index"
tasks:
  qa:
    questions: "data/qa/questions.jsonl"
    demos: "data/qa/demos.jsonl"
    metric: acc
models:
  - default
search:
  strategies: [none, rag, drag, iterdrag]
  k: [1, 3]
  m: [0, 2]
  n: [1]
  prompts: [basic, cot]
  first_questions: 3
  eta: 3
  finalists: 3
  budget:
    minutes: {minutes}
constraints:
  max_context: 4000
objective:
  maximize: acc
"""


def write_demo_project(out_dir: Path, *, minutes: float = 5) -> Path:
    """Write the demo data and its project file under out_dir/project; return the project file."""
    from ..demo import write_demo_data

    folder = out_dir / "project"
    write_demo_data(folder / "data", ["corpus", "qa"])
    path = folder / "llmopt.yaml"
    atomic_write_text(path, PROJECT.replace("{minutes}", f"{minutes:g}"))
    return path
