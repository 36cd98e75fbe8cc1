"""Hybrid vector index on Milvus: dense vectors (the embedder's) plus BM25, fused with reciprocal rank fusion,
with metadata filters and a manifest that keeps search consistent across crashes.

    from llmopt.index import open_index
    with open_index("docs") as index:
        for hit in index.search("chart of widget output", k=5, filters={"type": "picture"}):
            print(hit.rank, hit.score, hit.chunk.source, hit.chunk.page)

Milvus Lite (the default: a folder under LLMOPT_HOME/indexes/NAME) locks its folder to one process. To use one
index from several processes at once (e.g. `llmopt serve` answering while `llmopt ingest` adds files), run
`llmopt index serve NAME`: it serves the folder over Milvus's gRPC API on 127.0.0.1, and open_index(NAME) in any
other process goes through it. A Milvus server or cluster (milvus://HOST:PORT/COLLECTION) has no such limit.
"""

from .index import Index, PendingSource, open_index
from .spec import IndexLocation, parse_index_spec
from .store import IndexLockedError

__all__ = ["Index", "IndexLocation", "IndexLockedError", "PendingSource", "open_index", "parse_index_spec"]
