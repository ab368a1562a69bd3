"""The load generator: simulated customers, each on its own keep-alive HTTP/1.1 connection.

The client is a few lines over asyncio streams rather than httpx: measured against the echo app on
this 2-core machine, httpx.AsyncClient cost 1.8 ms of CPU per request with 5 connections and ~8 ms with
50 (its pool does work per pooled connection; encode/httpx#3215), so it saturated before the servers
did. Writing pre-built request bytes and reading a Content-Length body costs ~0.05 ms.
"""

from __future__ import annotations

import asyncio
import math
import random
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from pushes import Push, PushFactory

REQUEST_TIMEOUT_S = 5.0  # WeChat's own deadline: a later reply is never seen by the customer
SAMPLE_SIZE = 1000  # replies kept per phase to decrypt and check after it
PROGRESS_EVERY_S = 5.0
# uvicorn closes a keep-alive connection after 5 s idle; reusing one that old could race with the close
# and count as an error that no real customer would see, so it is reopened instead.
IDLE_REOPEN_S = 4.0


class Connection:
    """One customer's connection; reopened after any failure so a late reply cannot be misread."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._last_used = 0.0

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        if self._reader is None or self._reader.at_eof() or time.monotonic() - self._last_used > IDLE_REOPEN_S:
            self.close()
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._writer is not None
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status, headers = _parse_head(head)
        if headers.get(b"transfer-encoding") == b"chunked":
            body = await _read_chunked(self._reader)
        else:
            body = await self._reader.readexactly(int(headers.get(b"content-length", b"0")))
        if headers.get(b"connection") == b"close":
            self.close()
        self._last_used = time.monotonic()
        return status, body

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def _parse_head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip().lower()
    return int(lines[0].split(b" ", 2)[1]), headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        chunks.append(await reader.readexactly(size + 2))
    await reader.readuntil(b"\r\n")
    return b"".join(chunk[:-2] for chunk in chunks)


@dataclass
class Customer:
    openid: str
    connection: Connection
    pushes: deque[Push] = field(default_factory=deque)
    sent_fallback: bool = False  # the last push sent was a question the bot does not understand


@dataclass
class PhaseStats:
    name: str
    duration_s: float
    think_s: float
    latencies: list[float] = field(default_factory=list)  # seconds, correct replies only
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[Push, bytes]] = field(default_factory=list)
    sent: int = 0
    built_live: int = 0  # pushes the pre-built pool ran short of, built inside the phase
    wall_s: float = 0.0
    loadgen_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    server_died: bool = False

    @property
    def completed(self) -> int:
        return len(self.latencies) + self.errors.total()

    def record(self, push: Push, status: int, body: bytes, latency: float) -> None:
        problem = classify(status, body)
        if problem:
            self.errors[problem] += 1
            return
        self.latencies.append(latency)
        # Reservoir sampling: a uniform sample of the phase's replies, whatever its length.
        seen = len(self.latencies)
        if seen <= SAMPLE_SIZE:
            self.samples.append((push, body))
        elif (slot := random.randrange(seen)) < SAMPLE_SIZE:
            self.samples[slot] = (push, body)


def classify(status: int, body: bytes) -> str | None:
    """What is wrong with a reply, judged cheaply; decryption is checked on a sample afterwards."""
    if status != 200:
        return f"HTTP {status}"
    if body.strip() == b"success":
        return "'success' (reply missed the budget)"
    if b"<Encrypt>" not in body:
        return "no <Encrypt> in reply"
    return None


class Phase:
    """One timed run of every customer against one server."""

    def __init__(self, stats: PhaseStats, factory: PushFactory, server_alive: Callable[[], bool]) -> None:
        self.stats = stats
        self._factory = factory
        self._server_alive = server_alive
        self._deadline = 0.0

    async def run(self, customers: list[Customer], label: str) -> PhaseStats:
        started = time.perf_counter()
        self._deadline = started + self.stats.duration_s
        cpu_before = time.process_time()
        progress = asyncio.create_task(self._report_progress(label, started))
        try:
            await asyncio.gather(*(self._customer(customer) for customer in customers))
        finally:
            progress.cancel()
        self.stats.wall_s = time.perf_counter() - started
        self.stats.loadgen_cpu_s = time.process_time() - cpu_before
        return self.stats

    async def _customer(self, customer: Customer) -> None:
        think = self.stats.think_s
        if think:
            # Staggered starts, so customers arrive spread out from the first second, not in one burst.
            await asyncio.sleep(random.uniform(0, think))
        while time.perf_counter() < self._deadline:
            await self._one_request(customer)
            if think:
                # Never past the deadline: the phase's wall time is what throughput is divided by.
                remaining = self._deadline - time.perf_counter()
                await asyncio.sleep(max(0.0, min(think * random.uniform(0.5, 1.5), remaining)))

    async def _one_request(self, customer: Customer) -> None:
        push = self._next_push(customer)
        self.stats.sent += 1
        started = time.perf_counter()
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                status, body = await customer.connection.exchange(push.request)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            customer.connection.close()
            self.stats.errors["timeout" if isinstance(exc, TimeoutError) else f"connection: {type(exc).__name__}"] += 1
            await asyncio.sleep(0.1)  # a refused connection would otherwise spin this customer
            return
        self.stats.record(push, status, body, time.perf_counter() - started)

    def _next_push(self, customer: Customer) -> Push:
        push = self._queued_push(customer)
        if push is None:
            self.stats.built_live += 1
            push = self._factory.build(customer.openid, after_fallback=customer.sent_fallback)
        customer.sent_fallback = push.question.fallback
        return push

    @staticmethod
    def _queued_push(customer: Customer) -> Push | None:
        """The next pre-built push still fresh, passing over a second fallback question in a row: the
        bot would answer it with a menu through the customer-service API, not in the response (the
        factory avoids building such pairs, but a stale or left-over push can bring two together)."""
        while customer.pushes:
            push = customer.pushes.popleft()
            if push.fresh and not (push.question.fallback and customer.sent_fallback):
                return push
        return None

    async def _report_progress(self, label: str, started: float) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            elapsed = time.perf_counter() - started
            s = self.stats
            print(f"  {label}: {elapsed:4.0f}/{s.duration_s:.0f} s, {len(s.latencies)} replies, "
                  f"{s.errors.total()} errors", file=sys.stderr)
            if not self._server_alive():
                s.server_died = True
                self._deadline = 0.0  # customers stop after their current request
                return


def prebuild(factory: PushFactory, customers: list[Customer], total: int) -> None:
    """Fill every customer's queue with its share of `total` pushes, before the phase starts."""
    per_customer = math.ceil(total / len(customers)) + 1
    for customer in customers:
        customer.pushes = deque(factory.build(customer.openid) for _ in range(per_customer))


def pushes_needed(customers: int, duration_s: float, think_s: float, rate_estimate: float) -> int:
    """How many pushes a phase will send, from above: think time bounds each customer's rate, and the
    saturation rate seen in the warm-up bounds everyone's (with a margin; any shortfall is built live)."""
    by_rate = rate_estimate * duration_s * 1.5
    if think_s:
        by_think = customers * duration_s / (0.5 * think_s)
        return math.ceil(min(by_rate, by_think))
    return math.ceil(by_rate)
