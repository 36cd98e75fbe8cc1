"""Text-to-SQL: question + database in, a query that ran (or the reason none could) out, with what it cost.

    asker = TextToSQL(SQLConfig(strategy="fewshot-sc"), pool=ExamplePool(load_examples("pool.jsonl")))
    answer = asker.ask("How many singers are there?", "concert_singer.sqlite")
    answer.sql, answer.rows, answer.usage

One question runs: (value grounding -> schema linking) -> (preliminary zero-shot query for DAIL selection) ->
example selection (masked) -> N candidates (the greedy one first, then samples at temperature with seeds seed+1,
...) -> each candidate executed on the read-only database and repaired with its error message up to `repairs`
rounds -> vote by result set (vote+check: among candidates that keep to the linked schema and grounded values).
The answer's usage sums every model call it made.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..concurrency import in_threads, width
from ..errors import ConfigError
from ..models.base import LLM
from ..types import Generation, Usage, sum_usage
from .config import SQLConfig
from .examples import ExamplePool, SelectedExample, get_question_embedder, mask_example
from .grounding import ValueIndex, ValueMatch, filters_text, load_value_index, ungrounded_literals
from .linking import (MODEL_PREFILL, SchemaLink, link_schema, linked_schema, model_link_messages, outside_link,
                      parse_model_tables, schema_items, schema_summary, score_schema)
from .prompts import PREFILL, STOP_DIRECT, build_messages, extract_sql, repair_messages
from .safe import SafeDatabase, try_execute
from .schema import DatabaseSchema, read_schema
from .vote import result_key, vote, vote_checked

RAW_TEXT_CHARS = 2000  # model text kept per candidate, for debugging a wrong query
MODEL_LINK_TOKENS = 64  # the model pass names a few tables


@dataclass
class Candidate:
    sql: str
    temperature: float
    seed: int | None
    text: str = ""  # what the model wrote last for this candidate
    error: str | None = None
    error_type: str | None = None
    repairs: int = 0
    row_count: int | None = None
    too_large: bool = False  # ran, but returned more rows than row_cap: usable, not comparable, so no vote
    result_key: str | None = None
    votes: int = 0
    chosen: bool = False
    violations: list[str] = field(default_factory=list)  # vote+check: unlinked names, ungrounded values
    logprob: float | None = None  # mean token logprob of its last generation (vote+check, when the engine gives it)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SQLAnswer:
    question: str
    sql: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    error: str | None
    usage: Usage
    candidates: list[Candidate] = field(default_factory=list)
    examples: list[SelectedExample] = field(default_factory=list)
    preliminary_sql: str | None = None
    strategy: str = ""
    model: str = ""
    wall_s: float = 0.0  # wall time of this call to ask()
    latency_s: float = 0.0  # what answering costs standalone: model-call latencies + the pipeline's own time
    link: SchemaLink | None = None  # schema linking's tables and columns (None: the whole schema was shown)
    grounded: list[ValueMatch] = field(default_factory=list)  # value grounding's matches

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "sql": self.sql, "columns": self.columns, "rows": self.rows,
                "truncated": self.truncated, "error": self.error, "usage": self.usage.to_dict(),
                "candidates": [c.to_dict() for c in self.candidates],
                "examples": [e.to_dict() for e in self.examples], "preliminary_sql": self.preliminary_sql,
                "strategy": self.strategy, "model": self.model, "wall_s": self.wall_s,
                "latency_s": self.latency_s, "link": self.link.to_dict() if self.link else None,
                "grounded": [m.to_dict() for m in self.grounded]}


@dataclass
class _Context:
    """What one question's prompts are built from."""

    schema: DatabaseSchema  # the whole schema
    schema_sql: str  # what the prompt shows: the linked schema, or the whole one
    hints: str = ""  # grounded values as candidate filters
    link: SchemaLink | None = None
    grounded: list[ValueMatch] = field(default_factory=list)


class TextToSQL:
    """A configured text-to-SQL pipeline; reuse one for many questions (schemas and pool vectors are cached)."""

    def __init__(self, config: SQLConfig, pool: ExamplePool | None = None, llm: LLM | None = None):
        if config.uses_examples and not pool:
            raise ConfigError(f"strategy '{config.strategy}' needs an example pool: pass --examples FILE (question/"
                              "query pairs from other databases), or use --strategy zero")
        self.config = config
        self.pool = pool
        self._llm = llm
        self._schemas: dict[tuple[Path, int], tuple[DatabaseSchema, str, set[str]]] = {}
        self._values: dict[Path, ValueIndex] = {}
        self._item_vectors: dict[tuple[Path, int], Any] = {}
        self._embedder = None
        self._lock = threading.Lock()  # the caches and the embedder, when questions are answered side by side
        self._clock = threading.local()  # model_wall_s: wall seconds inside model calls, per thread, this ask()

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            from ..models.registry import get_model

            self._llm = get_model(self.config.model)
        return self._llm

    def schema(self, db: SafeDatabase) -> tuple[str, set[str]]:
        """The whole schema as the prompt shows it, and its identifiers."""
        _, schema_sql, identifiers = self._schema(db)
        return schema_sql, identifiers

    def database_schema(self, db: SafeDatabase) -> DatabaseSchema:
        return self._schema(db)[0]

    def _schema(self, db: SafeDatabase) -> tuple[DatabaseSchema, str, set[str]]:
        key = (db.path.resolve(), self.config.sample_values)
        if key not in self._schemas:
            schema = read_schema(db, sample_values=self.config.sample_values)
            self._schemas[key] = (schema, schema.to_sql(), schema.identifiers())
        return self._schemas[key]

    def ask(self, question: str, db_path: str | Path, *, exclude_db: str | None = None,
            deadline: float | None = None) -> SQLAnswer:
        """Answer one question over one database. exclude_db keeps that database's questions out of the
        examples (evaluation passes the question's own database). deadline (a time.monotonic() value, e.g. a
        server request's end) bounds every query, and no further candidate or repair starts after it."""
        started = time.perf_counter()
        self._clock.model_wall_s = 0.0
        cfg = self.config
        with SafeDatabase(db_path, timeout_s=cfg.timeout_s, deadline=deadline) as db:
            _, identifiers = self.schema(db)
            calls: list[Generation] = []
            context = self._context(db, question, calls)
            preliminary, examples = self._examples(question, context, identifiers, exclude_db, calls)
            shown = self._shown(examples, context.schema.db_id)
            messages = self._fit(shown, lambda chosen: build_messages(
                context.schema_sql, question, chosen, cfg.reasoning, context.hints, self._masks(chosen)))
            examples = examples[:len(shown)]
            before = (time.perf_counter() - started, self._clock.model_wall_s, sum(g.latency_s for g in calls))
            block_started = time.perf_counter()
            candidates, charged = self._candidates(db, messages, calls, deadline, context)
            block_wall = time.perf_counter() - block_started
            winner = self._select(candidates, context)
            answer = self._answer(db, question, candidates, winner, calls)
        answer.examples, answer.preliminary_sql = examples, preliminary
        answer.link, answer.grounded = context.link, context.grounded
        answer.wall_s = time.perf_counter() - started
        # a memoized call (MemoLLM) takes no wall time here but is still charged its original latency; candidates
        # answered side by side take the longest one's time
        wall_before, model_before, latency_before = before
        answer.latency_s = (latency_before + max(0.0, wall_before - model_before) + charged
                            + max(0.0, answer.wall_s - wall_before - block_wall))
        return answer

    def _candidates(self, db: SafeDatabase, messages, calls: list[Generation],
                    deadline: float | None, context: _Context) -> tuple[list[Candidate], float]:
        """The candidates, and the latency they are charged: side by side when the model answers several calls at
        once (every candidate starts; repairs stop at the deadline), else one after another until the deadline."""
        wanted = self.config.candidates

        def one(index: int) -> tuple[Candidate, list[Generation], float]:
            own: list[Generation] = []
            self._clock.model_wall_s = 0.0
            begun = time.perf_counter()
            candidate = self._candidate(db, messages, index, own, context)
            wall = time.perf_counter() - begun
            return candidate, own, sum(g.latency_s for g in own) + max(0.0, wall - self._clock.model_wall_s)

        side_by_side = wanted > 1 and width(self.llm) > 1
        if side_by_side:
            results = in_threads(one, range(wanted), width(self.llm))
        else:
            results = [one(0)]
            while len(results) < wanted and not _past(deadline):
                results.append(one(len(results)))
        for _, own, _ in results:
            calls.extend(own)
        charged = [c for _, _, c in results]
        return [c for c, _, _ in results], (max(charged) if side_by_side else sum(charged))

    # -- steps ----------------------------------------------------------------------------------------------
    def _context(self, db: SafeDatabase, question: str, calls: list[Generation]) -> _Context:
        """Value grounding, then schema linking (grounded columns count as linked): what the prompt shows."""
        cfg = self.config
        schema, schema_sql, _ = self._schema(db)
        context = _Context(schema, schema_sql)
        if cfg.value_grounding:
            from .grounding import ground_values

            context.grounded = ground_values(question, self._value_index(db, schema))
            context.hints = filters_text(context.grounded)
        if cfg.schema_linking != "none":
            context.link = self._link(db, schema, question, context.grounded, calls)
            context.schema_sql = linked_schema(schema, context.link).to_sql()
        return context

    def _value_index(self, db: SafeDatabase, schema: DatabaseSchema) -> ValueIndex:
        path = db.path.resolve()
        with self._lock:
            if path not in self._values:
                self._values[path] = load_value_index(db, schema)
            return self._values[path]

    def _embed(self, texts: list[str]):
        with self._lock:
            if self._embedder is None:
                self._embedder = get_question_embedder(self.config.embedder)
            return self._embedder.embed(texts)

    def _link(self, db: SafeDatabase, schema: DatabaseSchema, question: str, grounded: list[ValueMatch],
              calls: list[Generation]) -> SchemaLink:
        cfg = self.config
        key = (db.path.resolve(), self.config.sample_values)
        if key not in self._item_vectors:
            vectors = self._embed([text for _, _, text in schema_items(schema)])
            with self._lock:
                self._item_vectors[key] = vectors
        scores = score_schema(schema, question, self._embed, item_vectors=self._item_vectors[key],
                              valued=[(m.table, m.column) for m in grounded])
        extra: list[str] = []  # tables linked whatever their score
        if cfg.schema_linking == "embed+model":
            prompt = self.llm.apply_chat_template(model_link_messages(schema, question)) + MODEL_PREFILL
            gen = self._call(prompt, max_tokens=MODEL_LINK_TOKENS, temperature=0.0, seed=cfg.seed, stop=("]",))
            calls.append(gen)
            extra = parse_model_tables(gen.text, schema)
        held = list(dict.fromkeys(m.table for m in grounded))  # a value the question names is filtered on
        link = link_schema(schema, scores, tables=cfg.link_tables, columns=cfg.link_columns,
                           extra_tables=extra + held)
        link.model_tables = extra
        return link

    def _examples(self, question: str, context: _Context, identifiers, exclude_db, calls):
        cfg = self.config
        if not cfg.uses_examples:
            return None, []
        preliminary = None
        if cfg.preliminary:
            gen = self._generate(build_messages(context.schema_sql, question, (), False, context.hints), 0.0,
                                 cfg.seed, False)
            calls.append(gen)
            preliminary = extract_sql(gen.text, prefilled=True)
        examples = self.pool.select(question, identifiers=identifiers, k=cfg.shots, preliminary_sql=preliminary,
                                    exclude_db=exclude_db, db_id=context.schema.db_id,
                                    same_db=cfg.examples_same_db)
        return preliminary, examples

    def _shown(self, examples: list[SelectedExample], db_id: str) -> list[SelectedExample]:
        """The examples as the prompt shows them: with example_masking, those from other databases masked."""
        if not self.config.example_masking:
            return list(examples)
        return [e if e.example.db_id and e.example.db_id == db_id else
                replace(e, example=mask_example(e.example, self.pool.identifiers(e.example.db_id)))
                for e in examples]

    def _masks(self, shown: list[SelectedExample]) -> bool:
        return self.config.example_masking and bool(shown)

    def _fit(self, examples: list[SelectedExample], build):
        """Drop the least similar examples while the prompt and the answer would overflow the context."""
        budget = self.llm.context_length - self._max_tokens()
        messages = build(examples)
        while examples and self.llm.count_tokens(self._prompt(messages, self.config.reasoning)) > budget:
            examples.pop()
            messages = build(examples)
        return messages

    def _checks(self) -> bool:
        return self.config.selection == "vote+check"

    def _candidate(self, db: SafeDatabase, messages, index: int, calls: list[Generation],
                   context: _Context) -> Candidate:
        cfg = self.config
        temperature = 0.0 if index == 0 else cfg.temperature
        seed = cfg.seed + index
        gen = self._generate(messages, temperature, seed, cfg.reasoning)
        calls.append(gen)
        candidate = Candidate(extract_sql(gen.text, not cfg.reasoning), temperature, seed, gen.text[:RAW_TEXT_CHARS],
                              logprob=gen.mean_logprob)
        self._run(db, candidate)
        # vote+check: the repair turn restates the linked tables and columns
        summary = schema_summary(linked_schema(context.schema, context.link)) if (
            self._checks() and context.link) else ""
        while candidate.error and candidate.repairs < cfg.repairs and not _past(db.deadline):
            gen = self._generate(repair_messages(messages, candidate.sql, candidate.error, summary), temperature,
                                 seed, cfg.reasoning)
            calls.append(gen)
            candidate.sql = extract_sql(gen.text, not cfg.reasoning)
            candidate.text = gen.text[:RAW_TEXT_CHARS]
            candidate.logprob = gen.mean_logprob
            candidate.repairs += 1
            self._run(db, candidate)
        return candidate

    def _run(self, db: SafeDatabase, candidate: Candidate) -> None:
        outcome = try_execute(db, candidate.sql, max_rows=self.config.row_cap, truncate=True)
        candidate.error, candidate.error_type = outcome.error, outcome.error_type
        candidate.row_count = candidate.result_key = None
        candidate.too_large = bool(outcome.ok and outcome.result.truncated)
        if outcome.ok and not candidate.too_large:
            candidate.row_count = len(outcome.result.rows)
            candidate.result_key = result_key(outcome.result.rows)

    def _select(self, candidates: list[Candidate], context: _Context) -> int:
        if not self._checks():
            return self._vote(candidates)
        for candidate in candidates:
            candidate.violations = check_candidate(candidate.sql, context.schema, context.link, context.grounded)
        winner, votes = vote_checked([c.result_key for c in candidates], [not c.violations for c in candidates],
                                     [c.logprob for c in candidates])
        return self._crown(candidates, winner, votes)

    def _vote(self, candidates: list[Candidate]) -> int:
        winner, votes = vote([c.result_key for c in candidates])
        return self._crown(candidates, winner, votes)

    def _crown(self, candidates: list[Candidate], winner: int | None, votes: list[int]) -> int:
        for candidate, count in zip(candidates, votes):
            candidate.votes = count
        if winner is None:  # no comparable result: the first query that ran at all (and passed the check, if
            # one did), else the greedy one's error
            ran = [i for i, c in enumerate(candidates) if not c.error]
            winner = next((i for i in ran if not candidates[i].violations), ran[0] if ran else 0)
        candidates[winner].chosen = True
        return winner

    def _answer(self, db: SafeDatabase, question: str, candidates: list[Candidate], winner: int,
                calls: list[Generation]) -> SQLAnswer:
        cfg = self.config
        chosen = candidates[winner]
        columns, rows, truncated, error = [], [], False, chosen.error
        if chosen.sql and not chosen.error:
            outcome = try_execute(db, chosen.sql, max_rows=cfg.display_rows, truncate=True)
            if outcome.ok:
                columns, truncated = outcome.result.columns, outcome.result.truncated
                rows = [list(r) for r in outcome.result.rows]
            else:
                error = outcome.error
        return SQLAnswer(question, chosen.sql, columns, rows, truncated, error, sum_usage(calls), candidates,
                         strategy=cfg.strategy, model=self.llm.model_id)

    # -- the model ----------------------------------------------------------------------------------------
    def _max_tokens(self) -> int:
        return self.config.max_tokens * (3 if self.config.reasoning else 1)

    def _prompt(self, messages, reasoning: bool) -> str:
        return self.llm.apply_chat_template(messages) + ("" if reasoning else PREFILL)

    def _generate(self, messages, temperature: float, seed: int, reasoning: bool) -> Generation:
        extra = {"logprobs": True} if self._checks() and getattr(self.llm, "supports_logprobs", False) else {}
        return self._call(self._prompt(messages, reasoning), max_tokens=self._max_tokens(), temperature=temperature,
                          seed=seed, stop=() if reasoning else STOP_DIRECT, **extra)

    def _call(self, prompt: str, **params: Any) -> Generation:
        started = time.perf_counter()
        try:
            return self.llm.generate(prompt, **params)
        finally:  # per thread: candidates answered side by side each keep their own clock
            self._clock.model_wall_s = getattr(self._clock, "model_wall_s", 0.0) + time.perf_counter() - started


def check_candidate(sql: str, schema: DatabaseSchema, link: SchemaLink | None,
                    grounded: list[ValueMatch]) -> list[str]:
    """Why a candidate should not be chosen: schema names outside the link, and values the question names that it
    spells otherwise than the database stores them. An empty list passes."""
    if not sql:
        return ["no query"]
    problems = [f"{name} is not in the linked schema" for name in outside_link(sql, schema, link)] if link else []
    problems += [f"'{value}' is not a stored value (grounding found the stored spelling)"
                 for value in ungrounded_literals(sql, grounded)]
    return problems


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


class MemoLLM:
    """A model wrapper that answers a repeated call (same prompt, same settings, same seed) from memory.

    Strategies share calls: zero-shot's query is few-shot's preliminary query, and few-shot's greedy query is
    self-consistency's first candidate. Comparing strategies through one MemoLLM computes each shared call once;
    every strategy is still charged the call's full usage (tokens, latency, cost), as if it ran alone."""

    def __init__(self, llm: LLM):
        self.llm = llm
        self._memo: dict[tuple, Generation] = {}
        self.hits = 0

    def __getattr__(self, name: str) -> Any:  # tokenize, count_tokens, apply_chat_template, context_length, ...
        return getattr(self.llm, name)

    def generate(self, prompt: str, **params: Any) -> Generation:
        key = (prompt, tuple(sorted((k, tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in params.items())))
        if key in self._memo:
            self.hits += 1
            return replace(self._memo[key])
        gen = self.llm.generate(prompt, **params)
        self._memo[key] = replace(gen)
        return gen


def ask(question: str, db: str | Path, *, examples: str | Path | ExamplePool | None = None,
        config: SQLConfig | None = None, llm: LLM | None = None, **settings: Any) -> SQLAnswer:
    """Answer a question over a SQLite database (the Python API under `llmopt sql ask`).

    settings override the config's fields: strategy, model, shots, samples, repairs, reasoning, ..."""
    from .config import make_config
    from .examples import load_examples

    cfg = make_config(config, **settings)
    pool = examples
    if examples is not None and not isinstance(examples, ExamplePool):
        pool = ExamplePool(load_examples(examples), embedder=cfg.embedder, skeleton_threshold=cfg.skeleton_threshold)
    return TextToSQL(cfg, pool if cfg.uses_examples else None, llm).ask(question, db)


def run_sql(db: str | Path, sql: str, *, max_rows: int = 20, timeout_s: float = 10.0):
    """Run one statement through the safe executor (the API under `llmopt sql run`); raises on refusal."""
    with SafeDatabase(db, timeout_s=timeout_s) as handle:
        return handle.execute(sql, max_rows=max_rows, truncate=True)
