"""Running calls side by side for engines that batch them (a local engine's continuous batching, an HTTP server).

`in_threads` keeps order, re-raises the first failure after every started call has ended, and runs each call in
a copy of the caller's context, so the calls are filed under the caller's run in the run log (a context variable
a plain worker thread would not see).

`cancel_scope(event)` marks the calls made inside it as abandonable: an engine that can stop a call mid-way
(llama.cpp's batching loop) checks the event between steps, frees the call's slot and raises `Cancelled`. The
server sets it when a request times out or its client leaves.
"""

from __future__ import annotations

import contextvars
import threading
from contextlib import contextmanager
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def in_threads(fn: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """[fn(item) for item in items], up to `workers` at a time (1: in this thread, one after another).

    As the one-at-a-time loop would, the first failure (or Ctrl-C) stops what has not started yet; calls already
    running finish, then the failure is raised."""
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)))
    try:
        futures = [pool.submit(contextvars.copy_context().run, fn, item) for item in items]
        wait(futures, return_when=FIRST_EXCEPTION)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for future in futures:
        if not future.cancelled() and future.exception() is not None:
            raise future.exception()
    return [f.result() for f in futures]


def width(llm: Any) -> int:
    """How many calls a model answers at once: 1 unless its backend batches or overlaps them."""
    if not getattr(llm, "thread_safe", False):
        return 1
    return max(1, int(getattr(llm, "batch_width", 1)))



_cancel: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("llmopt_cancel", default=None)


@contextmanager
def cancel_scope(event: threading.Event) -> Iterator[threading.Event]:
    """Calls made inside stop (raising Cancelled) once `event` is set, where the engine can stop them."""
    token = _cancel.set(event)
    try:
        yield event
    finally:
        _cancel.reset(token)


def current_cancel() -> threading.Event | None:
    """The event of the innermost cancel_scope, or None."""
    return _cancel.get()
