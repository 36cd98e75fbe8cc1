"""An OpenAI-compatible server over llmopt's pipelines (RAG, DRAG, IterDRAG, self-consistency, text-to-SQL), with
a web page to ask questions with citations and to browse reports.

    import llmopt
    llmopt.serve(index="demo", port=8000)                # blocks; what `llmopt serve` runs
    app = llmopt.create_app(index="demo")                # the FastAPI app, to mount or run yourself
"""

import sys
import types

from .app import create_app
from .config import Limits, PresetSpec, ServeConfig, make_config
from .server import running, serve

__all__ = ["Limits", "PresetSpec", "ServeConfig", "create_app", "make_config", "running", "serve"]


class _CallableModule(types.ModuleType):
    """`llmopt.serve` names both this package and the public function: once the package is imported it shadows
    the lazy API entry, so calling the package calls the function."""

    def __call__(self, *args, **kwargs):
        return serve(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
