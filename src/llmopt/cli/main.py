"""Entry point of the `llmopt` command."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import typer

from ..errors import LlmoptError
from .common import err

app = typer.Typer(
    name="llmopt",
    help="Make an LLM application better with evidence: accuracy, latency and cost at every rung of the ladder.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _register_commands() -> None:
    package = importlib.import_module("llmopt.cli")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name in ("main", "common") or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"llmopt.cli.{info.name}")
        if hasattr(module, "register"):
            module.register(app)


_register_commands()


_fast_exit = False


def request_fast_exit() -> None:
    """A command whose work is done and flushed may ask the console script to skip interpreter teardown
    (torch's alone takes ~0.6 s on 2 cores). Only for commands with no child processes or atexit duties:
    a Milvus Lite server, for one, is stopped at exit."""
    global _fast_exit
    _fast_exit = True


def entry() -> None:
    """The `llmopt` console script: main(), then a fast exit where the command asked for one."""
    main()
    if _fast_exit:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: known errors print one clean line (LLMOPT_DEBUG=1 shows the traceback)."""
    from ..runlog import finish_run, start_run

    args = sys.argv[1:] if argv is None else argv
    run_id = None
    status = "ok"
    try:
        if args and args[0] not in ("-h", "--help"):
            run_id = start_run("llmopt " + " ".join(args))
        code = app(args=args, prog_name="llmopt", standalone_mode=False)
        if isinstance(code, int) and code:
            status = "error"
            raise SystemExit(code)
    except KeyboardInterrupt:
        status = "interrupted"
        err.print("[yellow]interrupted[/]")
        raise SystemExit(130)
    except LlmoptError as exc:
        status = "error"
        if os.environ.get("LLMOPT_DEBUG"):
            raise
        from rich.text import Text

        err.print(Text.assemble(("error: ", "bold red"), str(exc)), highlight=False)
        raise SystemExit(1)
    except SystemExit as exc:
        status = "ok" if not exc.code else "error"
        raise
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.Abort):
            status = "interrupted"
            raise SystemExit(130)
        if isinstance(exc, click.ClickException):
            status = "error"
            exc.show()
            raise SystemExit(exc.exit_code)
        status = "error"
        raise
    finally:
        if run_id:
            try:
                finish_run(status, run_id)
            except Exception:
                pass


if __name__ == "__main__":
    main()
