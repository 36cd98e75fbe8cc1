"""Bounded concurrency: slots, a bounded queue, 429 beyond it, and deadlines that keep slots honest."""

import asyncio
import threading

import pytest

from llmopt.serve.admission import Admission
from llmopt.serve.errors import ApiError


def test_queue_full_is_429_and_slots_free_up():
    async def main():
        adm = Admission(max_concurrent=1, max_queue=1, timeout_s=10)
        release = threading.Event()
        first, second = adm.admit(), adm.admit()
        with pytest.raises(ApiError) as info:
            adm.admit()
        assert info.value.status == 429 and info.value.headers["Retry-After"]
        running = asyncio.ensure_future(adm.run(first, lambda: release.wait(5) and "a"))
        queued = asyncio.ensure_future(adm.run(second, lambda: "b"))
        await asyncio.sleep(0.05)
        assert (adm.active, adm.waiting) == (1, 1)
        release.set()
        assert await running == "a" and await queued == "b"
        assert (adm.active, adm.waiting, adm.stats["answered"], adm.stats["rejected"]) == (0, 0, 2, 1)
        adm.shutdown()

    asyncio.run(main())


def test_a_timed_out_request_keeps_its_slot_until_its_thread_ends():
    async def main():
        adm = Admission(max_concurrent=1, max_queue=0, timeout_s=0.2)
        release = threading.Event()
        with pytest.raises(ApiError) as info:
            await adm.run(adm.admit(), lambda: release.wait(5))
        assert info.value.status == 504
        assert adm.active == 1  # the engine call is still running: no new work may start beside it
        with pytest.raises(ApiError) as info:
            adm.admit()
        assert info.value.status == 429
        release.set()
        for _ in range(100):
            if adm.active == 0:
                break
            await asyncio.sleep(0.01)
        assert adm.active == 0 and await adm.run(adm.admit(), lambda: "ok") == "ok"
        adm.shutdown()

    asyncio.run(main())


def test_abandoned_and_failed_tickets_do_not_leak_places():
    async def main():
        adm = Admission(max_concurrent=1, max_queue=1, timeout_s=5)
        ticket = adm.admit()
        ticket.abandon()
        ticket.abandon()
        assert adm.waiting == 0
        with pytest.raises(ZeroDivisionError):
            await adm.run(adm.admit(), lambda: 1 / 0)
        await asyncio.sleep(0.01)
        assert (adm.active, adm.waiting, adm.stats["failed"]) == (0, 0, 1)
        adm.shutdown()

    asyncio.run(main())


def test_a_timed_out_request_is_told_to_stop():
    from llmopt.concurrency import current_cancel

    async def main():
        adm = Admission(max_concurrent=1, max_queue=0, timeout_s=0.2)
        seen = []
        with pytest.raises(ApiError) as info:
            await adm.run(adm.admit(), lambda: seen.append(current_cancel().wait(30)))
        assert info.value.status == 504
        for _ in range(500):  # the work sees its cancel scope set and ends, freeing the slot
            if adm.active == 0:
                break
            await asyncio.sleep(0.01)
        assert seen == [True] and adm.active == 0 and adm.stats["failed"] == 0
        adm.shutdown()

    asyncio.run(main())
