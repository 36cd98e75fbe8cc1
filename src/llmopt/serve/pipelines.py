"""What the server answers with: the index, the pools and the models opened once, shared by every request.

Milvus Lite locks an index folder to one process, so the server opens the index once at startup and every
request searches through one handle (behind a lock: a search takes milliseconds, and pymilvus's thread-safety is
not promised). Local engines serialize their own calls; admission.py bounds how many requests wait for them.
`answer()` is blocking and runs in a worker thread.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .config import ServeConfig
from .presets import Presets, Resolved

ASKER_CACHE = 32  # configured pipelines kept (one per preset and request settings)
IMAGE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}\.(png|jpe?g|gif|webp|bmp)$")


@dataclass
class Reply:
    """One answer in the server's terms: text, citations, usage of every internal call, and extras."""

    text: str
    citations: list[dict[str, Any]]
    usage: dict[str, Any]
    finish_reason: str = "stop"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Overrides:
    """Per-request settings from the OpenAI body."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None

    def sampling(self, *, with_top_p: bool = True) -> dict[str, Any]:
        """The sampling settings this request gives; those it leaves out keep the preset's (or the model name's)."""
        names = ("temperature", "top_p", "seed") if with_top_p else ("temperature", "seed")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


class LockedRetriever:
    """One index handle shared by all requests; searches take turns."""

    def __init__(self, index: Any):
        self.index = index
        self._lock = threading.Lock()

    def search(self, query: str, k: int = 5, filters: dict[str, Any] | None = None):
        with self._lock:
            return self.index.search(query, k=k, filters=filters)

    @property
    def images_dir(self) -> Path | None:
        folder = getattr(self.index, "folder", None)  # an llmopt Index: pictures live in FOLDER/images
        if folder:
            return Path(folder) / "images"
        other = getattr(self.index, "images_dir", None)  # any other retriever may name its pictures' folder
        return Path(other) if other else None

    def close(self) -> None:
        close = getattr(self.index, "close", None)
        if close:
            close()


@dataclass
class _Entry:
    pipeline: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    prepared: bool = False


class Pipelines:
    """The shared resources and a small cache of configured pipelines."""

    def __init__(self, config: ServeConfig, *, retriever: Any = None):
        from ..rag.demos import DemoPool

        self.config = config
        self._owned = None
        if retriever is None and config.index:
            retriever = self._open_index(config.index)
        elif retriever is not None and not isinstance(retriever, LockedRetriever):
            retriever = LockedRetriever(retriever)
        self.retriever = retriever
        self.demos = DemoPool.load(config.demos) if config.demos else None
        self.db = self._check_db(config.db) if config.db else None
        self._sql_pool = None
        self.presets = Presets(config, has_index=retriever is not None, has_demos=self.demos is not None,
                               has_db=self.db is not None)
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._model_lock = threading.Lock()

    def _open_index(self, spec: str) -> LockedRetriever:
        from ..index import open_index

        self._owned = LockedRetriever(open_index(spec))
        return self._owned

    @staticmethod
    def _check_db(path: str) -> Path:
        from ..sql.safe import SafeDatabase

        with SafeDatabase(path) as db:  # fails now, with the reason, on a missing or unreadable file
            return db.path.resolve()

    def warm(self) -> None:
        """Load the default model (and the index's embedder) before the first request."""
        self.model(self.config.model)
        getattr(getattr(self.retriever, "index", None), "embedder", None)  # the property loads it

    def model(self, spec: str):
        from ..models.registry import get_model

        with self._model_lock:  # two first requests must not load the same weights twice
            return get_model(spec)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    @property
    def images_dir(self) -> Path | None:
        return getattr(self.retriever, "images_dir", None)

    # -- answering --------------------------------------------------------------------------------------------
    def answer(self, resolved: Resolved, question: str, overrides: Overrides) -> Reply:
        if resolved.kind == "sql":
            return self._sql(resolved, question, overrides)
        return self._rag(resolved, question, overrides)

    def _cached(self, key: str, make) -> _Entry:
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is not None:
                self._cache.move_to_end(key)
                return entry
        entry = _Entry(make())
        with self._cache_lock:
            entry = self._cache.setdefault(key, entry)
            while len(self._cache) > ASKER_CACHE:
                self._cache.popitem(last=False)
        return entry

    def _rag(self, resolved: Resolved, question: str, o: Overrides) -> Reply:
        from ..rag.api import Asker
        from ..rag.config import AskConfig

        # a request's max_tokens wins; without one, the preset's own (e.g. a pipeline's) is kept
        settings = {**resolved.settings, "strategy": resolved.strategy, "model": resolved.model,
                    **({"max_tokens": o.max_tokens} if o.max_tokens else {}), **o.sampling()}
        config = AskConfig.make(**settings)
        key = "rag:" + config.model_dump_json()
        entry = self._cached(key, lambda: Asker(config, llm=self.model(config.model), retriever=self.retriever,
                                                pool=self.demos))
        asker = entry.pipeline
        if not entry.prepared:
            with entry.lock:  # IterDRAG writes missing demonstration chains once (cached on disk)
                if not entry.prepared and asker.strategy.iterative and asker.pool and asker.m:
                    asker.prepare_chains()
                entry.prepared = True
        return rag_reply(asker.ask(question), self._image_url)

    def _image_url(self, image: str | None) -> str | None:
        folder = self.images_dir
        if not image or folder is None:
            return None
        path = Path(image)
        if not IMAGE_NAME.match(path.name) or path.resolve().parent != folder.resolve() or not path.is_file():
            return None
        return f"/api/images/{path.name}"

    def image_path(self, name: str) -> Path | None:
        """The picture file a citation links to: only a plain file name inside the index's images folder."""
        folder = self.images_dir
        if folder is None or not IMAGE_NAME.match(name):
            return None
        path = (folder / name).resolve()
        return path if path.parent == folder.resolve() and path.is_file() else None

    def _sql(self, resolved: Resolved, question: str, o: Overrides) -> Reply:
        from ..sql.config import make_config
        from ..sql.pipeline import TextToSQL

        settings = {**resolved.settings, "strategy": resolved.strategy, "model": resolved.model,
                    **o.sampling(with_top_p=False),
                    "max_tokens": max(16, o.max_tokens) if o.max_tokens else None}  # a query needs room
        config = make_config(None, **settings)
        key = "sql:" + config.model_dump_json()
        entry = self._cached(key, lambda: TextToSQL(config, self.sql_pool(config) if config.uses_examples else None,
                                                    self.model(config.model)))
        # the request's limit bounds every query, so a worker is free soon after its 504 whatever the SQL does
        deadline = time.monotonic() + self.config.limits.timeout_s
        return sql_reply(entry.pipeline.ask(question, self.db, deadline=deadline))

    def sql_pool(self, config):
        from ..sql.examples import ExamplePool, SQLExample, load_examples

        with self._model_lock:
            if self._sql_pool is None:
                if self.config.sql_examples:
                    examples = load_examples(self.config.sql_examples)
                else:
                    from ..demo.sql import DATABASES

                    examples = [SQLExample(q, sql, db_id) for db_id, (_, _, items, _) in DATABASES.items()
                                for q, sql in items]
                if not examples:
                    raise ConfigError("the text-to-SQL example pool is empty; pass --sql-examples FILE")
                self._sql_pool = ExamplePool(examples, embedder=config.embedder,
                                             skeleton_threshold=config.skeleton_threshold)
            return self._sql_pool


# -- replies ----------------------------------------------------------------------------------------------------
USAGE_KEYS = ("prompt_tokens", "cached_prompt_tokens", "completion_tokens", "effective_context_tokens", "calls",
              "latency_s", "compute_s", "cost_usd")


def rag_reply(answer, image_url) -> Reply:
    chunks = {h.chunk.chunk_id: h.chunk for c in answer.candidates for h in c.hits}
    citations = []
    for number, c in enumerate(answer.citations, start=1):
        chunk = chunks.get(c.chunk_id)
        citations.append({"index": number, "chunk_id": c.chunk_id, "source": c.source,
                          "title": Path(c.source).name or c.source, "page": c.page, "type": c.type,
                          "section": c.section, "score": c.score, "rank": c.rank, "supports": c.supports,
                          "text": c.text, "image_url": image_url(chunk.image if chunk else None)})
    usage = answer.usage.to_dict()
    chosen = next((c for c in answer.candidates if c.answer == answer.answer and c.final is not None), None)
    finish = chosen.final.finish_reason if chosen and chosen.final.finish_reason == "length" else "stop"
    extra = {"kind": "rag", "strategy": answer.strategy, "params": answer.params, "select": answer.select,
             "engine_model": answer.model, "budget_notes": answer.budget.notes if answer.budget else [],
             "parse_failures": answer.parse_failures}
    return Reply(answer.answer, citations, {k: usage[k] for k in USAGE_KEYS}, finish, extra)


def sql_reply(answer) -> Reply:
    usage = answer.usage.to_dict()
    usage["effective_context_tokens"] = usage["prompt_tokens"]
    usage["latency_s"] = answer.wall_s
    extra = {"kind": "sql", "strategy": answer.strategy, "engine_model": answer.model,
             "sql": {"query": answer.sql, "columns": answer.columns, "rows": answer.rows,
                     "truncated": answer.truncated, "error": answer.error, "candidates": len(answer.candidates)}}
    return Reply(sql_text(answer), [], {k: usage.get(k, 0) for k in USAGE_KEYS}, "stop", extra)


def sql_text(answer) -> str:
    """The query and its rows as Markdown (what a chat client shows)."""
    parts = [f"```sql\n{answer.sql or '-- no query'}\n```"]
    if answer.error:
        parts.append(f"The query did not run: {answer.error}")
        return "\n\n".join(parts)
    if answer.columns:
        cell = lambda v: "NULL" if v is None else str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        lines = ["| " + " | ".join(map(cell, answer.columns)) + " |", "|" + "---|" * len(answer.columns)]
        lines += ["| " + " | ".join(map(cell, row)) + " |" for row in answer.rows]
        parts.append("\n".join(lines))
    more = " (more rows exist)" if answer.truncated else ""
    parts.append(f"{len(answer.rows)} row(s){more}")
    return "\n\n".join(parts)
