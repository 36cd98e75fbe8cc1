"""`llmopt merge-search SEARCH.yaml --out DIR`: CMA-ES over a merge recipe's numbers, scored on dev tasks."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import JSON_HELP, emit_json, err, fmt, out, table


def register(app: typer.Typer) -> None:
    @app.command("merge-search")
    def merge_search_cmd(
        config: Path = typer.Argument(..., help="A search config: recipe (a mergekit YAML), search (paths and "
                                                "bounds), tasks (dev JSONL and metric), budget."),
        out_dir: Path = typer.Option(..., "--out", "-o", help="Output folder: search.db (resumable), best.yaml, "
                                                              "trials.jsonl/.csv, best-model/ with --save-model."),
        trials: int = typer.Option(None, "--trials", help="Trials in all (overrides the config; finished trials of "
                                                          "a resumed search count)."),
        seconds: float = typer.Option(None, "--seconds", help="Wall-clock budget of this run (overrides the config)."),
        seed: int = typer.Option(None, "--seed", help="Sampler seed (overrides the config)."),
        save_model: bool = typer.Option(False, "--save-model", help="Merge the best recipe into OUT/best-model."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Start again instead of resuming OUT's search."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Evolutionary merge search: optimise a recipe's weights, densities, t, lambda... for a task metric."""
        from ..train.merge.search import run_merge_search

        def on_event(kind: str, info: dict) -> None:
            if kind == "start":
                total = f"/{info['total']}" if info.get("total") else ""
                err.print(f"trial {info['trial']} ({info['done']}{total} finished): merging and scoring",
                          highlight=False)
            elif kind == "trial":
                err.print(f"trial {info['trial']}: {_outcome(info)}", highlight=False)
            elif kind == "save":
                err.print(f"merging the best recipe into {info['out']}", highlight=False)

        result = run_merge_search(config, out_dir, save_model=save_model, overwrite=overwrite,
                                  on_event=None if json_out else on_event, trials=trials, seconds=seconds, seed=seed)
        if json_out:
            emit_json(result.to_dict())
            return
        shown = [t for t in result.trials if t.state in ("complete", "failed")]
        tasks = list(dict.fromkeys(k for t in shown for k in t.scores))
        names = list(dict.fromkeys(k for t in shown for k in t.params))
        rows = [[t.number, t.state, t.value] + [t.scores.get(k) for k in tasks] + [t.params.get(n) for n in names]
                + [t.seconds] for t in shown]
        out.print(table("Trials (objective on the dev tasks)", ["trial", "state", "objective"] + tasks + names
                        + ["seconds"], rows))
        if result.best is None:
            out.print(f"no trial scored (stopped: {result.stopped}); see {result.trials_path}")
            return
        start = f" (the recipe as written: {fmt(result.start.value)})" if result.start and result.start.value is not None else ""
        out.print(f"best: trial {result.best.number}, objective {fmt(result.best.value)}{start}; "
                  f"{result.ran} trial(s) run now, {len(shown)} in all, stopped by {result.stopped}", highlight=False)
        out.print(f"best recipe: {result.recipe_path}" + (f"; model: {result.model_dir}" if result.model_dir else ""),
                  highlight=False)


def _outcome(info: dict) -> str:
    if info["state"] == "complete":
        scores = ", ".join(f"{k} {fmt(v)}" for k, v in info["scores"].items())
        return f"objective {fmt(info['value'])}" + (f" ({scores})" if scores else "") + f" in {info['seconds']:.1f} s"
    return f"{info['state']}: {info.get('error') or ''}"
