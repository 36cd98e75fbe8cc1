"""Errors the API answers with, in the OpenAI error shape: {"error": {"message", "type", "param", "code"}}.

Messages are one line and name the fix; they never carry a stack trace or a server file path (`scrub`)."""

from __future__ import annotations

import re
from typing import Any

# an absolute path (not the path part of a URL): keep only its last component
_ABS_PATH = re.compile(r"(?<![\w:/.\-~])(?:~/|/)(?:[\w.\-@+]+/)+([\w.\-@+]*)")


def scrub(message: str) -> str:
    """One line, with absolute file paths cut to their last component (and lone surrogates, which JSON
    responses cannot encode, replaced)."""
    text = " ".join(str(message).split()).encode("utf-8", "replace").decode("utf-8")
    return _ABS_PATH.sub(lambda m: m.group(1) or "<path>", text)


class ApiError(Exception):
    """An error with its HTTP status; `body` is what the client sees."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = scrub(message)
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    @property
    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, *, code: str | None = None, param: str | None = None) -> ApiError:
    return ApiError(400, message, code=code, param=param)


def unknown_model(name: str, known: list[str], unavailable: dict[str, str]) -> ApiError:
    hint = "".join(f"; {n} needs {why}" for n, why in sorted(unavailable.items()))
    return ApiError(404, f"unknown model '{name}'; presets here: {', '.join(known) or '(none)'}, or "
                    f"STRATEGY[:key=value,...][@MODEL_SPEC] with STRATEGY a preset or one of none, rag, drag, "
                    f"iterdrag{hint}", code="model_not_found", param="model")


def queue_full(active: int, waiting: int) -> ApiError:
    return ApiError(429, f"the server is busy ({active} answering, {waiting} waiting, the queue is full); "
                    "retry after a few seconds", type="rate_limit_error", code="queue_full",
                    headers={"Retry-After": "5"})


def timed_out(seconds: float, where: str) -> ApiError:
    return ApiError(504, f"no answer within the server's limit of {seconds:g} s ({where}); retry later, ask for "
                    "fewer tokens or a cheaper preset", type="timeout_error", code="timeout")


def internal(error_id: str) -> ApiError:
    return ApiError(500, f"internal error {error_id}; the server log has the details", type="server_error",
                    code="internal_error")


def from_llmopt(exc: Exception) -> ApiError:
    """Map a known llmopt error to a status: bad input 400, a failing model backend 502."""
    from ..errors import BackendError, ContextLengthError
    from ..rag.budget import ContextBudgetError

    if isinstance(exc, (ContextLengthError, ContextBudgetError)):
        return ApiError(400, str(exc), code="context_length_exceeded")
    if isinstance(exc, BackendError):
        return ApiError(502, f"the model backend failed: {exc}", type="server_error", code="backend_error")
    return ApiError(400, str(exc))
