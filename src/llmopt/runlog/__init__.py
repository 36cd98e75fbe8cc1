"""The run log: every model call appended to SQLite (location: LLMOPT_RUNLOG or LLMOPT_HOME/runlog.db)."""

from .db import RunLog, current_run_id, finish_run, log_generation, recent_runs, run_totals, start_run

__all__ = ["RunLog", "current_run_id", "finish_run", "log_generation", "recent_runs", "run_totals", "start_run"]
