"""An OpenAI-compatible server over llmopt's pipelines (RAG, DRAG, IterDRAG, self-consistency, text-to-SQL), with
a web page to ask questions with citations and to browse reports.

    from llmopt.serve import create_app, serve
    serve(index="demo", port=8000)                       # blocks; what `llmopt serve` runs
"""

from .app import create_app
from .config import Limits, PresetSpec, ServeConfig, make_config
from .server import running, serve

__all__ = ["Limits", "PresetSpec", "ServeConfig", "create_app", "make_config", "running", "serve"]
