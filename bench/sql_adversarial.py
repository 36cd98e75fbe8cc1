"""Hostile SQL through the safe executor: does every query return near its limit, with memory bounded and the
database unchanged?

    .venv/bin/python bench/sql_adversarial.py                 # every query, 1 s limit (~1 minute)
    .venv/bin/python bench/sql_adversarial.py --only trim,printf

Each query runs through `SafeDatabase.execute` (display mode, 20 rows) on a copy of the demo bookshop database,
with the limit given by --timeout. Recorded per query: the wall time until execute returned (a kill included),
the outcome (rows or the error's first words), the peak RSS of this process and of the query's child process
(psutil, sampled every 5 ms), and whether the database file's sha256 is unchanged. Then the wall time of a plain
query right after (a killed child is replaced then). Results: bench/results/sql_adversarial.json and a table on
stdout. Target: every query returns within 1.5 x the limit; RSS bounded; the database byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "results" / "sql_adversarial.json"

ROWS = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT {n}) "
HOSTILE: dict[str, str] = {
    # the cases
    "printf-40x1e9": "SELECT " + ", ".join(["length(printf('%.*c', 1000000000, 'x'))"] * 40),
    "printf-1e9": "SELECT printf('%.*c', 1000000000, 'x')",
    "blobs-20x99MB": "SELECT zeroblob(99000000) FROM books LIMIT 20",
    "recursive-endless": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
    # amplification
    "printf-width": "SELECT printf('%*d', 1000000000, 1), printf('%1000000000c', 'x')",
    "replace-nest": "SELECT length(replace(replace(replace(hex(zeroblob(100000)), '0', '00'), '0', '00'), '0', '00'))",
    "zeroblob-5MB": "SELECT length(zeroblob(5000000))",
    "randomblob-rows": "SELECT randomblob(999999) FROM books AS a, books AS b",
    "group-concat": "SELECT length(group_concat(hex(zeroblob(500)))) FROM books AS a, books AS b, books AS c",
    "wide-row-128x1MB": "SELECT " + ", ".join(f"zeroblob(999999) AS c{i}" for i in range(128)),
    "wide-row-129": "SELECT " + ", ".join(f"{i} AS c{i}" for i in range(129)),
    "result-80MB": ROWS.format(n=100) + "SELECT x, zeroblob(999999) FROM n",
    # loops in C that never check for an interrupt
    "trim-n*m": "SELECT trim(printf('%.*c', 500000, 'a'), printf('%.*c', 50000, 'b') || 'a')",
    "instr-long": "SELECT instr(printf('%.*c', 999999, 'a'), printf('%.*c', 400000, 'a') || 'b')",
    # backtracking
    "like-backtrack": "SELECT printf('%.*c', 999999, 'a') LIKE '%" + "a%" * 300 + "b'",
    "glob-backtrack": "SELECT printf('%.*c', 999999, 'a') GLOB '*" + "a*" * 300 + "b'",
    "like-long-pattern": "SELECT 'a' LIKE '" + "%" * 5000 + "'",
    # recursion, joins, sorting
    "recursive-doubling": "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r, (SELECT 1 UNION ALL "
                          "SELECT 2)) SELECT count(*) FROM r",
    "recursive-blobs": "WITH RECURSIVE r(x, b) AS (SELECT 1, zeroblob(999999) UNION ALL SELECT x + 1, b FROM r) "
                       "SELECT count(*) FROM r",
    "cartesian-7": "SELECT count(*) FROM books a, books b, books c, books d, books e, books f, books g",
    "cartesian-sort-blobs": "SELECT length(z) FROM (SELECT zeroblob(999999) AS z FROM books a, books b, books c "
                            "ORDER BY random()) LIMIT 1",
    "window-cartesian": "SELECT sum(a.price) OVER (ORDER BY a.price, b.price, c.price, d.price) FROM books a, "
                        "books b, books c, books d ORDER BY 1 DESC LIMIT 1",
    # parser and size limits
    "deep-parens": "SELECT " + "(" * 5000 + "1" + ")" * 5000,
    "deep-subqueries": "SELECT " + "(SELECT " * 200 + "1" + ")" * 200,
    "long-expression": "SELECT 1" + " + 1" * 20000,
    "in-list-12k": "SELECT count(*) FROM books WHERE book_id IN (" + ", ".join(map(str, range(12000))) + ")",
    "sql-over-100k": "SELECT 1 WHERE 1 IN (" + ", ".join(map(str, range(30000))) + ")",
    "union-500": " UNION ALL ".join(["SELECT 1"] * 500),
    "json-tree": "SELECT count(*) FROM json_tree((SELECT '[' || group_concat('[1,[2,[3]]]') || ']' FROM books a, "
                 "books b, books c))",
    # refusals
    "surrogate": "SELECT '\ud800'",
    "write-in-cte": "WITH a AS (SELECT 1) DELETE FROM books",
    "pragma-not-listed": "SELECT * FROM pragma_user_version",
    "pragma-read": "SELECT name FROM pragma_table_info('books')",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ChildPeak:
    """Samples the RSS of this process's children (the query's sandbox) until stopped."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            for child in me.children():
                try:
                    self.peak = max(self.peak, child.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.005)

    def __enter__(self) -> "ChildPeak":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_one(db, name: str, sql: str, timeout: float, path: Path) -> dict:
    from llmopt.sql.safe import try_execute

    before = sha256(path)
    with ChildPeak() as child:
        started = time.perf_counter()
        outcome = try_execute(db, sql, timeout_s=timeout)
        wall = time.perf_counter() - started
        after_started = time.perf_counter()
        plain = try_execute(db, "SELECT count(*) FROM books")
        next_wall = time.perf_counter() - after_started
    result = f"{len(outcome.result.rows)} row(s)" + (" truncated" if outcome.result.truncated else "") \
        if outcome.ok else f"{outcome.error_type}: {outcome.error[:70]}"
    return {"name": name, "sql_chars": len(sql), "wall_s": round(wall, 3), "next_query_s": round(next_wall, 3),
            "next_query_ok": plain.ok, "outcome": result, "child_peak_rss_mb": round(child.peak / 2**20, 1),
            "self_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "db_unchanged": sha256(path) == before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--only", default="", help="comma-separated names (substrings)")
    args = parser.parse_args()
    from llmopt.demo.sql import write
    from llmopt.sql.safe import SafeDatabase

    chosen = {k: v for k, v in HOSTILE.items() if not args.only or any(s in k for s in args.only.split(","))}
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp))
        path = Path(tmp) / "sql" / "database" / "bookshop" / "bookshop.sqlite"
        first = sha256(path)
        rows = []
        with SafeDatabase(path, timeout_s=args.timeout) as db:
            for name, sql in chosen.items():
                row = run_one(db, name, sql, args.timeout, path)
                rows.append(row)
                print(f"{name:22} {row['wall_s']:6.2f} s  next {row['next_query_s']:5.2f} s  child "
                      f"{row['child_peak_rss_mb']:7.1f} MB  self {row['self_peak_rss_mb']:6.1f} MB  "
                      f"{'same' if row['db_unchanged'] else 'CHANGED'}  {row['outcome']}", flush=True)
        unchanged = sha256(path) == first
    worst = max(rows, key=lambda r: r["wall_s"])
    summary = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "timeout_s": args.timeout,
               "machine": f"{platform.machine()} {psutil.cpu_count()} CPUs, {platform.platform()}",
               "python": sys.version.split()[0], "queries": len(rows),
               "within_1.5x_limit": sum(r["wall_s"] <= 1.5 * args.timeout for r in rows),
               "worst": {"name": worst["name"], "wall_s": worst["wall_s"]},
               "max_child_peak_rss_mb": max(r["child_peak_rss_mb"] for r in rows),
               "self_peak_rss_mb": rows[-1]["self_peak_rss_mb"], "db_unchanged": unchanged, "rows": rows}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(summary, indent=2, ensure_ascii=True))
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
