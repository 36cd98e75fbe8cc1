"""The retrieval corpus of a dataset, indexed once and cached under LLMOPT_HOME/indexes/.

Multi-hop sets ship their paragraphs: every distinct paragraph becomes one chunk (title + text) whose chunk id is
the paragraph's key, so retrieved chunks compare directly with the gold supporting paragraphs. FinanceBench and
the demo set ship documents, ingested with llmopt.ingest. The index is named after the dataset and its
fingerprint, so a changed file gets a new index and an unchanged one is never embedded twice.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ConfigError
from .datasets import QADataset


def index_name(dataset: QADataset, embedder: str | None = None) -> str:
    suffix = f"-{embedder.replace(':', '_').replace('/', '_')}" if embedder and embedder != "default" else ""
    return f"eval-{dataset.name}-{dataset.fingerprint}{suffix}"[:120]


def ensure_index(dataset: QADataset, *, embedder: str | None = None,
                 on_progress: Callable[[str], None] | None = None) -> str:
    """The name of an index over the dataset's corpus, building what is missing (a finished build costs a few
    manifest lookups). Raises ConfigError when the dataset ships neither paragraphs nor documents."""
    name = index_name(dataset, embedder)
    say = on_progress or (lambda message: None)
    chunks = dataset.corpus_chunks()
    if chunks:
        from ..index import open_index

        with open_index(name, embedder=embedder, create=True) as index:
            say(f"indexing {len(chunks)} paragraphs into {name}")
            stats = index.add_chunks(chunks)
            say(f"index {name}: {stats['written']} sources written, {stats['unchanged']} unchanged")
        return name
    if dataset.documents:
        from ..ingest import ingest

        say(f"ingesting {len(dataset.documents)} document(s) into {name}")
        report = ingest(dataset.documents, index=name, embedder=embedder)
        if not report.ok:
            reasons = "; ".join(f"{f.path}: {f.reason}" for f in report.failures[:3])
            raise ConfigError(f"could not ingest the dataset's documents ({reasons}); fix them or pass --index")
        return name
    raise ConfigError(f"dataset {dataset.name} ships no paragraphs or documents to retrieve from; pass --index "
                      "INDEX (build one with `llmopt ingest`) or use --strategies none")
