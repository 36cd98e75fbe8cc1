"""Running the app: `serve()` (what `llmopt serve` calls) and `running()` (a server in a background thread, for
notebooks, tests and benchmarks).

A server reachable from other machines answers anyone who can reach it, with the operator's models and index:
`serve()` refuses to listen on anything but loopback without an API key.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import ConfigError
from .config import ServeConfig, make_config

MIN_KEY_CHARS = 8


def is_loopback(host: str) -> bool:
    """True when every address the host name stands for is a loopback address."""
    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        raise ConfigError(f"cannot resolve host '{host}'; pass an address such as 127.0.0.1") from None
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def check_exposure(config: ServeConfig) -> None:
    key = config.key
    if key is not None and len(key) < MIN_KEY_CHARS:
        raise ConfigError(f"the API key is shorter than {MIN_KEY_CHARS} characters; make one with "
                          "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`")
    if key is None and not is_loopback(config.host):
        raise ConfigError(f"refusing to listen on {config.host} without an API key: anyone who reaches it could "
                          "use the models and read the index; pass --api-key KEY (or set LLMOPT_API_KEY), or "
                          "listen on 127.0.0.1")


def serve(config: ServeConfig | None = None, *, app=None, log_level: str = "info", **settings: Any) -> None:
    """Check exposure, open everything (unless `app`, made by create_app from the same config, is given), and
    serve until interrupted. settings: ServeConfig fields."""
    import uvicorn

    from .app import create_app

    config = make_config(None, **{**(config.model_dump() if config else {}), **settings})
    check_exposure(config)  # before anything slow is opened
    app = app or create_app(config)
    uvicorn.run(app, host=config.host, port=config.port, log_level=log_level, server_header=False,
                proxy_headers=False, timeout_graceful_shutdown=5)


@contextmanager
def running(app, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning",
            start_timeout_s: float = 60.0) -> Iterator[str]:
    """Serve `app` from a background thread; yields its base URL (port 0 picks a free port)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, server_header=False,
                                           lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name="llmopt-serve-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ConfigError(f"the server did not start on {host}:{port}; is the port taken?")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
