"""`ask`: answer a question with a strategy, output selection and a context budget; returns a typed Answer.

    answer = llmopt.ask("Which region grew fastest?", index="demo", strategy="drag", k=5, m=4, demos="pool.jsonl")

For many questions, build an Asker once (it keeps the model, the index, the demonstration pool and the prefix
cache) and call `.ask(question, question_id=...)` for each.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from typing import Any

from ..concurrency import in_threads, width
from ..errors import ConfigError
from ..models.base import LLM
from ..paths import subdir
from .answers import normalize
from .budget import Budget, ContextBudgetError
from .config import AskConfig
from .demos import DemoPool, generate_chains
from .layout import document_views
from .prefix_cache import PrefixCache
from .prompts import load_template
from .run import Run, Sampling
from .select import select
from .strategy import Strategy, baseline_name, get_strategy, strategy_class
from .types import Answer, AnswerUsage, BudgetReport, Citation

DEFAULT_M = 4


def ask(question: str, *, llm: LLM | None = None, retriever: Any = None, question_id: str | None = None,
        filters: dict[str, Any] | None = None, **settings: Any) -> Answer:
    """Answer one question. settings: the fields of AskConfig (strategy, k, m, n, samples, select, prompt,
    max_context, demos, model, index, ...); `llm` and `retriever` pass loaded objects instead of specs."""
    return Asker(AskConfig.make(**settings), llm=llm, retriever=retriever).ask(question, question_id=question_id,
                                                                               filters=filters)


class Asker:
    """A configured answerer, reused across questions."""

    def __init__(self, config: AskConfig | None = None, *, llm: LLM | None = None, retriever: Any = None,
                 pool: DemoPool | None = None):
        from ..models.registry import get_model

        self.config = config or AskConfig()
        asked = strategy_class(self.config.strategy)
        self.llm = llm or get_model(self.config.model)
        self.judge_llm = get_model(self.config.judge_model) if self.config.judge_model else self.llm
        self.template = load_template(self.config.prompt or "basic")
        self.max_tokens = self.config.max_tokens or self.template.max_tokens or 48
        self.pool = pool or (DemoPool.load(self.config.demos) if self.config.demos else None)
        self.m = self._m(asked)  # before the index opens: a settings error needs no index
        self.retriever = self._retriever(asked, retriever)
        # with m = 0 some strategies are another (DRAG without demonstrations is RAG): run and label that one
        self.strategy = get_strategy(asked.canonical(self.m))
        self.notes = [] if self.strategy.name == asked.name else [
            f"{asked.name} with m=0 shows no demonstrations: answered as {self.strategy.name}"]
        self.cache = prefix_cache_for(self.llm) if self.config.prefix_cache else None
        self._chains_ready = not (self.strategy.iterative and self.pool and self.m)
        self._check()

    # -- setup ------------------------------------------------------------------------------------------------
    def _retriever(self, asked: type[Strategy], given: Any) -> Any:
        if given is not None or not asked.uses_retrieval:
            return given
        if not self.config.index:
            raise ConfigError(f"strategy {asked.name} retrieves documents: pass --index INDEX "
                              f"(build one with `llmopt ingest`) or use --strategy {baseline_name()}")
        return open_retriever(self.config.index)

    def _m(self, asked: type[Strategy]) -> int:
        if not asked.uses_demonstrations:
            return 0
        if self.config.m is None and self.pool is None and asked.needs_demonstrations():
            raise ConfigError(f"strategy {asked.name} answers with demonstrations: pass --demos FILE.jsonl "
                              f"(question/answer rows), or use --strategy {asked.without_demonstrations} (what "
                              f"{asked.name} is without them)")
        if self.config.m is None:
            return DEFAULT_M if self.pool else 0
        if self.config.m > 0 and self.pool is None:
            raise ConfigError(f"-m {self.config.m} needs a demonstration pool: pass --demos FILE.jsonl "
                              "(question/answer rows) or use -m 0")
        return self.config.m

    def _check(self) -> None:
        if self.config.select == "logprob" and self.config.samples > 1 and not self.llm.supports_logprobs:
            raise ConfigError(f"--select logprob needs token logprobs, which {self.llm.model_id} does not give; "
                              "use --select vote or --select judge")

    @property
    def needs_chains(self) -> bool:
        """IterDRAG with demonstrations some of which have no decomposition yet."""
        return not self._chains_ready and self.pool is not None and self.pool.with_chain_count < len(self.pool.demos)

    def prepare_chains(self, on_demo=None) -> dict[str, int]:
        """IterDRAG: give chain-less demonstrations a decomposition written by the model, kept only when its final
        answer matches the gold answer. Cached per pool, model and settings under LLMOPT_HOME/cache/chains."""
        self._chains_ready = True
        if self.pool is None or self.pool.with_chain_count == len(self.pool.demos):
            return {"tried": 0, "kept": 0, "had_chain": self.pool.with_chain_count if self.pool else 0}
        solver = Asker(self.config.model_copy(update={"m": 0, "samples": 1, "max_context": None,
                                                      "demos": None, "temperature": 0.0}),
                       llm=self.llm, retriever=self.retriever)
        settings = f"{self.llm.model_id}|k={self.config.k}|n={self.config.n}|{self.template.name}"
        key = f"{self.pool.fingerprint}-{hashlib.sha256(settings.encode()).hexdigest()[:12]}"
        cache_file = subdir("cache", "chains") / f"{key}.jsonl"

        def solve(demo):
            answer = solver.ask(demo.question, question_id=demo.id)
            chain = [(s.query, s.text.strip()) for s in answer.steps if s.kind == "intermediate"]
            return answer.answer, tuple(chain)

        self.pool, stats = generate_chains(self.pool, solve, cache_file, on_demo)
        return stats

    # -- answering --------------------------------------------------------------------------------------------
    def run_for(self, question: str, question_id: str | None, filters: dict[str, Any] | None) -> Run:
        return Run(question=question, llm=self.llm, template=self.template, k=self.config.k, m=self.m,
                   n=self.config.n, max_tokens=self.max_tokens, step_tokens=self.config.step_tokens,
                   retriever=self.retriever, pool=self.pool, demo_selection=self.config.demo_selection,
                   question_id=question_id, filters=filters, cache=self.cache)

    def ask(self, question: str, *, question_id: str | None = None,
            filters: dict[str, Any] | None = None) -> Answer:
        if not question or not question.strip():
            raise ConfigError("empty question; pass the question text")
        if not self._chains_ready:
            self.prepare_chains()
        started = time.perf_counter()
        run = self.run_for(question.strip(), question_id, filters)
        budget = Budget(self.config.max_context, self.llm.context_length)
        for note in self.notes:
            budget.note(note)
        candidates = self._sample(run, budget)
        judge_run = run if self.judge_llm is self.llm else _with_llm(run, self.judge_llm)
        chosen = select(self.config.select, judge_run, candidates, budget)  # shares run's calls and steps
        return self._answer(run, candidates, chosen, budget, time.perf_counter() - started)

    def _sample(self, run: Run, budget: Budget) -> list:
        """Sample answers until `samples` or the budget runs out. A one-call strategy's samples all read the same
        prompt, planned once; IterDRAG chains split what is left evenly, so later chains are not starved. When
        not even the first sample fits beside the others' shares and the judge calls, fewer samples are planned."""
        wanted = self.config.samples
        for planned in range(wanted, 0, -1):
            try:
                candidates = self._sample_n(run, budget, planned)
            except ContextBudgetError:
                if planned == 1:
                    raise
                continue
            if planned < wanted:
                budget.note(f"planned {planned} of {wanted} samples to fit the context budget")
            return candidates
        return []

    def _sample_n(self, run: Run, budget: Budget, samples: int) -> list:
        temperature = self.config.temperature
        if temperature is None:
            temperature = 0.7 if self.config.samples > 1 else 0.0
        if samples > 1 and budget.remaining is None and width(self.llm) > 1:
            return self._sample_together(run, budget, samples, temperature)
        judged = self.config.select == "judge" and samples > 1
        reserve = self._judge_reserve(run) if judged else 0
        candidates, cost = [], 0
        for i in range(samples):
            left = budget.remaining
            free = None if left is None else left - reserve * (samples - i)
            share = free if free is None or not self.strategy.iterative else free // (samples - i)
            if free is not None and (share <= 0 or (i > 0 and free < cost)):
                if i == 0:
                    raise ContextBudgetError(f"no budget left for an answer beside {reserve * samples} tokens "
                                             "of judge calls; raise --max-context")
                budget.note(f"stopped sampling after {i} of {samples} samples to stay within the budget")
                break
            sampling = Sampling(i, temperature, self.config.top_p if temperature > 0 else 1.0, self.config.seed + i,
                                logprobs=self.config.select == "logprob" and self.config.samples > 1)
            spent = budget.spent
            try:
                candidates.append(self.strategy.answer(run, budget.share(share), sampling))
            except ContextBudgetError:
                if i == 0:
                    raise
                budget.note(f"stopped sampling after {i} of {samples} samples to stay within the budget")
                break
            cost = budget.spent - spent
        return candidates

    def _sample_together(self, run: Run, budget: Budget, samples: int, temperature: float) -> list:
        """Without a context budget, samples do not depend on each other: they run side by side, so an engine that
        batches decodes them in the same steps. Each keeps its own bookkeeping, added to the question's after."""
        def one(index: int):
            sampling = Sampling(index, temperature, self.config.top_p if temperature > 0 else 1.0,
                                self.config.seed + index,
                                logprobs=self.config.select == "logprob" and self.config.samples > 1)
            own = Budget(None, budget.context_length)
            return self.strategy.answer(run, own, sampling), own

        results = in_threads(one, range(samples), width(self.llm))
        for _, own in results:
            budget.charge_through(own.spent)
            for note in own.notes:
                budget.note(note)
        return [answer for answer, _ in results]

    def _judge_reserve(self, run: Run) -> int:
        """Tokens one judge call will need: the judge prompt over the question's k documents."""
        template = load_template("judge")
        user = template.render(question=run.question, answer="x " * 16,
                               documents=document_views(run.search(run.question, run.k)))
        return run.count(self.judge_llm.apply_chat_template([{"role": "user", "content": user}]))

    def _answer(self, run: Run, candidates: list, chosen: int, budget: Budget, seconds: float) -> Answer:
        best = candidates[chosen]
        key = normalize(best.answer)
        citations = [Citation.of(h, bool(key) and f" {key} " in f" {normalize(h.chunk.text)} ") for h in best.hits]
        usage = AnswerUsage.of(run.calls, seconds)
        c = self.config
        return Answer(
            answer=best.answer, citations=citations, strategy=self.strategy.name,
            params={"k": c.k, "m": self.m, "n": c.n, "samples": c.samples, "prompt": self.template.name},
            usage=usage, model=self.llm.model_id, question=run.question, select=c.select, candidates=candidates,
            steps=run.steps, parse_failures=sum(x.parse_failures for x in candidates),
            budget=BudgetReport(c.max_context, usage.effective_context_tokens, budget.notes))


def _with_llm(run: Run, llm: LLM) -> Run:
    from dataclasses import replace

    return replace(run, llm=llm, cache=None, calls=run.calls, steps=run.steps, _token_counts={})


_prefix_caches: "weakref.WeakKeyDictionary[LLM, PrefixCache]" = weakref.WeakKeyDictionary()
_prefix_caches_lock = threading.Lock()


def prefix_cache_for(llm: LLM) -> PrefixCache:
    """One prefix cache per loaded model, shared by every Asker in the process; held beside the model (not on
    it), and dropped with it."""
    with _prefix_caches_lock:
        cache = _prefix_caches.get(llm)
        if cache is None:
            cache = _prefix_caches[llm] = PrefixCache()
        return cache


_open_indexes: dict[str, Any] = {}


def open_retriever(index: str) -> Any:
    """An index by name, path or URI (llmopt.index.open_index), opened once per process and kept open: opening
    starts the store and loads the embedder, and Milvus Lite lets one process hold a folder at a time."""
    if index in _open_indexes:
        return _open_indexes[index]
    try:
        from ..index import open_index
    except ImportError:
        raise ConfigError("this installation has no index module (llmopt.index); pass a retriever object to "
                          "ask(..., retriever=...) or use --strategy none") from None
    opened = open_index(index)
    _open_indexes[index] = opened
    if len(_open_indexes) == 1:
        import atexit

        atexit.register(close_retrievers)
    return opened


def close_retrievers() -> None:
    """Close every index open_retriever opened (their folders' locks are released)."""
    while _open_indexes:
        _, index = _open_indexes.popitem()
        close = getattr(index, "close", None)
        if close:
            close()
