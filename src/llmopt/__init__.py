"""llmopt: make an LLM application better with evidence.

The public API. Names resolve lazily so that `import llmopt` stays fast and loads no engine.
"""

from __future__ import annotations

from .lazy import lazy_exports

__version__ = "0.1.0"

# public name -> "module:attribute"; each capability adds its entry points here
_API: dict[str, str] = {
    "generate": "llmopt.api:generate",
    "stream": "llmopt.api:stream",
    "get_model": "llmopt.models.registry:get_model",
    "list_models": "llmopt.models.registry:list_models",
    "Generation": "llmopt.types:Generation",
    "Usage": "llmopt.types:Usage",
    "LlmoptError": "llmopt.errors:LlmoptError",
    "run_lab": "llmopt.lab.runner:run_lab",
    "ingest": "llmopt.ingest:ingest",
    "search": "llmopt.index.search:search",
    "open_index": "llmopt.index:open_index",
    "merge": "llmopt.train.merge:run_merge",
    "ask": "llmopt.rag.api:ask",
    "Asker": "llmopt.rag.api:Asker",
    "AskConfig": "llmopt.rag.config:AskConfig",
    "Answer": "llmopt.rag.types:Answer",
    "sql_ask": "llmopt.sql.pipeline:ask",
    "sql_run": "llmopt.sql.pipeline:run_sql",
    "sql_eval": "llmopt.sql.runner:evaluate_spider",
    "SQLConfig": "llmopt.sql.config:SQLConfig",
    "TextToSQL": "llmopt.sql.pipeline:TextToSQL",
    "create_app": "llmopt.serve.app:create_app",
    "serve": "llmopt.serve.server:serve",
    "evaluate": "llmopt.eval.runner:evaluate",
    "allocate": "llmopt.eval.api:allocate_from",
    "SweepConfig": "llmopt.eval.grid:SweepConfig",
    "finetune": "llmopt.train.finetune:finetune",
    "FinetuneConfig": "llmopt.train.finetune:FinetuneConfig",
    "distill": "llmopt.train.distill:distill",
    "DistillConfig": "llmopt.train.distill:DistillConfig",
    "load_project": "llmopt.project:load_project",
    "run_search": "llmopt.optimize:run_search",
    "generate_questions": "llmopt.datagen:generate_questions",
    "load_pipeline": "llmopt.rag.pipeline:load_pipeline",
    "write_pipeline": "llmopt.rag.pipeline:write_pipeline",
}


__getattr__, __dir__ = lazy_exports(__name__, _API)
