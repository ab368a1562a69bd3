"""Threads running blocking calls for asyncio code: results and errors reach the awaiting coroutine."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from foundation.workers import ThreadWorkers


def test_calls_run_off_the_loop_and_their_results_come_back() -> None:
    workers = ThreadWorkers(2, name="test")

    async def main() -> list[tuple[int, str]]:
        loop_thread = threading.current_thread().name
        calls = [workers.submit(lambda n: (n * n, threading.current_thread().name), n) for n in range(20)]
        results = await asyncio.gather(*calls)
        assert all(name != loop_thread and name.startswith("test_") for _, name in results)
        return results

    try:
        assert [square for square, _ in asyncio.run(main())] == [n * n for n in range(20)]
    finally:
        workers.close()


def test_an_error_is_raised_where_the_call_is_awaited() -> None:
    workers = ThreadWorkers(1, name="test")

    def fail() -> None:
        raise LookupError("no such order")

    async def main() -> None:
        with pytest.raises(LookupError, match="no such order"):
            await workers.submit(fail)
        assert await workers.submit(lambda: "still working") == "still working"

    try:
        asyncio.run(main())
    finally:
        workers.close()


def test_a_cancelled_wait_leaves_the_call_to_finish_and_close_waits_for_queued_calls() -> None:
    workers = ThreadWorkers(1, name="test")
    done: list[str] = []

    def slow(label: str) -> None:
        time.sleep(0.05)
        done.append(label)

    async def main() -> None:
        first = workers.submit(slow, "first")
        workers.submit(slow, "second")
        first.cancel()
        await asyncio.sleep(0)

    asyncio.run(main())
    workers.close()
    assert done == ["first", "second"]
