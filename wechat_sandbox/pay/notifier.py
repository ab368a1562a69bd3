"""Delivers notifications to the merchant's notify_url, retried on WeChat Pay's schedule.

Each notification is POSTed until the merchant answers 200 or 204; after the n-th failed try
the next one is due `retry_schedule_s[n-1]` seconds later on the sandbox's Clock, so tests move
the clock instead of sleeping. Every try is recorded for the control API. The same envelope
(same id, same ciphertext) is resent each time, signed afresh with the current time, because
the merchant checks the signature's timestamp against its own clock.

A worker thread delivers whatever falls due while any notification is pending; deliver_due()
does the same synchronously and waits for tries already in flight, so a test reads a settled record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from ..state import iso_utc
from .signing import NotificationSigner

log = logging.getLogger(__name__)

WORKER_TICK_S = 0.2
ACCEPTED = frozenset({200, 204})


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its next try
    DELIVERING = "delivering"  # a try is in flight
    DELIVERED = "delivered"  # the merchant answered 200/204
    GAVE_UP = "gave_up"  # every try of the schedule failed


@dataclass
class Attempt:
    number: int
    at: float  # sandbox clock
    status: int | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "at": iso_utc(self.at), "status": self.status, "error": self.error}


@dataclass
class Notification:
    id: str
    event_type: str
    url: str
    body: bytes
    out_trade_no: str
    out_refund_no: str | None
    due_at: float | None
    state: DeliveryState = DeliveryState.PENDING
    attempts: list[Attempt] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_type": self.event_type,
            "url": self.url,
            "out_trade_no": self.out_trade_no,
            "out_refund_no": self.out_refund_no,
            "state": self.state.value,
            "next_attempt_at": iso_utc(self.due_at) if self.due_at is not None else None,
            "attempts": [a.as_dict() for a in self.attempts],
        }


class Notifier:
    def __init__(
        self,
        signer: NotificationSigner,
        clock: Callable[[], float],
        *,
        retry_schedule_s: tuple[int, ...],
        timeout_s: float,
    ) -> None:
        self._signer = signer
        self._clock = clock
        self._schedule = retry_schedule_s
        self._timeout_s = timeout_s
        self._cond = threading.Condition()
        self._all: list[Notification] = []
        self._worker: threading.Thread | None = None
        self._http: httpx.Client | None = None  # made on first use: building one costs ~30 ms

    def enqueue(
        self, *, notification_id: str, event_type: str, url: str, body: bytes, out_trade_no: str,
        out_refund_no: str | None = None,
    ) -> Notification:
        with self._cond:
            item = Notification(notification_id, event_type, url, body, out_trade_no, out_refund_no, self._clock())
            self._all.append(item)
            self._ensure_worker()
            self._cond.notify_all()
            return item

    def sign_body(
        self, *, event_type: str, resource: dict[str, Any], summary: str, create_time: str, notification_id: str
    ) -> bytes:
        return self._signer.body(
            event_type=event_type, resource=resource, summary=summary, create_time=create_time,
            notification_id=notification_id,
        )

    def records(self, *, out_trade_no: str | None = None, out_refund_no: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [
                n.as_dict()
                for n in self._all
                if (out_trade_no is None or n.out_trade_no == out_trade_no)
                and (out_refund_no is None or n.out_refund_no == out_refund_no)
            ]

    def reset(self) -> None:
        with self._cond:
            self._all.clear()

    def deliver_due(self, *, wait: bool = True) -> int:
        """Try every notification that is due now; returns how many tries this call made."""
        with self._cond:
            now = self._clock()
            due = [n for n in self._all if n.state is DeliveryState.PENDING and (n.due_at or now + 1) <= now]
            for item in due:
                item.state = DeliveryState.DELIVERING
        for item in due:
            self._try(item)
        if wait:
            self._wait_for_tries_in_flight()
        return len(due)

    # ----- internals ------------------------------------------------------------------------

    def _try(self, item: Notification) -> None:
        started = self._clock()
        status, error = self._post(item)
        with self._cond:
            item.attempts.append(Attempt(len(item.attempts) + 1, started, status, error))
            if status in ACCEPTED:
                item.state, item.due_at = DeliveryState.DELIVERED, None
            elif len(item.attempts) <= len(self._schedule):
                item.state = DeliveryState.PENDING
                item.due_at = started + self._schedule[len(item.attempts) - 1]
            else:
                item.state, item.due_at = DeliveryState.GAVE_UP, None
            self._cond.notify_all()
        log.info("pay notification %s try %d: %s", item.id, len(item.attempts), status or error)

    def _post(self, item: Notification) -> tuple[int | None, str | None]:
        headers = self._signer.sign(item.body)
        try:
            response = self._client().post(item.url, content=item.body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{exc.__class__.__name__}: {exc}"
        return response.status_code, None if response.status_code in ACCEPTED else response.text[:200]

    def _client(self) -> httpx.Client:
        with self._cond:
            if self._http is None:
                # trust_env=False: a proxy from the environment must not intercept a local notify_url.
                self._http = httpx.Client(timeout=self._timeout_s, trust_env=False)
            return self._http

    def _wait_for_tries_in_flight(self) -> None:
        deadline = time.monotonic() + self._timeout_s * 2 + 1
        with self._cond:
            while any(n.state is DeliveryState.DELIVERING for n in self._all):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)

    def _pending(self) -> bool:
        return any(n.state in (DeliveryState.PENDING, DeliveryState.DELIVERING) for n in self._all)

    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="sandbox-pay-notifier", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                if not self._pending():
                    self._worker = None
                    return
                self._cond.wait(WORKER_TICK_S)
            self.deliver_due(wait=False)
