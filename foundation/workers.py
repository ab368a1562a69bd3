"""Threads that run blocking calls for asyncio code: `await workers.submit(fn, *args)`.

It is what `loop.run_in_executor` with a thread pool does, made cheaper for the webhook, which hands
every message's turn to a thread. `run_in_executor` makes a `concurrent.futures.Future` per call (with
its own lock and condition) and chains it to an asyncio future through two callbacks; under load those
cost the event loop more than parsing the push. Here a call is queued with the asyncio future it will
settle, and the worker settles it with one `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
_Call = tuple[Callable[..., Any], tuple[Any, ...], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class ThreadWorkers:
    def __init__(self, count: int, *, name: str) -> None:
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{n}", daemon=True) for n in range(count)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run `fn(*args)` on a worker; the future settles on the calling loop. Cancelling the future does
        not stop a call that has started (as with `run_in_executor`)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, args, loop, future))
        return future

    def close(self) -> None:
        """Run what is queued, then stop the threads (waits for them)."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while (call := self._queue.get()) is not None:
            fn, args, loop, future = call
            try:
                outcome: tuple[Any, BaseException | None] = (fn(*args), None)
            except BaseException as exc:  # handed to the awaiting coroutine, as run_in_executor does
                outcome = (None, exc)
            try:
                loop.call_soon_threadsafe(_settle, future, *outcome)
            except RuntimeError:  # the loop closed meanwhile: nobody is waiting any more
                log.warning("a call finished after its event loop closed")


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
