"""`llmopt init DIR`: look at a folder and write a commented project file (llmopt.yaml) from what is there."""

from __future__ import annotations

import typer

from .common import JSON_HELP, emit_json, err, out, table


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init_cmd(
        folder: str = typer.Argument(..., help="The folder holding your documents, questions and databases."),
        force: bool = typer.Option(False, "--force", help="Overwrite an existing llmopt.yaml."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Write FOLDER/llmopt.yaml: the documents, question files and SQLite databases found, as a commented
        project file to edit."""
        from rich.markup import escape

        from ..project.template import init_project

        path, found = init_project(folder, force=force)
        problem = _problem(path)
        if json_out:
            emit_json({"path": str(path), "found": found.to_dict(), "valid": problem is None, "problem": problem})
            return
        rows = [("documents", len(found.documents), _first(found.documents)),
                ("qa questions", len(found.qa_questions), _first(found.qa_questions)),
                ("sql questions", len(found.sql_questions), _first(found.sql_questions)),
                ("sqlite databases", len(found.databases), _first(found.databases))]
        out.print(table(f"Found in {folder}", ["kind", "files", "first"], rows))
        if found.truncated:
            err.print("[yellow]the folder has more files than init looks at; check documents: in the file[/]")
        if not found.qa_questions and not (found.databases and found.sql_questions):
            err.print("[yellow]no questions file found: write one (question, answers per JSONL row) and name it "
                      "under tasks.qa.questions[/]")
        out.print(f"wrote {path} ({'it validates' if problem is None else 'not valid yet'}); edit it to "
                  "describe your problem")
        if problem is not None:
            err.print(f"[yellow]{escape(problem)}[/]")


def _problem(path) -> str | None:
    """None when the written file loads as a project, else the one-line reason."""
    from ..errors import LlmoptError
    from ..project import load_project

    try:
        load_project(path)
    except LlmoptError as exc:
        return str(exc)
    return None


def _first(paths: list[str]) -> str | None:
    return paths[0] if paths else None
