"""The Index: a Milvus collection (dense + BM25) behind the Retriever protocol, kept honest by a manifest.

    index = open_index("docs", create=True)        # LLMOPT_HOME/indexes/docs, Milvus Lite, MiniLM embedder
    index.add_chunks([Chunk(...), ...])             # programmatic ingestion of pre-chunked text
    hits = index.search("what drove revenue?", k=5, filters={"type": "table", "page": (2, 5)})
    index.close()

Writes follow the manifest protocol (manifest.py): search never returns rows of a version the manifest has not
committed, and opening an index for writing first deletes whatever an interrupted run left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from ..paths import atomic_write_text
from ..types import Chunk, Hit
from . import bm25
from . import filters as F
from .failpoint import failpoint
from .fusion import rrf
from .manifest import Manifest, SourceEntry
from .spec import IndexLocation, parse_index_spec
from .store import SCHEMA_VERSION, MilvusStore, check_dimension

CONFIG_FILE = "index.json"
SERVER_FILE = "server.json"
MODES = ("hybrid", "dense", "sparse")
INSERT_BATCH = 256  # rows per Milvus insert call


@dataclass
class PendingSource:
    """A source version ready to be written: its manifest entry, its chunks and their vectors."""

    entry: SourceEntry
    chunks: list[Chunk]
    vectors: Any  # np.ndarray (n, dim)
    replaced: bool = field(default=False)  # set by write(): an older version was superseded


class Index:
    """Open with open_index(); use as a context manager or call close() (Milvus Lite holds a folder lock)."""

    def __init__(self, location: IndexLocation, config: dict[str, Any], store: MilvusStore, manifest: Manifest,
                 embedder=None):
        self.location = location
        self.config = config
        self.store = store
        self.manifest = manifest
        self._embedder = embedder

    # -- lifecycle -----------------------------------------------------------------------------------------
    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.store.close()
        finally:
            self.manifest.close()

    @property
    def name(self) -> str:
        return self.location.spec

    @property
    def folder(self) -> Path:
        return self.location.folder

    @property
    def images_dir(self) -> Path:
        path = self.folder / "images"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def embedder(self):
        if self._embedder is None:
            from ..models.embed import get_embedder

            self._embedder = get_embedder(self.config["embedder"])
            check_dimension(self.config["dim"], self._embedder.dim, self.name)
        return self._embedder

    # -- search --------------------------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, filters: dict[str, Any] | None = None, *, mode: str = "hybrid",
               candidates: int | None = None, rrf_k: int = 60) -> list[Hit]:
        """The k best committed chunks for a query: dense + BM25 fused by reciprocal rank (or one of them)."""
        if mode not in MODES:
            raise ConfigError(f"unknown search mode '{mode}'; use one of {', '.join(MODES)}")
        if not query or not query.strip():
            raise InputError("empty query; pass the question to search for")
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        limit = candidates or max(4 * k, 50)
        for _ in range(3):  # a concurrent writer can hide a few candidates; widen once or twice if so
            hits, dropped = self._search_once(query, k, filters, mode, limit, rrf_k)
            if len(hits) >= k or not dropped:
                return hits
            limit *= 2
        return hits

    def _search_once(self, query, k, filters, mode, limit, rrf_k) -> tuple[list[Hit], int]:
        expr = F.both(F.filter_expr(filters), F.exclude_versions(self.manifest.dirty_versions()))
        lists: dict[str, list] = {}
        if mode in ("hybrid", "dense"):
            vector = self.embedder.embed([query])[0].tolist()
            lists["dense"] = self.store.search_dense(vector, limit, expr)
        if mode in ("hybrid", "sparse"):
            weights = bm25.query_vector(query, self.manifest)
            lists["sparse"] = self.store.search_sparse(weights, limit, expr) if weights else []
        rows = {h.row["pk"]: h.row for hits in lists.values() for h in hits}
        scores = {(name, h.row["pk"]): h.score for name, hits in lists.items() for h in hits}
        committed = self.manifest.committed_versions(sorted({r["source"] for r in rows.values()}))
        valid = {pk for pk, r in rows.items() if committed.get(r["source"]) == r["version"]}
        fused = rrf({name: [h.row["pk"] for h in hits if h.row["pk"] in valid] for name, hits in lists.items()},
                    k=rrf_k)
        out = []
        for pk, fused_score, ranks in fused[:k]:
            chunk = row_to_chunk(rows[pk])
            for name, rank in ranks.items():
                chunk.metadata[f"{name}_rank"] = rank
                chunk.metadata[f"{name}_score"] = scores[(name, pk)]
            score = fused_score if mode == "hybrid" else scores[(mode, pk)]
            out.append(Hit(chunk=chunk, score=score, rank=len(out) + 1))
        return out, len(rows) - len(valid)

    # -- writes --------------------------------------------------------------------------------------------
    def write(self, batch: list[PendingSource]) -> None:
        """Put new versions of sources into the store under the manifest protocol (see manifest.py)."""
        dirty = set(self.manifest.dirty_versions())
        committed = self.manifest.committed_versions([p.entry.source for p in batch])
        # rows of a version can pre-exist only if an interrupted run left them, or on a forced redo
        leftovers = [p.entry.version for p in batch
                     if p.entry.version in dirty or committed.get(p.entry.source) == p.entry.version]
        self.manifest.begin_many([(p.entry.source, p.entry.version) for p in batch])
        failpoint("begin")
        if leftovers:
            self.store.delete_versions(leftovers)
        terms = self._bm25_rows(batch)
        rows = [r for p in batch for r in chunk_rows(p.chunks, p.vectors, p.entry.version, terms[id(p)][1])]
        for start in range(0, len(rows), INSERT_BATCH):
            self.store.insert(rows[start:start + INSERT_BATCH])
            if start == 0:
                failpoint("mid_insert")
        failpoint("before_commit")
        olds = self.manifest.commit_many([(p.entry, terms[id(p)][0]) for p in batch])
        for p, old in zip(batch, olds):
            p.replaced = old is not None
        failpoint("after_commit")
        superseded = [old for old in olds if old]
        self._purge(superseded)
        failpoint("after_delete_old")

    def _bm25_rows(self, batch: list[PendingSource]) -> dict[int, tuple[bm25.VersionTerms, list[dict]]]:
        """Per source: its contribution to the BM25 statistics, and each chunk's BM25 vector. Document weights use
        the average length of the committed chunks (of this batch, for the first one)."""
        counted = {id(p): [bm25.term_counts(embed_text(c)) for c in p.chunks] for p in batch}
        n, length = self.manifest.bm25_totals()
        if n == 0:
            lengths = [dl for counts in counted.values() for _, dl in counts]
            n, length = len(lengths), sum(lengths)
        avgdl = length / max(n, 1)
        out = {}
        for p in batch:
            terms = bm25.VersionTerms()
            for counts, dl in counted[id(p)]:
                terms.add(counts, dl)
            out[id(p)] = (terms, [bm25.doc_vector(counts, dl, avgdl) for counts, dl in counted[id(p)]])
        return out

    def _purge(self, versions: list[str]) -> None:
        for start in range(0, len(versions), 256):
            part = versions[start:start + 256]
            self.store.delete_versions(part)
            self.manifest.forget(part)

    def remove_source(self, source: str) -> bool:
        """Delete a source's chunks (e.g. its file disappeared). Returns whether it was in the index."""
        old = self.manifest.retire(source)
        if old:
            self._purge([old])
        return old is not None

    def recover(self) -> list[tuple[str, str, str]]:
        """Delete the rows of every dirty version (an interrupted run's leftovers); return what was cleaned."""
        dirty = self.manifest.dirty()
        self._purge([version for version, _, _ in dirty])
        return dirty

    def flush(self) -> None:
        """Make recent writes fast to search (see MilvusStore.flush); ingest and add_chunks call it."""
        self.store.flush()

    def add_chunks(self, chunks: list[Chunk], *, batch_size: int = 64,
                   on_progress: Callable[[int], None] | None = None) -> dict[str, int]:
        """Index pre-chunked text. A source is the unit of replacement: the chunks given for a source replace
        whatever that source held (adding the same chunks again is a no-op). Give all chunks of a source in one
        call. Missing chunk ids and content hashes are derived from the text."""
        groups = group_by_source(chunks)
        todo = {s: cs for s, cs in groups.items() if _group_version(s, cs) != _committed(self.manifest, s)}
        texts = [embed_text(c) for cs in todo.values() for c in cs]
        vectors = self.embedder.embed(texts, batch_size=batch_size, on_batch=on_progress) if texts else None
        batch, offset = [], 0
        for source, group in todo.items():
            entry = SourceEntry(source, _group_version(source, group), kind="chunks", chunks=len(group),
                                by_type=count_types(group), pages=None, fingerprint=self.config["embedder"])
            batch.append(PendingSource(entry, group, vectors[offset:offset + len(group)]))
            offset += len(group)
        for start in range(0, len(batch), 512):  # bounded batches keep memory flat and commits frequent
            self.write(batch[start:start + 512])
        if batch:
            self.store.flush()
        return {"sources": len(groups), "written": len(todo), "unchanged": len(groups) - len(todo),
                "chunks": len(texts)}

    # -- inspection ----------------------------------------------------------------------------------------
    def sources(self) -> list[SourceEntry]:
        return self.manifest.entries()

    def chunks(self, source: str | None = None) -> list[Chunk]:
        """Every committed chunk (of one source, or all), in source then chunk order."""
        entries = [self.manifest.get(source)] if source else self.manifest.entries()
        out: list[Chunk] = []
        for entry in filter(None, entries):
            rows = self.store.query_all(f"version == {json.dumps(entry.version)}")
            out += sorted((row_to_chunk(r) for r in rows), key=lambda c: c.metadata.get("ordinal", 0))
        return out

    def info(self) -> dict[str, Any]:
        entries = self.manifest.entries()
        by_type: dict[str, int] = {}
        for entry in entries:
            for kind, n in entry.by_type.items():
                by_type[kind] = by_type.get(kind, 0) + n
        return {
            "name": self.name, "folder": str(self.folder), "store": _store_kind(self.location, self.store),
            "location": self.store.uri or str(self.location.lite_path),
            "collection": self.location.collection, "embedder": self.config["embedder"], "dim": self.config["dim"],
            "sources": len(entries), "files": sum(e.kind == "file" for e in entries),
            "chunks": sum(e.chunks for e in entries), "by_type": dict(sorted(by_type.items())),
            "pages": sum(e.pages or 0 for e in entries), "dirty": len(self.manifest.dirty()),
            "created": _iso(self.config.get("created")), "updated": _iso(max((e.committed_at for e in entries),
                                                                              default=None)),
            "rows_in_store": self.store.count(),
        }


def _iso(timestamp: float | None) -> str | None:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else None


def _store_kind(location: IndexLocation, store: MilvusStore) -> str:
    if location.is_remote:
        return "milvus"
    return f"milvus-lite (served at {store.uri})" if store.uri else "milvus-lite"


# -- rows <-> chunks ---------------------------------------------------------------------------------------
def embed_text(chunk: Chunk) -> str:
    """What is embedded and BM25-indexed: the section path gives a chunk the context its text lacks."""
    return f"{chunk.section}\n{chunk.text}" if chunk.section else chunk.text


def chunk_rows(chunks: list[Chunk], vectors, version: str, sparse: list[dict]) -> list[dict[str, Any]]:
    rows = []
    for ordinal, (chunk, vector, weights) in enumerate(zip(chunks, vectors, sparse)):
        meta = {"bbox": list(chunk.bbox) if chunk.bbox else None, "content_hash": chunk.content_hash,
                "method": chunk.method, "image": chunk.image, "ordinal": ordinal, "metadata": chunk.metadata}
        rows.append({"pk": _digest(version, chunk.chunk_id)[:32], "chunk_id": chunk.chunk_id, "version": version,
                     "source": chunk.source, "type": chunk.type, "page": chunk.page if chunk.page else -1,
                     "section": chunk.section[:2000], "text": chunk.text, "meta": meta,
                     "dense": [float(x) for x in vector], "sparse": weights or bm25.EMPTY})
    return rows


def row_to_chunk(row: dict[str, Any]) -> Chunk:
    meta = row.get("meta") or {}
    metadata = dict(meta.get("metadata") or {}, version=row["version"], ordinal=meta.get("ordinal", 0))
    page = row.get("page")
    return Chunk(chunk_id=row["chunk_id"], text=row["text"], source=row["source"],
                 page=page if page is not None and page >= 0 else None, type=row["type"],
                 bbox=tuple(meta["bbox"]) if meta.get("bbox") else None, section=row.get("section") or "",
                 content_hash=meta.get("content_hash") or "", method=meta.get("method"), image=meta.get("image"),
                 metadata=metadata)


def group_by_source(chunks: Iterable[Chunk]) -> dict[str, list[Chunk]]:
    groups: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        if not chunk.source:
            raise InputError(f"chunk {chunk.chunk_id or chunk.text[:40]!r} has no source; set Chunk.source")
        if not chunk.text or not chunk.text.strip():
            raise InputError(f"chunk {chunk.chunk_id!r} of {chunk.source} has empty text; drop it")
        groups.setdefault(chunk.source, []).append(chunk)
    for source, group in groups.items():
        for ordinal, chunk in enumerate(group):
            chunk.content_hash = chunk.content_hash or content_hash(chunk.text)
            chunk.chunk_id = chunk.chunk_id or _digest(source, str(ordinal), chunk.content_hash)[:20]
        ids = [c.chunk_id for c in group]
        if len(set(ids)) != len(ids):
            raise InputError(f"duplicate chunk ids in source {source}; chunk ids must be unique within a source")
    return groups


def count_types(chunks: list[Chunk]) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in chunks:
        out[chunk.type] = out.get(chunk.type, 0) + 1
    return out


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def _group_version(source: str, chunks: list[Chunk]) -> str:
    parts = [source] + [f"{c.chunk_id}|{c.content_hash}|{c.type}|{c.page}|{c.section}|{c.method}|{c.image}|"
                        f"{json.dumps(c.metadata, sort_keys=True, default=str)}" for c in chunks]
    return "c" + _digest(*parts)[:31]


def _committed(manifest: Manifest, source: str) -> str | None:
    entry = manifest.get(source)
    return entry.version if entry else None


# -- opening -----------------------------------------------------------------------------------------------
def open_index(spec: str, *, embedder: str | None = None, create: bool = False, recover: bool = True) -> Index:
    """Open (or with create=True, create) an index: a name under LLMOPT_HOME/indexes, a folder path, or
    milvus://HOST:PORT/COLLECTION. embedder: a spec for get_embedder (default: the index's own, or "default"
    for a new index). Interrupted writes are cleaned up on open (recover=False skips that)."""
    location = parse_index_spec(spec)
    config = _read_config(location)
    server_uri = None if location.is_remote else served_uri(location.folder)
    if config is None and not create and not location.is_remote:
        raise ConfigError(f"no index '{spec}' (looked in {location.folder}); create it with "
                          f"`llmopt ingest PATH --index {spec}`")
    store = MilvusStore(location, server_uri)
    try:
        return _finish_open(location, config, store, embedder, create, recover)
    except BaseException:
        store.close()
        raise


def _finish_open(location, config, store, embedder_spec, create, recover) -> Index:
    if config is None and store.exists():  # a remote collection made elsewhere: adopt its description
        config = store.description() or None
    if config is None and not create:
        raise ConfigError(f"no collection '{location.collection}' at {location.display}; create it with "
                          f"`llmopt ingest PATH --index {location.spec}`")
    embedder = None
    if config is not None and embedder_spec and embedder_spec != config["embedder"]:
        raise ConfigError(f"index '{location.spec}' was built with embedder '{config['embedder']}', not "
                          f"'{embedder_spec}'; drop --embedder, or use a new index for another embedder")
    if config is None:
        from ..models.embed import get_embedder

        embedder = get_embedder(embedder_spec or "default")
        config = {"embedder": embedder_spec or "default", "embedder_id": embedder.model_id, "dim": embedder.dim,
                  "collection": location.collection, "created": time.time(), "schema": SCHEMA_VERSION}
    if config.get("schema") != SCHEMA_VERSION:
        raise ConfigError(f"index '{location.spec}' was built by an older llmopt (schema {config.get('schema')}); "
                          "ingest into a new index")
    if not store.exists():
        store.create(config["dim"], config)
    _write_config(location, config)
    store.load()
    index = Index(location, config, store, Manifest(location.folder / "manifest.sqlite"), embedder)
    if recover:
        index.recover()
    return index


def _read_config(location: IndexLocation) -> dict[str, Any] | None:
    path = location.folder / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); restore it or delete the index folder") from None


def _write_config(location: IndexLocation, config: dict[str, Any]) -> None:
    path = location.folder / CONFIG_FILE
    if not path.is_file():
        atomic_write_text(path, json.dumps(config, indent=2, sort_keys=True) + "\n")


def served_uri(folder: Path) -> str | None:
    """http://HOST:PORT when `llmopt index serve` is running for this folder, else None."""
    path = folder / SERVER_FILE
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        os.kill(int(info["pid"]), 0)
        with socket.create_connection((info["host"], int(info["port"])), timeout=1.0):
            return f"http://{info['host']}:{info['port']}"
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None  # a stale file from a server that died: open the folder directly
