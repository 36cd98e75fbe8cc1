"""The demonstration pool for DRAG and IterDRAG: questions with gold answers (and, for IterDRAG, decomposition
chains), selected fixed or by similarity, shown with their own retrieved documents. A question is never its own
demonstration.

Pool file: JSONL (or a JSON list), one question per row:
    {"id": "q1", "question": "...", "answer": "..." | ["...", ...],
     "chain": [{"question": "...", "answer": "..."}, ...],          optional: a decomposition, for IterDRAG
                                                                   ([] says: one hop, nothing to decompose)
     "documents": ["text", {"text": ..., "source": ..., "page": ...}]}  optional: instead of retrieval
MuSiQue rows (`question_decomposition`, `paragraphs`) and HotpotQA rows (`context`) are read as they are.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..jsonl import append_jsonl, read_jsonl, read_rows
from ..metrics import accuracy
from ..types import Chunk, Hit
from .answers import normalize

Chain = tuple[tuple[str, str], ...]  # (sub-question, intermediate answer) pairs


@dataclass(frozen=True)
class Demo:
    id: str
    question: str
    answer: str
    chain: Chain = ()
    documents: tuple[Hit, ...] = ()  # given in the pool row; otherwise retrieved with the demo's question
    chain_given: bool = False  # the row states its decomposition, possibly none ("chain": [] for one hop)


@dataclass(frozen=True)
class ShownDemo:
    """A demonstration as it appears in a prompt: with its own documents, best first."""

    question: str
    answer: str
    chain: Chain
    hits: tuple[Hit, ...]


@dataclass
class DemoPool:
    demos: list[Demo]
    source: str = ""
    skipped: list[str] = field(default_factory=list)  # "line N: reason" for rows that could not be read
    _retrieved: dict[tuple[str, int], tuple[Hit, ...]] = field(default_factory=dict, repr=False)
    _vectors: Any = field(default=None, repr=False)

    # -- loading --------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> "DemoPool":
        path = Path(path).expanduser()
        if not path.is_file():
            raise InputError(f"demonstration pool not found: {path}; pass --demos FILE.jsonl with question/answer rows")
        rows = read_rows(path)
        pool = cls.from_rows(rows, source=str(path))
        if not pool.demos:
            reasons = "; ".join(pool.skipped[:3]) or "the file is empty"
            raise InputError(f"no usable demonstrations in {path} ({reasons}); each row needs question and answer")
        return pool

    @classmethod
    def from_rows(cls, rows: Sequence[Any], source: str = "") -> "DemoPool":
        demos, skipped = [], []
        for number, row in enumerate(rows, start=1):
            try:
                demos.append(demo_from_row(row, number))
            except (KeyError, TypeError, ValueError) as exc:
                skipped.append(f"row {number}: {exc}")
        return cls(demos, source, skipped)

    @property
    def fingerprint(self) -> str:
        text = json.dumps([[d.id, d.question, d.answer, d.chain] for d in self.demos], ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def with_chain_count(self) -> int:
        return sum(1 for d in self.demos if d.chain or d.chain_given)

    # -- selection -------------------------------------------------------------------------------------------
    def select(self, question: str, m: int, how: str = "fixed", question_id: str | None = None,
               embed: Callable[[list[str]], Any] | None = None) -> list[Demo]:
        """m demonstrations for a question, never the question itself. "fixed": the pool's first m (the same for
        every question, so the prompt prefix is shared); "similar": the m most similar by embedding, the most
        similar last (nearest the question)."""
        allowed = [d for d in self.demos if not _same_question(d, question, question_id)]
        if m <= 0 or not allowed:
            return []
        if how == "fixed":
            return allowed[:m]
        if how == "similar":
            return self._most_similar(question, allowed, m, embed)
        raise ValueError(f"unknown demonstration selection '{how}'")

    def _most_similar(self, question: str, allowed: list[Demo], m: int, embed) -> list[Demo]:
        import numpy as np

        if embed is None:
            from ..models.embed import get_embedder

            embed = get_embedder("default").embed
        if self._vectors is None:
            self._vectors = {d.id: v for d, v in zip(self.demos, embed([d.question for d in self.demos]))}
        query = np.asarray(embed([question])[0])
        scored = sorted(allowed, key=lambda d: float(np.dot(self._vectors[d.id], query)), reverse=True)
        return list(reversed(scored[:m]))

    # -- documents -------------------------------------------------------------------------------------------
    def shown(self, demos: Sequence[Demo], k: int, retriever: Any | None) -> list[ShownDemo]:
        """Each demonstration with its own k documents: the row's documents if it has them, else retrieved with
        its question (cached, so a fixed selection yields byte-identical prompt prefixes)."""
        return [ShownDemo(d.question, d.answer, d.chain, self.documents_for(d, k, retriever)) for d in demos]

    def documents_for(self, demo: Demo, k: int, retriever: Any | None) -> tuple[Hit, ...]:
        if k <= 0:
            return ()
        if demo.documents:
            return demo.documents[:k]
        if retriever is None:
            return ()
        key = (demo.id, k)
        if key not in self._retrieved:
            self._retrieved[key] = tuple(retriever.search(demo.question, k=k))
        return self._retrieved[key]

    def replace_chains(self, chains: dict[str, Chain]) -> "DemoPool":
        demos = [replace(d, chain=chains[d.id], chain_given=True) if d.id in chains else d for d in self.demos]
        return DemoPool(demos, self.source, self.skipped)


def _same_question(demo: Demo, question: str, question_id: str | None) -> bool:
    return (question_id is not None and demo.id == str(question_id)) or normalize(demo.question) == normalize(question)


def demo_from_row(row: Any, number: int) -> Demo:
    if not isinstance(row, dict):
        raise TypeError(str(row) if isinstance(row, str) else "not a JSON object")
    question = str(row.get("question") or "").strip()
    answer = row.get("answer", row.get("answers"))
    if isinstance(answer, list):
        answer = answer[0] if answer else ""
    answer = str(answer if answer is not None else "").strip()
    if not question or not answer:
        raise ValueError("needs a non-empty question and answer")
    demo_id = str(row.get("id", row.get("_id", number)))
    given = "chain" in row or "question_decomposition" in row
    return Demo(demo_id, question, answer, _chain(row), _documents(row, demo_id), given)


_HOP_REF = re.compile(r"#(\d+)")


def _chain(row: dict) -> Chain:
    steps = row.get("chain") or row.get("question_decomposition") or []
    chain: list[tuple[str, str]] = []
    for step in steps:
        if not isinstance(step, dict) or not step.get("question") or not step.get("answer"):
            raise ValueError("each chain step needs question and answer")
        # MuSiQue writes "#1" for the answer of step 1
        sub = _HOP_REF.sub(lambda m: chain[int(m.group(1)) - 1][1] if 0 < int(m.group(1)) <= len(chain) else m.group(0),
                           str(step["question"]))
        chain.append((sub.strip(), str(step["answer"]).strip()))
    return tuple(chain)


def _documents(row: dict, demo_id: str) -> tuple[Hit, ...]:
    texts: list[tuple[str, str, int | None]] = []
    for doc in row.get("documents") or []:
        if isinstance(doc, str):
            texts.append((doc, "", None))
        elif isinstance(doc, dict) and doc.get("text"):
            texts.append((str(doc["text"]), str(doc.get("source", "")), doc.get("page")))
    paragraphs = sorted(row.get("paragraphs") or [], key=lambda p: not p.get("is_supporting"))
    texts += [(f"{p.get('title', '')}: {p.get('paragraph_text', '')}", str(p.get("title", "")), None)
              for p in paragraphs if isinstance(p, dict)]
    for item in row.get("context") or []:  # HotpotQA: [title, [sentences]]
        if isinstance(item, list) and len(item) == 2:
            texts.append((f"{item[0]}: {''.join(item[1])}", str(item[0]), None))
    return tuple(Hit(Chunk(f"{demo_id}#doc{i}", text, source, page), 1.0, i + 1)
                 for i, (text, source, page) in enumerate(texts))


# -- IterDRAG chains --------------------------------------------------------------------------------------------
Solver = Callable[[Demo], tuple[str, Chain]]  # runs IterDRAG on a demo question: (final answer, chain)


def generate_chains(pool: DemoPool, solve: Solver, cache_file: Path | None = None,
                    on_demo: Callable[[Demo, bool], None] | None = None) -> tuple[DemoPool, dict[str, int]]:
    """Give chain-less demonstrations a decomposition chain written by the model, keeping only chains whose final
    answer matches the gold answer (Yue et al.). Results are appended to cache_file per demonstration, so an
    interrupted run resumes and a finished one costs nothing."""
    done = _read_chain_cache(cache_file)
    chains: dict[str, Chain] = {}
    stats = {"tried": 0, "kept": 0, "had_chain": pool.with_chain_count}
    for demo in pool.demos:
        if demo.chain or demo.chain_given:
            continue
        if demo.id not in done:
            answer, chain = solve(demo)
            ok = bool(chain) and accuracy(answer, demo.answer) == 1.0
            done[demo.id] = {"id": demo.id, "kept": ok, "answer": answer, "chain": [list(s) for s in chain]}
            _append_chain_cache(cache_file, done[demo.id])
        stats["tried"] += 1
        if done[demo.id]["kept"]:
            chains[demo.id] = tuple((q, a) for q, a in done[demo.id]["chain"])
            stats["kept"] += 1
        if on_demo:
            on_demo(demo, bool(done[demo.id]["kept"]))
    return pool.replace_chains(chains), stats


def _read_chain_cache(path: Path | None) -> dict[str, dict]:
    if path is None:
        return {}
    return {str(row["id"]): row for row in read_jsonl(path) if "id" in row}  # a line cut by a crash is redone


def _append_chain_cache(path: Path | None, row: dict) -> None:
    if path is not None:
        append_jsonl(path, row)
