"""The FastAPI app: an OpenAI-compatible API over llmopt's pipelines, a web page, and the reports.

    GET  /v1/models                 the presets
    POST /v1/chat/completions       answer with the pipeline named in `model` (stream: true for SSE)
    GET  /health                    liveness and queue state (no key needed)
    GET  /                          the web page (static/): ask with citations, browse reports
    GET  /api/reports[/{id}[/files/{path}]]   reports and their plots
    GET  /api/images/{name}         a cited picture from the index's images folder

    app = create_app(index="demo")                       # opens the index and loads the model now
    app = create_app(ServeConfig(...), retriever=my_retriever)
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import LlmoptError
from .admission import Admission, Ticket
from .config import ServeConfig, make_config
from .errors import ApiError, bad_request, from_llmopt, internal
from .middleware import BodyLimit, HostCheck, SecurityHeaders, host_name
from .pipelines import Pipelines
from .protocol import ChatRequest, chunk_body, completion_body, completion_id, pieces, question_of, usage_body
from .reports import Reports

log = logging.getLogger("llmopt.serve")
STATIC = Path(__file__).parent / "static"


def create_app(config: ServeConfig | None = None, *, retriever: Any = None, warm: bool = True,
               **settings: Any) -> FastAPI:
    """Open what the server shares (index, pools, database check, default model) and build the app.
    settings: ServeConfig fields, overriding `config`. Raises LlmoptError when something cannot be opened."""
    config = make_config(None, **{**(config.model_dump() if config else {}), **settings})
    pipelines = Pipelines(config, retriever=retriever)
    if warm:
        pipelines.warm()
    admission = Admission(config.limits.max_concurrent, config.limits.max_queue, config.limits.timeout_s)
    reports = Reports(config.reports, default_base=Path.cwd() if config.default_reports else None)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        admission.shutdown()
        pipelines.close()

    app = FastAPI(title="llmopt", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.config, app.state.pipelines, app.state.admission = config, pipelines, admission
    app.add_middleware(BodyLimit, limit=config.limits.max_body_bytes)
    if config.key is None or config.allowed_hosts:
        app.add_middleware(HostCheck, allowed=_host_names(config))
    app.add_middleware(SecurityHeaders)
    _error_handlers(app)
    auth = Depends(_auth(config.key))
    _api_routes(app, config, pipelines, admission, auth)
    _page_routes(app, pipelines, reports, auth)
    return app


def _host_names(config: ServeConfig) -> list[str]:
    """The Host names this server answers to besides loopback ones: the configured names and the address it
    listens on (unless that is a wildcard such as 0.0.0.0)."""
    listening = host_name(config.host)
    wildcard = listening in ("", "0.0.0.0", "::")
    return list(config.allowed_hosts) + ([] if wildcard else [listening])


def _auth(key: str | None):
    def require_key(request: Request) -> None:
        if key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
            raise ApiError(401, "missing or wrong API key: send the header 'Authorization: Bearer KEY'",
                           code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})

    return require_key


# -- the OpenAI API ---------------------------------------------------------------------------------------------
def _api_routes(app: FastAPI, config: ServeConfig, pipelines: Pipelines, admission: Admission, auth) -> None:
    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "presets": len(pipelines.presets.names()),
                "index": pipelines.retriever is not None, "sql": pipelines.db is not None,
                "auth": config.key is not None, "queue": admission.status()}

    @app.get("/v1/models", dependencies=[auth])
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [_model_card(pipelines, n) for n in pipelines.presets.names()]}

    @app.get("/v1/models/{name:path}", dependencies=[auth])
    def model(name: str) -> dict[str, Any]:
        resolved = pipelines.presets.resolve(name)
        if resolved.preset in pipelines.presets.available and resolved.name == resolved.preset:
            return _model_card(pipelines, name)
        return {"id": name, "object": "model", "created": 0, "owned_by": "llmopt",
                "llmopt": {"kind": resolved.kind, "strategy": resolved.strategy, "params": resolved.settings,
                           "model": resolved.model, "description": ""}}

    @app.get("/api/info", dependencies=[auth])
    def info() -> dict[str, Any]:
        lim = config.limits
        return {"version": __version__, "default_model": config.model,
                "default_preset": pipelines.presets.default,
                "limits": {"max_tokens": lim.max_tokens, "max_input_tokens": lim.max_input_tokens,
                           "timeout_s": lim.timeout_s},
                "unavailable": pipelines.presets.unavailable}

    @app.post("/v1/chat/completions", dependencies=[auth])
    async def chat(body: ChatRequest):
        question = question_of(body, config.limits)
        resolved = pipelines.presets.resolve(body.model)
        overrides = body.overrides()
        ticket = admission.admit()

        def work():
            return _answer(pipelines, config, resolved, question, overrides)

        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return _stream(admission, ticket, work, body.model, include_usage)
        try:
            reply = await admission.run(ticket, work)
        finally:
            ticket.abandon()  # a no-op once it ran
        return completion_body(completion_id(), body.model, reply)


def _model_card(pipelines: Pipelines, name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "llmopt",
            "llmopt": pipelines.presets.describe(name)}


def _answer(pipelines: Pipelines, config: ServeConfig, resolved, question: str, overrides):
    """Runs in a worker thread: the question's size against the model's tokenizer, then the pipeline."""
    try:
        llm = pipelines.model(resolved.model)
        tokens = llm.count_tokens(question)
        if tokens > config.limits.max_input_tokens:
            raise bad_request(f"the question is {tokens} tokens, over this server's limit of "
                              f"{config.limits.max_input_tokens}; shorten it", code="context_length_exceeded",
                              param="messages")
        return pipelines.answer(resolved, question, overrides)
    except LlmoptError as exc:
        raise from_llmopt(exc) from None


def _stream(admission: Admission, ticket: Ticket, work, model: str, include_usage: bool):
    from sse_starlette.sse import EventSourceResponse

    cid = completion_id()

    async def events():
        yield json.dumps(chunk_body(cid, model, {"role": "assistant", "content": ""}))
        try:
            reply = await admission.run(ticket, work)
        except ApiError as exc:
            yield json.dumps(exc.body)
            yield "[DONE]"
            return
        except Exception as exc:  # noqa: BLE001 - the client gets an id, the log the traceback
            yield json.dumps(_internal_error(exc).body)
            yield "[DONE]"
            return
        for piece in pieces(reply.text):
            yield json.dumps(chunk_body(cid, model, {"content": piece}))
        yield json.dumps(chunk_body(cid, model, {"citations": reply.citations}, reply.finish_reason,
                                    llmopt=reply.extra))
        if include_usage:
            yield json.dumps({**chunk_body(cid, model, {}), "choices": [], "usage": usage_body(reply.usage)})
        yield "[DONE]"

    return EventSourceResponse(events(), sep="\n", ping=10, background=BackgroundTask(ticket.abandon))


def _internal_error(exc: BaseException) -> ApiError:
    error_id = uuid.uuid4().hex[:8]
    log.error("internal error %s", error_id, exc_info=exc)
    return internal(error_id)


# -- the page, reports and pictures ----------------------------------------------------------------------------
def _page_routes(app: FastAPI, pipelines: Pipelines, reports: Reports, auth) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/reports", dependencies=[auth])
    def list_reports() -> dict[str, Any]:
        return {"reports": reports.list()}

    @app.get("/api/reports/{report_id}", dependencies=[auth])
    def get_report(report_id: str) -> dict[str, Any]:
        return reports.get(report_id)

    @app.get("/api/reports/{report_id}/files/{relpath:path}", dependencies=[auth])
    def report_file(report_id: str, relpath: str) -> FileResponse:
        path, kind = reports.file(report_id, relpath)
        return FileResponse(path, media_type=kind)

    @app.get("/api/images/{name}", dependencies=[auth])
    def image(name: str) -> FileResponse:
        path = pipelines.image_path(name)
        if path is None:
            raise ApiError(404, f"no picture '{name}' in the index", code="not_found")
        return FileResponse(path)


# -- errors -------------------------------------------------------------------------------------------------------
def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(LlmoptError)
    async def llmopt_error(request: Request, exc: LlmoptError) -> JSONResponse:
        return await api_error(request, from_llmopt(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return await api_error(request, bad_request(_validation_message(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "not found" if exc.status_code == 404 else str(exc.detail)
        return await api_error(request, ApiError(exc.status_code, message, code=f"http_{exc.status_code}"))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return await api_error(request, _internal_error(exc))


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors()[:5]:
        if error.get("type") == "json_invalid":
            return "the request body is not valid JSON"
        if tuple(error.get("loc", ())) == ("body",):
            return "the request body must be a JSON object (Content-Type: application/json)"
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        problems.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(problems)
