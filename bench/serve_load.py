"""Bounded load on `llmopt serve` over loopback: throughput, latency percentiles, failures (429s counted apart),
and the server's memory sampled over the run.

    .venv/bin/python bench/serve_load.py                          # 200 requests, concurrency 8, rag-k5, default model
    .venv/bin/python bench/serve_load.py --requests 16 --run smoke   # a quick check

It starts `llmopt serve` as a subprocess over the demo corpus (written and ingested once under
LLMOPT_HOME/bench/serve_load: the three text documents and the org chart), warms it up, then sends the requests
from `--concurrency` client threads with the official openai client. Questions are the demo QA questions listed
in bench/serve_load_ids.json (those answerable from the ingested documents), request i asking question i mod 6. Every finished request is appended to bench/results/serve_load/RUN.jsonl; re-running the same --run
skips finished requests (throughput is computed per session, then pooled). The summary goes to RUN.summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import psutil

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "serve_load"
IDS_FILE = ROOT / "serve_load_ids.json"  # the demo questions whose documents the bench index holds


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=8, help="client threads sending at once")
    p.add_argument("--model", default="rag-k5", help="preset or model name sent in each request")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--max-concurrent", type=int, default=8, help="server: requests answered at once")
    p.add_argument("--server-model", default="default", help="server: its model spec (e.g. default?parallel=1 for "
                   "one call at a time)")
    p.add_argument("--max-queue", type=int, default=32, help="server: waiting requests before 429")
    p.add_argument("--warmup", type=int, default=4, help="requests sent (and not counted) before the run")
    p.add_argument("--run", default="default", help="results name: bench/results/serve_load/RUN.jsonl")
    p.add_argument("--fresh", action="store_true", help="forget earlier results of this run")
    p.add_argument("--sample-s", type=float, default=1.0, help="seconds between memory samples")
    return p.parse_args()


def prepare() -> tuple[Path, list[dict]]:
    """The demo corpus's text documents and org chart ingested once, and the fixed questions (IDS_FILE)."""
    from llmopt.demo import write_demo_data
    from llmopt.demo.qa import TEXT_DOCUMENTS
    from llmopt.paths import subdir

    work = subdir("bench", "serve_load")
    questions = work / "qa" / "questions.jsonl"
    if not questions.is_file():
        write_demo_data(work, ["corpus", "qa"])
    index = work / "index"
    if not (index / "manifest.sqlite").is_file():
        from llmopt.ingest import ingest

        files = [work / "corpus" / name for name in TEXT_DOCUMENTS + ("org_chart.png",)]
        report = ingest(files, index=str(index))
        assert report.summary()["failed"] == 0, report.summary()
    by_id = {q["id"]: q for q in map(json.loads, questions.read_text().splitlines())}
    ids = json.loads(IDS_FILE.read_text())["ids"]
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise SystemExit(f"questions {missing} are not in the demo QA set any more; update {IDS_FILE.name}")
    return index, [by_id[i] for i in ids]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: Path, args, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "llmopt.cli.main", "serve", "--index", str(index), "--port", str(port),
           "--max-concurrent", str(args.max_concurrent), "--max-queue", str(args.max_queue),
           "--model", args.server_model,
           "--log-level", "warning"]
    log = index.parent / "server.log"  # a file, not a pipe: a full pipe would stall the server
    with log.open("w") as handle:
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=handle, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not answer /health within 300 s")


class MemorySampler(threading.Thread):
    """RSS of the server process (and of it plus its children, e.g. Milvus Lite) every `every` seconds."""

    def __init__(self, pid: int, every: float):
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.every = every
        self.samples: list[tuple[float, int, int]] = []
        self.stop = threading.Event()

    def sample(self) -> tuple[float, int, int]:
        own = self.process.memory_info().rss
        children = sum(c.memory_info().rss for c in self.process.children(recursive=True) if c.is_running())
        return time.time(), own, own + children

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.samples.append(self.sample())
            except psutil.Error:
                return
            self.stop.wait(self.every)


def ask(client: openai.OpenAI, args, request_id: int, question: dict, session: str) -> dict:
    started = time.time()
    record = {"request": request_id, "question_id": question["id"], "session": session, "started": started}
    try:
        reply = client.chat.completions.create(model=args.model, max_tokens=args.max_tokens,
                                               messages=[{"role": "user", "content": question["question"]}])
        usage = reply.usage.model_extra
        record.update(status=200, answer=reply.choices[0].message.content,
                      citations=len(reply.choices[0].message.model_extra.get("citations") or []),
                      prompt_tokens=reply.usage.prompt_tokens, completion_tokens=reply.usage.completion_tokens,
                      calls=usage.get("calls"), server_latency_s=usage.get("latency_s"))
    except openai.APIStatusError as exc:
        record.update(status=exc.status_code, error=str(exc)[:300])
    except openai.APIError as exc:
        record.update(status=0, error=f"{type(exc).__name__}: {exc}"[:300])
    record["ended"] = time.time()
    record["latency_s"] = record["ended"] - started
    return record


def run_load(port: int, args, questions: list[dict], todo: list[int], out: Path, session: str) -> None:
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", timeout=600, max_retries=0)
    lock = threading.Lock()

    def one(i: int) -> None:
        record = ask(client, args, i, questions[i % len(questions)], session)
        with lock, out.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(f"  {i:4d} {record['status']} {record['latency_s']:.2f}s", file=sys.stderr, flush=True)

    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(one, todo))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarize(records: list[dict], memory: dict, args) -> dict:
    ok = [r for r in records if r["status"] == 200]
    sessions: dict[str, list[dict]] = {}
    for r in records:
        sessions.setdefault(r["session"], []).append(r)
    wall = sum(max(r["ended"] for r in rs) - min(r["started"] for r in rs) for rs in sessions.values())
    latencies = [r["latency_s"] for r in ok]
    return {
        "requests": len(records), "ok": len(ok), "rejected_429": sum(r["status"] == 429 for r in records),
        "failed": sum(r["status"] not in (200, 429) for r in records),
        "with_citations": sum(1 for r in ok if r.get("citations")), "sessions": len(sessions),
        "wall_s": round(wall, 2), "throughput_rps": round(len(ok) / wall, 4) if wall else None,
        "p50_s": round(percentile(latencies, 0.5), 3) if latencies else None,
        "p95_s": round(percentile(latencies, 0.95), 3) if latencies else None,
        # the pipeline's own time per request (retrieval and model calls, not the queue)
        "server_p50_s": round(percentile([r["server_latency_s"] for r in ok], 0.5), 3) if ok else None,
        "mean_prompt_tokens": round(statistics.mean(r["prompt_tokens"] for r in ok), 1) if ok else None,
        "mean_completion_tokens": round(statistics.mean(r["completion_tokens"] for r in ok), 1) if ok else None,
        "settings": {k: getattr(args, k) for k in ("requests", "concurrency", "model", "max_tokens",
                                                     "max_concurrent", "max_queue")},
        "memory": memory,
    }


def memory_summary(samples: list[tuple[float, int, int]]) -> dict:
    """Start, end and peak RSS, and the growth between the first and the last quarter of the run (medians), in
    MiB: a leak shows as growth that keeps pace with the requests."""
    if len(samples) < 4:
        return {"samples": len(samples)}
    mib = 1 << 20
    quarter = max(1, len(samples) // 4)
    out = {"samples": len(samples)}
    for name, column in (("server", 1), ("server_and_children", 2)):
        values = [s[column] / mib for s in samples]
        out[name] = {"start_mib": round(values[0], 1), "end_mib": round(values[-1], 1),
                     "peak_mib": round(max(values), 1),
                     "growth_first_to_last_quarter_mib": round(statistics.median(values[-quarter:]) -
                                                               statistics.median(values[:quarter]), 1)}
    return out


def main() -> None:
    args = parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{args.run}.jsonl"
    if args.fresh and out.exists():
        out.unlink()
    done = {json.loads(line)["request"] for line in out.read_text().splitlines() if line.strip()} \
        if out.exists() else set()
    todo = [i for i in range(args.requests) if i not in done]
    index, questions = prepare()
    port = free_port()
    server = start_server(index, args, port)
    try:
        warm = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", timeout=600, max_retries=0)
        for i in range(args.warmup):
            ask(warm, args, -1 - i, questions[i % len(questions)], "warmup")
        sampler = MemorySampler(server.pid, args.sample_s)
        sampler.start()
        print(f"{len(todo)} requests to send ({len(done)} already done), concurrency {args.concurrency}",
              file=sys.stderr)
        run_load(port, args, questions, todo, out, uuid.uuid4().hex[:8])
        sampler.stop.set()
        sampler.join()
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
    finally:
        server.terminate()
        server.wait(timeout=30)
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    summary = summarize([r for r in records if r["request"] < args.requests], memory_summary(sampler.samples), args)
    summary["server_queue"] = health["queue"]
    summary["machine"] = f"{os.cpu_count()} CPU cores, {psutil.virtual_memory().total / (1 << 30):.0f} GiB RAM"
    summary["date"] = time.strftime("%Y-%m-%d %H:%M")
    (RESULTS / f"{args.run}.summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
