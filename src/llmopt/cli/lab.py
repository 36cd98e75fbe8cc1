"""`llmopt lab`: the main job. Runs the registered stages and writes report.md / report.html."""

from __future__ import annotations

import typer

import time

from .common import JSON_HELP, emit_json, err, out, progress, table


class StageProgress:
    """One progress bar for whatever is running (a stage, the search's rungs); without a terminal (CI logs), a
    line when the label's first word changes and at most every 20 seconds otherwise."""

    def __init__(self):
        self.bar = progress(transient=True)
        self.task = None
        self.last = (0.0, "")

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        self.bar.__exit__(*exc)

    def __call__(self, label: str, done: int, total: int) -> None:
        if not self.bar.disable:
            if self.task is None:
                self.task = self.bar.add_task(label, total=total or None)
            self.bar.update(self.task, description=label[:90], completed=done, total=total or None)
            return
        now, head = time.monotonic(), label.split(" ")[0].rstrip(":")
        if head != self.last[1] or now - self.last[0] >= 20:
            self.last = (now, head)
            err.print(f"  … {label} ({done}/{total})" if total else f"  … {label}", highlight=False)

    def log(self, message: str) -> None:
        err.print(f"  {message}", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("lab")
    def lab_cmd(
        stages: str = typer.Option(None, "--stages", "-s", help="Comma-separated stages (default: all). See --list."),
        quick: bool = typer.Option(False, "--quick", help="Small, fast versions of every stage (for tests and a first look)."),
        out_dir: str = typer.Option("lab-report", "--out", "-o", help="Output folder for report.md, report.html and plots."),
        model: str = typer.Option("default", "--model", "-M", help="Model spec the stages use."),
        target: str = typer.Option(None, "--target", help="Name the cheapest configuration reaching METRIC=VALUE (CI lower bound), e.g. acc=0.6."),
        project: str = typer.Option(None, "--project", "-p", help="A project file (llmopt.yaml; see `llmopt init`): "
                                    "climb the ladder on your documents, questions and models."),
        search_minutes: float = typer.Option(None, "--search-minutes", help="The search's wall-clock budget "
                                             "(overrides the project file's search.budget.minutes)."),
        storage: str = typer.Option(None, "--storage", help="Optuna storage shared by several workers (e.g. "
                                    "postgresql://USER@HOST/DB); default: a journal file under --out."),
        full: bool = typer.Option(False, "--full", help="The full lab: every stage in full (hours on a laptop), "
                                  "instead of the demo project."),
        list_stages: bool = typer.Option(False, "--list", help="List the stages with their time budgets and exit."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Climb the optimization ladder and write one report: on your project (--project), or on the demo
        project over the generated demo corpus (the default: a budgeted search, then text-to-SQL, fine-tuning,
        distillation and merging in quick form, in minutes), or every stage in full (--full)."""
        from ..lab.registry import stages as all_stages
        from ..lab.runner import DEMO_RUNGS, run_lab

        if list_stages:
            rows = [(s.name, s.order, f"{s.budget_s:.0f} s", s.description) for s in all_stages()]
            if json_out:
                emit_json({"stages": [dict(zip(["name", "order", "budget", "description"], r)) for r in rows]})
            else:
                out.print(table("Lab stages", ["stage", "order", "budget (full)", "what it measures"], rows))
            return

        def on_stage(stage, section) -> None:
            if section is None:
                err.print(f"[bold]▶ {stage.name}[/] — {stage.description}")
            else:
                mark = "[green]✓[/]" if section.status == "ok" else f"[red]✗ {section.error}[/]"
                err.print(f"  {mark} {stage.name} ({section.seconds:.1f} s)", highlight=False)

        demo = project is None and not stages and not full and not quick
        if demo:
            from pathlib import Path

            from ..lab.demo_project import write_demo_project

            project = str(write_demo_project(Path(out_dir), minutes=search_minutes or 5))
            stages, quick = ",".join(DEMO_RUNGS), True
            err.print(f"[bold]The demo project[/] ({project}): a budgeted search over RAG configurations on the "
                      "demo corpus, then text-to-SQL, fine-tuning, distillation and merging in quick form. "
                      "`llmopt lab --full` runs every stage in full.", highlight=False)
        with StageProgress() as bar:
            result = run_lab(stages, out=out_dir, quick=quick, model=model, target=target, on_stage=on_stage,
                             project=project, search_minutes=search_minutes, storage=storage,
                             on_progress=bar, on_log=bar.log)
        if json_out:
            emit_json({
                "out": str(result.out_dir), "ok": result.ok,
                "stages": [{"title": s.title, "status": s.status, "seconds": s.seconds, "error": s.error}
                           for s in result.sections],
                "ladder": [vars(r) for r in result.ladder], "metrics": result.metrics, "target": result.target,
                "report": {k: str(v) for k, v in result.paths.items() if v},
            })
        else:
            from ..report import LADDER_COLUMNS, ladder_rows_for_people

            if result.ladder:
                out.print(table("Ladder", LADDER_COLUMNS, ladder_rows_for_people(result.ladder)))
            verdict = (result.metrics.get("project") or {}).get("qa")
            if verdict and result.paths.get("pipeline"):
                out.print(f"Winner written to {result.paths['pipeline']}: serve it with "
                          f"`llmopt serve --pipeline {result.paths['pipeline']}`")
            if result.target:
                best = result.target["cheapest"]
                out.print(f"Cheapest configuration reaching {target}: "
                          + (f"{best['config']} ({best['metric']}={best['value']:.3f})" if best else "none reaches it"))
            out.print(f"Report: {result.paths.get('html')}")
        if result.interrupted:
            err.print(f"[yellow]Interrupted[/]: partial report at {result.paths.get('html')}; run the same command "
                      "again to continue (nothing answered is answered again).")
            raise typer.Exit(130)
        if not result.ok:
            raise typer.Exit(1)
