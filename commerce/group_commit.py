"""One writer thread that commits many small units of work together (group commit).

A webhook writes a few rows per message. Done one transaction per message from many threads, SQLite
serialises the writers through its busy-timeout back-off (slow, with a long tail) and every message
pays for a commit. Here the jobs queue up and the writer runs whatever has gathered in one
transaction: commit cost is shared, and writers never contend inside the process. A job that fails
does not take the others with it: the batch is retried one job per transaction.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

T = TypeVar("T")
Job = Callable[[Connection], Any]


@dataclass
class _Pending:
    job: Job
    future: Future[Any] = field(default_factory=Future)


class GroupCommitWriter:
    def __init__(self, engine: Engine, *, max_batch: int = 64) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[Connection], T]) -> Future[T]:
        pending = _Pending(job)
        self._queue.put(pending)
        return pending.future

    def run(self, job: Callable[[Connection], T]) -> T:
        """Run a job and wait for its commit (from a thread that is not the writer)."""
        return self.submit(job).result()

    async def run_async(self, job: Callable[[Connection], T]) -> T:
        return await asyncio.wrap_future(self.submit(job))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = self._gather(batch)
            self._commit(batch)
            if stop:
                return

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

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            with self._engine.begin() as connection:
                results = [pending.job(connection) for pending in batch]
        except Exception as exc:
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            log.warning("a batch of %s writes failed; retrying them one by one", len(batch))
            for pending in batch:  # find the culprit; the others still commit
                self._commit([pending])
            return
        for pending, result in zip(batch, results, strict=True):
            pending.future.set_result(result)
