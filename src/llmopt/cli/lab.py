"""`llmopt lab`: the main job. Runs the registered stages and writes report.md / report.html."""

from __future__ import annotations

import typer

from .common import JSON_HELP, emit_json, err, out, table


def register(app: typer.Typer) -> None:
    @app.command("lab")
    def lab_cmd(
        stages: str = typer.Option(None, "--stages", "-s", help="Comma-separated stages (default: all). See --list."),
        quick: bool = typer.Option(False, "--quick", help="Small, fast versions of every stage (for tests and a first look)."),
        out_dir: str = typer.Option("lab-report", "--out", "-o", help="Output folder for report.md, report.html and plots."),
        model: str = typer.Option("default", "--model", "-M", help="Model spec the stages use."),
        target: str = typer.Option(None, "--target", help="Name the cheapest configuration reaching METRIC=VALUE (CI lower bound), e.g. acc=0.6."),
        list_stages: bool = typer.Option(False, "--list", help="List the stages with their time budgets and exit."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Climb the optimization ladder on the embedded models and write one report."""
        from ..lab.registry import stages as all_stages
        from ..lab.runner import run_lab

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

        result = run_lab(stages, out=out_dir, quick=quick, model=model, target=target, on_stage=on_stage)
        if json_out:
            emit_json({
                "out": str(result.out_dir), "ok": result.ok,
                "stages": [{"title": s.title, "status": s.status, "seconds": s.seconds, "error": s.error}
                           for s in result.sections],
                "ladder": [vars(r) for r in result.ladder], "metrics": result.metrics, "target": result.target,
                "report": {k: str(v) for k, v in result.paths.items()},
            })
        else:
            if result.ladder:
                out.print(table("Ladder", ["rung", "configuration", "metric", "value", "CI", "latency s", "cost $"],
                                [(r.rung, r.config, r.metric, r.value,
                                  f"[{r.ci_low:.3f}, {r.ci_high:.3f}]" if r.ci_low is not None else None,
                                  r.latency_s, r.cost_usd) for r in result.ladder]))
            if result.target:
                best = result.target["cheapest"]
                out.print(f"Cheapest configuration reaching {target}: "
                          + (f"{best['config']} ({best['metric']}={best['value']:.3f})" if best else "none reaches it"))
            out.print(f"Report: {result.paths.get('html')}")
        if not result.ok:
            raise typer.Exit(1)
