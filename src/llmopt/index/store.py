"""The vector store: one Milvus collection with a dense vector (the embedder's) and a BM25 sparse vector (bm25.py,
with corpus statistics in the manifest), plus provenance fields to filter on. The same code talks to Milvus Lite
(a local folder, embedded in this process) and to a Milvus server or cluster (a URI): the scale-out path is a
change of index spec, nothing else.

Milvus Lite holds an exclusive lock on its folder for as long as a process has it open. A second process that
opens the same index gets IndexLockedError, whose message names the two ways out: stop the other process, or run
`llmopt index serve NAME` once and let every process (ingest, search, serve) reach the index through it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, EndpointError, LlmoptError
from .spec import IndexLocation

# Milvus Lite's in-process server and pymilvus log routine events as warnings (and gRPC's C core prints
# keepalive chatter); keep stderr for our own output
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
for _name in ("pymilvus", "milvus_lite"):
    logging.getLogger(_name).setLevel(logging.ERROR)
# Milvus Lite's gRPC server logs "Method not implemented" for calls pymilvus probes and then works around
logging.getLogger("grpc._server").setLevel(logging.CRITICAL)

MAX_TEXT_BYTES = 60_000  # Milvus VARCHAR max_length is 65,535 bytes
SCHEMA_VERSION = 2
FIELDS = ["pk", "chunk_id", "version", "source", "type", "page", "section", "text", "meta"]


class IndexLockedError(LlmoptError):
    """Milvus Lite's folder is open in another process."""


@dataclass
class StoreHit:
    row: dict[str, Any]
    score: float


class MilvusStore:
    """A thin, typed layer over pymilvus.MilvusClient for one collection."""

    def __init__(self, location: IndexLocation, server_uri: str | None = None):
        self.location = location
        self.collection = location.collection
        self.uri = server_uri or location.uri
        self._lite_path: Path | None = None if self.uri else location.lite_path
        self.client = self._connect()

    # -- connection ----------------------------------------------------------------------------------------
    def _connect(self):
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException

        if self._lite_path is not None:
            self._lite_path.parent.mkdir(parents=True, exist_ok=True)
            _check_lite_lock(self._lite_path, self.location.spec)
            uri = str(self._lite_path)
        else:
            uri = self.uri
        try:
            client = MilvusClient(uri=uri, token=self.location.token or "", timeout=30)
            if self._lite_path is not None:
                with _lite_lock:
                    _lite_users[uri] = _lite_users.get(uri, 0) + 1
            return client
        except MilvusException as exc:
            if self._lite_path is not None:
                _check_lite_lock(self._lite_path, self.location.spec)  # lost a race: report it as a lock
                raise LlmoptError(f"cannot open Milvus Lite at {uri}: {exc}") from exc
            raise EndpointError(f"cannot reach Milvus at {uri} ({exc}); is the server running, and is "
                                "MILVUS_TOKEN set if it needs one?") from exc

    def close(self) -> None:
        if self.client is None:
            return
        try:
            self.client.close()
        finally:
            self.client = None
            if self._lite_path is not None:
                _release_lite(str(self._lite_path))

    # -- schema --------------------------------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self.client.has_collection(self.collection))

    def description(self) -> dict[str, Any]:
        """The JSON the collection was created with (embedder, dimension), or {}."""
        text = self.client.describe_collection(self.collection).get("description") or ""
        try:
            return json.loads(text) if text.startswith("{") else {}
        except json.JSONDecodeError:
            return {}

    def create(self, dim: int, description: dict[str, Any]) -> None:
        from pymilvus import DataType

        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False,
                                           description=json.dumps(description, sort_keys=True))
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("chunk_id", DataType.VARCHAR, max_length=512)
        schema.add_field("version", DataType.VARCHAR, max_length=64)
        schema.add_field("source", DataType.VARCHAR, max_length=4096)
        schema.add_field("type", DataType.VARCHAR, max_length=16)
        schema.add_field("page", DataType.INT64)  # -1 when the format has no pages
        schema.add_field("section", DataType.VARCHAR, max_length=4096)
        schema.add_field("text", DataType.VARCHAR, max_length=65535)
        schema.add_field("meta", DataType.JSON)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)  # BM25 term weights (bm25.doc_vector)
        index_params = self.client.prepare_index_params()
        index_params.add_index("dense", index_type="AUTOINDEX", metric_type="COSINE")
        index_params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        self.client.create_collection(self.collection, schema=schema, index_params=index_params)

    def load(self) -> None:
        self.client.load_collection(self.collection)

    def drop(self) -> None:
        if self.exists():
            self.client.drop_collection(self.collection)

    # -- writes --------------------------------------------------------------------------------------------
    def insert(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            row["text"] = _clip(row["text"])
        if rows:
            self.client.insert(self.collection, rows)

    def flush(self) -> None:
        """Seal written rows into segments. Milvus Lite rebuilds its sparse index over unsealed rows on every
        search (seconds per query at a few thousand rows), so writers flush when a batch of work is done."""
        self.client.flush(self.collection)

    def delete_versions(self, versions: list[str]) -> None:
        self.client.delete(self.collection, filter=f"version in [{', '.join(_quote(v) for v in versions)}]")

    # -- reads ---------------------------------------------------------------------------------------------
    def search_dense(self, vector: list[float], limit: int, expr: str) -> list[StoreHit]:
        res = self.client.search(self.collection, [vector], anns_field="dense", limit=limit, filter=expr,
                                 search_params={"metric_type": "COSINE"}, output_fields=FIELDS)
        return [StoreHit(_entity(h), float(h["distance"])) for h in res[0]]

    def search_sparse(self, weights: dict[int, float], limit: int, expr: str) -> list[StoreHit]:
        res = self.client.search(self.collection, [weights], anns_field="sparse", limit=limit, filter=expr,
                                 search_params={"metric_type": "IP"}, output_fields=FIELDS)
        return [StoreHit(_entity(h), float(h["distance"])) for h in res[0]]

    def query(self, expr: str, limit: int = 16384, offset: int = 0, fields: list[str] | None = None) -> list[dict]:
        return list(self.client.query(self.collection, filter=expr or 'pk != ""', limit=limit, offset=offset,
                                      output_fields=fields or FIELDS))

    def query_all(self, expr: str = "", fields: list[str] | None = None, page: int = 4096) -> list[dict]:
        rows: list[dict] = []
        while True:
            batch = self.query(expr, limit=page, offset=len(rows), fields=fields)
            rows += batch
            if len(batch) < page:
                return rows

    def count(self, expr: str = "") -> int:
        res = self.client.query(self.collection, filter=expr or "", output_fields=["count(*)"])
        return int(res[0]["count(*)"]) if res else 0


# Milvus Lite runs one in-process server per folder, shared by every client of this process that opens it: the
# folder lock is released (so another process can open it) when the last of them closes, not at process exit.
_lite_users: dict[str, int] = {}
_lite_lock = threading.Lock()


def _release_lite(path: str) -> None:
    with _lite_lock:
        _lite_users[path] = _lite_users.get(path, 1) - 1
        if _lite_users[path] > 0:
            return
        del _lite_users[path]
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(path)


def _entity(hit: dict) -> dict[str, Any]:
    return dict(hit.get("entity") or {}, pk=hit.get("pk", hit.get("id")))


def _clip(text: str) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= MAX_TEXT_BYTES else data[:MAX_TEXT_BYTES].decode("utf-8", "ignore")


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a Milvus string literal: double quotes, backslash escapes


def _check_lite_lock(path: Path, spec: str) -> None:
    """Fail with a clear message when another process holds Milvus Lite's folder lock."""
    lock = path / "LOCK"
    if not lock.exists():
        return
    import fcntl

    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BlockingIOError:
        from milvus_lite.server_manager import server_manager_instance

        if str(path.resolve()) in server_manager_instance._servers:  # this process holds it: fine
            return
        raise IndexLockedError(
            f"index '{spec}' is open in another process (Milvus Lite locks its folder to one process); stop that "
            f"process, or run `llmopt index serve {spec}` once and every process will share the index through it"
        ) from None
    finally:
        os.close(fd)


def check_dimension(store_dim: int | None, embedder_dim: int, spec: str) -> None:
    if store_dim is not None and store_dim != embedder_dim:
        raise ConfigError(f"index '{spec}' holds {store_dim}-dimensional vectors but the embedder makes "
                          f"{embedder_dim}; use the index's embedder or a new index")
