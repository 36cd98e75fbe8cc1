"""`llmopt serve`: llmopt's pipelines behind an OpenAI-compatible API, with a web page at / for people."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import JSON_HELP, emit_json, err, table

HELP = """Serve presets (rag-k5, rag-k5-sc5, drag-k5-m4, iterdrag-n3, sql-fewshot-sc, ...) as models of an
OpenAI-compatible API: GET /v1/models, POST /v1/chat/completions (stream too), GET /health, and a web page at /.

A model name may carry parameters and a model spec: iterdrag:k=5,n=3@default.

The index is opened once and held by this process (Milvus Lite locks its folder). To ingest into it while serving,
run `llmopt index serve INDEX` first and start both `llmopt serve` and `llmopt ingest` after it; otherwise stop
the server, ingest, and start it again."""


def register(app: typer.Typer) -> None:
    @app.command(help=HELP)
    def serve(
        index: str = typer.Option(None, "--index", "-i", help="Index the rag presets search (`llmopt ingest`)."),
        db: str = typer.Option(None, "--db", help="SQLite file: enables the text-to-SQL presets (read-only)."),
        host: str = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1); any other "
                                 "than loopback needs --api-key."),
        port: int = typer.Option(None, "--port", "-p", help="Port (default 8000; 0 picks a free one)."),
        config: Path = typer.Option(None, "--config", help="YAML file of serve settings and presets; flags "
                                    "override it."),
        api_key: str = typer.Option(None, "--api-key", envvar="LLMOPT_API_KEY",
                                    help="Clients must send 'Authorization: Bearer KEY' (env LLMOPT_API_KEY)."),
        model: str = typer.Option(None, "--model", "-M", help="Model of presets that name none (default: "
                                  "default)."),
        demos: str = typer.Option(None, "--demos", help="Demonstration pool JSONL (enables drag-k5-m4)."),
        pipeline: str = typer.Option(None, "--pipeline", help="pipeline.yaml (written by `llmopt lab`): served "
                                     "under its name and as the default model (the names 'default' and its model "
                                     "spec), with its index and demonstrations; refused when they are missing."),
        sql_examples: str = typer.Option(None, "--sql-examples", help="Text-to-SQL example pool (default: the "
                                         "built-in cross-domain pool)."),
        reports: list[str] = typer.Option(None, "--reports", help="Folder of `llmopt lab`/`llmopt eval` reports "
                                          "(repeatable; ./lab-report and ./eval-* are always listed)."),
        allow_model: list[str] = typer.Option(None, "--allow-model", help="Glob of model specs clients may name "
                                              "after '@' (repeatable), e.g. 'openai:*'."),
        allowed_host: list[str] = typer.Option(None, "--allowed-host", help="Host name clients reach the server by "
                                               "besides localhost/127.0.0.1/::1 (repeatable), e.g. llm.lan; other "
                                               "Host headers get 400 (DNS rebinding). '*' allows any."),
        max_concurrent: int = typer.Option(None, "--max-concurrent", help="Requests answered at once (default 8)."),
        max_queue: int = typer.Option(None, "--max-queue", help="Requests waiting; more get 429 (default 32)."),
        timeout: float = typer.Option(None, "--timeout", help="Per-request limit in seconds (default 300)."),
        max_tokens: int = typer.Option(None, "--max-tokens", help="Most answer tokens a request may ask for "
                                       "(default 512)."),
        check: bool = typer.Option(False, "--check", help="Open everything, list the presets, and exit."),
        log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP + " (with --check)"),
    ) -> None:
        from ..serve.app import create_app
        from ..serve.config import make_config
        from ..serve.server import check_exposure
        from ..serve.server import serve as run_server

        limits = {k: v for k, v in dict(max_concurrent=max_concurrent, max_queue=max_queue, timeout_s=timeout,
                                        max_tokens=max_tokens).items() if v is not None}
        settings = make_config(config, index=index, db=db, host=host, port=port, api_key=api_key, model=model,
                               demos=demos, pipeline=pipeline, sql_examples=sql_examples, reports=reports,
                               allow_models=allow_model, allowed_hosts=allowed_host, limits=limits)
        check_exposure(settings)
        for folder in settings.reports:
            if not Path(folder).expanduser().is_dir():
                err.print(f"[yellow]warning:[/] --reports {folder} is not a folder (yet); its reports are listed "
                          "once it holds some", highlight=False)
        if not settings.index and not settings.db and not settings.pipeline:
            err.print("[yellow]no --index and no --db: only the 'none' preset (the model alone) is served[/]")
        application = create_app(settings)
        presets = application.state.pipelines.presets
        if check and json_out:
            emit_json({"presets": {n: presets.describe(n) for n in presets.names()},
                       "unavailable": presets.unavailable, "url": f"http://{settings.host}:{settings.port}"})
            return
        _print_presets(presets, settings)
        if check:
            return
        run_server(settings, app=application, log_level=log_level)


def _print_presets(presets, settings) -> None:
    rows = [(name, d["kind"], d["strategy"], ", ".join(f"{k}={v}" for k, v in d["params"].items()), d["model"],
             d["description"]) for name, d in ((n, presets.describe(n)) for n in presets.names())]
    err.print(table("presets", ["model name", "kind", "strategy", "params", "model", "description"], rows))
    for name, need in presets.unavailable.items():
        err.print(f"[dim]{name}: needs {need}[/]", highlight=False)
    if presets.default:
        err.print(f"default model: {presets.default} (also answers to 'default' and '{settings.model}')",
                  highlight=False)
    auth = "API key required" if settings.key else "no API key (loopback only)"
    err.print(f"OpenAI base URL http://{settings.host}:{settings.port}/v1 · web page http://{settings.host}:"
              f"{settings.port}/ · {auth}", highlight=False)
