"""Report tables for text-to-SQL evaluations: one run (sql eval) and several runs side by side (lab, bench)."""

from __future__ import annotations

from ..report import Section, Table
from ..stats import paired_bootstrap_ci
from .hardness import LEVELS

WRONG_SHOWN = 15  # wrong answers listed in a report, to see what goes wrong without reading results.jsonl


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def _ci(acc: dict) -> str:
    ci = acc.get("execution_accuracy_ci")
    return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "–"


def overview_row(label: str, summary: dict) -> list:
    per = summary["per_question"]
    return [label, summary["count"], _pct(summary["execution_accuracy"]), _ci(summary),
            *[_pct(summary["by_hardness"][level]["execution_accuracy"]) for level in LEVELS],
            per["latency_s"], per["cost_usd"], per["calls"], per["prompt_tokens"] + per["completion_tokens"],
            summary["errors"]]


OVERVIEW_COLUMNS = ["configuration", "n", "EX %", "95% CI", *[f"{level} %" for level in LEVELS], "latency s/q",
                    "cost $/q", "calls/q", "tokens/q", "errors"]


def eval_sections(summary: dict, records: list[dict]) -> list[Section]:
    overview = Table(OVERVIEW_COLUMNS, [overview_row(summary.get("label", ""), summary)],
                     "Execution accuracy (official test-suite semantics) with a 95% bootstrap CI. Latency per "
                     "question sums its model calls' latencies and the pipeline's own time; cost sums every call.")
    hardness = Table(["hardness", "n", "EX %", "95% CI"],
                     [[level, acc["count"], _pct(acc["execution_accuracy"]), _ci(acc)]
                      for level, acc in summary["by_hardness"].items()], "By Spider hardness.")
    errors = Table(["error", "count"], sorted(summary["error_types"].items(), key=lambda kv: -kv[1]),
                   "Why predictions failed to run (each counts as wrong).")
    wrong = [r for r in records if not r["correct"] and not r.get("gold_error")][:WRONG_SHOWN]
    examples = Table(["id", "hardness", "question", "gold", "predicted", "error"],
                     [[r["id"], r["hardness"], r["question"], r["gold_sql"], r["pred_sql"], r.get("error") or ""]
                      for r in wrong], f"The first {len(wrong)} wrong answers.")
    summary_text = (f"{summary['count']} questions, execution accuracy "
                    f"{_pct(summary['execution_accuracy'])}% {_ci(summary)}"
                    + (f"; {summary['gold_errors']} gold queries failed and were left out" if summary["gold_errors"]
                       else ""))
    sections = [Section("Execution accuracy", summary_text, [overview, hardness])]
    grounding_table = linking_table(summary)
    if grounding_table is not None:
        sections.append(Section("Schema linking and value grounding", "", [grounding_table]))
    if wrong:
        sections.append(Section("Errors and wrong answers", "", [errors, examples] if errors.rows else [examples]))
    return sections


def linking_table(summary: dict) -> Table | None:
    """Link recall and grounding hit rate, when the configuration linked or grounded (None otherwise)."""
    rows = []
    link = summary.get("link_recall")
    if link:
        rows += [["link recall, gold tables %", _pct(link["tables"]), link["count"]],
                 ["link recall, gold columns %", _pct(link["columns"]), link["count"]],
                 ["questions with every gold table linked %", _pct(link["all_tables"]), link["count"]]]
    grounding = summary.get("grounding_hit_rate")
    if grounding:
        rows.append(["grounding hit rate, gold literals %", _pct(grounding["rate"]),
                     f"{grounding['found']}/{grounding['literals']} literals"])
    if not rows:
        return None
    return Table(["measure", "value", "over"], rows, "Schema linking keeps the gold query's tables and columns "
                 "(recall, per question then averaged); value grounding finds the gold query's string literals "
                 "among the values it shows the model.")


def paired_table(runs: dict[str, list[dict]], baseline: str) -> Table:
    """Each run's accuracy minus the baseline's on the same questions, with a paired bootstrap CI."""
    base = {r["id"]: r for r in runs[baseline]}
    rows = []
    for label, records in runs.items():
        if label == baseline:
            continue
        shared = [r for r in records if r["id"] in base and not r.get("gold_error")]
        diff, low, high = paired_bootstrap_ci([float(r["correct"]) for r in shared],
                                              [float(base[r["id"]]["correct"]) for r in shared])
        rows.append([f"{label} − {baseline}", len(shared), _pct(diff) if shared else None,
                     f"[{100 * low:.1f}, {100 * high:.1f}]" if shared else "–"])
    return Table(["difference", "n", "Δ EX points", "95% CI (paired bootstrap)"], rows,
                 "Paired differences on the same questions: the interval to quote for 'B beats A'.")
