"""The resumable sweep: every configuration of the grid over every evaluation question.

    summary = evaluate(dataset="hotpot.jsonl", out="runs/hotpot", strategies=["rag", "drag"], k=[1, 5, 10])

    out/config.json      the settings a resume must share (dataset fingerprint, splits, decoding); the grid and
                         --limit may grow between runs
    out/splits.json      the demonstration / training / evaluation ids and their sizes (train.jsonl beside it)
    out/results.jsonl    one row per question × configuration, appended (and fsynced) as each finishes
    out/retrieval.jsonl  the top retrieved evidence per question, for the recall@k table
    out/summary.json     per configuration: quality with 95% CIs, effective context, latency, cost; the
                         allocation model; paired differences
    out/report.md/.html  tables and plots (llmopt.eval.report)

A re-run skips every (configuration, question) already in results.jsonl, so a crash or Ctrl-C loses at most the
questions in flight; decoding is seeded, so the predictions and metrics come out the same. `concurrency`
questions are answered at once where the engine batches or overlaps calls (llama.cpp's continuous batching with
?parallel= above 1; HTTP servers); other local engines answer one at a time. Batched answers are not
bit-identical from run to run (which calls share a step changes llama.cpp's rounding, see README "Batched local
inference"); the default `?parallel=1` answers one call at a time, reproducibly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..concurrency import in_threads, width
from ..errors import ConfigError, EndpointError
from ..jsonl import append_jsonl, read_jsonl
from ..models.base import LLM
from ..paths import atomic_write_text
from .datasets import QADataset, QAItem, evidence_key, key_for, load_dataset
from ..rag.strategy import strategy_class
from .grid import GridPoint, SweepConfig, expand
from .metrics import recall_at_k, score_answer
from .results import EvalRecord, EvalSummary
from .splits import Splits, make_splits

GROUP_FIELDS = ("kind", "type", "level", "hops")  # item metadata the summary breaks quality down by
# ("config", {"config": GridPoint, "label", "todo", "total"}) | ("result", {"config", "record": EvalRecord})
# | ("log", {"message"})
Event = Callable[[str, dict[str, Any]], None]


def evaluate(config: SweepConfig | None = None, *, out: str | Path, llms: dict[str, LLM] | None = None,
             retriever: Any = None, on_event: Event | None = None, report: bool = True,
             **settings: Any) -> EvalSummary:
    """Run (or resume) the sweep and write results, summary and (unless report=False) the report under `out`;
    return the summary. llms / retriever: loaded objects to use instead of resolving specs (tests, notebooks)."""
    cfg = SweepConfig.make(config, **settings)
    emit = on_event or (lambda kind, info: None)
    dataset = load_dataset(cfg.dataset, format=cfg.format, per_document=cfg.per_document)
    splits = make_splits(dataset, demo=cfg.demo_size, train=cfg.train_size, eval_ids=cfg.ids, limit=cfg.limit,
                         seed=cfg.seed)
    grid = expand(cfg)
    _check_demos(grid, splits)
    out_dir = Path(out)
    _claim(out_dir, cfg, dataset, splits)
    _write_splits(out_dir, splits)
    if any(strategy_class(c.strategy).uses_retrieval for c in grid) and retriever is None:
        retriever = _open_retriever(cfg, dataset, emit)
    store = ResultStore(out_dir / "results.jsonl")
    if retriever is not None and dataset.evidence_kind:
        retrieval_pass(retriever, dataset, splits.eval, out_dir / "retrieval.jsonl", max(cfg.recall_k or [1]))
    deadline = time.monotonic() + cfg.max_minutes * 60 if cfg.max_minutes else None
    for config in grid:
        todo = [item for item in splits.eval if not store.done(config.key, item.id, cfg.retry_errors)]
        emit("config", {"config": config, "label": config.label(), "todo": len(todo), "total": len(splits.eval)})
        if todo and not _past(deadline):
            llm = (llms or {}).get(config.model)
            asker = make_asker(cfg, config, llm, retriever, splits)
            run_config(asker, config, todo, dataset, store, cfg.concurrency, emit, deadline)
    from .report import write_eval_report
    from .summary import summarize_run

    summary = summarize_run(out_dir, dataset, splits, grid, cfg)
    if _past(deadline):
        emit("log", {"message": f"stopped after {cfg.max_minutes} minutes; run the same command again to continue"})
    if report:
        write_eval_report(out_dir, summary.to_json())
    return summary


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


# -- setup ------------------------------------------------------------------------------------------------------
def _check_demos(grid: list[GridPoint], splits: Splits) -> None:
    wanted = max((c.m for c in grid if strategy_class(c.strategy).uses_demonstrations), default=0)
    if wanted > len(splits.demo):
        raise ConfigError(f"-m {wanted} needs {wanted} demonstrations but the demonstration split holds "
                          f"{len(splits.demo)}; raise --demo-size or lower --m")


def fixed_settings(cfg: SweepConfig, dataset: QADataset, splits: Splits) -> dict[str, Any]:
    """What every result in one folder must share; the grid axes and --limit may differ between runs."""
    return {"dataset": dataset.name, "fingerprint": dataset.fingerprint, "index": cfg.index,
            "embedder": cfg.embedder, "select": cfg.select, "max_tokens": cfg.max_tokens,
            "step_tokens": cfg.step_tokens, "temperature": cfg.temperature, "seed": cfg.seed,
            "per_document": cfg.per_document, "demo": [i.id for i in splits.demo],
            "train": [i.id for i in splits.train]}


def _claim(out_dir: Path, cfg: SweepConfig, dataset: QADataset, splits: Splits) -> None:
    path = out_dir / "config.json"
    current = fixed_settings(cfg, dataset, splits)
    if path.is_file():
        previous = json.loads(path.read_text(encoding="utf-8")).get("fixed", {})
        changed = sorted(k for k in set(current) | set(previous) if current.get(k) != previous.get(k))
        if changed:
            raise ConfigError(f"{out_dir} holds results of other settings ({', '.join(changed)} differ); pass "
                              "another --out, or delete the folder to start over")
    atomic_write_text(path, json.dumps({"fixed": current, "last_run": cfg.model_dump()}, indent=2))


def _write_splits(out_dir: Path, splits: Splits) -> None:
    atomic_write_text(out_dir / "splits.json", json.dumps(splits.to_dict(), indent=1))
    if splits.train:
        atomic_write_text(out_dir / "train.jsonl", "".join(
            json.dumps({"id": i.id, "question": i.question, "answer": i.answers[0], "answers": i.answers},
                       ensure_ascii=False) + "\n" for i in splits.train))


def _open_retriever(cfg: SweepConfig, dataset: QADataset, emit: Event) -> Any:
    from ..rag.api import open_retriever
    from .corpus import ensure_index

    index = cfg.index or ensure_index(dataset, embedder=cfg.embedder,
                                      on_progress=lambda message: emit("log", {"message": message}))
    return open_retriever(index)


def make_asker(cfg: SweepConfig, config: GridPoint, llm: LLM | None, retriever: Any, splits: Splits):
    from ..rag.api import Asker
    from ..rag.config import AskConfig
    from ..rag.demos import DemoPool

    declared = strategy_class(config.strategy)
    uses_demos = declared.uses_demonstrations and config.m > 0
    settings = AskConfig.make(strategy=config.strategy, k=config.k or 1, m=config.m, n=config.n,
                              samples=config.samples, select=cfg.select, prompt=config.prompt,
                              max_context=config.max_context, model=config.model, max_tokens=cfg.max_tokens,
                              step_tokens=cfg.step_tokens, temperature=cfg.temperature, seed=cfg.seed,
                              prefix_cache=_keeps_engine_state(llm, config.model))
    # the fixed selection shows the pool's first m, so the pool is cut to m: IterDRAG writes chains only for those
    pool = DemoPool.from_rows([d.demo_row() for d in splits.demo[:config.m]]) if uses_demos else None
    asker = Asker(settings, llm=llm, retriever=retriever if declared.uses_retrieval else None, pool=pool)
    if uses_demos and declared.iterative:
        asker.prepare_chains()  # before any thread starts, and outside every question's latency
    return asker


def _keeps_engine_state(llm: LLM | None, spec: str) -> bool:
    """Whether the model's backend keeps key/value state a prefix cache can reuse (remote endpoints do not)."""
    from ..models.registry import backend_of

    return (type(llm) if llm is not None else backend_of(spec)).state_adapter is not None


# -- answering --------------------------------------------------------------------------------------------------
def run_config(asker, config: GridPoint, todo: list[QAItem], dataset: QADataset, store: ResultStore,
               concurrency: int, emit: Event, deadline: float | None = None) -> None:
    def one(item: QAItem) -> None:
        if _past(deadline):
            return  # the time budget is spent: this question waits for the next run
        record = answer_item(asker, config, item, dataset.evidence_kind)
        store.append(record)
        emit("result", {"config": config, "record": record})

    # side by side where the engine batches or overlaps calls (llama.cpp's slots, an HTTP server); a transient
    # failure is re-raised after the answers that finished are stored
    in_threads(one, todo, concurrency if width(asker.llm) > 1 else 1)


def answer_item(asker, config: GridPoint, item: QAItem, evidence_kind: str | None) -> EvalRecord:
    """Answer one question and score it. A failure of this question (its prompt does not fit the budget, a model
    error) is recorded on it and scored 0; an unreachable endpoint stops the run, so a re-run retries."""
    retrieves = strategy_class(config.strategy).uses_retrieval  # else nothing was retrieved: no recall to score
    base = {"key": config.key, "id": item.id, **config.to_json(), "question": item.question, "gold": item.answers,
            "groups": {k: item.metadata[k] for k in GROUP_FIELDS if k in item.metadata}}
    started = time.perf_counter()
    try:
        answer = asker.ask(item.question, question_id=item.id, filters=item.filters)
    except EndpointError:
        raise
    except Exception as exc:  # any other failure, a bug included: one bad question never loses the sweep
        return EvalRecord(**base, prediction="", em=0.0, f1=0.0, acc=0.0, evidence=[],
                          evidence_recall=recall_at_k([], item.evidence) if retrieves else None,
                          usage={"latency_s": time.perf_counter() - started}, parse_failures=0, budget_notes=[],
                          error=f"{type(exc).__name__}: {exc}")
    keys = list(dict.fromkeys(_citation_key(c, evidence_kind) for c in answer.citations))
    return EvalRecord(**base, prediction=answer.answer, **score_answer(answer.answer, item.answers), evidence=keys,
                      evidence_recall=recall_at_k(keys, item.evidence) if retrieves else None,
                      usage=answer.to_dict()["usage"], parse_failures=answer.parse_failures,
                      budget_notes=answer.budget.notes if answer.budget else [], model_id=answer.model, error=None)


def _citation_key(citation, kind: str | None) -> str:
    return key_for(citation.chunk_id, citation.source, citation.page, kind)


def retrieval_pass(retriever: Any, dataset: QADataset, items: list[QAItem], path: Path, depth: int) -> None:
    """Search each question once (resumable) and keep the evidence keys of the top `depth` hits."""
    done = {row["id"] for row in read_jsonl(path) if row.get("depth", 0) >= depth}
    for item in items:
        if item.id in done or not item.evidence:
            continue
        hits = retriever.search(item.question, k=depth, filters=item.filters)
        keys = [evidence_key(h, dataset.evidence_kind) for h in hits]
        append_jsonl(path, {"id": item.id, "depth": depth, "retrieved": keys, "gold": item.evidence})


# -- storage ----------------------------------------------------------------------------------------------------
def read_records(path: Path) -> list[EvalRecord]:
    """The rows of a results.jsonl (a line cut short by a crash is dropped: that question is simply redone)."""
    return [EvalRecord.from_json(row) for row in read_jsonl(path)]


class ResultStore:
    """results.jsonl, read once; appends are atomic per line and thread-safe."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: dict[tuple[str, str], EvalRecord] = {}
        for record in read_records(path):
            self.rows[(record.key, record.id)] = record  # a later row (a retried error) wins

    def done(self, key: str, item_id: str, retry_errors: bool = False) -> bool:
        record = self.rows.get((key, item_id))
        return record is not None and not (retry_errors and record.error)

    def append(self, record: EvalRecord) -> None:
        append_jsonl(self.path, record.to_json())
        self.rows[(record.key, record.id)] = record
