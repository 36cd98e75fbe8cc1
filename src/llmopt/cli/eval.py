"""`llmopt eval qa DATASET`: sweep models, prompts, strategies and budgets over a QA set (resumable), then write
results.jsonl, summary.json and report.md/.html with plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from ..errors import ConfigError, InputError
from .common import JSON_HELP, emit_json, err, out, progress, table


def _help(field: str) -> str:
    from rich.markup import escape

    from ..eval.grid import SweepConfig

    return escape(SweepConfig.model_fields[field].description or "")


def _list(text: str | None, cast=str, what: str = "") -> list[Any] | None:
    """'1,5,10' -> [1, 5, 10]; 'none' in --max-context means no budget."""
    if text is None:
        return None
    values = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.lower() == "none" and cast is not str:
            values.append(None)
            continue
        try:
            values.append(cast(part))
        except ValueError:
            raise ConfigError(f"{what} '{text}': write comma-separated values, e.g. 1,5,10") from None
    return values


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


def register(app: typer.Typer) -> None:
    eval_app = typer.Typer(help="Evaluate configurations on question sets: accuracy, latency and cost with CIs.",
                           no_args_is_help=True)
    app.add_typer(eval_app, name="eval")

    @eval_app.command("qa")
    def qa_cmd(
        dataset: str = typer.Argument(..., help=_help("dataset")),
        index: str = typer.Option(None, "--index", "-i", help=_help("index")),
        models: str = typer.Option(None, "--models", "-M", help="Comma-separated model specs (default: default)."),
        prompts: str = typer.Option(None, "--prompts", help="Comma-separated prompt templates (default: basic)."),
        strategies: str = typer.Option(None, "--strategies", "-s", help="Comma-separated: none,rag,drag,iterdrag."),
        k: str = typer.Option(None, "--k", help="Documents per question, e.g. 1,5,10 (default 5)."),
        m: str = typer.Option(None, "--m", help="Demonstrations for drag/iterdrag, e.g. 0,2,4 (default 4)."),
        n: str = typer.Option(None, "--n", help="Most IterDRAG follow-ups, e.g. 1,3 (default 3)."),
        samples: str = typer.Option(None, "--samples", help="Answers sampled per question, e.g. 1,3 (default 1)."),
        max_context: str = typer.Option(None, "--max-context", help="Effective-context budgets, e.g. 4000,8000."),
        limit: int = typer.Option(None, "--limit", help=_help("limit")),
        ids: str = typer.Option(None, "--ids", help="File of question ids to evaluate (JSON list or one per line)."),
        out_dir: str = typer.Option(None, "--out", "-o", help="Output folder (default: eval-DATASET)."),
        fmt: str = typer.Option(None, "--format", help=_help("format")),
        demo_size: int = typer.Option(None, "--demo-size", help=_help("demo_size") + " (default 8)"),
        train_size: int = typer.Option(None, "--train-size", help=_help("train_size")),
        max_tokens: int = typer.Option(None, "--max-tokens", help=_help("max_tokens")),
        seed: int = typer.Option(None, "--seed", help=_help("seed")),
        metric: str = typer.Option(None, "--metric", help=_help("metric") + " (default acc)"),
        concurrency: int = typer.Option(None, "--concurrency", help=_help("concurrency")),
        per_document: bool = typer.Option(None, "--per-document/--shared-store", help=_help("per_document")),
        retry_errors: bool = typer.Option(False, "--retry-errors", help=_help("retry_errors")),
        max_minutes: float = typer.Option(None, "--max-minutes", help=_help("max_minutes")),
        config: Path = typer.Option(None, "--config", help="YAML file of eval settings; flags override it."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Run the grid over DATASET; re-running with the same --out resumes where it stopped."""
        from ..eval.grid import SweepConfig
        from ..eval.runner import evaluate

        flags = dict(dataset=dataset, index=index, models=_list(models), prompts=_list(prompts),
                     strategies=_list(strategies), k=_list(k, int, "--k"), m=_list(m, int, "--m"),
                     n=_list(n, int, "--n"), samples=_list(samples, int, "--samples"),
                     max_context=_list(max_context, int, "--max-context"), limit=limit, ids=_ids(ids), format=fmt,
                     demo_size=demo_size, train_size=train_size, max_tokens=max_tokens, seed=seed, metric=metric,
                     concurrency=concurrency, per_document=per_document, retry_errors=retry_errors or None,
                     max_minutes=max_minutes)
        settings = SweepConfig.from_yaml(config, **flags) if config else SweepConfig.make(None, **flags)
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
        if json_out:
            emit_json(summary)
            return
        render(summary, Path(folder))


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
