"""Share one Milvus Lite index between processes: serve its folder over Milvus's gRPC API.

Milvus Lite locks its folder to the process that opens it. `llmopt index serve NAME` becomes that process and
writes server.json in the index folder; open_index(NAME) in any other process sees it and connects through
127.0.0.1 instead of opening the folder, so `llmopt serve` can answer while `llmopt ingest` adds files. The
manifest is SQLite and safe to share. Stop the server with Ctrl-C (or SIGTERM); server.json goes with it.
"""

from __future__ import annotations

import json
import os
import signal

from ..errors import ConfigError
from ..paths import atomic_write_text
from .index import SERVER_FILE, open_index, served_uri
from .spec import parse_index_spec


def serve_index(spec: str, host: str = "127.0.0.1", port: int = 19530) -> None:
    location = parse_index_spec(spec)
    if location.is_remote:
        raise ConfigError(f"'{spec}' is already a Milvus server; nothing to serve")
    if not (location.folder / "index.json").is_file():
        raise ConfigError(f"no index '{spec}' at {location.folder}; create it with `llmopt ingest PATH --index {spec}`")
    running = served_uri(location.folder)
    if running:
        raise ConfigError(f"index '{spec}' is already served at {running}")
    open_index(spec, recover=True).close()  # finish what an interrupted run left, while we hold the folder
    from milvus_lite.adapter.grpc.server import run_server

    marker = location.folder / SERVER_FILE
    atomic_write_text(marker, json.dumps({"pid": os.getpid(), "host": host if host != "0.0.0.0" else "127.0.0.1",
                                          "port": port}))
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(f"serving index '{spec}' on {host}:{port}: other processes use --index {spec}; "
          f"other machines milvus://{host}:{port}/{location.collection}", flush=True)
    try:
        run_server(data_dir=str(location.lite_path), host=host, port=port)
    finally:
        marker.unlink(missing_ok=True)
