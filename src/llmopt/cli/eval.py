"""`llmopt eval qa DATASET`: sweep models, prompts, strategies and budgets over a QA set (resumable), then write
results.jsonl, summary.json and report.md/.html with plots."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..errors import InputError
from .common import JSON_HELP, emit_json, err, out, progress, table
from .options import ConfigOptions, with_options
from .options import parse_list as _list  # noqa: F401  (kept under its old name for callers)


def _ids(path: str | None) -> list[str] | None:
    if not path:
        return None
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(f"--ids file not found: {file}")
    text = file.read_text(encoding="utf-8")
    data = json.loads(text) if text.lstrip().startswith(("[", "{")) else text.split()
    ids = data.get("ids") if isinstance(data, dict) else data
    if not isinstance(ids, list) or not ids:
        raise InputError(f"{file}: write a JSON list of question ids (or {{\"ids\": [...]}}), or one id per line")
    return [str(i) for i in ids]


def _options():
    from ..eval.grid import SweepConfig

    return ConfigOptions(SweepConfig, skip=("dataset", "ids"), flags={
        "index": ("--index", "-i"), "models": ("--models", "-M"), "strategies": ("--strategies", "-s"),
        "k": ("--k",), "m": ("--m",), "n": ("--n",), "per_document": ("--per-document/--shared-store",)})


def _dataset_help() -> str:
    from rich.markup import escape

    from ..eval.grid import SweepConfig

    return escape(SweepConfig.model_fields["dataset"].description or "")


def register(app: typer.Typer) -> None:
    eval_app = typer.Typer(help="Evaluate configurations on question sets: accuracy, latency and cost with CIs.",
                           no_args_is_help=True)
    app.add_typer(eval_app, name="eval")

    @eval_app.command("qa")
    @with_options(_options(), into="flags")
    def qa_cmd(
        dataset: str = typer.Argument(None, help=_dataset_help() + " With --pipeline, default: the question set "
                                      "it was measured on."),
        ids: str = typer.Option(None, "--ids", help="File of question ids to evaluate (JSON list or one per line)."),
        out_dir: str = typer.Option(None, "--out", "-o", help="Output folder (default: eval-DATASET)."),
        config: Path = typer.Option(None, "--config", help="YAML file of eval settings; flags override it."),
        pipeline: Path = typer.Option(None, "--pipeline", help="pipeline.yaml (written by `llmopt lab`): evaluate "
                                      "its one configuration (its settings as a one-point grid, its index); "
                                      "--config and flags override it."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        flags: dict | None = None,
    ) -> None:
        """Run the grid over DATASET; re-running with the same --out resumes where it stopped."""
        from ..config import load_config
        from ..eval.grid import SweepConfig
        from ..eval.runner import evaluate

        base, notes = _from_pipeline(pipeline) if pipeline else ({}, [])
        flags = {**flags, "dataset": dataset or base.pop("dataset", None), "ids": _ids(ids)}
        if not flags["dataset"]:
            raise InputError("pass DATASET (a questions file, a folder or 'demo')" +
                             (": the pipeline names no question set (measured.questions)" if pipeline else ""))
        settings = load_config(SweepConfig, config, base=base, overrides=flags, what="eval")
        for note in notes:
            err.print(f"[yellow]pipeline:[/] {note}", highlight=False)
        folder = out_dir or f"eval-{Path(settings.dataset).stem}"
        with progress() as bar:
            task = bar.add_task("starting", total=None)

            def on_event(kind: str, info: dict) -> None:
                if kind == "log":
                    err.print(f"[dim]{info['message']}[/]", highlight=False)
                elif kind == "config":
                    bar.update(task, description=info["label"][:60], total=info["total"],
                               completed=info["total"] - info["todo"])
                elif kind == "result":
                    bar.advance(task)

            summary = evaluate(settings, out=folder, on_event=on_event).to_json()  # summary.json's form
        if pipeline:
            summary["pipeline"] = {"file": str(pipeline), "notes": notes}
        if json_out:
            emit_json(summary)
            return
        render(summary, Path(folder))


def _from_pipeline(path: Path) -> tuple[dict, list[str]]:
    """A pipeline's settings as a one-point grid (SweepConfig values) and notes on what eval runs differently."""
    from ..rag.api import DEFAULT_M
    from ..rag.config import AskConfig
    from ..rag.pipeline import load_pipeline
    from ..rag.strategy import strategy_class

    pipeline = load_pipeline(path)
    s = pipeline.settings
    m = DEFAULT_M if s.m is None else s.m
    base = {"models": [s.model], "strategies": [s.strategy], "k": [s.k], "m": [m], "n": [s.n],
            "samples": [s.samples], "prompts": [s.prompt or "basic"], "max_context": [s.max_context],
            "select": s.select, "max_tokens": s.max_tokens, "step_tokens": s.step_tokens,
            "temperature": s.temperature, "seed": s.seed, "index": s.index}
    if pipeline.measured and pipeline.measured.questions:
        base["dataset"] = pipeline.measured.questions
    notes = []
    if s.demos and strategy_class(s.strategy).uses_demonstrations and m > 0:
        notes.append(f"demonstrations: the first {m} of the dataset's demonstration split (--demo-size), not the "
                     f"pipeline's pool {s.demos}: eval qa holds its demonstrations out of the question set")
    defaults = AskConfig()
    unused = [f"{key}={getattr(s, key)}" for key in ("demo_selection", "judge_model", "top_p", "prefix_cache")
              if getattr(s, key) != getattr(defaults, key)]
    if unused:
        notes.append(f"not applied by eval qa: {', '.join(unused)}")
    return {k: v for k, v in base.items() if v is not None}, notes


def render(summary: dict, folder: Path) -> None:
    metric = summary["metric"]
    rows = [(e["label"], e["count"], e["em"], e["f1"], e["acc"],
             f"[{e[f'{metric}_ci'][0]:.2f}, {e[f'{metric}_ci'][1]:.2f}]", e["evidence_recall"],
             round(e["effective_context_mean"] or 0), e["latency_p50_s"], e["latency_p95_s"], e["cost_usd_mean"],
             e["errors"]) for e in summary["configs"] if e["count"]]
    out.print(table(f"{summary['dataset']}: {summary['splits']['eval']} questions", ["configuration", "n", "EM", "F1",
                    "Acc", f"{metric} CI", "evidence recall", "eff. context", "p50 s", "p95 s", "$/q", "errors"], rows))
    best = next((e for e in summary["configs"] if e["key"] == summary["best"]), None)
    if best:
        out.print(f"Best by {metric}: {best['label']} ({best[metric]:.3f})")
    for group in summary["allocation_model"]["groups"]:
        if group.get("error"):
            err.print(f"[dim]allocation model ({group['model']}): {group['error']}[/]", highlight=False)
        else:
            err.print(f"[dim]allocation model ({group['model']}, {group['prompt']}): R² {group['r2'] or 0:.2f} on "
                      f"{group['n_points']} configurations[/]", highlight=False)
    if not summary["complete"]:
        err.print("[yellow]some questions are not answered yet (time budget or interruption); run the same command "
                  "again to continue[/]")
    out.print(f"Report: {folder / 'report.html'}")
