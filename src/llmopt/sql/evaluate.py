"""Execution accuracy with the semantics of the official Spider test-suite evaluation (taoyds/test-suite-sql-eval):

- results are compared as multisets of rows; row order matters only when the gold query has ORDER BY;
- a column permutation of the gold result counts as a match (SELECT a, b vs SELECT b, a);
- DISTINCT is removed from both queries before running them, as the official script does by default
  (keep_distinct=True keeps it);
- a prediction that errors, times out, is refused or exceeds the row cap is wrong.

One deliberate difference: floats are compared at 10 significant digits, so `AVG(x)` and `SUM(x) / COUNT(x)`
agree despite floating-point noise; the official script compares them exactly. Integers and integral floats are
equal (1 == 1.0), as in Python and the official script. NULL equals NULL.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .safe import EVAL_ROW_CAP, SafeDatabase, try_execute

Row = tuple[Any, ...]

_QUOTED = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")")


def normalize_value(value: Any) -> Any:
    if isinstance(value, float):
        if value != value:  # NaN: make it equal to itself
            return "NaN"
        return float(f"{value:.10g}")
    if isinstance(value, bytes):
        return value.hex()
    return value


def normalize_rows(rows: Sequence[Sequence[Any]]) -> list[Row]:
    return [tuple(normalize_value(v) for v in row) for row in rows]


def _sort_key(value: Any) -> tuple[int, Any, str]:
    # numbers by value (1 and 1.0 sort alike), everything else by type and text; never compare across the two
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, type(value).__name__, repr(value))


def _unordered_row(row: Row) -> tuple[Any, ...]:
    return tuple(sorted(row, key=_sort_key))


def _column_candidates(gold: list[Row], pred: list[Row]) -> list[list[int]]:
    """For each gold column, the prediction columns holding the same multiset of values (a valid column
    permutation can only map a column onto one of these)."""
    n = len(gold[0])
    gold_cols = [Counter(r[i] for r in gold) for i in range(n)]
    pred_cols = [Counter(r[j] for r in pred) for j in range(n)]
    return [[j for j in range(n) if pred_cols[j] == gold_cols[i]] for i in range(n)]


SEARCH_NODES = 20_000  # partial column assignments tried before a comparison gives up


class ComparisonLimitError(Exception):
    """Two results whose columns are too interchangeable to compare within SEARCH_NODES steps."""


def _find_permutation(gold: list[Row], pred: list[Row], candidates: list[list[int]], ordered: bool) -> bool:
    """Whether some column permutation makes pred equal gold (as a sequence if ordered, else as a bag).

    A depth-first search that assigns gold columns one by one, drops a partial assignment as soon as the rows
    projected onto the columns assigned so far differ, and tries identical prediction columns once per step (they
    are interchangeable). Trying every permutation took hours at 12 columns of equal values; this search is
    bounded by SEARCH_NODES and raises ComparisonLimitError past it."""
    gold_cols, pred_cols = list(zip(*gold)), list(zip(*pred))
    n = len(gold_cols)
    same = (lambda a, b: a == b) if ordered else (lambda a, b: Counter(a) == Counter(b))
    pred_class = {j: pred_cols.index(column) for j, column in enumerate(pred_cols)}
    gold_prefixes = [[()] * len(gold)]
    for column in gold_cols:
        gold_prefixes.append([row + (value,) for row, value in zip(gold_prefixes[-1], column)])
    nodes = 0

    def search(chosen: tuple[int, ...], prefix: list[tuple]) -> bool:
        nonlocal nodes
        i = len(chosen)
        if i == n:
            return True
        tried: set[int] = set()
        for j in candidates[i]:
            if j in chosen or pred_class[j] in tried:
                continue
            tried.add(pred_class[j])
            nodes += 1
            if nodes > SEARCH_NODES:
                raise ComparisonLimitError(f"the results could not be compared: over {SEARCH_NODES:,} ways to "
                                           f"match their {n} columns (many columns hold the same values)")
            extended = [row + (value,) for row, value in zip(prefix, pred_cols[j])]
            if same(extended, gold_prefixes[i + 1]) and search(chosen + (j,), extended):
                return True
        return False

    return search((), [()] * len(pred))


def results_match(gold: Sequence[Sequence[Any]], pred: Sequence[Sequence[Any]], order_matters: bool) -> bool:
    """Whether the prediction's rows equal the gold rows up to a column permutation (and, unless order matters,
    a row permutation), as bags: duplicates count."""
    gold_rows, pred_rows = normalize_rows(gold), normalize_rows(pred)
    if not gold_rows and not pred_rows:
        return True
    if len(gold_rows) != len(pred_rows) or len(gold_rows[0]) != len(pred_rows[0]):
        return False
    # cheap necessary condition: the same bag of rows once each row's values are put in a fixed order
    unordered_gold = [_unordered_row(r) for r in gold_rows]
    unordered_pred = [_unordered_row(r) for r in pred_rows]
    if (unordered_gold != unordered_pred) if order_matters else (Counter(unordered_gold) != Counter(unordered_pred)):
        return False
    return _find_permutation(gold_rows, pred_rows, _column_candidates(gold_rows, pred_rows), order_matters)


def order_matters(gold_sql: str) -> bool:
    """Row order counts only when the gold query sorts (the official rule: it has ORDER BY)."""
    return re.search(r"\border\s+by\b", gold_sql, re.I) is not None


def remove_distinct(sql: str) -> str:
    """Drop the DISTINCT keyword outside string literals (the official evaluation's default)."""
    parts = _QUOTED.split(sql)
    return "".join(p if i % 2 else re.sub(r"\bdistinct\b", " ", p, flags=re.I) for i, p in enumerate(parts))


def postprocess(sql: str) -> str:
    """Join comparison operators that tokenized SQL splits ("> =" -> ">="), as the official script does."""
    return sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")


@dataclass
class MatchOutcome:
    match: bool
    error: str | None = None  # why the prediction could not be compared (it counts as wrong)
    gold_error: str | None = None  # the gold query itself failed: the item cannot be scored


def execution_match(db: SafeDatabase, gold_sql: str, pred_sql: str, *, keep_distinct: bool = False,
                    row_cap: int = EVAL_ROW_CAP, timeout_s: float | None = None) -> MatchOutcome:
    """Run gold and prediction on the same read-only database and compare their results."""
    gold_sql, pred_sql = postprocess(gold_sql), postprocess(pred_sql)
    if not keep_distinct:
        gold_sql, pred_sql = remove_distinct(gold_sql), remove_distinct(pred_sql)
    gold = try_execute(db, gold_sql, max_rows=row_cap, truncate=False, timeout_s=timeout_s)
    if not gold.ok:
        return MatchOutcome(False, gold_error=gold.error)
    if not pred_sql.strip():
        return MatchOutcome(False, error="no SQL was produced")
    pred = try_execute(db, pred_sql, max_rows=row_cap, truncate=False, timeout_s=timeout_s)
    if not pred.ok:
        return MatchOutcome(False, error=pred.error)
    try:
        return MatchOutcome(results_match(gold.result.rows, pred.result.rows, order_matters(gold_sql)))
    except ComparisonLimitError as exc:
        return MatchOutcome(False, error=str(exc))
