"""The retrieval corpus of a dataset, indexed once and cached under LLMOPT_HOME/indexes/.

Multi-hop sets ship their paragraphs: every distinct paragraph becomes one chunk (title + text) whose chunk id is
the paragraph's key, so retrieved chunks compare directly with the gold supporting paragraphs. FinanceBench and
the demo set ship documents, ingested with llmopt.ingest. The index is named after the dataset and its
fingerprint, so a changed file gets a new index; a finished build leaves a marker in the index folder, and later
runs use the index without opening it for writing (Milvus Lite serves a folder to one client at a time, so a
second writer would take the folder from a retriever this process already holds open).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError
from ..paths import atomic_write_text
from .datasets import QADataset

MARKER = "eval-corpus.json"


def index_name(dataset: QADataset, embedder: str | None = None) -> str:
    suffix = f"-{embedder.replace(':', '_').replace('/', '_')}" if embedder and embedder != "default" else ""
    return f"eval-{dataset.name}-{dataset.fingerprint}{suffix}"[:120]


def _marker(name: str) -> Path:
    from ..index import parse_index_spec

    return parse_index_spec(name).folder / MARKER


def ensure_index(dataset: QADataset, *, embedder: str | None = None,
                 on_progress: Callable[[str], None] | None = None) -> str:
    """The name of an index over the dataset's corpus, built the first time. Raises ConfigError when the
    dataset ships neither paragraphs nor documents."""
    name = index_name(dataset, embedder)
    marker = _marker(name)
    if marker.is_file() and json.loads(marker.read_text()).get("fingerprint") == dataset.fingerprint:
        return name
    say = on_progress or (lambda message: None)
    chunks = dataset.corpus_chunks()
    if chunks:
        _index_paragraphs(name, chunks, embedder, say)
    elif dataset.documents:
        _ingest_documents(name, dataset, embedder, say)
    else:
        raise ConfigError(f"dataset {dataset.name} ships no paragraphs or documents to retrieve from; pass --index "
                          "INDEX (build one with `llmopt ingest`) or use --strategies none")
    atomic_write_text(marker, json.dumps({"dataset": dataset.name, "fingerprint": dataset.fingerprint,
                                          "chunks": len(chunks), "documents": len(dataset.documents)}))
    return name


def _index_paragraphs(name: str, chunks: list, embedder: str | None, say: Callable[[str], None]) -> None:
    from ..index import open_index

    with open_index(name, embedder=embedder, create=True) as index:
        say(f"indexing {len(chunks)} paragraphs into {name} (once; later runs reuse it)")
        done = [0]

        def embedded(count: int) -> None:
            done[0] += count
            if done[0] % 512 < count:  # about every 512 paragraphs
                say(f"embedded {done[0]} paragraphs")

        stats = index.add_chunks(chunks, on_progress=embedded)
        say(f"index {name}: {stats['written']} sources written, {stats['unchanged']} unchanged")


def _ingest_documents(name: str, dataset: QADataset, embedder: str | None, say: Callable[[str], None]) -> None:
    from ..ingest import ingest

    say(f"ingesting {len(dataset.documents)} document(s) into {name} (once; later runs reuse it)")
    report = ingest(dataset.documents, index=name, embedder=embedder)
    if not report.ok:
        reasons = "; ".join(f"{f.path}: {f.reason}" for f in report.failures[:3])
        raise ConfigError(f"could not ingest the dataset's documents ({reasons}); fix them or pass --index")
