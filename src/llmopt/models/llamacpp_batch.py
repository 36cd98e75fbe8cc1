"""Continuous batching for the llama.cpp engine: several sequences advance in one `llama_decode` per step.

Decoding on a CPU is bound by reading the weights, so a step that advances eight sequences costs little more
than a step that advances one. A `Scheduler` owns one background thread per loaded model. Calls from any thread
(`LLM.generate`, `chat`, `stream`) become `Request`s in its queue; between two steps the thread admits waiting
requests while slots and key/value room allow, and a finished or cancelled request leaves at once, so a new one
joins at the next step (what vLLM and llama.cpp's server call continuous batching).

How a request runs:
  1. admission: its prompt is evaluated on the model's own context exactly as the one-at-a-time path evaluates it
     (the longest prefix that context holds is reused; a prefix cache's `prepare` restores its snapshot there
     first), then the prompt's key/value cells are moved into the request's sequence of the batch context, a
     second context on the same weights whose unified cache holds every running sequence. Samples of one prompt
     read it once: the second finds it held, and shares the first one's cells (`llama_memory_seq_cp`).
  2. decoding: every step puts each active sequence's last token into one batch; each reads its own logits,
     samples with its own settings and seed, and stops on its own stop strings, end token or max_tokens.
  3. exit: its sequence id is cleared and given to the next request.

Usage stays per sequence and exact: latency is the request's wall time from submission to its end (queueing
included); compute is its own prompt evaluation plus, for every step it took part in, the step's time divided
by the sequences in that step, so the compute of all requests adds up to the engine's busy time.

Key/value room: the batch cache is unified (n_ctx cells shared by all sequences). A request is admitted only when the
prompts and token budgets of the running requests and its own fit in n_ctx (samples of one prompt count their
prompt once), so a step never runs out of cells; a request that fits the context alone always gets in.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..concurrency import current_cancel
from ..errors import BackendError, Cancelled
from ..types import Generation

if TYPE_CHECKING:
    from .base import GenParams, Prepare
    from .llamacpp import LlamaCppLLM

_DONE = object()


@dataclass(eq=False)
class Request:
    """One sequence to generate. `events` receives text deltas, then the Generation (or an exception)."""

    tokens: list[int]
    params: "GenParams"
    prepare: "Prepare | None" = None
    submitted: float = field(default_factory=time.perf_counter)
    events: "queue.Queue[Any]" = field(default_factory=queue.Queue)
    cancelled: bool = False  # the reader went away (a closed stream)
    scope: threading.Event | None = field(default_factory=current_cancel)  # set: the caller gave up (cancel_scope)
    # set by the scheduler
    seq: int = -1
    group: "_Group | None" = None
    cached: int = 0
    prefill_s: float = 0.0
    compute_s: float = 0.0
    logits: np.ndarray | None = None
    rng: np.random.Generator | None = None
    out: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    text: str = ""
    emitted: int = 0

    def cancel(self) -> None:
        """Stop generating (a client that went away): the sequence leaves at the next step."""
        self.cancelled = True

    def stopped(self) -> bool:
        return self.cancelled or (self.scope is not None and self.scope.is_set())

    def reserve(self) -> int:
        """Key/value cells this request may add beyond its prompt."""
        return self.params.max_tokens


@dataclass(eq=False)
class _Group:
    """Requests whose prompt cells are the same physical cells (samples of one prompt admitted in a row): the
    anchor's prompt was moved in, the others share its cells."""

    tokens: tuple[int, ...]
    anchor: Request
    members: int = 0


class Scheduler:
    """The batching loop of one llama.cpp model (see the module docstring)."""

    def __init__(self, llm: "LlamaCppLLM", slots: int, ctx: Any):
        import llama_cpp

        self.llm = llm
        self.ctx = ctx  # the batch context (llama_cpp._internals.LlamaContext), unified cache of `slots` sequences
        self.slots = slots
        self.free_seqs = deque(range(slots))
        self.active: list[Request] = []
        self.waiting: deque[Request] = deque()
        self.lock = threading.RLock()  # held while the engine's state changes (a step, an admission, a reset)
        self._wake = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._last_group: _Group | None = None
        self._batch = llama_cpp.llama_batch_init(slots, 0, 1)
        self.steps = 0
        self.busy_s = 0.0

    # -- the callers' side ----------------------------------------------------------------------------------
    def submit(self, request: Request) -> Request:
        if self._closed:
            raise BackendError(f"{self.llm.model_id} is closed; load the model again")
        with self._wake:
            self.waiting.append(request)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=f"llmopt-batch-{self.llm.name}",
                                                daemon=True)
                self._thread.start()
            self._wake.notify()
        return request

    def run(self, request: Request) -> Iterator[str | Generation]:
        """Submit and yield the request's text deltas, then its Generation; closing the iterator cancels it."""
        self.submit(request)
        try:
            while True:
                item = request.events.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            request.cancel()

    def close(self) -> None:
        import llama_cpp

        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        self.ctx.close()

    # -- the loop -------------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._closed and not self.waiting and not self.active:
                    self._wake.wait()
                if self._closed:
                    self._fail_all(BackendError(f"{self.llm.model_id} was closed while answering"))
                    return
            with self.lock:
                try:
                    self._drop_cancelled()
                    self._admit()
                    if self.active:
                        self._step()
                except Exception as exc:  # a bug or an engine failure: the running calls fail, the loop goes on
                    error = BackendError(f"llama.cpp batch failed: {type(exc).__name__}: {exc}")
                    for request in list(self.active):
                        self._release(request)
                        request.events.put(error)

    def _fail_all(self, error: BaseException) -> None:
        for request in [*self.active, *self.waiting]:
            request.events.put(error)
        self.waiting.clear()
        for request in list(self.active):
            self._release(request)

    def _drop_cancelled(self) -> None:
        """Requests whose reader left or whose caller gave up leave now; a caller still waiting gets Cancelled."""
        with self._wake:
            gone = [r for r in self.waiting if r.stopped()]
            for request in gone:
                self.waiting.remove(request)
        for request in [r for r in self.active if r.stopped()] + gone:
            self._release(request)
            if not request.cancelled:
                request.events.put(Cancelled(f"{self.llm.model_id}: the call was cancelled after "
                                             f"{len(request.out)} tokens"))

    def _room(self) -> int:
        """Key/value cells the running requests may still claim (prompts counted once per group)."""
        groups = {id(r.group): len(r.group.tokens) for r in self.active}
        claimed = sum(groups.values()) + sum(r.reserve() for r in self.active)
        return self.llm.context_length - claimed

    def _admit(self) -> None:
        while self.free_seqs:
            with self._wake:
                if not self.waiting:
                    return
                request = self.waiting[0]
                shared = self._last_group is not None and self._last_group.anchor in self.active \
                    and tuple(request.tokens) == self._last_group.tokens
                need = (0 if shared else len(request.tokens)) + request.reserve()
                if self.active and need > self._room():
                    return  # waits for a running request to leave; first come, first served
                self.waiting.popleft()
            try:
                self._start(request)
            except Exception as exc:  # this request's prompt failed; the others go on
                request.events.put(exc if isinstance(exc, BackendError) else
                                   BackendError(f"llama.cpp failed on a prompt: {type(exc).__name__}: {exc}"))

    def _start(self, request: Request) -> None:
        """Evaluate the prompt on sequence 0 and share its cells into a sequence of the request's own."""
        llm = self.llm
        started = time.perf_counter()
        reused_by_prepare = None
        if request.prepare is not None:
            reused_by_prepare = request.prepare(request.tokens)
        cached, logits = llm._prefill(request.tokens)
        request.prefill_s = time.perf_counter() - started
        request.compute_s = request.prefill_s
        request.cached = cached if reused_by_prepare is None else reused_by_prepare
        request.logits = logits
        request.rng = np.random.default_rng(request.params.seed if request.params.seed is not None else 0)
        request.seq = self.free_seqs.popleft()
        self.ctx.kv_cache_seq_rm(request.seq, 0, -1)
        key = tuple(request.tokens)
        group = self._last_group
        if group is not None and group.anchor in self.active and group.tokens == key \
                and cached == len(request.tokens):  # the same prompt as a running request: share its cells
            self.ctx.kv_cache_seq_cp(group.anchor.seq, request.seq, 0, len(request.tokens))
        else:
            self._move_prompt(request.seq)
            group = self._last_group = _Group(key, anchor=request)
        request.group = group
        group.members += 1
        self.active.append(request)
        self.busy_s += request.prefill_s
        if request.params.max_tokens == 0:
            self._finish(request, "length")

    def _move_prompt(self, seq: int) -> None:
        """Copy the prompt's key/value cells (sequence 0 of the model's own context) into `seq` of the batch."""
        import ctypes

        import llama_cpp

        source = self.llm.llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(source, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(source, buffer, size, 0)
        if llama_cpp.llama_state_seq_set_data(self.ctx.ctx, buffer, written, seq) != written:
            raise BackendError("llama.cpp could not move a prompt into the batch (no room for its cells); lower "
                               "?parallel= or raise ?n_ctx=")

    def _step(self) -> None:
        """Sample one token for every active sequence, then advance them all in one llama_decode."""
        import llama_cpp

        llm = self.llm
        started = time.perf_counter()
        batch = self._batch
        rows: list[Request] = []
        for request in list(self.active):
            token = self._sample(request)
            if token is not None:
                i = len(rows)
                batch.token[i] = token
                batch.pos[i] = len(request.tokens) + len(request.out) - 1
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = request.seq
                batch.logits[i] = True
                rows.append(request)
        if not rows:
            return
        batch.n_tokens = len(rows)
        code = llama_cpp.llama_decode(self.ctx.ctx, batch)
        if code != 0:
            error = BackendError(f"llama.cpp could not decode a batch of {len(rows)} sequences (code {code}); "
                                 "lower ?parallel= or raise ?n_ctx=")
            for request in rows:
                self._release(request)
                request.events.put(error)
            return
        for i, request in enumerate(rows):
            request.logits = read_logits(self.ctx.ctx, i, llm._n_vocab)
        seconds = time.perf_counter() - started
        self.steps += 1
        self.busy_s += seconds
        for request in rows:
            request.compute_s += seconds / len(rows)

    def _sample(self, request: Request) -> int | None:
        """Pick the request's next token from its logits; None when the request ended (it has left)."""
        llm, p = self.llm, request.params
        token = llm._pick(request.logits, p, request.rng)
        if llm._is_end(token):
            self._finish(request, "stop")
            return None
        if p.logprobs:
            shifted = request.logits - request.logits.max()
            request.logprobs.append(float(shifted[token] - np.log(np.exp(shifted).sum())))
        request.out.append(token)
        text = llm.llama.detokenize(request.out).decode("utf-8", errors="ignore")
        cut = first_stop(text, p.stop)
        if cut is not None:
            request.text = text[:cut]
            self._finish(request, "stop")
            return None
        request.text = text
        safe = len(text) - max((len(s) for s in p.stop), default=0)
        if safe > request.emitted:
            request.events.put(text[request.emitted:safe])
            request.emitted = safe
        if len(request.out) >= p.max_tokens:
            request.text = llm.llama.detokenize(request.out).decode("utf-8", errors="replace")
            self._finish(request, "length")
            return None
        return token

    def _finish(self, request: Request, reason: str) -> None:
        llm = self.llm
        if len(request.text) > request.emitted:
            request.events.put(request.text[request.emitted:])
        latency = time.perf_counter() - request.submitted
        p = request.params
        self._release(request)  # before the caller hears of the end: its slot is free when its call returns
        request.events.put(Generation(
            text=request.text, model=llm.model_id, engine=llm.engine, prompt_tokens=len(request.tokens),
            cached_prompt_tokens=request.cached, completion_tokens=len(request.out), latency_s=latency,
            compute_s=request.compute_s, finish_reason=reason,
            token_logprobs=request.logprobs if p.logprobs else None,
            tokens=[llm._token_text(t) for t in request.out] if p.logprobs else None, prefill_s=request.prefill_s,
        ))
        request.events.put(_DONE)

    def _release(self, request: Request) -> None:
        if request in self.active:
            self.active.remove(request)
            self.ctx.kv_cache_seq_rm(request.seq, 0, -1)
            self.free_seqs.append(request.seq)
            if request.group is not None:
                request.group.members -= 1
        if request.cancelled:
            request.events.put(_DONE)


def read_logits(ctx: Any, row: int, n_vocab: int) -> np.ndarray:
    """A copy of the logits of one output row of a context's last llama_decode (-1: the last row)."""
    import llama_cpp

    pointer = llama_cpp.llama_get_logits_ith(ctx, row)
    return np.ctypeslib.as_array(pointer, shape=(n_vocab,)).copy()


def first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the earliest stop string starts in text, or None."""
    hits = [text.find(s) for s in stops if s and s in text]
    return min(hits) if hits else None


def collect(items: Iterator[str | Generation]) -> Generation:
    result = None
    for item in items:
        if isinstance(item, Generation):
            result = item
    if result is None:
        raise BackendError("the batched request ended without a result (cancelled)")
    return result

