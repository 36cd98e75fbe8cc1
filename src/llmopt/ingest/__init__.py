"""Document ingestion: PDF, DOCX, PPTX, HTML, Markdown, text and images -> structure-aware chunks with
provenance -> a hybrid Milvus index (llmopt.index).

    from llmopt.ingest import ingest, IngestConfig
    report = ingest(["docs/"], index="docs", config=IngestConfig(chunk_tokens=200))
    print(report.summary(), [f.reason for f in report.failures])
"""

import sys
import types

from .config import IngestConfig, load_config
from .pipeline import ingest
from .report import FileResult, IngestReport

__all__ = ["FileResult", "IngestConfig", "IngestReport", "ingest", "load_config"]


class _CallableModule(types.ModuleType):
    """`llmopt.ingest` is both this package and the public function: once the package is imported, Python binds
    the attribute llmopt.ingest to the package, so the package forwards calls to ingest()."""

    def __call__(self, *args, **kwargs):
        return ingest(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
