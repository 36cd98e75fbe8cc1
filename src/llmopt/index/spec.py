"""Where an index lives. An index spec is one of

    NAME                          a folder under LLMOPT_HOME/indexes/ (Milvus Lite inside it)
    ./path, /abs/path, a/b        any folder (Milvus Lite inside it); a bare NAME never means a folder here
    milvus://HOST:PORT/COLLECTION a Milvus server or cluster (milvus+https:// for TLS); the token, if the server
                                  needs one, comes from MILVUS_TOKEN ("user:password" or an API key)

Every index has a local folder: index.json (embedder, dimension, collection), manifest.sqlite (which file
versions are committed) and images/ (extracted pictures). For a remote collection the folder is
LLMOPT_HOME/indexes/@milvus/HOST_PORT/COLLECTION.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..errors import ConfigError
from ..paths import indexes_dir

LITE_COLLECTION = "chunks"
LITE_FILE = "store.db"  # pymilvus routes URIs ending in .db to Milvus Lite
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_COLLECTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


@dataclass(frozen=True)
class IndexLocation:
    spec: str  # as the user wrote it
    folder: Path  # index.json, manifest.sqlite, images/ (and store.db for Milvus Lite)
    collection: str
    uri: str | None = None  # http(s)://HOST:PORT of a Milvus server; None means Milvus Lite in the folder
    token: str | None = None

    @property
    def is_remote(self) -> bool:
        return self.uri is not None

    @property
    def lite_path(self) -> Path:
        return self.folder / LITE_FILE

    @property
    def display(self) -> str:
        return f"{self.uri}/{self.collection}" if self.uri else str(self.lite_path)


def parse_index_spec(spec: str) -> IndexLocation:
    """Resolve a name, a path or a milvus:// URI to an IndexLocation (no I/O beyond creating nothing)."""
    if not spec or not spec.strip():
        raise ConfigError("empty index spec; pass --index NAME, a folder path or milvus://HOST:PORT/COLLECTION")
    spec = spec.strip()
    if spec.startswith(("milvus://", "milvus+http://", "milvus+https://")):
        return _remote(spec)
    if "://" in spec:
        raise ConfigError(f"unknown index scheme in '{spec}'; use a name, a path or milvus://HOST:PORT/COLLECTION")
    if os.sep in spec or "/" in spec or spec.startswith((".", "~")):
        return IndexLocation(spec, Path(spec).expanduser().resolve(), LITE_COLLECTION)
    if _NAME.match(spec):  # a bare name is always LLMOPT_HOME/indexes/NAME, never a folder in the cwd
        return IndexLocation(spec, indexes_dir() / spec, LITE_COLLECTION)
    raise ConfigError(f"bad index name '{spec}': use letters, digits, '.', '_' or '-' (or a path with a '/')")


def _remote(spec: str) -> IndexLocation:
    parsed = urlparse(spec)
    scheme = "https" if parsed.scheme == "milvus+https" else "http"
    collection = parsed.path.strip("/")
    if not parsed.hostname or not collection:
        raise ConfigError(f"'{spec}': write milvus://HOST:PORT/COLLECTION, e.g. milvus://127.0.0.1:19530/docs")
    if not _COLLECTION.match(collection):
        raise ConfigError(f"bad Milvus collection name '{collection}': letters, digits and '_', not starting "
                          "with a digit")
    port = parsed.port or 19530
    folder = indexes_dir() / "@milvus" / f"{parsed.hostname}_{port}" / collection
    token = os.environ.get("MILVUS_TOKEN") or None
    return IndexLocation(spec, folder, collection, f"{scheme}://{parsed.hostname}:{port}", token)
