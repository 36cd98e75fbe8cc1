"""`llmopt runs`: recent runs from the run log, with totals."""

from __future__ import annotations

import time

import typer

from .common import JSON_HELP, emit_json, out, table


def register(app: typer.Typer) -> None:
    @app.command("runs")
    def runs_cmd(
        limit: int = typer.Option(20, "--limit", "-n", min=0, max=10**9, help="How many recent runs to "
                                   "show."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        """Show recent runs (calls, tokens, latency, cost, errors) and totals over the whole log."""
        from ..paths import runlog_path
        from ..runlog import recent_runs, run_totals

        runs, totals = recent_runs(limit), run_totals()
        if json_out:
            emit_json({"runlog": str(runlog_path()), "runs": runs, "totals": totals})
            return
        out.print(table(f"Recent runs ({runlog_path()})",
                        ["run", "started", "command", "status", "calls", "tokens in/out", "latency s", "cost $", "errors"],
                        [(r["run_id"], time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started_at"])),
                          r["command"][:60], r["status"], r["calls"], f"{r['prompt_tokens']}/{r['completion_tokens']}",
                          r["latency_s"], r["cost_usd"], r["errors"]) for r in runs]))
        out.print(f"Totals: {totals['runs']} runs with calls, {totals['calls']} calls, "
                  f"{totals['prompt_tokens']}/{totals['completion_tokens']} tokens in/out, "
                  f"{totals['latency_s']:.1f} s, ${totals['cost_usd']:.6f}, {totals['errors']} errors")
