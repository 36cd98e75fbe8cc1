"""ASGI middleware: a Host-header check (DNS rebinding), a request-body size limit (413 before any parsing) and
security headers on every response."""

from __future__ import annotations

import ipaddress
import json

from .errors import ApiError

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
                                 b"script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
]


LOOPBACK_NAMES = frozenset({"localhost"})


def host_name(header: str) -> str:
    """The name in a Host header, lowercased, without port, brackets or a final dot: "[::1]:8000" -> "::1"."""
    host = header.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def is_loopback_name(name: str) -> bool:
    """localhost or a loopback address literal (127.0.0.0/8, ::1): no DNS lookup, which rebinding controls."""
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class HostCheck:
    """Answer only requests whose Host header names this server: a loopback name, or one of `allowed`.

    Without an API key the server trusts whoever reaches it on loopback, and a web page can reach loopback
    through DNS rebinding (its own name re-pointed at 127.0.0.1): the browser then sends the page's name as Host.
    Refusing names this server was not told about closes that door. A request without a Host header (HTTP/1.0
    from a script, never a browser) passes."""

    def __init__(self, app, allowed: list[str]):
        self.app = app
        self.allowed = frozenset(allowed)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or "*" in self.allowed:
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"host")
        name = host_name(header.decode("latin-1")) if header is not None else None
        if name is None or is_loopback_name(name) or name in self.allowed:
            await self.app(scope, receive, send)
            return
        error = ApiError(400, f"this server does not answer to the host name '{name[:100]}'; reach it as "
                         "localhost or 127.0.0.1, or have the operator add the name with --allowed-host NAME",
                         code="host_not_allowed")
        await _send_error(send, error)


class BodyLimit:
    """Reject bodies over `limit` bytes with 413: by Content-Length when given, else while reading (chunked).
    The body is buffered (it is small by construction) and replayed to the app."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._too_large(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                await self._too_large(send)
                return
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _too_large(self, send) -> None:
        error = ApiError(413, f"request body over this server's limit of {self.limit} bytes; send a shorter "
                         "question", code="body_too_large")
        await _send_error(send, error)


async def _send_error(send, error: ApiError) -> None:
    body = json.dumps(error.body).encode()
    await send({"type": "http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect, when it comes

    return replay


class SecurityHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in SECURITY_HEADERS
                                                                        if h[0] not in names]
            await send(message)

        await self.app(scope, receive, with_headers)
