"""Document ingestion: PDF, DOCX, PPTX, HTML, Markdown, text and images -> structure-aware chunks with
provenance -> a hybrid Milvus index (llmopt.index).

    from llmopt.ingest import ingest, IngestConfig
    report = ingest(["docs/"], index="docs", config=IngestConfig(chunk_tokens=200))
    print(report.summary(), [f.reason for f in report.failures])
"""

from .config import IngestConfig, load_config
from .pipeline import ingest
from .report import FileResult, IngestReport

__all__ = ["FileResult", "IngestConfig", "IngestReport", "ingest", "load_config"]
