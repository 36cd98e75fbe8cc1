"""`llmopt index info|list|serve|remove`: look after indexes."""

from __future__ import annotations

import shutil

import typer

from .common import JSON_HELP, emit_json, human_bytes, out, table

index_app = typer.Typer(help="Inspect, share and remove indexes.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")


@index_app.command("info")
def info_cmd(
    index: str = typer.Argument(..., help="Index name, folder path or milvus:// URI."),
    files: bool = typer.Option(False, "--files", help="List every file with its chunks."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Files, chunks per type, embedder and store location of an index."""
    from ..index import open_index

    with open_index(index, recover=False) as idx:
        info = idx.info()
        entries = idx.sources() if files or json_out else []
    if json_out:
        emit_json(dict(info, files_list=[e.to_dict() for e in entries]))
        return
    rows = [(key, value if not isinstance(value, dict) else " ".join(f"{k}:{v}" for k, v in value.items()))
            for key, value in info.items()]
    out.print(table(f"Index {index}", ["", ""], rows))
    if files:
        out.print(table("Files", ["source", "kind", "chunks", "types", "pages", "bytes"],
                        [(e.source, e.kind, e.chunks, " ".join(f"{k}:{v}" for k, v in sorted(e.by_type.items())),
                          e.pages, human_bytes(e.size or 0)) for e in entries]))


@index_app.command("list")
def list_cmd(json_out: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Indexes under LLMOPT_HOME/indexes (without opening them)."""
    import json

    from ..paths import indexes_dir

    rows = []
    for folder in sorted(p for p in indexes_dir().iterdir() if (p / "index.json").is_file()):
        config = json.loads((folder / "index.json").read_text())
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        rows.append({"name": folder.name, "embedder": config.get("embedder"), "dim": config.get("dim"),
                     "bytes": size, "folder": str(folder)})
    if json_out:
        emit_json({"indexes": rows})
        return
    out.print(table("Indexes", ["name", "embedder", "dim", "size", "folder"],
                    [(r["name"], r["embedder"], r["dim"], human_bytes(r["bytes"]), r["folder"]) for r in rows]))


@index_app.command("serve")
def serve_cmd(
    index: str = typer.Argument(..., help="Index name or folder path (a Milvus Lite index)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(19530, "--port", help="Port (Milvus's usual one by default)."),
) -> None:
    """Serve a Milvus Lite index over Milvus's gRPC API, so several processes can use it at once (Milvus Lite
    locks its folder to one process). While it runs, `--index NAME` in other processes goes through it, and
    milvus://HOST:PORT/chunks reaches it from anywhere."""
    from ..index.serve import serve_index

    serve_index(index, host=host, port=port)


@index_app.command("remove")
def remove_cmd(
    index: str = typer.Argument(..., help="Index name or folder path."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Delete an index (its folder, or for a milvus:// URI the collection and its local manifest)."""
    from ..errors import ConfigError
    from ..index import open_index, parse_index_spec

    location = parse_index_spec(index)
    if not location.is_remote and not (location.folder / "index.json").is_file():
        raise ConfigError(f"no index '{index}' at {location.folder}")
    if not yes and not typer.confirm(f"Delete index {index} ({location.display})?"):
        raise typer.Exit(1)
    if location.is_remote:
        with open_index(index, recover=False) as idx:
            idx.store.drop()
    shutil.rmtree(location.folder, ignore_errors=True)
    out.print(f"removed {index}")
