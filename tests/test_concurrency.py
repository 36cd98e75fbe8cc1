"""llmopt.concurrency: calls side by side that keep order, context and the one-at-a-time failure behaviour."""

import contextvars
import threading

import pytest

from llmopt.concurrency import cancel_scope, current_cancel, in_threads, width

WHO = contextvars.ContextVar("who", default="nobody")


def test_order_context_and_real_overlap():
    WHO.set("caller")
    inside, barrier = [], threading.Barrier(4, timeout=10)

    def call(i):
        barrier.wait()  # four calls at once, or the barrier breaks
        inside.append(WHO.get())
        return i * i

    assert in_threads(call, range(4), 4) == [0, 1, 4, 9]
    assert inside == ["caller"] * 4  # the run log files worker calls under the caller's run


def test_the_first_failure_stops_what_has_not_started():
    started = []

    def call(i):
        started.append(i)
        if i == 0:
            raise ValueError("bad item")
        threading.Event().wait(0.05)
        return i

    with pytest.raises(ValueError, match="bad item"):
        in_threads(call, range(50), 2)
    assert len(started) < 50


def test_one_worker_is_a_plain_loop_and_width_reads_the_model():
    assert in_threads(lambda i: threading.current_thread() is threading.main_thread(), range(3), 1) == [True] * 3

    class Local:
        thread_safe, batch_width = False, 8

    class Batching:
        thread_safe, batch_width = True, 8

    assert width(Local()) == 1 and width(Batching()) == 8


def test_cancel_scope_is_seen_in_threads_and_reset_after():
    event = threading.Event()
    with cancel_scope(event):
        assert in_threads(lambda _: current_cancel() is event, range(2), 2) == [True, True]
    assert current_cancel() is None
