"""One writer thread that commits many small units of work together (group commit).

A webhook writes a few rows per message. Done one transaction per message from many threads, SQLite
serialises the writers through its busy-timeout back-off (slow, with a long tail) and every message
pays for a commit. Here the jobs queue up and the writer runs whatever has gathered in one
transaction: commit cost is shared, and writers never contend inside the process. A job that fails
does not take the others with it: the batch is retried one job per transaction.

Results go back to asyncio callers with one wake-up of their event loop per batch, not per job. The
writer keeps one connection between batches (taking one from the pool per batch cost more than a
small batch's statements); after a failure it takes a fresh one, as the pool checks it then.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

T = TypeVar("T")
Job = Callable[[Connection], Any]


@dataclass
class _Pending:
    job: Job
    future: Future[Any] | asyncio.Future[Any] | None  # None: nobody waits (a failure is logged)
    loop: asyncio.AbstractEventLoop | None = None  # set for asyncio futures
    what: str = ""  # names an unawaited write in the log


class GroupCommitWriter:
    def __init__(self, engine: Engine, *, max_batch: int = 64) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._connection: Connection | None = None  # only the writer thread touches it
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[Connection], T]) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put(_Pending(job, future))
        return future

    def submit_unawaited(self, job: Callable[[Connection], Any], *, what: str) -> None:
        """Queue a write nobody waits for; if it fails, say so in the log (``what`` names it). No future is
        made for it: each holds a lock and a condition, a cost the webhook's turns paid for nothing."""
        self._queue.put(_Pending(job, None, what=what))

    def run(self, job: Callable[[Connection], T]) -> T:
        """Run a job and wait for its commit (from a thread that is not the writer)."""
        return self.submit(job).result()

    async def run_async(self, job: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Pending(job, future, loop))
        return await future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
                stop = self._gather(batch)
                _settle(self._commit(batch))
                if stop:
                    return
        finally:
            self._drop_connection()

    def _gather(self, batch: list[_Pending]) -> bool:
        """Take what else is already waiting (never wait for more: latency matters more)."""
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    def _commit(self, batch: list[_Pending]) -> list[tuple[_Pending, Any, BaseException | None]]:
        try:
            connection = self._connection or self._engine.connect()
            self._connection = connection
            with connection.begin():
                results = [pending.job(connection) for pending in batch]
        except Exception as exc:
            # The connection may be what failed (a database restarted): the next batch gets another.
            self._drop_connection()
            if len(batch) == 1:
                return [(batch[0], None, exc)]
            log.warning("a batch of %s writes failed; retrying them one by one", len(batch))
            return [outcome for pending in batch for outcome in self._commit([pending])]
        return [(pending, result, None) for pending, result in zip(batch, results, strict=True)]

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # already broken: the pool discards it
                log.warning("the writer's connection did not close cleanly", exc_info=True)


def _settle(outcomes: list[tuple[_Pending, Any, BaseException | None]]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any, BaseException | None]]] = defaultdict(list)
    for pending, result, error in outcomes:
        if pending.future is None:
            if error is not None:
                log.error("%s failed: %s", pending.what, error, exc_info=error)
        elif pending.loop is None:
            thread_future: Future[Any] = pending.future  # type: ignore[assignment]
            if error is None:
                thread_future.set_result(result)
            else:
                thread_future.set_exception(error)
        else:
            by_loop[pending.loop].append((pending.future, result, error))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_in_loop, settled)
        except RuntimeError:  # the loop closed while we wrote: nobody is waiting any more
            log.warning("a write finished after its event loop closed")


def _settle_in_loop(settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in settled:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
