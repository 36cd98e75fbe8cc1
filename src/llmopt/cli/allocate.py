"""`llmopt allocate --from DIR --budget TOKENS`: fit the computation allocation model over sweep results and name
the (k, m, n) with the best predicted quality within an effective-context budget."""

from __future__ import annotations

import typer

from ..errors import ConfigError
from .common import JSON_HELP, emit_json, err, out, table


def _informativeness(values: list[str] | None) -> dict[str, list[float]] | None:
    """'hotpotqa=0.12,0.05' -> {"hotpotqa": [0.12, 0.05, 0.0]}."""
    if not values:
        return None
    found = {}
    for text in values:
        name, _, numbers = text.partition("=")
        try:
            doc, shot = (float(v) for v in numbers.split(","))
        except ValueError:
            raise ConfigError(f"--informativeness '{text}': write DATASET=I_DOC,I_SHOT, "
                              "e.g. hotpotqa=0.12,0.05") from None
        found[name.strip()] = [doc, shot, 0.0]
    return found


def register(app: typer.Typer) -> None:
    @app.command("allocate")
    def allocate_cmd(
        folders: list[str] = typer.Option(..., "--from", help="Sweep folder(s) of `llmopt eval qa` (repeat, or "
                                          "comma-separate; several datasets also fit the informativeness terms)."),
        budget: int = typer.Option(..., "--budget", help="Effective-context budget per question, in tokens."),
        metric: str = typer.Option(None, "--metric", help="acc | f1 | em (default: the sweep's)."),
        model: str = typer.Option(None, "--model", "-M", help="Model spec, when the sweeps hold several."),
        prompt: str = typer.Option(None, "--prompt", help="Prompt template, when the sweeps hold several."),
        dataset: str = typer.Option(None, "--dataset", help="Dataset to allocate for (default: the first)."),
        informativeness: list[str] = typer.Option(None, "--informativeness", help="DATASET=I_DOC,I_SHOT, when the "
                                                  "sweep cannot measure them (repeatable)."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Predict the best (k, m, n) for a budget from measured sweeps."""
        from ..eval.api import allocate_from

        dirs = [part.strip() for text in folders for part in text.split(",") if part.strip()]
        choice = allocate_from(dirs, budget, metric=metric, model=model, prompt=prompt, dataset=dataset,
                               informativeness=_informativeness(informativeness))
        if json_out:
            emit_json(choice)
            return
        render(choice)


def render(choice: dict) -> None:
    fit, best, seen = choice["fit"], choice["best"], choice["measured_best"]
    name = choice["metric"]
    if best is None:
        out.print(f"No configuration is predicted to fit {choice['budget']} tokens; raise --budget.")
    else:
        out.print(f"Best predicted within {choice['budget']} tokens on {choice['dataset']}: [bold]{best['strategy']} "
                  f"k={best['k']} m={best['m']} follow-ups={best['follow_ups']}[/] — predicted {name} "
                  f"{best['predicted']:.3f}, ~{best['predicted_effective_context']:.0f} tokens")
        rows = [(c["strategy"], c["k"], c["m"], c["follow_ups"], c["predicted"],
                 round(c["predicted_effective_context"])) for c in [best] + choice["alternatives"]]
        out.print(table("Top predictions", ["strategy", "k", "m", "follow-ups", f"predicted {name}", "tokens"], rows))
    if seen:
        out.print(f"Best measured within the budget: {seen['strategy']} k={seen['k']} m={seen['m']} n={seen['n']} — "
                  f"{name} {seen['measured']:.3f} on {seen['count']} questions, {seen['effective_context']:.0f} tokens")
    err.print(f"[dim]model {fit['model']} / {fit['prompt']}: a={[round(v, 3) for v in fit['a']]} "
              f"b={[round(v, 3) for v in fit['b']] if fit['b'] else '–'} c={fit['c']:.3f} R²={fit['r2'] or 0:.2f} "
              f"({fit['n_points']} configurations); held-out MAE "
              f"{fit['holdout_mae'] if fit['holdout_mae'] is not None else '–'}[/]", highlight=False)
    for note in fit.get("notes", []):
        err.print(f"[yellow]{note}[/]", highlight=False)
