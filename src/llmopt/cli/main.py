"""Entry point of the `llmopt` command."""

from __future__ import annotations

import importlib
import os
import pkgutil
import shlex
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


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"llmopt {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                          help="Print llmopt's version and exit.")) -> None:
    pass


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


def quiet_libraries() -> None:
    """Library chatter stays off the terminal unless LLMOPT_VERBOSE=1: Hugging Face's progress bars (loading
    weights, writing shards) and transformers' deprecation warnings; llama.cpp's own logs are silenced where the
    engine loads (models/llamacpp.py). Set before those libraries are imported, which read it at import."""
    if os.environ.get("LLMOPT_VERBOSE", "").strip().lower() not in ("", "0", "false", "no"):
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\..*")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\..*")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: known errors print one clean line (LLMOPT_DEBUG=1 shows the traceback)."""
    from ..runlog import finish_run, start_run

    quiet_libraries()

    args = sys.argv[1:] if argv is None else argv
    run_id = None
    status = "ok"
    try:
        if args and args[0] not in ("-h", "--help", "--version"):
            run_id = start_run(shlex.join(["llmopt", *args]))  # quoted, so a secret with spaces is masked whole
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
        aborts, usage_errors = _cli_exception_kinds()
        if isinstance(exc, aborts):
            status = "interrupted"
            raise SystemExit(130)
        if isinstance(exc, usage_errors) and hasattr(exc, "show"):  # the usage line, the error, a suggestion
            status = "error"
            exc.show()
            raise SystemExit(exc.exit_code)
        status = "error"
        message = predictable_error(exc)
        if message is None or os.environ.get("LLMOPT_DEBUG"):
            raise
        from rich.text import Text

        err.print(Text.assemble(("error: ", "bold red"), message), highlight=False)
        raise SystemExit(1)
    finally:
        if run_id:
            try:
                finish_run(status, run_id)
            except Exception:
                pass


def _cli_exception_kinds() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(aborts, usage errors) of the installed typer: older ones raise click's, newer ones (0.29+) their own
    copies of click's."""
    aborts: list[type] = [typer.Abort]
    typer_base = getattr(getattr(typer, "exceptions", None), "TyperException", None)
    usage_errors: list[type] = [typer_base] if typer_base is not None else []
    try:
        import click

        aborts.append(click.exceptions.Abort)
        usage_errors.append(click.ClickException)
    except ImportError:
        pass
    return tuple(aborts), tuple(usage_errors)


_OS_FIXES = {FileNotFoundError: "check the path", PermissionError: "check the permissions or pick another path",
             IsADirectoryError: "pass a file, not a folder", NotADirectoryError: "pass a folder, not a file",
             FileExistsError: "remove it or pick another path"}


def predictable_error(exc: Exception) -> str | None:
    """One line for errors that come from the machine or the user's files rather than from a bug in llmopt
    (a command should have turned them into an LlmoptError; this is the last line of defence). None: a bug,
    whose traceback is worth showing."""
    import json

    if isinstance(exc, OSError):
        where = " ".join(str(p) for p in (exc.filename, exc.filename2) if p)
        fix = next((f for kind, f in _OS_FIXES.items() if isinstance(exc, kind)), None)
        text = exc.strerror or str(exc) or type(exc).__name__
        return f"{text}{': ' + where if where else ''}" + (f"; {fix}" if fix else "")
    if isinstance(exc, UnicodeDecodeError):
        return (f"a file is not UTF-8 text ({exc.reason} at byte {exc.start}); pass a text file saved as UTF-8")
    if isinstance(exc, UnicodeError):
        return f"text that cannot be encoded ({exc}); remove the stray characters (lone surrogates?)"
    if isinstance(exc, json.JSONDecodeError):
        return f"a file is not valid JSON ({exc}); fix or regenerate it"
    if type(exc).__module__.startswith("yaml"):
        return f"a file is not valid YAML ({' '.join(str(exc).split())}); fix its syntax"
    return None


if __name__ == "__main__":
    main()
