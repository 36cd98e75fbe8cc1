"""Bounded concurrency with a queue: at most `max_concurrent` requests answer at once, at most `max_queue` wait;
one more gets 429 at once rather than an unbounded wait. Every request has a deadline (queue time included).

A timed-out request's worker thread cannot be killed, so its slot stays taken until the thread finishes: the bound
holds for real work, not just for requests still connected. The work runs in a cancel scope that is set when the
request times out or its client leaves: an engine that can stop a call mid-way (llama.cpp's batching loop) then
frees its sequence at the next step and the thread ends early.
All counters change on the event loop's thread, so they need no lock.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..concurrency import cancel_scope
from ..errors import Cancelled
from .errors import queue_full, timed_out


class Ticket:
    """A request admitted to the queue. Give it to `run`, or `abandon` it if the request goes away first."""

    def __init__(self, admission: "Admission", deadline: float):
        self.admission = admission
        self.deadline = deadline
        self.state = "queued"  # queued -> left (stopped waiting) -> running -> done; or queued -> abandoned
        self.cancel = threading.Event()  # set when nobody waits for the answer any more (timeout, client gone)

    def abandon(self) -> None:
        if self.state == "queued":
            self.state = "abandoned"
            self.admission.waiting -= 1


class Admission:
    def __init__(self, max_concurrent: int, max_queue: int, timeout_s: float):
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.active = 0  # worker threads running (timed-out ones included)
        self.waiting = 0
        self.stats = {"answered": 0, "rejected": 0, "timed_out": 0, "failed": 0}
        self._slots: asyncio.Semaphore | None = None
        self._executor = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="llmopt-serve")

    @property
    def slots(self) -> asyncio.Semaphore:
        if self._slots is None:  # created on first use, inside the server's event loop
            self._slots = asyncio.Semaphore(self.max_concurrent)
        return self._slots

    def admit(self) -> Ticket:
        """A ticket, or ApiError 429 when every slot and queue place is taken (synchronous: no await between the
        check and the count, so the bound is exact)."""
        if self.active + self.waiting >= self.max_concurrent + self.max_queue:
            self.stats["rejected"] += 1
            raise queue_full(self.active, self.waiting)
        self.waiting += 1
        return Ticket(self, time.monotonic() + self.timeout_s)

    async def run(self, ticket: Ticket, work: Callable[[], Any]) -> Any:
        """Wait for a slot, run `work` in a worker thread, return its result; ApiError 504 past the deadline."""
        try:
            await asyncio.wait_for(self.slots.acquire(), max(0.0, ticket.deadline - time.monotonic()))
        except (TimeoutError, asyncio.TimeoutError):
            self.stats["timed_out"] += 1
            raise timed_out(self.timeout_s, "waiting in the queue") from None
        finally:  # timed out, cancelled (the client left) or admitted: it no longer waits
            if ticket.state == "queued":
                self.waiting -= 1
                ticket.state = "left"
        ticket.state = "running"
        self.active += 1
        future = asyncio.get_running_loop().run_in_executor(self._executor, _scoped, ticket.cancel, work)
        future.add_done_callback(self._release)
        try:
            result = await asyncio.wait_for(asyncio.shield(future), max(0.0, ticket.deadline - time.monotonic()))
        except (TimeoutError, asyncio.TimeoutError):
            ticket.cancel.set()
            self.stats["timed_out"] += 1
            raise timed_out(self.timeout_s, "answering") from None
        except asyncio.CancelledError:  # the client went away
            ticket.cancel.set()
            raise
        finally:
            ticket.state = "done"
        self.stats["answered"] += 1
        return result

    def _release(self, future) -> None:
        self.active -= 1
        self.slots.release()
        if not future.cancelled() and future.exception() is not None \
                and not isinstance(future.exception(), Cancelled):  # stopped after a timeout: counted there
            self.stats["failed"] += 1

    def status(self) -> dict[str, Any]:
        return {"active": self.active, "waiting": self.waiting, "max_concurrent": self.max_concurrent,
                "max_queue": self.max_queue, "timeout_s": self.timeout_s, **self.stats}

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _scoped(event: threading.Event, work: Callable[[], Any]) -> Any:
    with cancel_scope(event):
        return work()
